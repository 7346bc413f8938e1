#include "candidates/candidate_source.h"

#include <algorithm>

#include "candidates/ann_source.h"
#include "candidates/covisit_source.h"
#include "candidates/popular_source.h"
#include "candidates/trending_source.h"

namespace pulse::candidates {

Result<std::unique_ptr<CandidateSource>> MakeCandidateSource(std::string_view name) {
  if (name == "ann") return std::unique_ptr<CandidateSource>(new AnnCandidateSource());
  if (name == "popular") return std::unique_ptr<CandidateSource>(new PopularCandidateSource());
  if (name == "trending") return std::unique_ptr<CandidateSource>(new TrendingCandidateSource());
  if (name == "covisit") return std::unique_ptr<CandidateSource>(new CovisitCandidateSource());
  return InvalidArgumentError(
      StrCat("unknown candidate source '", name, "' (known: ann, popular, trending, covisit)"));
}

int WithSeenHeadroom(int k, const RecommendContext& context) {
  size_t headroom = std::min(context.seen_items.size() + context.excluded_items.size(),
                             static_cast<size_t>(4 * k));
  return k + static_cast<int>(headroom);
}

}  // namespace pulse::candidates
