// resilience/adaptive_limiter.h — an adaptive concurrency limit (load shedding), AIMD on latency
// in the spirit of Netflix concurrency-limits' AIMDLimit and Envoy's adaptive concurrency filter.
//
// Each admitted call reports its latency (including time spent queued, where the front end can
// see it). While calls finish within `latency_bound_us` and the limit is actually being used
// (in flight ≥ half the limit), the limit grows additively (+1 per `limit` completions, i.e.
// about +1 per round trip). A call slower than the bound shrinks it multiplicatively (× backoff),
// at most once per `latency_bound_us`, so one burst of slow calls costs one step, not hundreds.
// Calls beyond the current limit are refused at once: under overload the excess gets a fast
// 503/RESOURCE_EXHAUSTED instead of queueing until everything times out, and the admitted calls
// keep meeting the bound.
//
// Thread-safety: all methods may be called concurrently; acquire/release are atomics, limit
// updates take a try-lock (a contended update is skipped: samples are statistical).
// Ownership: `clock` and the limiter must outlive every Permit. Failure behaviour: none.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

#include "core/clock.h"

namespace pulse::resilience {

struct AdaptiveLimiterOptions {
  int initial_limit = 64;
  int min_limit = 4;
  int max_limit = 1024;
  int64_t latency_bound_us = 250'000;  // <= 0: the limit stays at initial_limit (static)
  double backoff = 0.9;                // multiplicative decrease factor
};

class AdaptiveLimiter {
 public:
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        Drop();
        owner_ = std::exchange(other.owner_, nullptr);
      }
      return *this;
    }
    // A permit dropped without a latency (an exception path) releases without a sample.
    ~Permit() { Drop(); }
    // Reports the call's latency and releases the slot.
    void Complete(int64_t latency_us) {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->OnComplete(latency_us);
    }

   private:
    friend class AdaptiveLimiter;
    explicit Permit(AdaptiveLimiter* owner) : owner_(owner) {}
    void Drop() {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->in_flight_.fetch_sub(1);
    }
    AdaptiveLimiter* owner_ = nullptr;
  };

  AdaptiveLimiter(const AdaptiveLimiterOptions& options, const Clock& clock);

  // A permit, or nullopt when the current limit is reached (shed the call).
  std::optional<Permit> TryAcquire();

  int limit() const { return static_cast<int>(limit_.load(std::memory_order_relaxed)); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  uint64_t shed() const { return shed_.load(std::memory_order_relaxed); }

 private:
  void OnComplete(int64_t latency_us);

  const AdaptiveLimiterOptions options_;
  const Clock& clock_;
  std::atomic<double> limit_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> shed_{0};
  std::mutex update_mu_;
  int64_t last_decrease_us_ = 0;  // guarded by update_mu_
};

}  // namespace pulse::resilience
