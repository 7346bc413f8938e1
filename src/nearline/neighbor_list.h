// nearline/neighbor_list.h — one item's bounded co-visitation counters (space-saving), kept in
// reading order: weight descending, ties by item id ascending. Readers (the request path) take
// the first k without sorting; the writer pays an O(list) repositioning per update, which it
// already pays scanning the list for the neighbour's id.
//
// Exactly the counters, weights and tie choices of the former unordered list: each counter keeps
// the arrival index that list gave it (a replacement keeps its victim's), the space-saving
// victim is the lightest counter with the lowest arrival index, as min_element over the
// unordered list chose, and checkpoints list the counters in arrival order, so a checkpoint's
// bytes are unchanged.
// Layout: what a reader touches (weight, cached dense id) sits in one array in reading order,
// 24 bytes a counter, scanned front to back; the id strings stay apart in arrival order and are
// read only when a dense id is not cached yet. The writer moves 24-byte entries on reposition.
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

// A counter as checkpoints list it and Assign takes it.
struct NeighborCounter {
  std::string item_id;
  double weight = 0;
};

class NeighborList {
 public:
  size_t size() const { return ranked_.size(); }
  bool empty() const { return ranked_.empty(); }
  // The counter at `rank` in reading order (heaviest first, ties by id): its id, its weight
  // (decayed to the owner's neighbors_ts), and its id mapped through `resolver` (kUnresolvedItem
  // when unknown; cached per model generation; the id string is read only when the cache cannot
  // answer).
  const std::string& id(size_t rank) const { return ids_[ranked_[rank].arrival]; }
  double weight(size_t rank) const { return ranked_[rank].weight; }
  DenseId Resolve(size_t rank, const ItemIdResolver& resolver) const {
    const Ranked& entry = ranked_[rank];
    return entry.dense.Lookup(resolver, [&] { return std::string_view(ids_[entry.arrival]); });
  }
  // Calls fn(id, weight) for each counter in arrival order (for checkpoints).
  template <typename Fn>
  void ForEachInArrivalOrder(Fn fn) const {
    std::vector<double> weights(ids_.size());
    for (const Ranked& entry : ranked_) weights[entry.arrival] = entry.weight;
    for (size_t i = 0; i < ids_.size(); ++i) fn(std::string_view(ids_[i]), weights[i]);
  }

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
  struct Ranked {
    double weight = 0;
    DenseIdCache dense;    // ids_[arrival] in the serving model; reset when that id changes
    uint32_t arrival = 0;  // index into ids_
  };
  // Reading order between two counters.
  bool Before(const Ranked& a, const Ranked& b) const;
  // Moves the entry at `rank` to its place after its key changed.
  void Reposition(size_t rank);

  std::vector<Ranked> ranked_;    // reading order
  std::vector<std::string> ids_;  // arrival order
};

}  // namespace pulse::nearline
