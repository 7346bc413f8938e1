#include "serving/user_state_memo.h"

#include "core/strings.h"

namespace pulse::serving {

size_t UserStateMemo::SlotOf(std::string_view user_id) { return StringHash{}(user_id) % kSlots; }

const DerivedUserState* UserStateMemo::Find(std::string_view user_id, uint32_t generation,
                                            size_t fold_in_limit,
                                            std::span<const store::HistoryEntry> history) const {
  if (generation == 0) return nullptr;
  const Slot& slot = slots_[SlotOf(user_id)];
  if (slot.generation != generation || slot.fold_in_limit != fold_in_limit ||
      slot.user_id != user_id || slot.item_ids.size() != history.size()) {
    return nullptr;
  }
  for (size_t i = 0; i < history.size(); ++i) {
    if (slot.types[i] != history[i].type || slot.item_ids[i] != history[i].item_id) return nullptr;
  }
  return &slot.state;
}

void UserStateMemo::Store(std::string_view user_id, uint32_t generation, size_t fold_in_limit,
                          std::span<const store::HistoryEntry> history,
                          std::span<const DenseId> seen_items,
                          std::span<const DenseId> recent_items,
                          std::span<const float> user_vector) {
  if (generation == 0) return;
  Slot& slot = slots_[SlotOf(user_id)];
  slot.user_id.assign(user_id);
  slot.generation = generation;
  slot.fold_in_limit = fold_in_limit;
  // assign() into the kept buffers: no allocation once a slot has held a history this long.
  slot.item_ids.resize(history.size());
  slot.types.resize(history.size());
  for (size_t i = 0; i < history.size(); ++i) {
    slot.item_ids[i].assign(history[i].item_id);
    slot.types[i] = history[i].type;
  }
  slot.state.seen_items.assign(seen_items.begin(), seen_items.end());
  slot.state.recent_items.assign(recent_items.begin(), recent_items.end());
  slot.state.user_vector.assign(user_vector.begin(), user_vector.end());
}

UserStateMemo& UserStateMemo::ForThisThread() {
  thread_local UserStateMemo memo;
  return memo;
}

}  // namespace pulse::serving
