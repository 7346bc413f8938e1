// Feature hydration of a merged candidate list (ranking::CoreFeatureHydrator, the `features`
// stage), d=64, 480 candidates per call. Arg = items in the model: with 1M items (256 MB of
// vectors) nearly every candidate's vector and metadata come from memory, as they do in a
// server whose caches the ANN search and other requests keep evicting; with 100K items a
// candidate set is drawn from 4 MB of items, which stays in the caches (the compute floor).
//
//   ./build/bench/hydration_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <memory>
#include <random>

#include "candidates/context.h"
#include "ranking/feature_hydrator.h"
#include "rollout/model_bundle.h"

namespace pulse {
namespace {

constexpr int kDim = 64;
constexpr size_t kCandidates = 480;
constexpr size_t kSets = 512;  // distinct candidate lists cycled through

struct Fixture {
  rollout::ModelBundle model;
  std::unique_ptr<candidates::ItemTable> items;
  std::vector<DenseId> popular;
  std::vector<std::vector<candidates::Candidate>> sets;

  Fixture(size_t n_items, size_t pool) {
    std::mt19937_64 rng(1);
    std::normal_distribution<float> noise(0.0f, 0.1f);
    model.dim = kDim;
    model.item_factors.resize(n_items * kDim);
    for (float& v : model.item_factors) v = noise(rng);
    model.item_popularity.resize(n_items);
    items = std::make_unique<candidates::ItemTable>(n_items);
    for (size_t i = 0; i < n_items; ++i) {
      model.item_popularity[i] = 1000.0f / static_cast<float>(1 + i);
      items->set_category(static_cast<DenseId>(i), static_cast<uint32_t>(1 + i % 50));
      items->set_created_at_ms(static_cast<DenseId>(i), i % 3 == 0 ? 0 : 1700000000000 - i);
    }
    popular = {0};
    sets.resize(kSets);
    for (auto& set : sets) {
      set.resize(kCandidates);
      for (auto& c : set) c.item = static_cast<DenseId>(rng() % pool);
    }
  }
};

void BM_Hydrate(benchmark::State& state) {
  const size_t n_items = static_cast<size_t>(state.range(0));
  // 100K: candidates from the first 16K items (hot); 1M: from all of them (cold).
  static std::unique_ptr<Fixture> fixture;
  static size_t fixture_items = 0;
  if (fixture_items != n_items) {
    fixture.reset();
    fixture = std::make_unique<Fixture>(n_items, n_items >= 1000000 ? n_items : 16384);
    fixture_items = n_items;
  }
  ranking::CoreFeatureHydrator hydrator;
  candidates::RecommendContext context;
  context.model = &fixture->model;
  context.items = fixture->items.get();
  context.popular_items = fixture->popular;
  context.now_ms = 1700000000000;
  context.vector_kind = candidates::UserVectorKind::kRecentItems;
  context.user_vector.assign(fixture->model.ItemVector(0), fixture->model.ItemVector(0) + kDim);
  size_t i = 0;
  for (auto _ : state) {
    auto& set = fixture->sets[i++ % kSets];
    hydrator.Hydrate(context, set);
    benchmark::DoNotOptimize(set.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kCandidates));
}
BENCHMARK(BM_Hydrate)->Arg(100000)->Arg(1000000);

}  // namespace
}  // namespace pulse

BENCHMARK_MAIN();
