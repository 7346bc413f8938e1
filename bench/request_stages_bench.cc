// The recommend path's stages beside the ANN query, each next to the way it was done before
// (issue 5, session 3), in one binary so before/after run interleaved under the same load:
//   BM_CovisitBefore   neighbour lists copied as strings, each neighbour mapped by a dictionary
//                      hash lookup, per-item sums by std::stable_sort (the previous Fetch)
//   BM_Covisit         CovisitCandidateSource::Fetch: dense ids cached per model snapshot
// and (issue 5, session 4):
//   BM_CovisitSortedSums  session 3's Fetch: per-item sums by sorting (item, position) keys; its
//                      neighbour reads are already the presorted lists (the reader-side sort it
//                      paid is gone from the processor: compare with main's binary for that)
//   BM_MergeIntrosort  session 3's MergeDuplicates: the (item, position) keys by std::sort (then
//                      by radix sort; now a set: BM_Merge)
//   BM_DictionaryFindMap  200 IdDictionary lookups as before: std::unordered_map<string, DenseId>
//   BM_DictionaryFind  the same through IdDictionary's flat table (a memo-missing user's history)
//   BM_IvfTopKHeap     the ivf search's top-k before: a binary heap of the k best (sift per
//                      entering candidate, sort_heap at the end)
//   BM_IvfTopK         index::TopKCollector: threshold-filtered buffer of 64-bit keys,
//                      nth_element + sort; both over 720 scores, k = 330 (the served model's
//                      ~28 probed lists of ~26 vectors and the ann source's k)
//   BM_MergeBefore     std::stable_sort by item + std::unique (the previous merge stage)
//   BM_Merge           serving::MergeDuplicates: one pass with a per-thread set of merged items
//   BM_RankBefore      std::sort of every candidate (the previous rank_by_score)
//   BM_Rank            RankByScore(only_top_n): partial sort to n = 10
//   BM_FoldIn          train::FoldInUser over 200 recent items (a user-state memo miss)
//   BM_UserStateMemoHit  UserStateMemo::Find for an unchanged 200-item history (a hit)
// 100K-item model dictionary ("i<n>" ids), 50 co-visited neighbours per item, 10 seeds, k = 100
// plus seen head-room (the served pipeline's covisit settings); a merged list of ~550 candidates
// (ann 330, covisit 100, trending 50, popular 100 with overlaps).
//
//   ./build/bench/request_stages_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>

#include "candidates/covisit_source.h"
#include "core/strings.h"
#include "index/heap_top_k.h"
#include "index/top_k.h"
#include "nearline/feature_processor.h"
#include "rollout/model_bundle.h"
#include "rules/selector.h"
#include "serving/pipeline.h"
#include "serving/user_state_memo.h"
#include "train/als.h"

namespace pulse {
namespace {

using candidates::Candidate;
using candidates::RecommendContext;

constexpr size_t kItems = 100000;
constexpr int kDim = 64;
constexpr int kCovisitK = 100;

struct World {
  rollout::ModelBundle model;
  std::unique_ptr<nearline::FeatureProcessor> processor;
  std::vector<std::vector<DenseId>> recent;  // per simulated user, 200 items
  std::vector<float> gramian;

  World() {
    std::mt19937_64 rng(3);
    std::normal_distribution<float> noise(0.0f, 0.1f);
    model.dim = kDim;
    for (size_t i = 0; i < kItems; ++i) model.items.Intern(StrCat("i", i));
    model.item_factors.resize(kItems * kDim);
    for (float& v : model.item_factors) v = noise(rng);
    gramian = train::ComputeGramian(model.item_factors.data(), kItems, kDim);
    // Sessions over a 2,000-item hot set: every hot item collects its 50 neighbours.
    processor = std::make_unique<nearline::FeatureProcessor>(nearline::ProcessorOptions{}, nullptr);
    constexpr int64_t kT0 = 20000LL * 86400000;
    std::vector<Event> events;
    for (int e = 0; e < 400000; ++e) {
      Event event;
      event.user_id = StrCat("u", e / 20);
      event.item_id = StrCat("i", (rng() % 2000) * 37 % kItems);
      event.type = EventType::kClick;
      event.ts_ms = kT0 + e;
      events.push_back(std::move(event));
    }
    processor->Apply(events, kT0 + 400000);
    recent.resize(64);
    for (auto& items : recent) {
      for (int i = 0; i < 200; ++i) {
        items.push_back(static_cast<DenseId>((rng() % 2000) * 37 % kItems));
      }
    }
  }
};

World& TheWorld() {
  static World* world = new World();
  return *world;
}

RecommendContext CovisitContext(const World& world, size_t user, uint32_t generation) {
  RecommendContext context;
  context.model = &world.model;
  context.features = world.processor.get();
  context.model_generation = generation;
  context.recent_items = world.recent[user % world.recent.size()];
  context.seen_items = context.recent_items;
  std::sort(context.seen_items.begin(), context.seen_items.end());
  return context;
}

// The previous CovisitCandidateSource::Fetch, verbatim but for the names.
void CovisitBefore(const RecommendContext& context, int k, std::vector<Candidate>* out) {
  const IdDictionary& items = context.model->items;
  const size_t want = static_cast<size_t>(candidates::WithSeenHeadroom(k, context));
  const size_t seeds = std::min(context.recent_items.size(), size_t{10});
  thread_local std::vector<std::pair<DenseId, double>> ranked;
  ranked.clear();
  for (size_t rank = 0; rank < seeds; ++rank) {
    DenseId seed = context.recent_items[rank];
    double seed_weight = 1.0 / static_cast<double>(1 + rank);
    for (const nearline::Neighbor& neighbor : context.features->Neighbors(items.Name(seed), want)) {
      std::optional<DenseId> dense = items.Find(neighbor.item_id);
      if (!dense || *dense == seed) continue;
      ranked.emplace_back(*dense, neighbor.weight * seed_weight);
    }
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t unique = 0;
  for (size_t i = 0; i < ranked.size(); ++i) {
    if (unique > 0 && ranked[unique - 1].first == ranked[i].first) {
      ranked[unique - 1].second += ranked[i].second;
    } else {
      ranked[unique++] = ranked[i];
    }
  }
  ranked.resize(unique);
  auto order = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  size_t keep = std::min(want, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), ranked.end(),
                    order);
  for (size_t i = 0; i < keep; ++i) {
    Candidate candidate;
    candidate.item = ranked[i].first;
    candidate.retrieval_score = static_cast<float>(ranked[i].second);
    out->push_back(candidate);
  }
}

// Covisit candidates for one simulated user after another, by `fetch(context, out)`; generation
// 0 makes the context resolve neighbour ids per request (no per-snapshot cache).
template <typename Fetch>
void RunCovisit(benchmark::State& state, uint32_t generation, Fetch fetch) {
  World& world = TheWorld();
  std::vector<Candidate> out;
  size_t user = 0;
  for (auto _ : state) {
    RecommendContext context = CovisitContext(world, user++, generation);
    out.clear();
    fetch(context, &out);
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_CovisitBefore(benchmark::State& state) {
  RunCovisit(state, 0, [](const RecommendContext& context, std::vector<Candidate>* out) {
    CovisitBefore(context, kCovisitK, out);
  });
}
BENCHMARK(BM_CovisitBefore)->Unit(benchmark::kMicrosecond);

void BM_Covisit(benchmark::State& state) {
  const candidates::CovisitCandidateSource source;
  RunCovisit(state, 1, [&](const RecommendContext& context, std::vector<Candidate>* out) {
    if (!source.Fetch(context, kCovisitK, 0, out).ok()) state.SkipWithError("fetch");
  });
}
BENCHMARK(BM_Covisit)->Unit(benchmark::kMicrosecond);

// Session 3's CovisitCandidateSource::Fetch, verbatim but for the names.
void CovisitSortedSums(const RecommendContext& context, int k, std::vector<Candidate>* out) {
  const IdDictionary& items = context.model->items;
  const nearline::ItemIdResolver resolver{&items, context.model_generation};
  const size_t want = static_cast<size_t>(candidates::WithSeenHeadroom(k, context));
  const size_t seeds = std::min(context.recent_items.size(), size_t{10});
  thread_local std::vector<std::pair<DenseId, double>> ranked;
  thread_local std::vector<nearline::ResolvedNeighbor> neighbors;
  ranked.clear();
  for (size_t rank = 0; rank < seeds; ++rank) {
    DenseId seed = context.recent_items[rank];
    if (seed >= items.size()) continue;
    double seed_weight = 1.0 / static_cast<double>(1 + rank);
    context.features->ResolvedNeighbors(items.Name(seed), want, resolver, &neighbors);
    for (const nearline::ResolvedNeighbor& neighbor : neighbors) {
      if (neighbor.item == nearline::kUnresolvedItem || neighbor.item == seed) continue;
      ranked.emplace_back(neighbor.item, neighbor.weight * seed_weight);
    }
  }
  thread_local std::vector<uint64_t> keys;
  thread_local std::vector<std::pair<DenseId, double>> summed;
  keys.clear();
  for (size_t i = 0; i < ranked.size(); ++i) keys.push_back(uint64_t{ranked[i].first} << 32 | i);
  std::sort(keys.begin(), keys.end());
  summed.clear();
  for (uint64_t key : keys) {
    const auto& [item, score] = ranked[static_cast<uint32_t>(key)];
    if (!summed.empty() && summed.back().first == item) {
      summed.back().second += score;
    } else {
      summed.emplace_back(item, score);
    }
  }
  ranked.swap(summed);
  auto order = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  size_t keep = std::min(want, ranked.size());
  if (keep < ranked.size()) {
    std::nth_element(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), ranked.end(),
                     order);
  }
  std::sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), order);
  for (size_t i = 0; i < keep; ++i) {
    Candidate candidate;
    candidate.item = ranked[i].first;
    candidate.retrieval_score = static_cast<float>(ranked[i].second);
    out->push_back(candidate);
  }
}

void BM_CovisitSortedSums(benchmark::State& state) {
  RunCovisit(state, 1, [](const RecommendContext& context, std::vector<Candidate>* out) {
    CovisitSortedSums(context, kCovisitK, out);
  });
}
BENCHMARK(BM_CovisitSortedSums)->Unit(benchmark::kMicrosecond);

// 200 known item ids per call, drawn like a history (random over the 100K dictionary).
std::vector<std::vector<std::string>> LookupIds() {
  std::mt19937_64 rng(19);
  std::vector<std::vector<std::string>> ids(64);
  for (auto& batch : ids) {
    for (int i = 0; i < 200; ++i) batch.push_back(StrCat("i", rng() % kItems));
  }
  return ids;
}

void BM_DictionaryFindMap(benchmark::State& state) {
  World& world = TheWorld();
  std::unordered_map<std::string, DenseId, StringHash, std::equal_to<>> map;
  for (size_t i = 0; i < world.model.items.size(); ++i) {
    map.emplace(world.model.items.Name(static_cast<DenseId>(i)), static_cast<DenseId>(i));
  }
  const auto ids = LookupIds();
  size_t b = 0;
  for (auto _ : state) {
    uint64_t sum = 0;
    for (const std::string& id : ids[b++ % ids.size()]) {
      auto it = map.find(std::string_view(id));
      if (it != map.end()) sum += it->second;
    }
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_DictionaryFindMap)->Unit(benchmark::kMicrosecond);

void BM_DictionaryFind(benchmark::State& state) {
  World& world = TheWorld();
  const auto ids = LookupIds();
  size_t b = 0;
  for (auto _ : state) {
    uint64_t sum = 0;
    for (const std::string& id : ids[b++ % ids.size()]) {
      if (std::optional<DenseId> dense = world.model.items.Find(id)) sum += *dense;
    }
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_DictionaryFind)->Unit(benchmark::kMicrosecond);

// Score streams like one ivf query's probed lists.
std::vector<std::vector<index::Neighbor>> ScoreStreams() {
  std::mt19937_64 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<index::Neighbor>> streams(64);
  for (auto& stream : streams) {
    for (int i = 0; i < 720; ++i) {
      stream.push_back({static_cast<DenseId>(rng() % kItems), normal(rng)});
    }
  }
  return streams;
}
constexpr size_t kIvfK = 330;

// The heap it replaced (index/heap_top_k.h, the tests' reference).
void BM_IvfTopKHeap(benchmark::State& state) {
  const auto streams = ScoreStreams();
  size_t s = 0;
  for (auto _ : state) {
    const std::vector<index::Neighbor> out = index::HeapTopK(streams[s++ % streams.size()], kIvfK);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_IvfTopKHeap)->Unit(benchmark::kMicrosecond);

void BM_IvfTopK(benchmark::State& state) {
  const auto streams = ScoreStreams();
  index::TopKCollector top;
  std::vector<index::Neighbor> out;
  size_t s = 0;
  for (auto _ : state) {
    const auto& stream = streams[s++ % streams.size()];
    top.Reset(kIvfK);
    for (const index::Neighbor& candidate : stream) {
      if (candidate.score < top.threshold()) continue;
      top.Push(candidate.id, candidate.score);
    }
    top.Finish(&out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_IvfTopK)->Unit(benchmark::kMicrosecond);

// ~550 candidates in source order: ann 330 random, then covisit/trending/popular overlapping it.
std::vector<std::vector<Candidate>> MergedLists() {
  std::mt19937_64 rng(9);
  std::vector<std::vector<Candidate>> lists(64);
  for (auto& list : lists) {
    for (int source = 0; source < 4; ++source) {
      const int n = source == 0 ? 330 : source == 2 ? 50 : 100;
      for (int i = 0; i < n; ++i) {
        Candidate c;
        c.item = static_cast<DenseId>(rng() % (source == 3 ? 200 : kItems));
        if (source > 0 && rng() % 4 == 0) c.item = list[rng() % 330].item;  // a duplicate
        c.source = static_cast<uint8_t>(source);
        c.score = static_cast<float>(rng() % 100000) / 1000.0f;
        list.push_back(c);
      }
    }
  }
  return lists;
}

void BM_MergeBefore(benchmark::State& state) {
  const auto lists = MergedLists();
  std::vector<Candidate> work;
  size_t i = 0;
  for (auto _ : state) {
    work = lists[i++ % lists.size()];
    std::stable_sort(work.begin(), work.end(),
                     [](const Candidate& a, const Candidate& b) { return a.item < b.item; });
    work.erase(std::unique(work.begin(), work.end(),
                           [](const Candidate& a, const Candidate& b) { return a.item == b.item; }),
               work.end());
    benchmark::DoNotOptimize(work.data());
  }
}
BENCHMARK(BM_MergeBefore)->Unit(benchmark::kMicrosecond);

void BM_Merge(benchmark::State& state) {
  const auto lists = MergedLists();
  std::vector<Candidate> work;
  size_t i = 0;
  for (auto _ : state) {
    work = lists[i++ % lists.size()];
    serving::MergeDuplicates(work);
    benchmark::DoNotOptimize(work.data());
  }
}
BENCHMARK(BM_Merge)->Unit(benchmark::kMicrosecond);

// Session 3's serving::MergeDuplicates, verbatim but for the name.
void MergeIntrosort(std::vector<Candidate>& candidates) {
  thread_local std::vector<uint64_t> keys;
  thread_local std::vector<Candidate> merged;
  keys.clear();
  for (size_t i = 0; i < candidates.size(); ++i) {
    keys.push_back(uint64_t{candidates[i].item} << 32 | i);
  }
  std::sort(keys.begin(), keys.end());
  merged.clear();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0 && (keys[i] >> 32) == (keys[i - 1] >> 32)) continue;
    merged.push_back(candidates[static_cast<uint32_t>(keys[i])]);
  }
  candidates.swap(merged);
}

void BM_MergeIntrosort(benchmark::State& state) {
  const auto lists = MergedLists();
  std::vector<Candidate> work;
  size_t i = 0;
  for (auto _ : state) {
    work = lists[i++ % lists.size()];
    MergeIntrosort(work);
    benchmark::DoNotOptimize(work.data());
  }
}
BENCHMARK(BM_MergeIntrosort)->Unit(benchmark::kMicrosecond);

void RankBench(benchmark::State& state, bool only_top_n) {
  auto lists = MergedLists();
  for (auto& list : lists) serving::MergeDuplicates(list);
  const rules::RankByScore rank(only_top_n);
  RecommendContext context;
  context.n = 10;
  std::vector<Candidate> work;
  size_t i = 0;
  for (auto _ : state) {
    work = lists[i++ % lists.size()];
    rank.Apply(context, work);
    benchmark::DoNotOptimize(work.data());
  }
}
void BM_RankBefore(benchmark::State& state) { RankBench(state, false); }
void BM_Rank(benchmark::State& state) { RankBench(state, true); }
BENCHMARK(BM_RankBefore)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Rank)->Unit(benchmark::kMicrosecond);

void BM_FoldIn(benchmark::State& state) {
  World& world = TheWorld();
  TrainConfig config;
  std::vector<float> weights(200, 2.0f), out(kDim);
  size_t user = 0;
  for (auto _ : state) {
    const auto& items = world.recent[user++ % world.recent.size()];
    train::FoldInUser(world.model.item_factors.data(), kDim, world.gramian.data(), items, weights,
                      config, out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_FoldIn)->Unit(benchmark::kMicrosecond);

// A memo hit as PrepareUser takes it: the remembered state copied out. Versioned: the history
// came from the data dir (matched by its version); unversioned: from a store that cannot version
// (matched entry by entry).
void UserStateMemoHit(benchmark::State& state, bool versioned) {
  World& world = TheWorld();
  serving::UserStateMemo memo(16384);
  std::vector<store::UserHistory> histories(world.recent.size());
  const std::vector<float> vector(kDim, 0.5f);
  for (size_t u = 0; u < histories.size(); ++u) {
    for (DenseId item : world.recent[u]) {
      histories[u].recent.push_back({world.model.items.Name(item), EventType::kClick, 0});
    }
    histories[u].version = versioned ? u + 1 : 0;
    memo.Store({StrCat("u", u), 1, 200}, histories[u], world.recent[u], world.recent[u], vector);
  }
  std::vector<DenseId> seen, recent;
  std::vector<float> user_vector;
  auto copy_out = [&](const serving::DerivedUserState& known) {
    seen = known.seen_items;
    recent = known.recent_items;
    user_vector = known.user_vector;
  };
  // Users whose slot no later user took (direct-mapped: some collide).
  std::vector<size_t> kept;
  for (size_t u = 0; u < histories.size(); ++u) {
    if (memo.Find({StrCat("u", u), 1, 200}, histories[u], copy_out)) kept.push_back(u);
  }
  store::UserHistory unchanged;  // what a versioned read of an unchanged history returns
  size_t i = 0;
  for (auto _ : state) {
    const size_t u = kept[i++ % kept.size()];
    const std::string user = StrCat("u", u);
    unchanged.version = histories[u].version;
    if (!memo.Find({user, 1, 200}, versioned ? unchanged : histories[u], copy_out)) {
      state.SkipWithError("miss");
    }
    benchmark::DoNotOptimize(user_vector.data());
  }
}
void BM_UserStateMemoHitVersioned(benchmark::State& state) { UserStateMemoHit(state, true); }
void BM_UserStateMemoHitUnversioned(benchmark::State& state) { UserStateMemoHit(state, false); }
BENCHMARK(BM_UserStateMemoHitVersioned)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_UserStateMemoHitUnversioned)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pulse

BENCHMARK_MAIN();
