// bench/gbdt_bench.cc — scoring 200 candidates with a 100-tree depth-6 ensemble, single-threaded:
// XGBoost's own predictor (DMatrix built from the dense rows + XGBoosterPredictFromDMatrix, as a
// serving path would call it; nthread=1) against Pulse's compiled evaluator on each path this CPU
// can run (path:2 AVX-512, path:1 AVX2, path:0 scalar; an unsupported path is skipped). The model
// is trained by XGBoost on 20,000 synthetic rows of 30 features (10% missing) so trees grow to
// their full depth. Counters: rows/s, and the model's mean leaves per tree.
//
//   ./build/gbdt_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "gbdt/ensemble.h"
#include "gbdt/evaluator.h"
#include "gbdt/xgboost.h"

namespace pulse::gbdt {
namespace {

constexpr size_t kFeatures = 30;
constexpr size_t kTrainRows = 20000;
constexpr size_t kRows = 200;

std::vector<float> Rows(size_t n, uint32_t seed, std::vector<float>* labels) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<float> uniform(0, 1);
  std::vector<float> x(n * kFeatures);
  for (size_t r = 0; r < n; ++r) {
    float* row = &x[r * kFeatures];
    float z = 0;
    for (size_t c = 0; c < kFeatures; ++c) {
      row[c] = normal(rng);
      z +=
          (c % 3 == 0 ? 0.4f : -0.2f) * row[c] + 0.3f * std::sin(row[c] * row[(c + 1) % kFeatures]);
    }
    for (size_t c = 0; c < kFeatures; ++c) {
      if (uniform(rng) < 0.1f) row[c] = std::nanf("");
    }
    if (labels != nullptr) labels->push_back(uniform(rng) < 1 / (1 + std::exp(-z)) ? 1.0f : 0.0f);
  }
  return x;
}

struct Model {
  Booster booster;
  Ensemble ensemble;
  CompiledEnsemble compiled;
  std::vector<float> rows;
};

Model& TheModel() {
  static Model* model = [] {
    std::vector<float> labels;
    const std::vector<float> train = Rows(kTrainRows, 1, &labels);
    TrainParams params;
    params.trees = 100;
    params.max_depth = 6;
    params.min_child_weight = 0;
    auto booster = Booster::Train({train, kTrainRows, kFeatures}, labels, params);
    if (!booster.ok()) std::abort();
    auto json = booster->SaveJson();
    auto ensemble = ParseXgboostJson(*json);
    if (!ensemble.ok()) std::abort();
    auto compiled = CompiledEnsemble::Compile(*ensemble);
    if (!compiled.ok()) std::abort();
    return new Model{std::move(booster).value(), std::move(ensemble).value(),
                     std::move(compiled).value(), Rows(kRows, 2, nullptr)};
  }();
  return *model;
}

double MeanLeaves(const Ensemble& e) {
  size_t leaves = 0;
  for (const Tree& t : e.trees) {
    for (const TreeNode& n : t.nodes) leaves += n.is_leaf();
  }
  return static_cast<double>(leaves) / static_cast<double>(e.trees.size());
}

void BM_XgboostPredict(benchmark::State& state) {
  Model& m = TheModel();
  for (auto _ : state) {
    auto out = m.booster.Predict({m.rows, kRows, kFeatures}, /*output_margin=*/false);
    benchmark::DoNotOptimize(out);
  }
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(kRows), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["leaves/tree"] = MeanLeaves(m.ensemble);
}
BENCHMARK(BM_XgboostPredict)->Unit(benchmark::kMicrosecond);

void BM_Compiled(benchmark::State& state) {
  Model& m = TheModel();
  CompiledEnsemble compiled = m.compiled;
  const auto path = static_cast<CompiledEnsemble::Path>(state.range(0));
  if (!compiled.ForcePathForTest(path)) {
    state.SkipWithError("this CPU cannot run the path");
    return;
  }
  constexpr const char* kNames[] = {"scalar", "avx2", "avx512"};
  state.SetLabel(kNames[state.range(0)]);
  std::vector<float> out(kRows);
  for (auto _ : state) {
    auto status = compiled.PredictProbability(m.rows, kRows, kFeatures, out);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(kRows), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["leaves/tree"] = MeanLeaves(m.ensemble);
}
BENCHMARK(BM_Compiled)->Arg(2)->Arg(1)->Arg(0)->ArgName("path")->Unit(benchmark::kMicrosecond);

// What `pulse train`'s ranker step pays in XGBoost: 100 trees of depth 6 (eta 0.1, hist) on N
// labelled rows of 30 features, with 1 and 2 threads.
void BM_XgboostTrain(benchmark::State& state) {
  const size_t rows = static_cast<size_t>(state.range(0));
  std::vector<float> labels;
  const std::vector<float> train = Rows(rows, 3, &labels);
  TrainParams params;
  params.trees = 100;
  params.max_depth = 6;
  params.eta = 0.1;
  params.nthread = static_cast<int>(state.range(1));
  for (auto _ : state) {
    auto booster = Booster::Train({train, rows, kFeatures}, labels, params);
    if (!booster.ok()) state.SkipWithError("training failed");
    benchmark::DoNotOptimize(booster);
  }
  state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_XgboostTrain)
    ->Args({20000, 1})
    ->Args({100000, 1})
    ->Args({100000, 2})
    ->ArgNames({"rows", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2)
    ->UseRealTime();

}  // namespace
}  // namespace pulse::gbdt

BENCHMARK_MAIN();
