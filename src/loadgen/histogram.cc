#include "loadgen/histogram.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <utility>

namespace pulse::loadgen {
namespace {

constexpr size_t kBucketCount = (64 - Histogram::kSubBucketBits + 1) * Histogram::kSubBuckets;

}  // namespace

Histogram::Histogram() : counts_(kBucketCount, 0) {}

size_t Histogram::BucketIndex(uint64_t value) {
  if (value < kSubBuckets) return static_cast<size_t>(value);  // exact below 128
  const int msb = 63 - __builtin_clzll(value);
  const int shift = msb - kSubBucketBits;
  const uint64_t sub = value >> shift;  // in [kSubBuckets, 2·kSubBuckets)
  return static_cast<size_t>(shift + 1) * kSubBuckets + static_cast<size_t>(sub - kSubBuckets);
}

uint64_t Histogram::BucketLowest(size_t index) {
  if (index < kSubBuckets) return index;
  const int shift = static_cast<int>(index / kSubBuckets) - 1;
  const uint64_t sub = index % kSubBuckets + kSubBuckets;
  return sub << shift;
}

uint64_t Histogram::BucketHighest(size_t index) {
  if (index < kSubBuckets) return index;
  const int shift = static_cast<int>(index / kSubBuckets) - 1;
  return BucketLowest(index) + ((uint64_t{1} << shift) - 1);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
}

uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(BucketHighest(i), max_);
  }
  return max_;
}

namespace {
std::atomic<uint64_t> next_histograms_id{1};
}  // namespace

ThreadHistograms::ThreadHistograms() : id_(next_histograms_id.fetch_add(1)) {}

Histogram& ThreadHistograms::Local() {
  // A thread records into few instances at a time; a short list beats a hash map here.
  thread_local std::vector<std::pair<uint64_t, Histogram*>> cache;
  for (const auto& [id, histogram] : cache) {
    if (id == id_) return *histogram;
  }
  Histogram* local;
  {
    std::lock_guard<std::mutex> lock(mu_);
    local = &shards_.emplace_back();
  }
  if (cache.size() >= 16) cache.erase(cache.begin());
  cache.emplace_back(id_, local);
  return *local;
}

Histogram ThreadHistograms::Merged() const {
  std::lock_guard<std::mutex> lock(mu_);
  Histogram merged;
  for (const Histogram& shard : shards_) merged.Merge(shard);
  return merged;
}

}  // namespace pulse::loadgen
