// resilience/circuit_breaker.h — a circuit breaker for one dependency (Redis, the model store),
// driven by an injected Clock so tests step time instead of sleeping.
//
//   closed ──(N consecutive failures, or failure rate ≥ R over the rolling window with at least
//             M calls)──▶ open ──(cool-down elapsed)──▶ half-open
//   half-open: exactly ONE probe call is admitted; its success closes the breaker, its failure
//   reopens it for another cool-down. Every other call is rejected while the probe is out.
//
// Protocol: `Allow()` returns a Ticket; a rejected ticket (breaker open, or probe already out)
// means "do not call the dependency" and must NOT be recorded — the breaker's own rejections never
// count as failures. An admitted ticket is passed back to `Record(ticket, ok)` exactly once.
// Results of calls admitted before the last state change are ignored (a slow failure from the
// closed period cannot reopen a breaker whose probe just succeeded).
//
// State as a metric value: 0 closed, 1 open, 2 half-open (`pulse_circuit_state{dependency}`).
// Thread-safety: all methods may be called concurrently; one short mutex hold per Record, and
// Allow is a lock-free atomic read while closed.
// Failure behaviour: none of its own; a probe that is never recorded keeps the breaker half-open
// (callers use RAII or record on every path).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/clock.h"

namespace pulse::resilience {

enum class CircuitState : int { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

std::string_view CircuitStateName(CircuitState state);

struct CircuitBreakerOptions {
  int consecutive_failures = 5;  // trips after this many failures in a row (0 = rule off)
  double failure_rate = 0.5;     // trips when failures/calls ≥ this over the window (0 = off)
  int min_calls = 20;            // ... and the window holds at least this many calls
  int64_t window_ms = 10'000;    // rolling window for the rate rule (10 buckets)
  int64_t open_ms = 5'000;       // cool-down before the half-open probe
};

class CircuitBreaker {
 public:
  struct Ticket {
    bool allowed = false;
    bool probe = false;       // the single half-open probe
    uint64_t generation = 0;  // state generation when admitted
  };

  // `clock` must outlive the breaker.
  CircuitBreaker(const CircuitBreakerOptions& options, const Clock& clock);

  // Whether a call may go to the dependency now (see the protocol above).
  Ticket Allow();
  // The outcome of an admitted call. Tickets that were not allowed are ignored.
  void Record(const Ticket& ticket, bool success);

  CircuitState state() const { return state_.load(std::memory_order_acquire); }
  // Times the breaker went closed/half-open → open.
  uint64_t trips() const { return trips_.load(std::memory_order_relaxed); }
  // Calls refused by Allow().
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kBuckets = 10;
  struct Bucket {
    int64_t epoch = -1;  // now / bucket width when the bucket was last reset
    uint32_t calls = 0;
    uint32_t failures = 0;
  };

  void TransitionLocked(CircuitState to, int64_t now_us);
  void ResetWindowLocked();

  const CircuitBreakerOptions options_;
  const Clock& clock_;
  const int64_t bucket_us_;

  std::atomic<CircuitState> state_{CircuitState::kClosed};
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> trips_{0};
  std::atomic<uint64_t> rejected_{0};

  std::mutex mu_;
  int64_t open_until_us_ = 0;     // guarded by mu_
  bool probe_out_ = false;        // guarded by mu_
  int consecutive_failures_ = 0;  // guarded by mu_
  Bucket buckets_[kBuckets];      // guarded by mu_
};

}  // namespace pulse::resilience
