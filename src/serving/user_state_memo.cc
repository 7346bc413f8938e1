#include "serving/user_state_memo.h"

#include "core/strings.h"

namespace pulse::serving {

UserStateMemo::UserStateMemo(size_t slots) : slots_(slots) {}

size_t UserStateMemo::SlotOf(std::string_view user_id) const {
  return StringHash{}(user_id) % slots_.size();
}

bool UserStateMemo::Holds(const Slot& slot, const UserStateKey& key) {
  return slot.generation != 0 && slot.generation == key.generation &&
         slot.fold_in_limit == key.fold_in_limit && slot.user_id == key.user_id;
}

uint64_t UserStateMemo::KnownVersion(const UserStateKey& key) const {
  if (slots_.empty() || key.generation == 0) return 0;
  const size_t i = SlotOf(key.user_id);
  std::lock_guard<std::mutex> lock(stripes_[i % kStripes]);
  return Holds(slots_[i], key) ? slots_[i].version : 0;
}

bool UserStateMemo::Find(const UserStateKey& key, const store::UserHistory& history,
                         const std::function<void(const DerivedUserState&)>& use) const {
  if (slots_.empty() || key.generation == 0) return false;
  const size_t i = SlotOf(key.user_id);
  std::lock_guard<std::mutex> lock(stripes_[i % kStripes]);
  const Slot& slot = slots_[i];
  if (!Holds(slot, key) || slot.version != history.version) return false;
  if (history.version == 0) {
    const std::vector<store::HistoryEntry>& recent = history.recent;
    if (slot.item_ids.size() != recent.size()) return false;
    for (size_t k = 0; k < recent.size(); ++k) {
      if (slot.types[k] != recent[k].type || slot.item_ids[k] != recent[k].item_id) return false;
    }
  }
  use(slot.state);
  return true;
}

void UserStateMemo::Clear() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    std::lock_guard<std::mutex> lock(stripes_[i % kStripes]);
    slots_[i].generation = 0;
  }
}

void UserStateMemo::Store(const UserStateKey& key, const store::UserHistory& history,
                          std::span<const DenseId> seen_items,
                          std::span<const DenseId> recent_items,
                          std::span<const float> user_vector) {
  if (slots_.empty() || key.generation == 0) return;
  const size_t i = SlotOf(key.user_id);
  std::lock_guard<std::mutex> lock(stripes_[i % kStripes]);
  Slot& slot = slots_[i];
  slot.user_id.assign(key.user_id);
  slot.generation = key.generation;
  slot.fold_in_limit = key.fold_in_limit;
  slot.version = history.version;
  // assign() into the kept buffers: no allocation once a slot has held a history this long.
  const size_t kept = history.version == 0 ? history.recent.size() : 0;
  slot.item_ids.resize(kept);
  slot.types.resize(kept);
  for (size_t k = 0; k < kept; ++k) {
    slot.item_ids[k].assign(history.recent[k].item_id);
    slot.types[k] = history.recent[k].type;
  }
  slot.state.seen_items.assign(seen_items.begin(), seen_items.end());
  slot.state.recent_items.assign(recent_items.begin(), recent_items.end());
  slot.state.user_vector.assign(user_vector.begin(), user_vector.end());
  slot.state.history_items = history.recent.size();
  slot.state.newest_event_ms = history.recent.empty() ? 0 : history.recent.front().ts_ms;
}

}  // namespace pulse::serving
