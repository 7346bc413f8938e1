#include "nearline/neighbor_list.h"

#include <algorithm>
#include <utility>

namespace pulse::nearline {

bool NeighborList::Before(const Ranked& a, const Ranked& b) const {
  if (a.weight != b.weight) return a.weight > b.weight;
  return ids_[a.arrival] < ids_[b.arrival];
}

void NeighborList::Scale(double factor) {
  for (Ranked& entry : ranked_) entry.weight *= factor;
  // Only a tie that rounding just created can be out of order (weights never swap): a cheap
  // check per adjacent pair, and a move only where one is found.
  for (size_t i = 1; i < ranked_.size(); ++i) {
    if (Before(ranked_[i], ranked_[i - 1])) Reposition(i);
  }
}

void NeighborList::Reposition(size_t rank) {
  const Ranked moving = ranked_[rank];
  size_t to = rank;
  while (to > 0 && Before(moving, ranked_[to - 1])) --to;
  if (to == rank) {
    while (to + 1 < ranked_.size() && Before(ranked_[to + 1], moving)) ++to;
  }
  if (to < rank) {
    std::move_backward(ranked_.begin() + static_cast<ptrdiff_t>(to),
                       ranked_.begin() + static_cast<ptrdiff_t>(rank),
                       ranked_.begin() + static_cast<ptrdiff_t>(rank) + 1);
  } else if (to > rank) {
    std::move(ranked_.begin() + static_cast<ptrdiff_t>(rank) + 1,
              ranked_.begin() + static_cast<ptrdiff_t>(to) + 1,
              ranked_.begin() + static_cast<ptrdiff_t>(rank));
  }
  ranked_[to] = moving;
}

void NeighborList::Add(std::string_view id, double increment, size_t capacity) {
  for (size_t i = 0; i < ids_.size(); ++i) {
    if (ids_[i] == id) {
      const auto it = std::find_if(ranked_.begin(), ranked_.end(),
                                   [i](const Ranked& entry) { return entry.arrival == i; });
      it->weight += increment;
      Reposition(static_cast<size_t>(it - ranked_.begin()));
      return;
    }
  }
  if (ids_.size() < capacity) {
    ids_.emplace_back(id);
    ranked_.push_back({increment, {}, static_cast<uint32_t>(ids_.size() - 1)});
    Reposition(ranked_.size() - 1);
    return;
  }
  if (ranked_.empty()) return;
  // The lightest counters are the last ranks; the unordered list's min_element took the first
  // of them in arrival order.
  size_t victim = ranked_.size() - 1;
  const double lightest = ranked_[victim].weight;
  for (size_t r = victim; r > 0 && ranked_[r - 1].weight == lightest; --r) {
    if (ranked_[r - 1].arrival < ranked_[victim].arrival) victim = r - 1;
  }
  Ranked& entry = ranked_[victim];
  ids_[entry.arrival].assign(id);
  entry.dense.Reset();  // readers hold the shard lock shared: none is reading it now
  entry.weight += increment;
  Reposition(victim);
}

void NeighborList::Assign(std::vector<NeighborCounter> arrival, size_t capacity) {
  if (arrival.size() > capacity) {
    // The unordered list's trim, comparator and all, so the same counters survive ties.
    std::sort(arrival.begin(), arrival.end(),
              [](const auto& a, const auto& b) { return a.weight > b.weight; });
    arrival.resize(capacity);
  }
  ids_.clear();
  ranked_.clear();
  ids_.reserve(arrival.size());
  ranked_.reserve(arrival.size());
  for (NeighborCounter& counter : arrival) {
    ranked_.push_back({counter.weight, {}, static_cast<uint32_t>(ids_.size())});
    ids_.push_back(std::move(counter.item_id));
  }
  std::sort(ranked_.begin(), ranked_.end(),
            [this](const Ranked& a, const Ranked& b) { return Before(a, b); });
}

}  // namespace pulse::nearline
