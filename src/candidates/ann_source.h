// candidates/ann_source.h — `ann`: items nearest to the user vector in the model's ANN index.
// Personal: produces nothing without a user vector. Explanation: similar_to_recent when the vector
// was folded in from recent items, matches_your_taste when it is the trained factor.
#pragma once

#include "candidates/candidate_source.h"

namespace pulse::candidates {

class AnnCandidateSource final : public CandidateSource {
 public:
  std::string_view name() const override { return "ann"; }
  Status Fetch(const RecommendContext& context, int k, uint8_t source_index,
               std::vector<Candidate>* out) const override;
};

}  // namespace pulse::candidates
