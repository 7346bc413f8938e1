#include "nearline/neighbor_list.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/strings.h"
#include "gtest/gtest.h"

namespace pulse::nearline {
namespace {

// The list as it was before it was kept ordered: unordered (arrival order), the space-saving
// victim by min_element, decay by multiplying every weight, readers sorting a copy.
struct Reference {
  struct Counter {
    std::string item_id;
    double weight = 0;
  };
  std::vector<Counter> counters;

  void Scale(double factor) {
    for (Counter& n : counters) n.weight *= factor;
  }
  void Add(const std::string& id, double increment, size_t capacity) {
    for (Counter& n : counters) {
      if (n.item_id == id) {
        n.weight += increment;
        return;
      }
    }
    if (counters.size() < capacity) {
      counters.push_back({id, increment});
      return;
    }
    if (counters.empty()) return;  // capacity 0 (the processor never calls it then)
    auto lightest =
        std::min_element(counters.begin(), counters.end(),
                         [](const Counter& a, const Counter& b) { return a.weight < b.weight; });
    lightest->item_id = id;
    lightest->weight += increment;
  }
  std::vector<Counter> Ranked() const {
    std::vector<Counter> ranked = counters;
    std::sort(ranked.begin(), ranked.end(), [](const Counter& a, const Counter& b) {
      return a.weight != b.weight ? a.weight > b.weight : a.item_id < b.item_id;
    });
    return ranked;
  }
};

void ExpectSame(const NeighborList& list, const Reference& reference, int step) {
  const std::vector<Reference::Counter> ranked = reference.Ranked();
  ASSERT_EQ(list.size(), ranked.size()) << "step " << step;
  for (size_t i = 0; i < ranked.size(); ++i) {
    EXPECT_EQ(list.id(i), ranked[i].item_id) << "step " << step << " rank " << i;
    EXPECT_EQ(list.weight(i), ranked[i].weight) << "step " << step << " rank " << i;
  }
  std::vector<NeighborCounter> arrival;
  list.ForEachInArrivalOrder([&arrival](std::string_view id, double weight) {
    arrival.push_back({std::string(id), weight});
  });
  ASSERT_EQ(arrival.size(), reference.counters.size()) << "step " << step;
  for (size_t i = 0; i < arrival.size(); ++i) {
    EXPECT_EQ(arrival[i].item_id, reference.counters[i].item_id) << "step " << step << " " << i;
    EXPECT_EQ(arrival[i].weight, reference.counters[i].weight) << "step " << step << " " << i;
  }
}

// Random updates over a small id space with increments and factors that make exact ties
// (powers of two), ties created by rounding (factors near 1, tiny factors that underflow), and
// lists both under and at capacity.
TEST(NeighborListTest, EqualsTheUnorderedListSortedOnRandomUpdatesWithTies) {
  std::mt19937_64 rng(11);
  const double increments[] = {1.0, 1.0, 0.5, 0.25, 1.0 / 3.0, 0.7};
  const double factors[] = {0.5, 0.25, 0.999999, 0.9, 1e-300, 1.0 - 1e-16};
  for (int trial = 0; trial < 40; ++trial) {
    const size_t capacity = 1 + rng() % 12;
    const int ids = 2 + static_cast<int>(rng() % 30);
    NeighborList list;
    Reference reference;
    for (int step = 0; step < 400; ++step) {
      if (rng() % 8 == 0) {
        const double factor = factors[rng() % std::size(factors)];
        list.Scale(factor);
        reference.Scale(factor);
      } else {
        const std::string id = StrCat("n", rng() % static_cast<uint64_t>(ids));
        const double increment = increments[rng() % std::size(increments)];
        list.Add(id, increment, capacity);
        reference.Add(id, increment, capacity);
      }
      ExpectSame(list, reference, step);
      if (testing::Test::HasFailure()) return;
    }
  }
}

// A checkpoint lists counters in arrival order; reading one back (trimmed to a smaller capacity
// or not) gives the list the unordered one would have been, ties included.
TEST(NeighborListTest, AssignFromArrivalOrderKeepsTheUnorderedListsTrim) {
  std::mt19937_64 rng(12);
  for (int trial = 0; trial < 200; ++trial) {
    Reference reference;
    std::vector<NeighborCounter> arrival;
    const size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) {
      const double weight = static_cast<double>(rng() % 4) * 0.5;  // many ties
      reference.counters.push_back({StrCat("n", i), weight});
      arrival.push_back({StrCat("n", i), weight});
    }
    const size_t capacity = rng() % 45;
    if (reference.counters.size() > capacity) {
      std::sort(reference.counters.begin(), reference.counters.end(),
                [](const auto& a, const auto& b) { return a.weight > b.weight; });
      reference.counters.resize(capacity);
    }
    NeighborList list;
    list.Assign(std::move(arrival), capacity);
    ExpectSame(list, reference, trial);
    // And it keeps evolving as the reference does.
    for (int step = 0; step < 50; ++step) {
      const std::string id = StrCat("n", rng() % 50);
      list.Add(id, 0.5, capacity);
      reference.Add(id, 0.5, capacity);
    }
    ExpectSame(list, reference, trial);
    if (testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace pulse::nearline
