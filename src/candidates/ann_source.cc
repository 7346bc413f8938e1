#include "candidates/ann_source.h"

#include "index/ann_index.h"

namespace pulse::candidates {

Status AnnCandidateSource::Fetch(const RecommendContext& context, int k, uint8_t source_index,
                                 std::vector<Candidate>* out) const {
  if (!context.has_user_vector() || context.model == nullptr || !context.model->index) {
    return OkStatus();
  }
  // Reused per thread: a request must not allocate for the neighbour list.
  thread_local std::vector<index::Neighbor> neighbors;
  RETURN_IF_ERROR(context.model->index->Search(context.user_vector.data(),
                                               WithSeenHeadroom(k, context), &neighbors));
  std::string_view explanation = context.vector_kind == UserVectorKind::kRecentItems
                                     ? kExplainSimilarToRecent
                                     : kExplainMatchesTaste;
  for (const index::Neighbor& neighbor : neighbors) {
    Candidate candidate;
    candidate.item = neighbor.id;
    candidate.source = source_index;
    candidate.explanation = explanation;
    candidate.retrieval_score = neighbor.score;
    out->push_back(candidate);
  }
  return OkStatus();
}

}  // namespace pulse::candidates
