// Feature hydration of a merged candidate list (ranking::CoreFeatureHydrator, the `features`
// stage), d=64, 480 candidates per call. Arg = items in the model: with 1M items (256 MB of
// vectors) nearly every candidate's vector and metadata come from memory, as they do in a
// server whose caches the ANN search and other requests keep evicting; with 100K items a
// candidate set is drawn from 4 MB of items, which stays in the caches (the compute floor).
// Second arg 1: the factor table is advised into 2 MB pages (MADV_HUGEPAGE before it is
// written, as serving advises the model's table), 0: 4 KB pages. Third arg: how many of the 480
// candidates arrive with their similarity already set (an exact `ann` source hands its scores on:
// 330 in a typical served request), so only the rest read their vectors.
//
// Also the seen filter (BM_SeenFilter*, below), the stage before hydration.
//
//   ./build/bench/hydration_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <utility>

#include "candidates/context.h"
#include "ranking/feature_hydrator.h"
#include "rollout/model_bundle.h"
#include "rules/filter.h"

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

  Fixture(size_t n_items, size_t pool, bool huge_pages) {
    std::mt19937_64 rng(1);
    std::normal_distribution<float> noise(0.0f, 0.1f);
    model.dim = kDim;
    model.item_factors.reserve(n_items * kDim);  // allocated, not yet touched
    if (huge_pages) {
      constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
      const auto data = reinterpret_cast<uintptr_t>(model.item_factors.data());
      const uintptr_t begin = (data + kHugePage - 1) & ~(kHugePage - 1);
      const uintptr_t end = (data + n_items * kDim * sizeof(float)) & ~(kHugePage - 1);
      if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    }
    model.item_factors.resize(n_items * kDim);
    for (float& v : model.item_factors) v = noise(rng);
    model.item_popularity.resize(n_items);
    items = std::make_unique<candidates::ItemTable>(n_items);
    for (size_t i = 0; i < n_items; ++i) {
      model.item_popularity[i] = 1000.0f / static_cast<float>(1 + i);
      items->set_category(static_cast<DenseId>(i), static_cast<uint32_t>(1 + i % 50));
      items->set_created_at_ms(static_cast<DenseId>(i), i % 3 == 0 ? 0 : 1700000000000 - i);
    }
    rollout::FillDerived(model);  // as LoadModelBundle does
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
  const bool huge_pages = state.range(1) != 0;
  static std::unique_ptr<Fixture> fixture;
  static std::pair<size_t, bool> fixture_key;
  if (fixture == nullptr || fixture_key != std::make_pair(n_items, huge_pages)) {
    fixture.reset();
    fixture = std::make_unique<Fixture>(n_items, n_items >= 1000000 ? n_items : 16384, huge_pages);
    fixture_key = {n_items, huge_pages};
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
  const auto preset = static_cast<size_t>(state.range(2));
  for (auto& set : fixture->sets) {
    for (size_t c = 0; c < set.size(); ++c) set[c].similarity_set = c < preset;
  }
  for (auto _ : state) {
    auto& set = fixture->sets[i++ % kSets];
    hydrator.Hydrate(context, set);
    benchmark::DoNotOptimize(set.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kCandidates));
}
BENCHMARK(BM_Hydrate)
    ->Args({100000, 0, 0})
    ->Args({1000000, 0, 0})
    ->Args({1000000, 1, 0})
    ->Args({100000, 0, 330})
    ->Args({1000000, 1, 330});

// The seen filter before and after the feature stage's neighbour in the pipeline got cheaper:
// 480 candidates against a user's sorted seen list (Arg = its size; 1000 is
// history_per_user's default), one in ten candidates seen. BM_SeenFilterBefore is the previous
// Apply (std::binary_search per candidate), BM_SeenFilter rules::SeenItemsFilter (a hashed
// bitmap first). The kept list is restored each iteration (copied back: both pay the same).
struct SeenFixture {
  candidates::RecommendContext context;
  std::vector<candidates::Candidate> input, work;

  explicit SeenFixture(size_t seen_size) {
    std::mt19937_64 rng(2);
    for (size_t i = 0; i < seen_size; ++i) {
      context.seen_items.push_back(static_cast<DenseId>(rng() % 100000));
    }
    std::sort(context.seen_items.begin(), context.seen_items.end());
    input.resize(kCandidates);
    for (size_t i = 0; i < kCandidates; ++i) {
      input[i].item = i % 10 == 0 ? context.seen_items[rng() % seen_size]
                                  : static_cast<DenseId>(rng() % 100000);
    }
    context.removed.reserve(kCandidates);
  }
};

void BM_SeenFilterBefore(benchmark::State& state) {
  SeenFixture f(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    f.work = f.input;
    f.context.removed.clear();
    size_t kept = 0;
    for (size_t i = 0; i < f.work.size(); ++i) {
      if (!std::binary_search(f.context.seen_items.begin(), f.context.seen_items.end(),
                              f.work[i].item)) {
        if (kept != i) f.work[kept] = f.work[i];
        ++kept;
      } else {
        f.context.removed.push_back({f.work[i].item, "seen", "the user already engaged with it"});
      }
    }
    f.work.resize(kept);
    benchmark::DoNotOptimize(f.work.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kCandidates));
}
BENCHMARK(BM_SeenFilterBefore)->Arg(200)->Arg(1000);

void BM_SeenFilter(benchmark::State& state) {
  SeenFixture f(static_cast<size_t>(state.range(0)));
  rules::SeenItemsFilter filter;
  for (auto _ : state) {
    f.work = f.input;
    f.context.removed.clear();
    filter.Apply(f.context, f.work);
    benchmark::DoNotOptimize(f.work.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kCandidates));
}
BENCHMARK(BM_SeenFilter)->Arg(200)->Arg(1000);

}  // namespace
}  // namespace pulse

BENCHMARK_MAIN();
