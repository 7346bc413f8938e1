// nearline/sliding_window.h — sparse bucketed ring counters for event-time sliding windows.
//
// SparseRing<K, WidthMs, NumBuckets> keeps K counters per bucket of WidthMs milliseconds, for the
// last NumBuckets buckets, storing only non-empty buckets (most users touch few buckets, so this
// is far smaller than a dense ring). A window of n buckets evaluated at time `now` counts the
// events whose bucket index b = floor(ts / WidthMs) satisfies floor(now / WidthMs) − n < b: an
// event is counted for between (n−1)·WidthMs and n·WidthMs after its timestamp (exactly n·WidthMs
// when it falls on a bucket start). See docs/design/nearline-windows.md.
// Thread-safety: none (the processor guards it).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace pulse::nearline {

inline constexpr int64_t kMinuteMs = 60'000;
inline constexpr int64_t kHourMs = 60 * kMinuteMs;
inline constexpr int64_t kDayMs = 24 * kHourMs;

inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

template <int K, int64_t WidthMs, int NumBuckets>
class SparseRing {
 public:
  static_assert(K > 0 && WidthMs > 0 && NumBuckets > 0);
  static constexpr int kCounters = K;
  static constexpr int64_t kWidthMs = WidthMs;
  static constexpr int kNumBuckets = NumBuckets;

  struct Bucket {
    int64_t index = 0;
    std::array<uint32_t, K> counts{};
  };

  // Adds `n` to counter `slot` at `ts_ms`; `now_ms` (>= ts_ms) is the event-time clock. Buckets
  // that have slid out of the ring are dropped; an event already outside it is ignored.
  void Add(int64_t ts_ms, int slot, uint32_t n, int64_t now_ms) {
    int64_t current = FloorDiv(now_ms, WidthMs);
    int64_t b = FloorDiv(ts_ms, WidthMs);
    Expire(current);
    if (b <= current - NumBuckets) return;
    auto it = buckets_.end();
    while (it != buckets_.begin() && std::prev(it)->index > b) --it;
    if (it != buckets_.begin() && std::prev(it)->index == b) {
      std::prev(it)->counts[slot] += n;
      return;
    }
    Bucket bucket;
    bucket.index = b;
    bucket.counts[slot] = n;
    buckets_.insert(it, bucket);
  }

  // Sum of counter `slot` over the newest `n` buckets (n <= NumBuckets) at `now_ms`.
  int64_t Sum(int64_t now_ms, int n, int slot) const {
    int64_t current = FloorDiv(now_ms, WidthMs);
    int64_t total = 0;
    for (auto it = buckets_.rbegin(); it != buckets_.rend() && it->index > current - n; ++it) {
      if (it->index <= current) total += it->counts[slot];
    }
    return total;
  }

  bool Empty(int64_t now_ms) const {
    return buckets_.empty() || buckets_.back().index <= FloorDiv(now_ms, WidthMs) - NumBuckets;
  }

  const std::vector<Bucket>& buckets() const { return buckets_; }
  // For restore: buckets must be strictly increasing by index (the caller checks).
  std::vector<Bucket>& mutable_buckets() { return buckets_; }

 private:
  void Expire(int64_t current) {
    size_t drop = 0;
    while (drop < buckets_.size() && buckets_[drop].index <= current - NumBuckets) ++drop;
    if (drop > 0) buckets_.erase(buckets_.begin(), buckets_.begin() + static_cast<ptrdiff_t>(drop));
  }

  std::vector<Bucket> buckets_;  // strictly increasing by index
};

}  // namespace pulse::nearline
