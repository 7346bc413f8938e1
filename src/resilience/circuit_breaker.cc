#include "resilience/circuit_breaker.h"

#include <algorithm>

namespace pulse::resilience {

std::string_view CircuitStateName(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(const CircuitBreakerOptions& options, const Clock& clock)
    : options_(options),
      clock_(clock),
      bucket_us_(std::max<int64_t>(1, options.window_ms * 1000 / kBuckets)) {}

CircuitBreaker::Ticket CircuitBreaker::Allow() {
  // Closed is the common case: no lock, just the generation the outcome will be checked against.
  if (state_.load(std::memory_order_acquire) == CircuitState::kClosed) {
    return {true, false, generation_.load(std::memory_order_acquire)};
  }
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_.NowMicros();
  CircuitState state = state_.load(std::memory_order_relaxed);
  if (state == CircuitState::kClosed) {
    return {true, false, generation_.load(std::memory_order_relaxed)};
  }
  if (state == CircuitState::kOpen && now >= open_until_us_) {
    TransitionLocked(CircuitState::kHalfOpen, now);
    state = CircuitState::kHalfOpen;
  }
  if (state == CircuitState::kHalfOpen && !probe_out_) {
    probe_out_ = true;
    return {true, true, generation_.load(std::memory_order_relaxed)};
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

void CircuitBreaker::Record(const Ticket& ticket, bool success) {
  if (!ticket.allowed) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket.generation != generation_.load(std::memory_order_relaxed)) return;  // stale outcome
  const int64_t now = clock_.NowMicros();
  const CircuitState state = state_.load(std::memory_order_relaxed);
  if (state == CircuitState::kHalfOpen) {
    if (!ticket.probe) return;
    probe_out_ = false;
    TransitionLocked(success ? CircuitState::kClosed : CircuitState::kOpen, now);
    return;
  }
  if (state != CircuitState::kClosed) return;
  consecutive_failures_ = success ? 0 : consecutive_failures_ + 1;
  // Wall clock may step back; a bucket epoch never does, so a step back only shortens a window.
  const int64_t epoch = std::max<int64_t>(0, now / bucket_us_);
  Bucket& bucket = buckets_[epoch % kBuckets];
  if (bucket.epoch != epoch) bucket = Bucket{epoch, 0, 0};
  ++bucket.calls;
  if (!success) ++bucket.failures;
  if (success) return;

  bool trip =
      options_.consecutive_failures > 0 && consecutive_failures_ >= options_.consecutive_failures;
  if (!trip && options_.failure_rate > 0) {
    uint64_t calls = 0;
    uint64_t failures = 0;
    for (const Bucket& b : buckets_) {
      if (b.epoch >= 0 && b.epoch > epoch - kBuckets && b.epoch <= epoch) {
        calls += b.calls;
        failures += b.failures;
      }
    }
    trip = calls >= static_cast<uint64_t>(std::max(1, options_.min_calls)) &&
           static_cast<double>(failures) >= options_.failure_rate * static_cast<double>(calls);
  }
  if (trip) TransitionLocked(CircuitState::kOpen, now);
}

void CircuitBreaker::TransitionLocked(CircuitState to, int64_t now_us) {
  const CircuitState from = state_.load(std::memory_order_relaxed);
  if (to == CircuitState::kOpen) {
    open_until_us_ = now_us + options_.open_ms * 1000;
    trips_.fetch_add(1, std::memory_order_relaxed);
  }
  if (to == CircuitState::kClosed || from == CircuitState::kClosed) ResetWindowLocked();
  probe_out_ = false;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  state_.store(to, std::memory_order_release);
}

void CircuitBreaker::ResetWindowLocked() {
  consecutive_failures_ = 0;
  for (Bucket& b : buckets_) b = Bucket{};
}

}  // namespace pulse::resilience
