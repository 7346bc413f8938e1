// train/popularity.h — "popular now": engagement weight decayed with event age.
//
// An item's popularity is sum over its events of weight * 2^(-(newest - ts) / half_life), where
// `newest` is the newest event time seen across all items, so an item that was hot a month ago
// ranks below one that is hot this week. Events may arrive in any time order: each item keeps its
// sum relative to its own newest event and is rescaled when a newer one arrives, so the sums never
// overflow whatever the time range (no exp of large positive numbers).
//
// Thread-safety: none (single-threaded accumulation).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "core/ids.h"

namespace pulse::train {

inline constexpr int64_t kPopularityHalfLifeMs = 7LL * 24 * 3600 * 1000;

class DecayedPopularity {
 public:
  explicit DecayedPopularity(int64_t half_life_ms = kPopularityHalfLifeMs);

  // Adds one event of `weight` (> 0; others are ignored) for `item` at `ts_ms`.
  void Add(DenseId item, float weight, int64_t ts_ms);

  // Popularity of items 0..n_items-1 relative to the newest event seen (0 for items without
  // events).
  std::vector<float> Finish(size_t n_items) const;

  int64_t newest_ts_ms() const { return newest_; }

 private:
  double half_life_ms_;
  std::vector<double> sum_;   // relative to ref_[item]
  std::vector<int64_t> ref_;  // newest event time of the item
  int64_t newest_ = std::numeric_limits<int64_t>::min();
};

}  // namespace pulse::train
