// ranking/ranker_features.h — the feature vector the learned ranker sees, one definition shared
// by serving (which scores with it and logs it) and training (which learns from the logged
// vectors), so training sees exactly what serving saw.
//
// Schema (version kRankerFeatureSchema; the order is the model's column order):
//   0 similarity       user vector · item vector (0 without a user vector)
//   1 popularity       log-scaled popularity in [0, 1]
//   2 freshness        exp(-age / 30 days), 0 when unknown
//   3 retrieval_score  the proposing source's own score
//   4 has_user_vector  1 when the request had a personal vector, else 0
// A new feature is appended with a new schema version; a ranker trained on another schema is not
// used (the scorer falls back to the linear scorer). Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "candidates/context.h"

namespace pulse::ranking {

inline constexpr int kRankerFeatureSchema = 1;
inline constexpr std::array<std::string_view, 5> kRankerFeatureNames = {
    "similarity", "popularity", "freshness", "retrieval_score", "has_user_vector"};
inline constexpr size_t kRankerFeatureCount = kRankerFeatureNames.size();

// Writes the kRankerFeatureCount features of a hydrated `candidate` to `out`.
void RankerFeatures(const candidates::RecommendContext& context,
                    const candidates::Candidate& candidate,
                    std::span<float, kRankerFeatureCount> out);

}  // namespace pulse::ranking
