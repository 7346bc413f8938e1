// resilience/rate_limiter.h — token buckets: one (TokenBucket) and one per client
// (KeyedRateLimiter), driven by an injected Clock.
//
// A bucket holds at most `burst` tokens and refills at `rate_per_sec`; a request takes one token.
// A refused request learns how long until a token is available (Retry-After).
//
// KeyedRateLimiter keys buckets by client (API key, else peer IP; the front ends choose). Memory
// is bounded: kShards shards, each an LRU of at most max_keys/kShards buckets; the least recently
// used key is evicted when a shard is full. Keys longer than kMaxKeyBytes are stored as a hash.
// NOTE: an evicted key comes back with a full bucket, so a client cycling through more than
// max_keys distinct keys is not limited per key (a per-IP limit in front catches that).
// Thread-safety: TokenBucket is not thread-safe (callers lock); KeyedRateLimiter is, with one
// short lock of one shard per call (no global lock).
// Failure behaviour: none; rate_per_sec <= 0 means "off" (every request admitted).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/strings.h"

namespace pulse::resilience {

class TokenBucket {
 public:
  // Starts full.
  TokenBucket(double rate_per_sec, double burst, int64_t now_us);
  // Takes one token when available: returns 0. Otherwise returns the microseconds until one
  // is (> 0), and takes nothing.
  int64_t TryTake(int64_t now_us);
  double tokens(int64_t now_us);

 private:
  void Refill(int64_t now_us);
  double rate_per_us_;
  double burst_;
  double tokens_;
  int64_t last_us_;
};

struct RateDecision {
  bool allowed = true;
  int64_t retry_after_us = 0;  // > 0 when refused
};

class KeyedRateLimiter {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxKeyBytes = 128;

  // `clock` must outlive the limiter. `max_keys` ≥ kShards.
  KeyedRateLimiter(double rate_per_sec, double burst, size_t max_keys, const Clock& clock);

  bool enabled() const { return rate_per_sec_ > 0; }
  RateDecision Acquire(std::string_view key);

  size_t size() const;         // keys currently tracked
  uint64_t evictions() const;  // keys dropped to stay within max_keys

 private:
  struct Shard {
    mutable std::mutex mu;
    std::list<std::string> lru;  // most recent first
    struct Entry {
      TokenBucket bucket;
      std::list<std::string>::iterator lru_pos;
    };
    std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> buckets;
    uint64_t evictions = 0;
  };

  const double rate_per_sec_;
  const double burst_;
  const size_t per_shard_;
  const Clock& clock_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace pulse::resilience
