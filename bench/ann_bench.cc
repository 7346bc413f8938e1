// bench/ann_bench.cc — single-query AnnIndex::Search latency and recall, k=200 (ivf also at
// k=330, what the `ann` source asks for), on 100K x 64 vectors.
//
// Vectors: by default 200 Gaussian clusters (real embeddings are clustered; uniform noise makes
// HNSW look worse and flat look the same), queries drawn around the same centres. With
// PULSE_MODEL_DIR=<model bundle dir> the items are the bundle's trained item factors and the
// queries its user factors (every 97th user; ivf tunes on every 89th) — the real distribution,
// where item norms carry popularity. Indexes: flat (exact), HNSW with the hnsw defaults
// (ef_search 256) and ef_search 512 on the same graph, ivf with the defaults (nprobe tuned at
// build). Each is run with OpenMP limited to one thread inside Search (omp:1, the production
// default) and with the OpenMP default (omp:0), from one and two calling threads. Counters:
// p50_us / p99_us per query (each call timed), queries/s over all threads, and recall at k
// against flat over 200 queries. Time/CPU columns are per iteration across threads.
//
//   ./build/bench/ann_bench --benchmark_min_time=2
//   PULSE_MODEL_DIR=data/models/v000002 ./build/bench/ann_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
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
constexpr int kSourceK = 330;  // the ann source's k = 300 plus its seen-item head-room
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
                     const std::vector<float>& queries, int k) {
  size_t hits = 0;
  std::vector<Neighbor> approx, exact;
  for (size_t q = 0; q < kQueries; ++q) {
    PULSE_CHECK(approx_index.Search(&queries[q * kDim], k, &approx).ok());
    PULSE_CHECK(exact_index.Search(&queries[q * kDim], k, &exact).ok());
    std::set<DenseId> truth;
    for (const Neighbor& n : exact) truth.insert(n.id);
    for (const Neighbor& n : approx) hits += truth.count(n.id);
  }
  return static_cast<double>(hits) / static_cast<double>(kQueries * static_cast<size_t>(k));
}

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  PULSE_CHECK(in.good());
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  PULSE_CHECK(bytes.size() % (sizeof(float) * kDim) == 0);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

// Every `step`-th row of `rows`, `count` of them.
std::vector<float> EveryNth(const std::vector<float>& rows, size_t step, size_t count) {
  std::vector<float> out;
  for (size_t i = 0; i < count; ++i) {
    const size_t row = (i * step) % (rows.size() / kDim);
    out.insert(out.end(), rows.begin() + static_cast<ptrdiff_t>(row * kDim),
               rows.begin() + static_cast<ptrdiff_t>((row + 1) * kDim));
  }
  return out;
}

struct Variant {
  std::unique_ptr<AnnIndex> index;
  double recall = 0;         // at kK
  double recall_source = 0;  // at kSourceK
};

struct Fixture {
  std::vector<float> queries;
  std::unique_ptr<AnnIndex> flat;
  std::map<int, Variant> hnsw;  // by ef_search; the default config's value is always there
  Variant ivf;

  static Fixture& Get() {
    static Fixture* fixture = [] {
      auto* f = new Fixture;
      std::vector<float> items;
      std::vector<float> tuning;
      if (const char* dir = std::getenv("PULSE_MODEL_DIR"); dir != nullptr && *dir != 0) {
        items = ReadFloats(StrCat(dir, "/item_factors.f32"));
        const std::vector<float> users = ReadFloats(StrCat(dir, "/user_factors.f32"));
        f->queries = EveryNth(users, 97, kQueries);
        tuning = EveryNth(users, 89, 500);
      } else {
        std::mt19937_64 rng(2024);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> centers(static_cast<size_t>(kClusters) * kDim);
        for (float& x : centers) x = normal(rng);
        items = ClusteredVectors(kItems, centers, 1);
        f->queries = ClusteredVectors(kQueries, centers, 2);
        tuning = ClusteredVectors(500, centers, 3);
      }
      const size_t n = items.size() / kDim;
      std::fprintf(stderr, "%zu items\n", n);

      IndexConfig flat_config;
      flat_config.type = "flat";
      f->flat = std::move(AnnIndex::Build(items.data(), n, kDim, flat_config)).value();

      Stopwatch ivf_build;
      const IndexConfig defaults;  // ivf
      f->ivf.index = std::move(AnnIndex::Build(items.data(), n, kDim, defaults, tuning)).value();
      const IvfParams p = f->ivf.index->ivf_params();
      std::fprintf(stderr, "ivf build: %.1f s, %d lists, nprobe %d (recall@%d %.3f on tuning)\n",
                   ivf_build.ElapsedSeconds(), p.nlist, p.nprobe, p.recall_k, p.tuned_recall);
      f->ivf.recall = RecallVsExact(*f->ivf.index, *f->flat, f->queries, kK);
      f->ivf.recall_source = RecallVsExact(*f->ivf.index, *f->flat, f->queries, kSourceK);

      Stopwatch build;
      IndexConfig hnsw_config;
      hnsw_config.type = "hnsw";
      auto built = std::move(AnnIndex::Build(items.data(), n, kDim, hnsw_config)).value();
      std::fprintf(stderr, "hnsw build (M=%d, efConstruction=%d): %.1f s\n", hnsw_config.hnsw_m,
                   hnsw_config.hnsw_ef_construction, build.ElapsedSeconds());
      // Other ef_search values reuse the same graph: ef_search is applied at Load.
      const std::string path =
          (std::filesystem::temp_directory_path() / StrCat("ann_bench_", ::getpid(), ".faiss"))
              .string();
      PULSE_CHECK(built->Save(path).ok());
      for (const int ef : {hnsw_config.hnsw_ef_search, kWiderEf}) {
        IndexConfig config = hnsw_config;
        config.hnsw_ef_search = ef;
        Variant& v = f->hnsw[ef];
        v.index = std::move(AnnIndex::Load(path, config)).value();
        v.recall = RecallVsExact(*v.index, *f->flat, f->queries, kK);
        v.recall_source = RecallVsExact(*v.index, *f->flat, f->queries, kSourceK);
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

void RunSearch(benchmark::State& state, AnnIndex& index, int k) {
  Fixture& f = Fixture::Get();
  // The knob is per index; every thread of one run sets the same value.
  index.SetSearchOmpThreadsForTest(static_cast<int>(state.range(0)));
  std::vector<Neighbor> out;
  std::vector<double> micros;
  micros.reserve(1 << 16);
  size_t q = static_cast<size_t>(state.thread_index()) * 37;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const Status s = index.Search(&f.queries[(q++ % kQueries) * kDim], k, &out);
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

void RecallCounter(benchmark::State& state, int k, const Variant& v) {
  state.counters["recall"] =
      benchmark::Counter(k == kK ? v.recall : v.recall_source, benchmark::Counter::kAvgThreads);
}

// Args: omp, ef, k.
void BM_HnswSearch(benchmark::State& state) {
  Variant& v = Fixture::Get().hnsw.at(static_cast<int>(state.range(1)));
  const int k = static_cast<int>(state.range(2));
  RunSearch(state, *v.index, k);
  RecallCounter(state, k, v);
}

// Args: k (ivf uses no OpenMP).
void BM_IvfSearch(benchmark::State& state) {
  Variant& v = Fixture::Get().ivf;
  const int k = static_cast<int>(state.range(0));
  RunSearch(state, *v.index, k);
  RecallCounter(state, k, v);
  state.counters["nprobe"] =
      benchmark::Counter(v.index->ivf_params().nprobe, benchmark::Counter::kAvgThreads);
}

void BM_FlatSearch(benchmark::State& state) { RunSearch(state, *Fixture::Get().flat, kK); }

BENCHMARK(BM_IvfSearch)
    ->ArgName("k")
    ->Arg(kK)
    ->Arg(kSourceK)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_HnswSearch)
    ->ArgNames({"omp", "ef", "k"})
    ->Args({1, IndexConfig{}.hnsw_ef_search, kK})
    ->Args({0, IndexConfig{}.hnsw_ef_search, kK})
    ->Args({1, kWiderEf, kK})
    ->Args({1, IndexConfig{}.hnsw_ef_search, kSourceK})
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
