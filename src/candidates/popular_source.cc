#include "candidates/popular_source.h"

#include <algorithm>

namespace pulse::candidates {

Status PopularCandidateSource::Fetch(const RecommendContext& context, int k, uint8_t source_index,
                                     std::vector<Candidate>* out) const {
  size_t take =
      std::min(context.popular_items.size(), static_cast<size_t>(WithSeenHeadroom(k, context)));
  for (size_t i = 0; i < take; ++i) {
    Candidate& candidate = out->emplace_back();
    candidate.item = context.popular_items[i];
    candidate.source = source_index;
    candidate.explanation = kExplainPopularNow;
    candidate.retrieval_score =
        context.model != nullptr ? context.model->item_popularity[candidate.item] : 0.0f;
  }
  return OkStatus();
}

}  // namespace pulse::candidates
