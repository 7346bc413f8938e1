// loadgen/histogram.h — latency histogram for the load generator, HDR-style: log-linear buckets
// (128 linear sub-buckets per power of two), so any recorded value is reported within 1/128
// (< 1%) of itself, from 1 ns to hours, in a fixed 59 KB array.
//
// Thread-safety: a Histogram has one writer (Record is a plain increment, no atomics or locks);
// ThreadHistograms hands every recording thread its own Histogram and merges them once the
// run is over. Percentile() reports the highest value equivalent to the bucket that holds the
// requested rank, capped at the exact maximum.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

namespace pulse::loadgen {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;

  Histogram();

  void Record(uint64_t value) {
    ++counts_[BucketIndex(value)];
    ++count_;
    if (value > max_) max_ = value;
    if (value < min_) min_ = value;
  }
  // Adds `other`'s recordings to this one.
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t max() const { return count_ == 0 ? 0 : max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  // The value at quantile q in [0, 1] (0 when empty): the upper edge of the bucket holding the
  // ceil(q·count)-th smallest recording, never above max().
  uint64_t Percentile(double q) const;

  // Bucket arithmetic (exposed for tests).
  static size_t BucketIndex(uint64_t value);
  static uint64_t BucketLowest(size_t index);
  static uint64_t BucketHighest(size_t index);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

// One Histogram per recording thread, created on the thread's first Record. Record is lock-free
// after that first call; Merged() must only be called once every recording thread is done.
class ThreadHistograms {
 public:
  ThreadHistograms();
  void Record(uint64_t value) { Local().Record(value); }
  Histogram& Local();
  Histogram Merged() const;

 private:
  const uint64_t id_;  // distinguishes instances in the threads' caches (addresses are reused)
  mutable std::mutex mu_;
  std::deque<Histogram> shards_;  // deque: shards never move once handed out
};

}  // namespace pulse::loadgen
