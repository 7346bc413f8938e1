#include "candidates/trending_source.h"

#include "nearline/feature_view.h"

namespace pulse::candidates {

Status TrendingCandidateSource::Fetch(const RecommendContext& context, int k, uint8_t source_index,
                                      std::vector<Candidate>* out) const {
  if (context.features == nullptr || context.model == nullptr || k <= 0) return OkStatus();
  nearline::TrendingSnapshot trending = context.features->Trending();
  if (trending == nullptr) return OkStatus();
  const size_t want = static_cast<size_t>(WithSeenHeadroom(k, context));
  const nearline::ItemIdResolver resolver{&context.model->items, context.model_generation};
  size_t added = 0;
  for (const nearline::TrendingItem& item : *trending) {
    if (added == want) break;
    // Mapped once per model snapshot and trending snapshot, not per request.
    std::optional<DenseId> dense = item.dense.Resolve(item.item_id, resolver);
    if (!dense) continue;  // not in the serving model (new since training, or unknown)
    Candidate& candidate = out->emplace_back();
    candidate.item = *dense;
    candidate.source = source_index;
    candidate.explanation = kExplainTrendingNow;
    candidate.retrieval_score = static_cast<float>(item.velocity);
    ++added;
  }
  return OkStatus();
}

}  // namespace pulse::candidates
