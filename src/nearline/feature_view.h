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
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
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

// Which model dictionary item ids are mapped into on the request path. `generation` names the
// dictionary for caching: every resolver with one generation must map every id the same way
// (serving gives each model snapshot its own, never reused); 0 = do not cache.
struct ItemIdResolver {
  const IdDictionary* items = nullptr;
  uint32_t generation = 0;
};

// The dense id of an item the model does not know. No dictionary reaches 2^32 - 1 ids (they are
// 32-bit, and the id space would not fit in memory long before).
inline constexpr DenseId kUnresolvedItem = 0xffffffffu;

// A model dense id cached beside a nearline item id, so requests map each neighbour or trending
// id by hash lookup once per model snapshot instead of once per request. One atomic word
// (generation << 32 | dense id, kUnresolvedItem for ids the model lacks): a stale word is
// recognised by its generation, never used. Readers fill it concurrently (relaxed: the word is
// self-contained, and the id it caches is immutable while readers can see it — the writer
// resets it whenever it changes the id, under its exclusive lock). Copies carry the word.
class DenseIdCache {
 public:
  DenseIdCache() = default;
  DenseIdCache(const DenseIdCache& other) : word_(other.word_.load(std::memory_order_relaxed)) {}
  DenseIdCache& operator=(const DenseIdCache& other) {
    word_.store(other.word_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
  // `id`'s dense id under `resolver` (nullopt when the model does not know it), from the cache
  // when it was resolved under the same generation.
  std::optional<DenseId> Resolve(std::string_view id, const ItemIdResolver& resolver) const {
    const DenseId dense = Lookup(resolver, [id] { return id; });
    if (dense == kUnresolvedItem) return std::nullopt;
    return dense;
  }
  // The same as a plain id, kUnresolvedItem when the model does not know it, reading the id
  // through `id_of()` only when the cache cannot answer: a hit touches nothing but this word,
  // and no optional is assembled on the stack (the request path's loops store the id as is).
  template <typename IdOf>
  DenseId Lookup(const ItemIdResolver& resolver, IdOf id_of) const {
    const uint64_t word = word_.load(std::memory_order_relaxed);
    if (resolver.generation != 0 && (word >> 32) == resolver.generation) {
      return static_cast<DenseId>(word);
    }
    const std::optional<DenseId> found = resolver.items->Find(id_of());
    const DenseId dense = found ? *found : kUnresolvedItem;
    if (resolver.generation != 0) {
      word_.store((uint64_t{resolver.generation} << 32) | dense, std::memory_order_relaxed);
    }
    return dense;
  }
  // Forgets the cached id (the id it belongs to changed).
  void Reset() { word_.store(0, std::memory_order_relaxed); }

 private:
  mutable std::atomic<uint64_t> word_{0};
};

struct TrendingItem {
  std::string item_id;
  double velocity = 0;
  int64_t engagements_1h = 0;
  DenseIdCache dense;  // item_id in the serving model (request path)
};
using TrendingSnapshot = std::shared_ptr<const std::vector<TrendingItem>>;

struct Neighbor {
  std::string item_id;
  double weight = 0;  // decayed co-visitation count (space-saving estimate: an upper bound)
};

// A neighbour mapped into a model: `item` is kUnresolvedItem when the model does not know it.
struct ResolvedNeighbor {
  DenseId item = kUnresolvedItem;
  double weight = 0;
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
  // The same list as Neighbors (same order, same weights, unknown ids included), each id mapped
  // through `resolver`, into `out` (cleared first; a caller reuses it across requests). This
  // default maps the copies; the processor maps without copying strings and caches the mapping.
  virtual void ResolvedNeighbors(std::string_view item_id, size_t k, const ItemIdResolver& resolver,
                                 std::vector<ResolvedNeighbor>* out) const {
    out->clear();
    for (const Neighbor& n : Neighbors(item_id, k)) {
      const std::optional<DenseId> item = resolver.items->Find(n.item_id);
      out->push_back({item ? *item : kUnresolvedItem, n.weight});
    }
  }
};

}  // namespace pulse::nearline
