#include "rules/filter.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

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

// Membership in a sorted id list for a request's candidates. Most candidates are not in it, so
// a bitmap of hashed ids (16 bits per id, on the stack) answers most of them with one load and a
// bit test; a set bit (a member, or a collision: about 1 in 16 when the list fits the bitmap) is
// settled by binary search. Same answers as std::binary_search on the list.
class SortedIdSet {
 public:
  explicit SortedIdSet(const std::vector<DenseId>& sorted) : sorted_(sorted) {
    size_t words = 1;
    while (words < kMaxWords && words * 64 < sorted.size() * 16) words *= 2;
    shift_ = 32 - std::countr_zero(words * 64);  // the top log2(bits) bits of the hash
    std::fill_n(bits_.begin(), words, 0);
    for (DenseId id : sorted) {
      const uint32_t h = Hash(id);
      bits_[h >> 6] |= uint64_t{1} << (h & 63);
    }
  }

  bool contains(DenseId id) const {
    const uint32_t h = Hash(id);
    if ((bits_[h >> 6] >> (h & 63) & 1) == 0) return false;
    return std::binary_search(sorted_.begin(), sorted_.end(), id);
  }

 private:
  // 32 Kbit = 4 KB: 16 bits for each of up to 2048 ids (history_per_user's default is 1000).
  static constexpr size_t kMaxWords = 512;
  // Fibonacci hashing: dense ids of one user's items cluster; the multiply spreads them.
  uint32_t Hash(DenseId id) const {
    return static_cast<uint32_t>((static_cast<uint32_t>(id) * 0x9E3779B1u) >> shift_);
  }

  const std::vector<DenseId>& sorted_;
  int shift_ = 0;
  std::array<uint64_t, kMaxWords> bits_;  // the first `words` are used (and initialized)
};

}  // namespace

void RequestExcludeFilter::Apply(RecommendContext& context,
                                 std::vector<Candidate>& candidates) const {
  if (context.excluded_items.empty()) return;
  const SortedIdSet excluded(context.excluded_items);
  RemoveIf(context, candidates, name(), "excluded by the request",
           [&excluded](const Candidate& c) { return !excluded.contains(c.item); });
}

void UnavailableItemsFilter::Apply(RecommendContext& context,
                                   std::vector<Candidate>& candidates) const {
  if (context.items == nullptr) return;
  RemoveIf(context, candidates, name(), "deleted or unavailable in the catalog",
           [&](const Candidate& c) { return context.items->available(c.item); });
}

void SeenItemsFilter::Apply(RecommendContext& context, std::vector<Candidate>& candidates) const {
  if (context.seen_items.empty()) return;
  const SortedIdSet seen(context.seen_items);
  RemoveIf(context, candidates, name(), "the user already engaged with it",
           [&seen](const Candidate& c) { return !seen.contains(c.item); });
}

Result<std::unique_ptr<Filter>> MakeFilter(std::string_view name) {
  if (name == "request_exclude") return std::unique_ptr<Filter>(new RequestExcludeFilter());
  if (name == "unavailable") return std::unique_ptr<Filter>(new UnavailableItemsFilter());
  if (name == "seen") return std::unique_ptr<Filter>(new SeenItemsFilter());
  return InvalidArgumentError(
      StrCat("unknown filter '", name, "' (known: request_exclude, unavailable, seen)"));
}

}  // namespace pulse::rules
