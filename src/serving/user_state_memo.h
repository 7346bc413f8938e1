// serving/user_state_memo.h — remembers what a user's history turned into on the request path
// (the model's dense ids of their items, the fold-in inputs and the folded-in user vector), shared
// by every request thread, so a request whose user has not acted since an earlier computed request
// skips the history copy, the per-item dictionary lookups and the fold-in solve.
//
// Exact, never stale: an entry answers only when everything the derived state depends on is
// equal — the model snapshot (its generation: dictionary, factors, Gramian, fold-in parameters),
// the fold-in item limit, the user id, and the history: by its version when the store versions
// histories (store::UserHistory::version: equal versions, equal content), else by its (item id,
// event type) sequence compared entry by entry. Any new event changes either.
//
// Memory: `slots` direct-mapped slots (a colliding user overwrites the slot), each about 200 B
// plus 4 B per history item, per fold-in item and per dimension (an unversioned history also
// keeps its item ids); a slot keeps its buffers, so after warm-up a store allocates nothing.
// Thread-safety: every method may be called concurrently; a slot is read and written under one
// of kStripes mutexes, held for a copy.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "store/data_dir.h"

namespace pulse::serving {

// What PrepareUser derives from a history (see engine.cc).
struct DerivedUserState {
  std::vector<DenseId> seen_items;    // every history item the model knows, sorted
  std::vector<DenseId> recent_items;  // the first fold_in_limit of them, newest first
  std::vector<float> user_vector;     // folded in from recent_items
  size_t history_items = 0;           // entries in the history it came from
  int64_t newest_event_ms = 0;        // that history's newest entry (0: empty)
};

// What else the derived state depends on besides the history.
struct UserStateKey {
  std::string_view user_id;
  uint32_t generation = 0;  // the snapshot's; 0 is never remembered
  size_t fold_in_limit = 0;
};

class UserStateMemo {
 public:
  static constexpr size_t kStripes = 64;

  // slots == 0: remembers nothing.
  explicit UserStateMemo(size_t slots);

  // The history version remembered for `key` (0: none, or an unversioned history): a store read
  // given it may leave an unchanged history out (store::FeatureStore::GetUserHistoryIfChanged).
  uint64_t KnownVersion(const UserStateKey& key) const;
  // Calls `use` (under the slot's lock) with the state derived from exactly `history` under `key`
  // and returns true; false when there is none.
  bool Find(const UserStateKey& key, const store::UserHistory& history,
            const std::function<void(const DerivedUserState&)>& use) const;
  // Forgets every entry.
  void Clear();
  // Remembers the state derived from `history` under `key`.
  void Store(const UserStateKey& key, const store::UserHistory& history,
             std::span<const DenseId> seen_items, std::span<const DenseId> recent_items,
             std::span<const float> user_vector);

 private:
  struct Slot {
    std::string user_id;
    uint32_t generation = 0;  // 0 = empty
    size_t fold_in_limit = 0;
    uint64_t version = 0;               // the history's; 0 = identified by the two below
    std::vector<std::string> item_ids;  // unversioned histories only
    std::vector<EventType> types;       // unversioned histories only
    DerivedUserState state;
  };
  size_t SlotOf(std::string_view user_id) const;
  // Whether `slot` holds `key`'s state (the history aside).
  static bool Holds(const Slot& slot, const UserStateKey& key);

  std::vector<Slot> slots_;
  mutable std::array<std::mutex, kStripes> stripes_;  // slot i is guarded by stripes_[i % kStripes]
};

}  // namespace pulse::serving
