#include "rules/selector.h"

#include <algorithm>
#include <unordered_map>

namespace pulse::rules {

using candidates::Candidate;
using candidates::ItemTable;
using candidates::RecommendContext;

void RankByScore::Apply(RecommendContext& context, std::vector<Candidate>& candidates) const {
  auto better = [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.item < b.item;
  };
  const size_t n = context.n > 0 ? static_cast<size_t>(context.n) : 0;
  if (only_top_n_ && n < candidates.size()) {
    std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(n),
                      candidates.end(), better);
  } else {
    std::sort(candidates.begin(), candidates.end(), better);
  }
}

void CapPerCategory::Apply(RecommendContext& context, std::vector<Candidate>& candidates) const {
  if (max_ <= 0) return;
  // Stable partition: within the first n slots no category exceeds the cap; capped items keep
  // their order behind the others so they still backfill a short list.
  std::unordered_map<uint32_t, int> taken;
  std::vector<Candidate> deferred;
  size_t kept = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    bool over = c.category != ItemTable::kNoCategory && ++taken[c.category] > max_;
    if (over && kept < static_cast<size_t>(context.n)) {
      deferred.push_back(c);
    } else {
      candidates[kept++] = c;
    }
  }
  std::copy(deferred.begin(), deferred.end(), candidates.begin() + static_cast<ptrdiff_t>(kept));
}

void TruncateTopN::Apply(RecommendContext& context, std::vector<Candidate>& candidates) const {
  if (candidates.size() > static_cast<size_t>(context.n)) {
    candidates.resize(static_cast<size_t>(context.n));
  }
}

}  // namespace pulse::rules
