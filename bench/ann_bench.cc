// bench/ann_bench.cc — single-query AnnIndex::Search latency on 100K x 64 clustered vectors, k=200.
//
// Vectors come from 200 Gaussian clusters (real embeddings are clustered; uniform noise makes
// HNSW look worse and flat look the same). Each benchmark is run with OpenMP limited to one
// thread inside Search (omp:1, the production default) and with the OpenMP default (omp:0), from
// one and two calling threads. HNSW runs with the default config (ef_search 256) and, for the
// recall/latency trade-off, ef_search 512 on the same graph. Counters: p50_us / p99_us per query
// (each call timed), queries/s over all threads, and for HNSW recall_at_200 against flat over 200
// queries. Time/CPU columns are per iteration across threads; read p50_us for latency.
//
//   ./build-model/ann_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "core/clock.h"
#include "core/strings.h"
#include "index/ann_index.h"

namespace pulse::index {
namespace {

constexpr size_t kItems = 100'000;
constexpr int kDim = 64;
constexpr int kClusters = 200;
constexpr size_t kQueries = 200;
constexpr int kK = 200;
constexpr int kWiderEf = 512;

std::vector<float> ClusteredVectors(size_t n, const std::vector<float>& centers, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pick(0, kClusters - 1);
  std::normal_distribution<float> noise(0.0f, 0.35f);
  std::vector<float> v(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    const float* c = &centers[static_cast<size_t>(pick(rng)) * kDim];
    for (int j = 0; j < kDim; ++j) v[i * kDim + j] = c[j] + noise(rng);
  }
  return v;
}

double RecallVsExact(const AnnIndex& approx_index, const AnnIndex& exact_index,
                     const std::vector<float>& queries) {
  size_t hits = 0;
  std::vector<Neighbor> approx, exact;
  for (size_t q = 0; q < kQueries; ++q) {
    PULSE_CHECK(approx_index.Search(&queries[q * kDim], kK, &approx).ok());
    PULSE_CHECK(exact_index.Search(&queries[q * kDim], kK, &exact).ok());
    std::set<DenseId> truth;
    for (const Neighbor& n : exact) truth.insert(n.id);
    for (const Neighbor& n : approx) hits += truth.count(n.id);
  }
  return static_cast<double>(hits) / static_cast<double>(kQueries * kK);
}

struct HnswVariant {
  std::unique_ptr<AnnIndex> index;
  double recall = 0;
};

struct Fixture {
  std::vector<float> queries;
  std::unique_ptr<AnnIndex> flat;
  std::map<int, HnswVariant> hnsw;  // by ef_search; the default config's value is always there

  static Fixture& Get() {
    static Fixture* fixture = [] {
      auto* f = new Fixture;
      std::mt19937_64 rng(2024);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> centers(static_cast<size_t>(kClusters) * kDim);
      for (float& x : centers) x = normal(rng);
      const std::vector<float> items = ClusteredVectors(kItems, centers, 1);
      f->queries = ClusteredVectors(kQueries, centers, 2);

      IndexConfig flat_config;
      flat_config.type = "flat";
      f->flat = std::move(AnnIndex::Build(items.data(), kItems, kDim, flat_config)).value();
      Stopwatch build;
      const IndexConfig defaults;
      auto built = std::move(AnnIndex::Build(items.data(), kItems, kDim, defaults)).value();
      std::fprintf(stderr, "hnsw build (M=%d, efConstruction=%d): %.1f s\n", defaults.hnsw_m,
                   defaults.hnsw_ef_construction, build.ElapsedSeconds());
      // Other ef_search values reuse the same graph: ef_search is applied at Load.
      const std::string path =
          (std::filesystem::temp_directory_path() / StrCat("ann_bench_", ::getpid(), ".faiss"))
              .string();
      PULSE_CHECK(built->Save(path).ok());
      for (const int ef : {defaults.hnsw_ef_search, kWiderEf}) {
        IndexConfig config = defaults;
        config.hnsw_ef_search = ef;
        HnswVariant& v = f->hnsw[ef];
        v.index = std::move(AnnIndex::Load(path, config)).value();
        v.recall = RecallVsExact(*v.index, *f->flat, f->queries);
      }
      std::filesystem::remove(path);
      return f;
    }();
    return *fixture;
  }
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const auto at = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(at), v.end());
  return v[at];
}

void RunSearch(benchmark::State& state, AnnIndex& index) {
  Fixture& f = Fixture::Get();
  // The knob is per index; every thread of one run sets the same value.
  index.SetSearchOmpThreadsForTest(static_cast<int>(state.range(0)));
  std::vector<Neighbor> out;
  std::vector<double> micros;
  micros.reserve(1 << 16);
  size_t q = static_cast<size_t>(state.thread_index()) * 37;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const Status s = index.Search(&f.queries[(q++ % kQueries) * kDim], kK, &out);
    const auto end = std::chrono::steady_clock::now();
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  state.counters["p50_us"] =
      benchmark::Counter(Percentile(micros, 0.5), benchmark::Counter::kAvgThreads);
  state.counters["p99_us"] =
      benchmark::Counter(Percentile(micros, 0.99), benchmark::Counter::kAvgThreads);
  state.counters["queries/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_HnswSearch(benchmark::State& state) {
  HnswVariant& v = Fixture::Get().hnsw.at(static_cast<int>(state.range(1)));
  RunSearch(state, *v.index);
  state.counters["recall_at_200"] = benchmark::Counter(v.recall, benchmark::Counter::kAvgThreads);
}

void BM_FlatSearch(benchmark::State& state) { RunSearch(state, *Fixture::Get().flat); }

BENCHMARK(BM_HnswSearch)
    ->ArgNames({"omp", "ef"})
    ->Args({1, IndexConfig{}.hnsw_ef_search})
    ->Args({0, IndexConfig{}.hnsw_ef_search})
    ->Args({1, kWiderEf})
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_FlatSearch)->ArgName("omp")->Arg(1)->Arg(0)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace pulse::index

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pulse::index::Fixture::Get();  // build once, outside every timed region
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
