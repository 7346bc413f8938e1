// nearline/neighbor_list.h — one item's bounded co-visitation counters (space-saving), kept in
// reading order: weight descending, ties by item id ascending. Readers (the request path) take
// the first k without sorting; the writer pays an O(list) repositioning per update, which it
// already pays scanning the list for the neighbour's id.
//
// Exactly the counters, weights and tie choices of the former unordered list: the counters stay
// where that list kept them (arrival order; a replacement keeps its victim's place), and a
// separate array of their indices is kept in reading order, so repositioning moves 4-byte
// indices, not counters. The space-saving victim is the lightest counter with the lowest index,
// as min_element over the unordered list chose, and checkpoints list the counters in arrival
// order, so a checkpoint's bytes are unchanged.
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
  DenseIdCache dense;  // item_id in the serving model; reset when item_id changes
};

class NeighborList {
 public:
  size_t size() const { return counters_.size(); }
  bool empty() const { return counters_.empty(); }
  // The counter at `rank` in reading order: heaviest first, ties by id.
  const NeighborCounter& operator[](size_t rank) const { return counters_[order_[rank]]; }
  // The counters in arrival order (for checkpoints).
  const std::vector<NeighborCounter>& InArrivalOrder() const { return counters_; }

  // Multiplies every weight by `factor` (> 0). Rounding is monotone, so the order only breaks
  // where two weights round to the same value: those ties are put back in id order.
  void Scale(double factor);
  // Adds `increment` to `id`'s counter; a new id gets a counter while fewer than `capacity`
  // exist, else takes over the lightest one and inherits its weight (space-saving).
  void Add(std::string_view id, double increment, size_t capacity);
  // Replaces the list with `arrival` (counters in arrival order, as a checkpoint lists them),
  // trimmed to `capacity` the way the unordered list was: the heaviest by an unstable sort.
  void Assign(std::vector<NeighborCounter> arrival, size_t capacity);

 private:
  // Reading order between the counters at arrival indices a and b.
  bool Before(uint32_t a, uint32_t b) const;
  // Moves the index at `rank` to its place after its counter's key changed.
  void Reposition(size_t rank);

  std::vector<NeighborCounter> counters_;  // arrival order
  std::vector<uint32_t> order_;            // indices into counters_, reading order
};

}  // namespace pulse::nearline
