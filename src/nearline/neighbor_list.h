// nearline/neighbor_list.h — one item's bounded co-visitation counters (space-saving), kept in
// reading order: weight descending, ties by item id ascending. Readers (the request path) take
// the first k without sorting; the writer pays an O(list) repositioning per update, which it
// already pays scanning the list for the neighbour's id.
//
// Exactly the counters, weights and tie choices of the former unordered list: each counter keeps
// `slot`, the position it held in that list (its arrival order; a replacement keeps its victim's
// position). The space-saving victim is the lightest counter with the lowest slot, as
// min_element over the unordered list chose, and checkpoints list counters in slot order, so a
// checkpoint's bytes are unchanged.
// Thread-safety: none; the owner's shard lock guards it (writer exclusive, readers shared).
// Failure behaviour: none (callers validate weights: finite, ≥ 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nearline/feature_view.h"

namespace pulse::nearline {

struct NeighborCounter {
  std::string item_id;
  double weight = 0;   // decayed to the owner's neighbors_ts
  uint32_t slot = 0;   // position in arrival order (see above)
  DenseIdCache dense;  // item_id in the serving model; reset when item_id changes
};

class NeighborList {
 public:
  // Heaviest first, ties by id: the order readers see.
  const std::vector<NeighborCounter>& counters() const { return counters_; }
  size_t size() const { return counters_.size(); }
  bool empty() const { return counters_.empty(); }

  // Multiplies every weight by `factor` (> 0). Rounding is monotone, so the order only breaks
  // where two weights round to the same value: one insertion pass restores the id tie-break.
  void Scale(double factor);
  // Adds `increment` to `id`'s counter; a new id gets a counter while fewer than `capacity`
  // exist, else takes over the lightest one and inherits its weight (space-saving).
  void Add(std::string_view id, double increment, size_t capacity);
  // Replaces the list with `arrival` (counters in slot order, as a checkpoint lists them),
  // trimmed to `capacity` the way the unordered list was: the heaviest by an unstable sort.
  void Assign(std::vector<NeighborCounter> arrival, size_t capacity);
  // The counters in slot order (for checkpoints).
  std::vector<const NeighborCounter*> InArrivalOrder() const;

 private:
  // Moves counters_[i] to its place after its key changed.
  void Reposition(size_t i);

  std::vector<NeighborCounter> counters_;
};

}  // namespace pulse::nearline
