// candidates/covisit_source.h — `covisit`: items co-engaged with the user's recent items, from
// the nearline processor's item→item co-visitation counts (consecutive engagements of one user
// within a 30-minute session gap; docs/design/nearline-windows.md).
// A candidate's score is the sum over the user's newest kMaxSeedItems recent items of the
// neighbour's co-visitation weight, each seed weighted 1/(1 + its recency rank) so the item just
// engaged steers most. RecommendContext::recent_items are dense ids of the serving model; the
// processor is keyed by item id strings, so seeds and neighbours are mapped through
// context.model->items and neighbours the model does not know are skipped. Neighbour ids are
// mapped through the processor's per-snapshot cache (nearline::DenseIdCache, keyed by
// context.model_generation), so a request pays a hash lookup per seed, not per neighbour.
// Returns nothing when context.features is null or the user has no recent items.
// Thread-safety: Fetch is const; each neighbour read takes one processor shard's shared lock.
// Latency budget: kMaxSeedItems neighbour reads (≤ 50 entries each, already in rank order),
// per-item sums in a small per-thread hash table, and a sort of the kept items.
// Explanation: co_engaged_with_recent.
#pragma once

#include "candidates/candidate_source.h"

namespace pulse::candidates {

inline constexpr std::string_view kExplainCoEngagedWithRecent = "co_engaged_with_recent";

class CovisitCandidateSource final : public CandidateSource {
 public:
  static constexpr size_t kMaxSeedItems = 10;

  std::string_view name() const override { return "covisit"; }
  Status Fetch(const RecommendContext& context, int k, uint8_t source_index,
               std::vector<Candidate>* out) const override;
};

}  // namespace pulse::candidates
