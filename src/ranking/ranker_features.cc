#include "ranking/ranker_features.h"

namespace pulse::ranking {

void RankerFeatures(const candidates::RecommendContext& context,
                    const candidates::Candidate& candidate,
                    std::span<float, kRankerFeatureCount> out) {
  out[0] = candidate.similarity;
  out[1] = candidate.popularity;
  out[2] = candidate.freshness;
  out[3] = candidate.retrieval_score;
  out[4] = context.has_user_vector() ? 1.0f : 0.0f;
}

}  // namespace pulse::ranking
