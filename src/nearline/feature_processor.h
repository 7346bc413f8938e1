// nearline/feature_processor.h — the nearline feature processor: turns the event stream into
// windowed per-user and per-item features, trending velocity and item→item co-visitation.
//
// Event time, not arrival time: the processor's clock is the largest event ts applied (max_ts).
// The watermark is max_ts − allowed_lateness. An event at or after the watermark is applied even
// when it arrives out of order (late); an older one is counted (too_late) and dropped. Events
// more than max_future_ms ahead of the owner's `now` are dropped (they would drag the watermark
// forward and make every honest event "too late"). Events with an event_id already applied in the
// recent-id window (the last dedup_capacity ids) are counted as duplicates and skipped.
// Windows: see sliding_window.h and docs/design/nearline-windows.md for the bucket choice, its
// error, the trending formula and the co-visitation scheme.
//
// Thread-safety: one writer thread calls Apply/AdvanceTo/Serialize; any number of threads call
// the FeatureView reads concurrently. Users and items live in 64 shards, each behind a
// shared_mutex held by the writer for one event's update and by a reader for one copy-out: a
// read contends with at most the one shard being written, and no per-event allocation is spent
// on copy-on-write. The trending list is an immutable snapshot swapped after each batch.
// Memory: bounded by max_users / max_items (oldest-by-last-event evicted first), per-entity caps
// (categories, recent items, neighbours) and the fixed ring sizes; see the design doc.
// Failure behaviour: bad events (empty user or item id, |ts| > 2^62) are counted (invalid) and
// skipped, never fatal.
// Restore returns DataLoss for a corrupt or truncated checkpoint, FailedPrecondition for an
// unknown version.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "core/strings.h"
#include "core/types.h"
#include "nearline/feature_view.h"
#include "nearline/sliding_window.h"

namespace pulse::nearline {

struct ProcessorOptions {
  int64_t allowed_lateness_ms = 60'000;
  int64_t max_future_ms = 5 * kMinuteMs;  // relative to the `now` passed to Apply
  int64_t session_gap_ms = 30 * kMinuteMs;
  size_t max_users = 1'000'000;
  size_t max_items = 1'000'000;
  size_t max_neighbors = 50;  // co-visitation counters kept per item
  size_t max_categories_per_user = 16;
  size_t recent_items_per_user = 20;
  size_t dedup_capacity = 200'000;  // recent event ids remembered (see the design doc)
  size_t trending_capacity = 200;   // length of the trending snapshot
  double trending_prior = 5.0;      // pseudo-count smoothing the velocity ratio
  int64_t covisit_half_life_ms = 7 * kDayMs;
};

// The item → category mapping the owner provides (its catalog). The returned view need only stay
// valid for the duration of the call; "" = no category. Called on the writer thread only.
using CategoryLookup = std::function<std::string_view(std::string_view item_id)>;

struct ApplyStats {
  int64_t applied = 0;
  int64_t late_applied = 0;  // applied although older than max_ts (included in `applied`)
  int64_t duplicates = 0;
  int64_t too_late = 0;
  int64_t too_future = 0;
  int64_t invalid = 0;
  // now − event ts in seconds for each applied event (feeds pulse_feature_freshness_seconds).
  std::vector<double> freshness_seconds;
};

struct ProcessorCounters {
  int64_t applied = 0;
  int64_t late_applied = 0;
  int64_t duplicates = 0;
  int64_t too_late = 0;
  int64_t too_future = 0;
  int64_t invalid = 0;
  int64_t evicted_users = 0;
  int64_t evicted_items = 0;
};

class FeatureProcessor final : public FeatureView {
 public:
  FeatureProcessor(ProcessorOptions options, CategoryLookup category_lookup);
  ~FeatureProcessor() override;
  FeatureProcessor(const FeatureProcessor&) = delete;
  FeatureProcessor& operator=(const FeatureProcessor&) = delete;

  // Applies a batch in order; `now_ms` is the owner's wall clock (freshness, future check).
  ApplyStats Apply(std::span<const Event> events, int64_t now_ms);
  // Moves the event-time clock forward to `ts_ms` when the stream is idle, so windows slide.
  void AdvanceTo(int64_t ts_ms);

  int64_t max_event_ts() const { return max_ts_.load(std::memory_order_acquire); }
  int64_t watermark() const;
  ProcessorCounters counters() const;
  size_t num_users() const;
  size_t num_items() const;

  // FeatureView.
  std::optional<UserFeatures> User(std::string_view user_id) const override;
  std::optional<ItemFeatures> Item(std::string_view item_id) const override;
  TrendingSnapshot Trending() const override;
  std::vector<Neighbor> Neighbors(std::string_view item_id, size_t k) const override;
  void ResolvedNeighbors(std::string_view item_id, size_t k, const ItemIdResolver& resolver,
                         std::vector<ResolvedNeighbor>* out) const override;

  // Versioned binary checkpoint of the whole state (windows, neighbours, recent ids, clock,
  // counters). Writer thread only (it must not race Apply). Options are not stored: the owner
  // passes them again to Restore.
  std::string Serialize() const;
  static Result<std::unique_ptr<FeatureProcessor>> Restore(std::string_view data,
                                                           ProcessorOptions options,
                                                           CategoryLookup category_lookup);

  struct UserState;
  struct ItemState;

 private:
  static constexpr size_t kShards = 64;
  // An id with its StringHash computed once, so the request path hashes a seed's id once for
  // both its shard and its map lookup (a heterogeneous find that takes the hash as given).
  struct HashedId {
    std::string_view id;
    size_t hash;
  };
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return StringHash{}(s); }
    size_t operator()(const HashedId& h) const noexcept { return h.hash; }
  };
  struct IdEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
    bool operator()(const HashedId& a, std::string_view b) const noexcept { return a.id == b; }
    bool operator()(std::string_view a, const HashedId& b) const noexcept { return a == b.id; }
  };
  template <typename State>
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, State, IdHash, IdEq> map;
  };

  void ApplyOne(const Event& event, int64_t now_ms);
  // The factor that decays `item`'s neighbour weights to `now` (caller holds its shard lock).
  double NeighborDecay(const ItemState& item, int64_t now) const;
  void AddCovisit(const std::string& from, const std::string& to, int64_t ts_ms);
  void RememberId(const std::string& id);
  void EvictUsers(Shard<UserState>& shard);
  void EvictItems(Shard<ItemState>& shard);
  double Velocity(const ItemState& item, int64_t now_ms) const;
  void RefreshTrending(bool full_scan);
  Shard<UserState>& UserShard(std::string_view id) const;
  Shard<ItemState>& ItemShard(std::string_view id) const;
  // The same shard from the id's StringHash.
  Shard<ItemState>& ItemShardOfHash(size_t hash) const;

  const ProcessorOptions options_;
  const CategoryLookup category_lookup_;
  std::atomic<int64_t> max_ts_;
  std::unique_ptr<Shard<UserState>[]> users_;
  std::unique_ptr<Shard<ItemState>[]> items_;

  // Writer-only state.
  std::unordered_set<std::string, StringHash, std::equal_to<>> recent_ids_;
  std::deque<std::string> recent_id_order_;
  // Items engaged in the current batch (pointers into the item shards, which keep node addresses
  // stable; evicting an item removes it here first). ItemState::touched marks membership.
  std::vector<std::pair<const std::string*, ItemState*>> touched_items_;
  ProcessorCounters totals_;
  mutable std::mutex counters_mu_;  // guards published_totals_
  ProcessorCounters published_totals_;

  mutable std::mutex trending_mu_;  // guards the pointer only
  TrendingSnapshot trending_;
};

}  // namespace pulse::nearline
