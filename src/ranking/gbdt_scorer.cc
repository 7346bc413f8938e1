#include "ranking/gbdt_scorer.h"

#include <vector>

#include "core/log.h"
#include "ranking/ranker_features.h"

namespace pulse::ranking {

bool GbdtScorer::HasUsableRanker(const candidates::RecommendContext& context) {
  return context.model != nullptr && context.model->ranker != nullptr &&
         context.model->ranker->num_features() == kRankerFeatureCount;
}

void GbdtScorer::Score(const candidates::RecommendContext& context,
                       std::span<candidates::Candidate> candidates) const {
  if (!HasUsableRanker(context) || candidates.empty()) {
    fallback_->Score(context, candidates);
    return;
  }
  thread_local std::vector<float> rows;
  thread_local std::vector<float> scores;
  rows.resize(candidates.size() * kRankerFeatureCount);
  scores.resize(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    RankerFeatures(
        context, candidates[i],
        std::span<float, kRankerFeatureCount>(&rows[i * kRankerFeatureCount], kRankerFeatureCount));
  }
  Status status = context.model->ranker->PredictProbability(rows, candidates.size(),
                                                            kRankerFeatureCount, scores);
  if (!status.ok()) {
    // Cannot happen for a usable ranker (shapes are checked above); never fail the request.
    LOG_WARN("ranking", "gbdt scorer fell back to linear: ", status.ToString());
    fallback_->Score(context, candidates);
    return;
  }
  for (size_t i = 0; i < candidates.size(); ++i) candidates[i].score = scores[i];
}

}  // namespace pulse::ranking
