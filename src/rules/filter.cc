#include "rules/filter.h"

#include <algorithm>

namespace pulse::rules {
namespace {

using candidates::Candidate;
using candidates::RecommendContext;

// Keeps candidates for which `keep` is true; records the others as removed by `filter`.
template <typename Keep>
void RemoveIf(RecommendContext& context, std::vector<Candidate>& candidates,
              std::string_view filter, std::string_view reason, Keep keep) {
  size_t kept = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (keep(candidates[i])) {
      if (kept != i) candidates[kept] = candidates[i];
      ++kept;
    } else {
      context.removed.push_back({candidates[i].item, filter, reason});
    }
  }
  candidates.resize(kept);
}

bool SortedContains(const std::vector<DenseId>& sorted, DenseId item) {
  return std::binary_search(sorted.begin(), sorted.end(), item);
}

}  // namespace

void RequestExcludeFilter::Apply(RecommendContext& context,
                                 std::vector<Candidate>& candidates) const {
  if (context.excluded_items.empty()) return;
  RemoveIf(context, candidates, name(), "excluded by the request",
           [&](const Candidate& c) { return !SortedContains(context.excluded_items, c.item); });
}

void UnavailableItemsFilter::Apply(RecommendContext& context,
                                   std::vector<Candidate>& candidates) const {
  if (context.items == nullptr) return;
  RemoveIf(context, candidates, name(), "deleted or unavailable in the catalog",
           [&](const Candidate& c) { return context.items->available(c.item); });
}

void SeenItemsFilter::Apply(RecommendContext& context, std::vector<Candidate>& candidates) const {
  if (context.seen_items.empty()) return;
  RemoveIf(context, candidates, name(), "the user already engaged with it",
           [&](const Candidate& c) { return !SortedContains(context.seen_items, c.item); });
}

Result<std::unique_ptr<Filter>> MakeFilter(std::string_view name) {
  if (name == "request_exclude") return std::unique_ptr<Filter>(new RequestExcludeFilter());
  if (name == "unavailable") return std::unique_ptr<Filter>(new UnavailableItemsFilter());
  if (name == "seen") return std::unique_ptr<Filter>(new SeenItemsFilter());
  return InvalidArgumentError(
      StrCat("unknown filter '", name, "' (known: request_exclude, unavailable, seen)"));
}

}  // namespace pulse::rules
