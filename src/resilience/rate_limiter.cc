#include "resilience/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace pulse::resilience {

TokenBucket::TokenBucket(double rate_per_sec, double burst, int64_t now_us)
    : rate_per_us_(rate_per_sec / 1e6),
      burst_(std::max(1.0, burst)),
      tokens_(std::max(1.0, burst)),
      last_us_(now_us) {}

void TokenBucket::Refill(int64_t now_us) {
  // A wall clock stepping back refills nothing (and does not go negative).
  if (now_us > last_us_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_us - last_us_) * rate_per_us_);
  }
  last_us_ = std::max(last_us_, now_us);
}

double TokenBucket::tokens(int64_t now_us) {
  Refill(now_us);
  return tokens_;
}

int64_t TokenBucket::TryTake(int64_t now_us) {
  Refill(now_us);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return 0;
  }
  if (rate_per_us_ <= 0) return INT64_MAX;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - tokens_) / rate_per_us_)));
}

KeyedRateLimiter::KeyedRateLimiter(double rate_per_sec, double burst, size_t max_keys,
                                   const Clock& clock)
    : rate_per_sec_(rate_per_sec),
      burst_(burst > 0 ? burst : std::max(1.0, rate_per_sec)),
      per_shard_(std::max<size_t>(1, max_keys / kShards)),
      clock_(clock),
      shards_(new Shard[kShards]) {}

RateDecision KeyedRateLimiter::Acquire(std::string_view key) {
  if (!enabled()) return {};
  // Hostile clients choose their keys: bound what one key costs.
  std::string hashed;
  if (key.size() > kMaxKeyBytes) {
    hashed = StrCat("#", std::hash<std::string_view>{}(key));
    key = hashed;
  }
  const size_t hash = std::hash<std::string_view>{}(key);
  Shard& shard = shards_[(hash >> 7) % kShards];
  const int64_t now = clock_.NowMicros();
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= per_shard_) {
      shard.buckets.erase(shard.lru.back());
      shard.lru.pop_back();
      ++shard.evictions;
    }
    shard.lru.emplace_front(key);
    it = shard.buckets
             .emplace(shard.lru.front(),
                      Shard::Entry{TokenBucket(rate_per_sec_, burst_, now), shard.lru.begin()})
             .first;
  } else if (it->second.lru_pos != shard.lru.begin()) {
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second.lru_pos);
  }
  const int64_t wait = it->second.bucket.TryTake(now);
  return wait == 0 ? RateDecision{} : RateDecision{false, wait};
}

size_t KeyedRateLimiter::size() const {
  size_t total = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    total += shards_[i].buckets.size();
  }
  return total;
}

uint64_t KeyedRateLimiter::evictions() const {
  uint64_t total = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    total += shards_[i].evictions;
  }
  return total;
}

}  // namespace pulse::resilience
