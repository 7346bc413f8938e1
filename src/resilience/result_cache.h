// resilience/result_cache.h — a per-user result cache: short TTL with ±jitter, bounded size,
// invalidated per user, built for "freshness beats hit rate".
//
// Values are keyed by (user, key) — the key holds everything else the result depends on. Each
// user has a generation; Invalidate(user) (called once the user's new events are acknowledged)
// moves it to a fresh, globally unique number, which makes every stored result of the user stale.
// A computation takes a Token (Begin) *before* reading anything and stores with it: Store refuses
// when the user was invalidated (or the cache cleared) in between, so a result computed from
// pre-event state can never be stored after the event's invalidation.
// InvalidateAll (catalog or model change) bumps one global epoch.
//
// TTL: each entry expires ttl × (1 ± jitter) after it was stored (uniform), so entries written
// together (a burst of users) do not expire together. Stale entries (expired or invalidated) are
// kept until evicted and can be read with LookupStale — the "cached" rung of a fallback ladder,
// for when computing fails.
//
// Memory: kShards shards (by user), each an LRU of users holding at most max_entries/kShards
// entries; a user keeps at most max_entries_per_user entries (oldest replaced).
// NOTE: a user evicted while a computation runs cannot store its result (conservative: a miss,
// never a stale hit).
// Thread-safety: every method may be called concurrently; one shard mutex per call, no global
// lock on the hot path. Ownership: `clock` must outlive the cache; values are copied out.
// Failure behaviour: none (a refused store is a later miss).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/strings.h"

namespace pulse::resilience {

struct ResultCacheOptions {
  size_t max_entries = 100'000;
  size_t max_entries_per_user = 8;
  int64_t ttl_us = 2'000'000;
  double jitter = 0.2;  // ± fraction of ttl, in [0, 0.9]
};

struct ResultCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t stale_hits = 0;
  uint64_t stores = 0;
  uint64_t refused_stores = 0;  // the user was invalidated while computing
  uint64_t evictions = 0;       // entries dropped to stay within max_entries
  uint64_t invalidations = 0;
  size_t entries = 0;
};

template <typename V>
class UserResultCache {
 public:
  static constexpr size_t kShards = 64;

  struct Token {
    uint64_t generation = 0;
    uint64_t epoch = 0;
  };

  UserResultCache(const ResultCacheOptions& options, const Clock& clock)
      : options_(options),
        per_shard_(std::max<size_t>(1, options.max_entries / kShards)),
        jitter_(std::clamp(options.jitter, 0.0, 0.9)),
        clock_(clock),
        shards_(new Shard[kShards]) {}

  // The fresh value for (user, key): stored with the user's current generation, the current
  // epoch, and not expired. Counts a hit or a miss.
  std::optional<V> Lookup(std::string_view user, std::string_view key) {
    return Find(user, key, /*count=*/true);
  }
  // As Lookup, without counting (a re-check by a computation that already counted its miss).
  std::optional<V> Peek(std::string_view user, std::string_view key) {
    return Find(user, key, /*count=*/false);
  }

  // Whatever is stored for (user, key) — expired or invalidated included — when it was stored at
  // most max_age_us ago. For serving something when computing failed.
  std::optional<V> LookupStale(std::string_view user, std::string_view key, int64_t max_age_us) {
    Shard& shard = ShardOf(user);
    const int64_t now = clock_.NowMicros();
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.users.find(user);
    if (it == shard.users.end()) return std::nullopt;
    for (const Entry& entry : it->second.entries) {
      if (entry.key == key && now - entry.stored_us <= max_age_us) {
        ++shard.stats.stale_hits;
        return entry.value;
      }
    }
    return std::nullopt;
  }

  // Call before reading the state a value will be computed from.
  Token Begin(std::string_view user) {
    Shard& shard = ShardOf(user);
    const uint64_t epoch = epoch_.load(std::memory_order_acquire);
    std::lock_guard<std::mutex> lock(shard.mu);
    return {FindOrCreate(shard, user).generation, epoch};
  }

  // Stores `value` unless the user was invalidated or the cache cleared since `token` was taken.
  bool Store(std::string_view user, std::string_view key, const Token& token, V value) {
    Shard& shard = ShardOf(user);
    const int64_t now = clock_.NowMicros();
    const int64_t ttl =
        std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(options_.ttl_us) *
                                                  (1.0 + jitter_ * (2.0 * Uniform() - 1.0))));
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.users.find(user);
    if (it == shard.users.end() || it->second.generation != token.generation ||
        token.epoch != epoch_.load(std::memory_order_acquire)) {
      ++shard.stats.refused_stores;
      return false;
    }
    Record& record = it->second;
    Touch(shard, record);
    Entry fresh{std::string(key), std::move(value), now + ttl, now, token.generation, token.epoch};
    for (Entry& entry : record.entries) {
      if (entry.key == key) {
        entry = std::move(fresh);
        ++shard.stats.stores;
        return true;
      }
    }
    if (record.entries.size() >= std::max<size_t>(1, options_.max_entries_per_user)) {
      auto oldest = std::min_element(
          record.entries.begin(), record.entries.end(),
          [](const Entry& a, const Entry& b) { return a.stored_us < b.stored_us; });
      *oldest = std::move(fresh);
    } else {
      if (!record.entries.empty()) ++shard.cost;  // an empty record already cost one
      record.entries.push_back(std::move(fresh));
      ++shard.entries;
    }
    ++shard.stats.stores;
    EvictLocked(shard, &record);
    return true;
  }

  // Every stored value of `user` becomes stale; computations begun before now cannot store.
  void Invalidate(std::string_view user) {
    Shard& shard = ShardOf(user);
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.users.find(user);
    if (it == shard.users.end()) return;  // nothing stored, nothing computing that can store
    it->second.generation = NextGeneration();
    ++shard.stats.invalidations;
  }

  // Every stored value becomes stale (catalog or model change).
  void InvalidateAll() { epoch_.fetch_add(1, std::memory_order_acq_rel); }

  ResultCacheStats stats() const {
    ResultCacheStats total;
    for (size_t i = 0; i < kShards; ++i) {
      const Shard& shard = shards_[i];
      std::lock_guard<std::mutex> lock(shard.mu);
      total.hits += shard.stats.hits;
      total.misses += shard.stats.misses;
      total.stale_hits += shard.stats.stale_hits;
      total.stores += shard.stats.stores;
      total.refused_stores += shard.stats.refused_stores;
      total.evictions += shard.stats.evictions;
      total.invalidations += shard.stats.invalidations;
      total.entries += shard.entries;
    }
    return total;
  }

 private:
  struct Entry {
    std::string key;
    V value;
    int64_t expires_us = 0;
    int64_t stored_us = 0;
    uint64_t generation = 0;
    uint64_t epoch = 0;
  };
  struct Record {
    uint64_t generation = 0;
    std::vector<Entry> entries;
    std::list<std::string>::iterator lru_pos;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Record, StringHash, std::equal_to<>> users;
    std::list<std::string> lru;  // users, most recently used first
    size_t entries = 0;          // values stored
    size_t cost = 0;             // Σ max(1, entries of a user): what the bound counts
    ResultCacheStats stats;
  };

  std::optional<V> Find(std::string_view user, std::string_view key, bool count) {
    Shard& shard = ShardOf(user);
    const int64_t now = clock_.NowMicros();
    const uint64_t epoch = epoch_.load(std::memory_order_acquire);
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.users.find(user);
    if (it != shard.users.end()) {
      Record& record = it->second;
      for (const Entry& entry : record.entries) {
        if (entry.key != key) continue;
        if (entry.generation == record.generation && entry.epoch == epoch &&
            now < entry.expires_us) {
          Touch(shard, record);
          if (count) ++shard.stats.hits;
          return entry.value;
        }
        break;
      }
    }
    if (count) ++shard.stats.misses;
    return std::nullopt;
  }

  Shard& ShardOf(std::string_view user) {
    return shards_[(std::hash<std::string_view>{}(user) >> 5) % kShards];
  }

  uint64_t NextGeneration() { return next_generation_.fetch_add(1, std::memory_order_relaxed); }

  Record& FindOrCreate(Shard& shard, std::string_view user) {
    auto it = shard.users.find(user);
    if (it != shard.users.end()) return it->second;
    shard.lru.emplace_front(user);
    Record record;
    record.generation = NextGeneration();
    record.lru_pos = shard.lru.begin();
    Record& created = shard.users.emplace(shard.lru.front(), std::move(record)).first->second;
    // Records without entries count against the bound too, so a flood of one-off users cannot
    // grow the map: each record costs one entry until it holds one.
    ++shard.cost;
    EvictLocked(shard, &created);
    return created;
  }

  void Touch(Shard& shard, Record& record) {
    if (record.lru_pos != shard.lru.begin()) {
      shard.lru.splice(shard.lru.begin(), shard.lru, record.lru_pos);
    }
  }

  // Drops least recently used users (never `keep`) until the shard is within its bound.
  void EvictLocked(Shard& shard, const Record* keep) {
    while (shard.cost > per_shard_ && shard.users.size() > 1) {
      auto victim = shard.users.find(shard.lru.back());
      if (&victim->second == keep) break;  // `keep` is the most recent, so it is alone
      const size_t n = victim->second.entries.size();
      shard.entries -= n;
      shard.cost -= std::max<size_t>(1, n);
      shard.stats.evictions += n;
      shard.users.erase(victim);
      shard.lru.pop_back();
    }
  }

  static double Uniform() {
    thread_local std::mt19937_64 rng(std::random_device{}() ^
                                     std::hash<std::thread::id>{}(std::this_thread::get_id()));
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }

  const ResultCacheOptions options_;
  const size_t per_shard_;
  const double jitter_;
  const Clock& clock_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint64_t> next_generation_{1};
};

}  // namespace pulse::resilience
