// candidates/popular_source.h — `popular`: the most popular items of the model (recency-decayed
// engagement at training time). Always available: the floor of the fallback ladder, and what an
// unknown user gets. Explanation: popular_now.
#pragma once

#include "candidates/candidate_source.h"

namespace pulse::candidates {

class PopularCandidateSource final : public CandidateSource {
 public:
  std::string_view name() const override { return "popular"; }
  Status Fetch(const RecommendContext& context, int k, uint8_t source_index,
               std::vector<Candidate>* out) const override;
};

}  // namespace pulse::candidates
