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
  // The query is the user vector, so an exact score is the similarity feature already: the
  // hydrator then skips reading these items' vectors again (most of a request's cache misses).
  const bool exact = context.model->index->scores_are_exact_dot();
  for (const index::Neighbor& neighbor : neighbors) {
    // Built in place: a stack copy written field by field and then copied out as 16-byte
    // blocks stalls store forwarding on every candidate.
    Candidate& candidate = out->emplace_back();
    candidate.item = neighbor.id;
    candidate.source = source_index;
    candidate.explanation = explanation;
    candidate.retrieval_score = neighbor.score;
    if (exact) {
      candidate.similarity = neighbor.score;
      candidate.similarity_set = true;
    }
  }
  return OkStatus();
}

}  // namespace pulse::candidates
