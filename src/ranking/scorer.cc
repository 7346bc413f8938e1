#include "ranking/scorer.h"

#include <cmath>

namespace pulse::ranking {

Result<std::unique_ptr<LinearScorer>> LinearScorer::Create(
    const std::map<std::string, double>& weights) {
  std::unique_ptr<LinearScorer> scorer(new LinearScorer());
  for (const auto& [key, weight] : weights) {
    if (!std::isfinite(weight)) {
      return InvalidArgumentError(StrCat("scorer weight '", key, "' must be finite"));
    }
    if (key == "similarity") {
      scorer->w_similarity_ = static_cast<float>(weight);
    } else if (key == "popularity") {
      scorer->w_popularity_ = static_cast<float>(weight);
    } else if (key == "freshness") {
      scorer->w_freshness_ = static_cast<float>(weight);
    } else {
      return InvalidArgumentError(StrCat("unknown scorer feature '", key, "'"));
    }
  }
  return scorer;
}

void LinearScorer::Score(const candidates::RecommendContext& /*context*/,
                         std::span<candidates::Candidate> candidates) const {
  for (candidates::Candidate& candidate : candidates) {
    candidate.score = w_similarity_ * candidate.similarity + w_popularity_ * candidate.popularity +
                      w_freshness_ * candidate.freshness;
  }
}

}  // namespace pulse::ranking
