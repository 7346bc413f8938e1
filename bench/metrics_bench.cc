// The cost of observability on the request path:
//  - one observation: obs::Histogram::Observe, RequestMetrics::Record (with its SLO feed),
//    SloTracker::Record, a per-stage latency observation — single-threaded and contended;
//  - a full request's instrumentation as the HTTP front end and the engine do it (trace context,
//    log context, request metrics + SLO, 12 stage observations, FinishApiCall), tracing off and
//    on (sampling 1.0, 14 spans, exporter into a sink that drops);
//  - Engine::Recommend in-process (20K items, d=64, HNSW, 2K users with 30 events each) with
//    tracing off vs on (sampling 1.0, exporter into a dropping sink), interleaved in one run.
//
//   ./build/bench/metrics_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "api/http_metrics.h"
#include "core/log.h"
#include "core/strings.h"
#include "index/ann_index.h"
#include "obs/metrics.h"
#include "obs/runtime_metrics.h"
#include "obs/slo.h"
#include "obs/trace.h"
#include "rollout/model_bundle.h"
#include "serving/engine.h"
#include "store/data_dir.h"

namespace pulse {
namespace {

const std::vector<std::string> kStages = {
    "user",           "ann",      "covisit",         "trending",
    "popular",        "merge",    "request_exclude", "unavailable",
    "seen",           "features", "linear",          "rank_by_score",
    "truncate_top_n", "total"};

void InstallTracer(bool on) {
  obs::TracerOptions options;
  if (on) {
    options.sample_ratio = 1.0;
    options.sink = [](const std::string&) { return true; };  // serialized, then dropped
  }
  obs::SetGlobalTracer(std::make_unique<obs::Tracer>(std::move(options)));
}

void BM_HistogramObserve(benchmark::State& state) {
  static obs::Histogram histogram({0.001, 0.01, 0.1, 1, 10});
  double value = 0.0005;
  for (auto _ : state) {
    histogram.Observe(value);
    value = value < 5 ? value * 1.7 : 0.0005;
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

void BM_RequestMetricsRecord(benchmark::State& state) {
  static api::RequestMetrics metrics;
  for (auto _ : state) metrics.Record("recommend", "OK", 0.0042);
}
BENCHMARK(BM_RequestMetricsRecord)->Threads(1)->Threads(2);

void BM_SloRecord(benchmark::State& state) {
  static obs::SloTracker slo(obs::SloTargets{});
  for (auto _ : state) slo.Record(obs::Slo::kLatency, true);
}
BENCHMARK(BM_SloRecord)->Threads(1)->Threads(2);

void BM_StageLatencyObserve(benchmark::State& state) {
  static obs::StageLatency stages(kStages);
  size_t i = 0;
  for (auto _ : state) {
    stages.Observe(kStages[i], 120);
    i = i + 1 == kStages.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_StageLatencyObserve);

// What one recommend request pays for observability outside its own work.
void BM_RequestInstrumentation(benchmark::State& state) {
  const bool tracing = state.range(0) != 0;
  InstallTracer(tracing);
  static api::RequestMetrics metrics;
  static obs::StageLatency stages(kStages);
  for (auto _ : state) {
    std::optional<obs::RequestTrace> trace;
    trace.emplace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "http recommend",
                  obs::GlobalTracer().enabled());
    ScopedLogContext log_context(std::string_view(), trace->trace_id_hex());
    obs::ActiveTrace active(&*trace);
    const int64_t now = obs::UnixNanosNow();
    uint64_t parent = 0;
    if (trace->recording()) {
      obs::Span& span = trace->AddSpan("recommend", trace->root_span_id(), now, now + 1000);
      span.Set("pulse.user_bucket", obs::UserBucket("u42"));
      span.Set("pulse.model_version", std::string("000001"));
      span.Set("pulse.degraded", false);
      parent = span.span_id;
    }
    for (const std::string& stage : kStages) {
      stages.Observe(stage, 100);
      if (trace->recording()) {
        obs::Span& child = trace->AddSpan(StrCat("stage ", stage), parent, now, now + 100);
        child.Set("pulse.stage", stage);
        child.Set("pulse.candidates", int64_t{300});
      }
    }
    metrics.Record("recommend", "OK", 0.0042);
    api::FinishApiCall(trace, "http", "recommend", OkStatus(), 0.0042, 200);
  }
  obs::GlobalTracer().Flush();
  state.counters["spans_exported"] =
      static_cast<double>(obs::GlobalTracer().counters().spans_exported);
  InstallTracer(false);
}
BENCHMARK(BM_RequestInstrumentation)->ArgName("tracing")->Arg(0)->Arg(1);

constexpr int kItems = 20000;
constexpr int kDim = 64;
constexpr int kUsers = 2000;
constexpr int kEventsPerUser = 30;

struct EngineFixture {
  std::string dir;
  std::unique_ptr<store::DataDir> data_dir;
  std::unique_ptr<serving::Engine> engine;

  EngineFixture() {
    dir = (std::filesystem::temp_directory_path() / "pulse-metrics-bench").string();
    std::filesystem::remove_all(dir);
    Config config;
    config.data_dir = dir;
    config.server.model_poll_ms = 0;
    data_dir = store::DataDir::Open(dir, config.store).value();
    std::mt19937_64 rng(1);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    rollout::ModelBundle bundle;
    bundle.dim = kDim;
    bundle.item_factors.resize(static_cast<size_t>(kItems) * kDim);
    for (int i = 0; i < kItems; ++i) {
      bundle.items.Intern(StrCat("i", i));
      for (int d = 0; d < kDim; ++d) {
        bundle.item_factors[static_cast<size_t>(i) * kDim + d] = 0.1f * noise(rng);
      }
      bundle.item_popularity.push_back(1000.0f / static_cast<float>(1 + i));
    }
    bundle.index =
        index::AnnIndex::Build(bundle.item_factors.data(), kItems, kDim, config.index).value();
    if (!rollout::WriteModelBundle(data_dir->models_dir(), bundle).ok()) std::abort();
    std::vector<Event> events;
    for (int u = 0; u < kUsers; ++u) {
      for (int e = 0; e < kEventsPerUser; ++e) {
        Event event;
        event.user_id = StrCat("u", u);
        event.item_id = StrCat("i", rng() % kItems);
        event.type = EventType::kClick;
        event.ts_ms = 1700000000000 + e;
        events.push_back(std::move(event));
      }
    }
    if (!data_dir->AppendEvents(events, false).ok()) std::abort();
    engine = serving::Engine::Create(config, data_dir.get()).value();
  }
  ~EngineFixture() {
    engine.reset();
    data_dir.reset();
    std::filesystem::remove_all(dir);
  }
};

EngineFixture& Engine() {
  static EngineFixture* fixture = new EngineFixture();
  return *fixture;
}

// Engine::Recommend with tracing off (0) vs on (1); each call also pays the always-on metrics.
void BM_EngineRecommend(benchmark::State& state) {
  serving::Engine& engine = *Engine().engine;
  InstallTracer(state.range(0) != 0);
  std::mt19937_64 rng(7);
  serving::RecommendRequest request;
  request.n = 10;
  for (auto _ : state) {
    request.user_id = StrCat("u", rng() % kUsers);
    auto response = engine.Recommend(request);
    if (!response.ok()) state.SkipWithError("recommend failed");
    benchmark::DoNotOptimize(response);
  }
  obs::GlobalTracer().Flush();
  const obs::Tracer::Counters c = obs::GlobalTracer().counters();
  state.counters["spans_exported"] = static_cast<double>(c.spans_exported);
  state.counters["spans_dropped"] =
      static_cast<double>(c.spans_dropped_queue_full + c.spans_dropped_export_failed);
  InstallTracer(false);
}
BENCHMARK(BM_EngineRecommend)->ArgName("tracing")->Arg(0)->Arg(1)->Arg(0)->Arg(1)->MinTime(2);

}  // namespace
}  // namespace pulse

BENCHMARK_MAIN();
