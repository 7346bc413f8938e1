// nearline/feature_view.h — the read-only face of the nearline feature processor.
//
// What request threads see: per-user and per-item windowed counts, the current top trending items
// and an item's co-visitation neighbours. Candidate sources and the hydrator depend on this
// interface only (RecommendContext carries a pointer to it), never on the writer side.
// Windows are evaluated at the processor's event-time clock (the largest event ts applied), not
// at wall-clock time: a stalled stream freezes the windows rather than emptying them.
// Thread-safety: every method is const and safe to call from many threads while the single writer
// applies events. Results are copies (or an immutable shared snapshot): callers own them.
// Failure behaviour: unknown ids are not errors (nullopt / empty list).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.h"

namespace pulse::nearline {

// Window indices for UserFeatures.
enum UserWindow : int { kUser1h = 0, kUser24h = 1, kUser7d = 2 };
inline constexpr int kNumUserWindows = 3;
// Window indices for ItemFeatures.
enum ItemWindow : int { kItem5m = 0, kItem1h = 1, kItem24h = 2 };
inline constexpr int kNumItemWindows = 3;

struct CategoryCounts {
  std::string category;
  std::array<int64_t, kNumUserWindows> engagements{};  // non-impression events, by window
};

struct RecentEngagement {
  std::string item_id;
  int64_t ts_ms = 0;
};

struct UserFeatures {
  int64_t as_of_ms = 0;  // the event-time clock the windows were evaluated at
  // counts[window][EventType]
  std::array<std::array<int64_t, kNumEventTypes>, kNumUserWindows> counts{};
  std::vector<CategoryCounts> categories;  // most recently engaged first
  int64_t clicks_24h = 0;
  int64_t impressions_24h = 0;
  double ctr_24h = 0;                    // clicks / impressions over 24h; 0 without impressions
  std::vector<RecentEngagement> recent;  // last engagements, newest first
};

struct ItemFeatures {
  int64_t as_of_ms = 0;
  std::array<int64_t, kNumItemWindows> views{};
  std::array<int64_t, kNumItemWindows> clicks{};
  std::array<int64_t, kNumItemWindows> engagements{};  // every non-impression event
  double trending_velocity = 0;
};

struct TrendingItem {
  std::string item_id;
  double velocity = 0;
  int64_t engagements_1h = 0;
};
using TrendingSnapshot = std::shared_ptr<const std::vector<TrendingItem>>;

struct Neighbor {
  std::string item_id;
  double weight = 0;  // decayed co-visitation count (space-saving estimate: an upper bound)
};

class FeatureView {
 public:
  virtual ~FeatureView() = default;
  virtual std::optional<UserFeatures> User(std::string_view user_id) const = 0;
  virtual std::optional<ItemFeatures> Item(std::string_view item_id) const = 0;
  // Items by trending velocity, highest first (an immutable snapshot, never null).
  virtual TrendingSnapshot Trending() const = 0;
  // Up to `k` co-visited neighbours of `item_id`, heaviest first.
  virtual std::vector<Neighbor> Neighbors(std::string_view item_id, size_t k) const = 0;
};

}  // namespace pulse::nearline
