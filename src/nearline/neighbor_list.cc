#include "nearline/neighbor_list.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace pulse::nearline {

bool NeighborList::Before(uint32_t a, uint32_t b) const {
  const NeighborCounter& x = counters_[a];
  const NeighborCounter& y = counters_[b];
  if (x.weight != y.weight) return x.weight > y.weight;
  return x.item_id < y.item_id;
}

void NeighborList::Scale(double factor) {
  for (NeighborCounter& n : counters_) n.weight *= factor;
  // Only a tie that rounding just created can be out of order (weights never swap): a cheap
  // check per adjacent pair, and a move only where one is found.
  for (size_t i = 1; i < order_.size(); ++i) {
    const NeighborCounter& here = counters_[order_[i]];
    const NeighborCounter& above = counters_[order_[i - 1]];
    if (here.weight == above.weight && here.item_id < above.item_id) Reposition(i);
  }
}

void NeighborList::Reposition(size_t rank) {
  const uint32_t moving = order_[rank];
  size_t to = rank;
  while (to > 0 && Before(moving, order_[to - 1])) --to;
  if (to == rank) {
    while (to + 1 < order_.size() && Before(order_[to + 1], moving)) ++to;
  }
  if (to < rank) {
    std::move_backward(order_.begin() + static_cast<ptrdiff_t>(to),
                       order_.begin() + static_cast<ptrdiff_t>(rank),
                       order_.begin() + static_cast<ptrdiff_t>(rank) + 1);
  } else if (to > rank) {
    std::move(order_.begin() + static_cast<ptrdiff_t>(rank) + 1,
              order_.begin() + static_cast<ptrdiff_t>(to) + 1,
              order_.begin() + static_cast<ptrdiff_t>(rank));
  }
  order_[to] = moving;
}

void NeighborList::Add(std::string_view id, double increment, size_t capacity) {
  for (size_t i = 0; i < counters_.size(); ++i) {
    if (counters_[i].item_id == id) {
      counters_[i].weight += increment;
      const auto rank = std::find(order_.begin(), order_.end(), static_cast<uint32_t>(i));
      Reposition(static_cast<size_t>(rank - order_.begin()));
      return;
    }
  }
  if (counters_.size() < capacity) {
    counters_.push_back({std::string(id), increment, {}});
    order_.push_back(static_cast<uint32_t>(counters_.size() - 1));
    Reposition(order_.size() - 1);
    return;
  }
  if (counters_.empty()) return;
  // The lightest counters are the last ranks; the unordered list's min_element took the first
  // of them in arrival order.
  size_t victim = order_.size() - 1;
  const double lightest = counters_[order_[victim]].weight;
  for (size_t r = victim; r > 0 && counters_[order_[r - 1]].weight == lightest; --r) {
    if (order_[r - 1] < order_[victim]) victim = r - 1;
  }
  NeighborCounter& n = counters_[order_[victim]];
  n.item_id.assign(id);
  n.dense.Reset();  // readers hold the shard lock shared: none is reading it now
  n.weight += increment;
  Reposition(victim);
}

void NeighborList::Assign(std::vector<NeighborCounter> arrival, size_t capacity) {
  if (arrival.size() > capacity) {
    // The unordered list's trim, comparator and all, so the same counters survive ties.
    std::sort(arrival.begin(), arrival.end(),
              [](const auto& a, const auto& b) { return a.weight > b.weight; });
    arrival.resize(capacity);
  }
  counters_ = std::move(arrival);
  order_.resize(counters_.size());
  std::iota(order_.begin(), order_.end(), 0u);
  std::sort(order_.begin(), order_.end(), [this](uint32_t a, uint32_t b) { return Before(a, b); });
}

}  // namespace pulse::nearline
