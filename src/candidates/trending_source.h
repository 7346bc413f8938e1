// candidates/trending_source.h — `trending`: the items whose engagement rate rose most, by the
// nearline processor's trending velocity (last-hour count over the 24h hourly average, smoothed;
// docs/design/nearline-windows.md). Personal to no one: an unknown user gets it too.
// Reads RecommendContext::features (returns nothing when null) and keeps only items the serving
// model knows (the processor is keyed by item id strings, candidates by dense model ids).
// Thread-safety: Fetch is const; the trending list is an immutable snapshot shared by requests.
// Latency budget: one snapshot pointer copy plus one hash lookup per listed item.
// Explanation: trending_now.
#pragma once

#include "candidates/candidate_source.h"

namespace pulse::candidates {

inline constexpr std::string_view kExplainTrendingNow = "trending_now";

class TrendingCandidateSource final : public CandidateSource {
 public:
  std::string_view name() const override { return "trending"; }
  Status Fetch(const RecommendContext& context, int k, uint8_t source_index,
               std::vector<Candidate>* out) const override;
};

}  // namespace pulse::candidates
