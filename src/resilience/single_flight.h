// resilience/single_flight.h — request coalescing: concurrent calls with the same key share one
// computation. The first caller (the leader) computes; callers arriving while it runs wait and get
// a copy of its value. A call arriving after the leader finished starts a new computation (pair it
// with a cache, re-checked by the leader, for "compute once per expiry").
//
// Thread-safety: Do may be called concurrently; kShards shards, each with its own mutex, held only
// to find or register a call (never while computing). Ownership: V is copied to every waiter (use
// a cheap-to-copy V, e.g. a shared_ptr or Result of one). Failure behaviour: a leader's error value
// is shared like any value; if the leader's computation throws, the exception propagates to the
// leader and each waiter computes on its own instead (nobody waits forever).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/strings.h"

namespace pulse::resilience {

template <typename V>
class SingleFlight {
 public:
  static constexpr size_t kShards = 32;

  struct Outcome {
    V value;
    bool shared = false;  // true when another caller's computation produced it
  };

  // Runs `compute()` (returning V) unless a call with `key` is in flight, then waits for that
  // one's value instead.
  template <typename F>
  Outcome Do(std::string_view key, F&& compute) {
    Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
    std::shared_ptr<Call> call;
    bool leader = false;
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      auto it = shard.calls.find(key);
      if (it != shard.calls.end()) {
        call = it->second;
      } else {
        call = std::make_shared<Call>();
        shard.calls.emplace(std::string(key), call);
        leader = true;
      }
    }
    if (!leader) {
      coalesced_.fetch_add(1, std::memory_order_relaxed);
      std::unique_lock<std::mutex> lock(call->mu);
      call->cv.wait(lock, [&] { return call->done; });
      if (call->value.has_value()) return {*call->value, true};
      lock.unlock();
      return {compute(), false};  // the leader threw
    }
    struct Finish {  // unregisters and wakes waiters on every exit path, exceptions included
      Shard& shard;
      std::string_view key;
      Call& call;
      ~Finish() {
        {
          std::lock_guard<std::mutex> lock(shard.mu);
          shard.calls.erase(shard.calls.find(key));
        }
        {
          std::lock_guard<std::mutex> lock(call.mu);
          call.done = true;
        }
        call.cv.notify_all();
      }
    };
    Finish finish{shard, key, *call};
    V value = compute();
    {
      std::lock_guard<std::mutex> lock(call->mu);
      call->value.emplace(value);
    }
    return {std::move(value), false};
  }

  // Callers that waited for another's computation instead of computing.
  uint64_t coalesced() const { return coalesced_.load(std::memory_order_relaxed); }

 private:
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<V> value;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<Call>, StringHash, std::equal_to<>> calls;
  };
  Shard shards_[kShards];
  std::atomic<uint64_t> coalesced_{0};
};

}  // namespace pulse::resilience
