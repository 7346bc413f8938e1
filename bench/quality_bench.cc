// Costs of the dashboard's stats sampling and of the data-quality checks on the request path.
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "api/dashboard.h"
#include "api/http_metrics.h"
#include "core/strings.h"
#include "quality/checks.h"

namespace pulse {
namespace {

std::vector<candidates::Candidate> MakeCandidates(size_t n) {
  std::vector<candidates::Candidate> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].similarity = static_cast<float>(std::sin(static_cast<double>(i)));
    out[i].popularity = static_cast<float>(i % 100) / 100.0f;
    out[i].freshness = 0.5f;
    out[i].score = 0.1f * static_cast<float>(i % 10);
  }
  return out;
}

// Validation only (15 of 16 requests per thread).
void BM_CheckRankingCandidates(benchmark::State& state) {
  quality::DataQuality quality;
  auto candidates = MakeCandidates(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    quality::CheckRankingFeatures(candidates, quality, /*observe_drift=*/false);
    quality::CheckScores(candidates, quality, /*observe_drift=*/false);
    benchmark::DoNotOptimize(candidates.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_CheckRankingCandidates)->Arg(500)->ThreadRange(1, 2);

// Validation and drift observation on every call (what 1 request in 16 pays).
void BM_CheckAndObserveRankingCandidates(benchmark::State& state) {
  static quality::DataQuality quality;
  auto candidates = MakeCandidates(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    for (auto& c : candidates) {
      for (quality::Feature f : {quality::kSimilarity, quality::kPopularity, quality::kFreshness}) {
        quality.Observe(
            f, quality.Validate(f, f == quality::kSimilarity ? c.similarity : c.popularity));
      }
      quality.Observe(quality::kScore, quality.Validate(quality::kScore, c.score));
    }
    benchmark::DoNotOptimize(candidates.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_CheckAndObserveRankingCandidates)->Arg(500)->ThreadRange(1, 2);

// A /metrics-sized exposition: request metrics of 8 methods plus ~200 other series.
std::string Exposition() {
  api::RequestMetrics metrics;
  for (const char* method : {"recommend", "publish_events", "upsert_items", "get_item",
                             "get_user_features", "healthz", "readyz", "metrics"}) {
    for (int i = 0; i < 50; ++i) metrics.Record(method, "OK", 0.001 * (i % 7));
    metrics.Record(method, "INVALID_ARGUMENT", 0.0002);
  }
  std::string text = metrics.RenderPrometheus();
  for (int i = 0; i < 200; ++i) StrAppend(text, "pulse_other_total{id=\"", i, "\"} ", i, "\n");
  return text;
}

void BM_StatsSample(benchmark::State& state) {
  const std::string text = Exposition();
  api::StatsCollector collector([&text] { return text; }, nullptr);
  for (auto _ : state) collector.SampleNow();
  state.counters["exposition_bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_StatsSample);

void BM_StatsJson600(benchmark::State& state) {
  const std::string text = Exposition();
  api::StatsCollector collector([&text] { return text; }, nullptr);
  for (int i = 0; i < 600; ++i) collector.SampleNow();
  size_t bytes = 0;
  for (auto _ : state) bytes = collector.ToJson().size();
  state.counters["json_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_StatsJson600);

}  // namespace
}  // namespace pulse

BENCHMARK_MAIN();
