// serving/user_state_memo.h — remembers, per thread, what a user's history turned into on the
// request path (the model's dense ids of their items, the fold-in inputs and the folded-in user
// vector), so a request whose user has not acted since their last computed request skips the
// per-item dictionary lookups and the fold-in solve.
//
// Exact, never stale: an entry is used only when everything the derived state depends on is
// equal — the model snapshot (its generation: dictionary, factors, Gramian, fold-in parameters),
// the fold-in item limit, and the history's (item id, event type) sequence itself, compared
// entry by entry. Any new event changes that sequence (or is invisible to the derived state).
// The user id only picks the slot.
//
// Memory: kSlots direct-mapped slots per request thread (a colliding user overwrites), each about
// 10 KB with a 200-item history (~2.5 MB per thread); each slot keeps its buffers, so after
// warm-up a store allocates nothing.
// Thread-safety: none — one instance per thread (UserStateMemo::ForThisThread()).
#pragma once

#include <cstdint>
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
};

class UserStateMemo {
 public:
  static constexpr size_t kSlots = 256;

  // The state derived for exactly these inputs, or null. Valid until the next Store on this
  // memo.
  const DerivedUserState* Find(std::string_view user_id, uint32_t generation, size_t fold_in_limit,
                               std::span<const store::HistoryEntry> history) const;
  // Remembers the state derived from these inputs (generation 0: not remembered).
  void Store(std::string_view user_id, uint32_t generation, size_t fold_in_limit,
             std::span<const store::HistoryEntry> history, std::span<const DenseId> seen_items,
             std::span<const DenseId> recent_items, std::span<const float> user_vector);

  static UserStateMemo& ForThisThread();

 private:
  struct Slot {
    std::string user_id;
    uint32_t generation = 0;  // 0 = empty
    size_t fold_in_limit = 0;
    std::vector<std::string> item_ids;
    std::vector<EventType> types;
    DerivedUserState state;
  };
  static size_t SlotOf(std::string_view user_id);

  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
};

}  // namespace pulse::serving
