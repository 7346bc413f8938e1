// One in-process recommend call through the whole pipeline (user state → ann + popular →
// filters → features → linear scorer → selectors), 100K items, d=64, HNSW index, 10K users with
// 30 remembered events each. Reports per-call percentiles as counters (p50_us, p99_us).
//
//   ./build/bench/recommend_bench --benchmark_min_time=3
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "core/strings.h"
#include "index/ann_index.h"
#include "loadgen/zipf.h"
#include "rollout/model_bundle.h"
#include "serving/engine.h"
#include "store/data_dir.h"

namespace pulse {
namespace {

constexpr int kItems = 100000;
constexpr int kDim = 64;
constexpr int kUsers = 10000;
constexpr int kEventsPerUser = 30;
constexpr int kClusters = 200;

struct Fixture {
  std::string dir;
  std::unique_ptr<store::DataDir> data_dir;
  std::unique_ptr<serving::Engine> engine;

  Fixture() {
    dir = (std::filesystem::temp_directory_path() / "pulse-recommend-bench").string();
    std::filesystem::remove_all(dir);
    Config config;
    config.data_dir = dir;
    config.server.model_poll_ms = 0;
    config.cache.ttl_ms = 0;  // the pipeline itself; the cache hit path is in resilience_bench
    data_dir = store::DataDir::Open(dir, config.store).value();

    std::mt19937_64 rng(1);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    std::vector<float> centers(static_cast<size_t>(kClusters) * kDim);
    for (float& c : centers) c = noise(rng);
    rollout::ModelBundle bundle;
    bundle.dim = kDim;
    bundle.item_factors.resize(static_cast<size_t>(kItems) * kDim);
    std::vector<int> cluster_of(kItems);
    for (int i = 0; i < kItems; ++i) {
      bundle.items.Intern(StrCat("i", i));
      cluster_of[i] = static_cast<int>(rng() % kClusters);
      for (int d = 0; d < kDim; ++d) {
        bundle.item_factors[static_cast<size_t>(i) * kDim + d] =
            0.1f * (centers[static_cast<size_t>(cluster_of[i]) * kDim + d] + 0.5f * noise(rng));
      }
      bundle.item_popularity.push_back(1000.0f / static_cast<float>(1 + i));  // Zipf
    }
    bundle.index =
        index::AnnIndex::Build(bundle.item_factors.data(), kItems, kDim, config.index).value();
    if (!rollout::WriteModelBundle(data_dir->models_dir(), bundle).ok()) std::abort();

    std::vector<Event> events;
    for (int u = 0; u < kUsers; ++u) {
      int cluster = static_cast<int>(rng() % kClusters);
      for (int e = 0; e < kEventsPerUser; ++e) {
        int item = static_cast<int>(rng() % kItems);
        for (int tries = 0; tries < 50 && cluster_of[item] != cluster; ++tries) {
          item = static_cast<int>(rng() % kItems);
        }
        Event event;
        event.user_id = StrCat("u", u);
        event.item_id = StrCat("i", item);
        event.type = EventType::kClick;
        event.ts_ms = 1700000000000 + e;
        events.push_back(std::move(event));
      }
    }
    if (!data_dir->AppendEvents(events, false).ok()) std::abort();
    engine = serving::Engine::Create(config, data_dir.get()).value();
  }
};

Fixture& GetFixture() {
  static Fixture* fixture = new Fixture();
  return *fixture;
}

void Report(benchmark::State& state, std::vector<double>& micros) {
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[static_cast<size_t>(q * (micros.size() - 1))]; };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.counters["max_us"] = micros.back();
}

void BM_RecommendKnownUser(benchmark::State& state) {
  Fixture& fixture = GetFixture();
  serving::RecommendRequest request;
  request.n = 10;
  std::vector<double> micros;
  uint64_t i = 0;
  for (auto _ : state) {
    request.user_id = StrCat("u", (i++ * 7919) % kUsers);
    auto start = std::chrono::steady_clock::now();
    auto response = fixture.engine->Recommend(request);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
    if (!response.ok() || response->items.size() != 10) state.SkipWithError("bad response");
    benchmark::DoNotOptimize(response);
  }
  Report(state, micros);
}
BENCHMARK(BM_RecommendKnownUser)->UseRealTime();

void BM_RecommendUnknownUser(benchmark::State& state) {
  Fixture& fixture = GetFixture();
  serving::RecommendRequest request;
  request.n = 10;
  std::vector<double> micros;
  uint64_t i = 0;
  for (auto _ : state) {
    request.user_id = "new-" + std::to_string(i++);
    auto start = std::chrono::steady_clock::now();
    auto response = fixture.engine->Recommend(request);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
    benchmark::DoNotOptimize(response);
  }
  Report(state, micros);
}
BENCHMARK(BM_RecommendUnknownUser)->UseRealTime();

void BM_RecommendServedData(benchmark::State& state) {
  const char* dir = std::getenv("PULSE_DATA_DIR");
  if (dir == nullptr) {
    state.SkipWithError("set PULSE_DATA_DIR to a trained data dir (a copy)");
    return;
  }
  // Built once and never destroyed, as GetFixture's: the benchmark runs this function several
  // times, and tearing an engine down at exit, after the statics it uses, crashed.
  static serving::Engine* engine = [dir] {
    Config config;
    config.data_dir = dir;
    config.server.model_poll_ms = 0;
    config.cache.ttl_ms = 0;
    store::DataDir* data_dir = store::DataDir::Open(dir, config.store).value().release();
    return serving::Engine::Create(config, data_dir).value().release();
  }();
  const char* users_env = std::getenv("PULSE_USERS");
  const loadgen::ZipfSampler sampler(users_env ? std::strtoull(users_env, nullptr, 10) : 50000,
                                     1.0);
  loadgen::UserPicker picker(&sampler, 0.05, "u", 1);
  serving::RecommendRequest request;
  request.n = 10;
  std::vector<double> micros;
  for (auto _ : state) {
    picker.Next(&request.user_id);
    auto start = std::chrono::steady_clock::now();
    auto response = engine->Recommend(request);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
    if (!response.ok()) state.SkipWithError("recommend failed");
    benchmark::DoNotOptimize(response);
  }
  Report(state, micros);
}
BENCHMARK(BM_RecommendServedData);

}  // namespace
}  // namespace pulse

BENCHMARK_MAIN();
