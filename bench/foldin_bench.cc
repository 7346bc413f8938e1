// The online user vector: train::FoldInUser over the user's most recent items (the `user` stage
// of a recommend, paid on every request that misses the result cache), as a function of
// pipeline.fold_in_items. 100K item factors of d=64, random; the item ids are spread over the
// catalog so the rows come from memory as they would in serving.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "core/config.h"
#include "train/als.h"

namespace pulse::train {
namespace {

constexpr int kDim = 64;
constexpr size_t kItems = 100000;

struct Factors {
  std::vector<float> items;
  std::vector<float> gramian;
};

const Factors& TheFactors() {
  static const Factors* factors = [] {
    auto* f = new Factors;
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0, 0.1f);
    f->items.resize(kItems * kDim);
    for (float& v : f->items) v = normal(rng);
    f->gramian = ComputeGramian(f->items.data(), kItems, kDim);
    return f;
  }();
  return *factors;
}

void BM_FoldInUser(benchmark::State& state) {
  const Factors& f = TheFactors();
  const size_t n = static_cast<size_t>(state.range(0));
  std::mt19937 rng(11);
  std::uniform_int_distribution<DenseId> pick(0, kItems - 1);
  std::vector<DenseId> items(n);
  for (DenseId& item : items) item = pick(rng);
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  std::vector<float> weights(items.size(), 1.0f);
  TrainConfig config;
  std::vector<float> out(kDim);
  for (auto _ : state) {
    FoldInUser(f.items.data(), kDim, f.gramian.data(), items, weights, config, out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_FoldInUser)->Arg(50)->Arg(100)->Arg(200)->Arg(500)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pulse::train

BENCHMARK_MAIN();
