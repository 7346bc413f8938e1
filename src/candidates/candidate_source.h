// candidates/candidate_source.h — the first pipeline stage: where candidates come from.
//
// A source proposes up to k items for a request, each tagged with the source and an explanation
// id. Sources know nothing of each other; the pipeline merges and de-duplicates their output.
// An empty result is not an error (an unknown user has no vector for `ann`); an error is a source
// that could not do its work (index failure) — the pipeline then marks the response degraded and
// carries on with the other sources.
// Thread-safety: Fetch is const and called concurrently by many requests.
// Latency budget: `ann` ≈ one ANN query (sub-millisecond); `covisit` a neighbour lookup per
// recent item; `trending` and `popular` a copy of k ids.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "candidates/context.h"
#include "core/status.h"

namespace pulse::candidates {

// Explanation ids (docs/EXPLANATIONS.md).
inline constexpr std::string_view kExplainSimilarToRecent = "similar_to_recent";
inline constexpr std::string_view kExplainMatchesTaste = "matches_your_taste";
inline constexpr std::string_view kExplainPopularNow = "popular_now";

class CandidateSource {
 public:
  virtual ~CandidateSource() = default;
  // Stable name: config key, metric label and the `source` field of responses.
  virtual std::string_view name() const = 0;
  // Appends up to `k` candidates (plus head-room for items the user has seen, which the `seen`
  // filter removes later) to `out`, each with Candidate::source = `source_index`.
  // Deadline: context.source_deadline_us (its budget or the request's deadline); work in loops
  // checks context.SourceDeadlinePassed() and returns DeadlineExceeded (the pipeline drops what
  // was appended and skips the source).
  virtual Status Fetch(const RecommendContext& context, int k, uint8_t source_index,
                       std::vector<Candidate>* out) const = 0;
};

// The source registered under `name` ("ann", "covisit", "trending", "popular");
// InvalidArgument for unknown names.
Result<std::unique_ptr<CandidateSource>> MakeCandidateSource(std::string_view name);

// How many candidates to ask for so that about `k` survive the seen filter: the user's seen
// items may occupy the top of any list. Capped to keep one request's work bounded.
int WithSeenHeadroom(int k, const RecommendContext& context);

}  // namespace pulse::candidates
