#include "candidates/covisit_source.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "nearline/feature_view.h"

namespace pulse::candidates {

Status CovisitCandidateSource::Fetch(const RecommendContext& context, int k, uint8_t source_index,
                                     std::vector<Candidate>* out) const {
  if (context.features == nullptr || context.model == nullptr || k <= 0 ||
      context.recent_items.empty()) {
    return OkStatus();
  }
  const IdDictionary& items = context.model->items;
  const nearline::ItemIdResolver resolver{&items, context.model_generation};
  const size_t want = static_cast<size_t>(WithSeenHeadroom(k, context));
  const size_t seeds = std::min(context.recent_items.size(), kMaxSeedItems);
  // (item, weighted score) pairs summed per item by sorting: one reused buffer per thread
  // instead of a hash node per neighbour on every request.
  thread_local std::vector<std::pair<DenseId, double>> ranked;
  thread_local std::vector<nearline::ResolvedNeighbor> neighbors;
  ranked.clear();
  for (size_t rank = 0; rank < seeds; ++rank) {
    // Its budget (serving/pipeline.h): one neighbour list per seed is the unit of work.
    if (context.SourceDeadlinePassed()) return DeadlineExceededError("covisit: past its deadline");
    DenseId seed = context.recent_items[rank];
    if (seed >= items.size()) continue;
    double seed_weight = 1.0 / static_cast<double>(1 + rank);
    // Neighbour ids arrive as dense ids of this model (mapped once per snapshot, not per
    // request); ids the model does not know still take their place in the top `want`.
    context.features->ResolvedNeighbors(items.Name(seed), want, resolver, &neighbors);
    for (const nearline::ResolvedNeighbor& neighbor : neighbors) {
      if (!neighbor.item || *neighbor.item == seed) continue;
      ranked.emplace_back(*neighbor.item, neighbor.weight * seed_weight);
    }
  }
  // Summed per item in seed order (what a stable sort by item gives; float sums depend on the
  // order): (item, position) keys are sorted instead of merge-sorting the pairs through a heap
  // buffer.
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
  // Items are unique here, so the order is total: selecting the top `keep` then sorting them is
  // exactly partial_sort's answer, without its heap (keep is often most of the list).
  size_t keep = std::min(want, ranked.size());
  if (keep < ranked.size()) {
    std::nth_element(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), ranked.end(),
                     order);
  }
  std::sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), order);
  for (size_t i = 0; i < keep; ++i) {
    Candidate candidate;
    candidate.item = ranked[i].first;
    candidate.source = source_index;
    candidate.explanation = kExplainCoEngagedWithRecent;
    candidate.retrieval_score = static_cast<float>(ranked[i].second);
    out->push_back(candidate);
  }
  return OkStatus();
}

}  // namespace pulse::candidates
