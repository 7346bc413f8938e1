#include "nearline/neighbor_list.h"

#include <algorithm>
#include <utility>

namespace pulse::nearline {
namespace {

bool Before(const NeighborCounter& a, const NeighborCounter& b) {
  if (a.weight != b.weight) return a.weight > b.weight;
  return a.item_id < b.item_id;
}

}  // namespace

void NeighborList::Scale(double factor) {
  for (NeighborCounter& n : counters_) n.weight *= factor;
  for (size_t i = 1; i < counters_.size(); ++i) {
    for (size_t j = i; j > 0 && Before(counters_[j], counters_[j - 1]); --j) {
      std::swap(counters_[j], counters_[j - 1]);
    }
  }
}

void NeighborList::Reposition(size_t i) {
  while (i > 0 && Before(counters_[i], counters_[i - 1])) {
    std::swap(counters_[i], counters_[i - 1]);
    --i;
  }
  while (i + 1 < counters_.size() && Before(counters_[i + 1], counters_[i])) {
    std::swap(counters_[i], counters_[i + 1]);
    ++i;
  }
}

void NeighborList::Add(std::string_view id, double increment, size_t capacity) {
  for (size_t i = 0; i < counters_.size(); ++i) {
    if (counters_[i].item_id == id) {
      counters_[i].weight += increment;
      Reposition(i);
      return;
    }
  }
  if (counters_.size() < capacity) {
    counters_.push_back({std::string(id), increment, static_cast<uint32_t>(counters_.size()), {}});
    Reposition(counters_.size() - 1);
    return;
  }
  if (counters_.empty()) return;
  // The lightest counters are the tail; the unordered list's min_element took the first of
  // them in arrival order.
  size_t victim = counters_.size() - 1;
  const double lightest = counters_[victim].weight;
  for (size_t i = victim; i > 0 && counters_[i - 1].weight == lightest; --i) {
    if (counters_[i - 1].slot < counters_[victim].slot) victim = i - 1;
  }
  NeighborCounter& n = counters_[victim];
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
  for (size_t i = 0; i < arrival.size(); ++i) arrival[i].slot = static_cast<uint32_t>(i);
  std::sort(arrival.begin(), arrival.end(), Before);
  counters_ = std::move(arrival);
}

std::vector<const NeighborCounter*> NeighborList::InArrivalOrder() const {
  std::vector<const NeighborCounter*> out(counters_.size());
  for (const NeighborCounter& n : counters_) out[n.slot] = &n;
  return out;
}

}  // namespace pulse::nearline
