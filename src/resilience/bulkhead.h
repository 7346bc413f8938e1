// resilience/bulkhead.h — bounded concurrency for one compartment (an endpoint class such as
// recommend/ingest/admin, or a dependency): a non-blocking try-acquire that hands out an RAII
// Permit, so every exit path gives the slot back.
//
// Thread-safety: all methods may be called concurrently (one atomic RMW per acquire/release).
// Ownership: a Permit must not outlive its Bulkhead. Failure behaviour: a full bulkhead refuses
// at once (callers answer 429/503 or take a fallback), it never queues.
// NOTE: under contention the in-flight count may overshoot the limit for an instant (an acquire
// that overshoots backs out and is refused), never for an admitted call.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

namespace pulse::resilience {

class Bulkhead {
 public:
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        Release();
        owner_ = std::exchange(other.owner_, nullptr);
      }
      return *this;
    }
    ~Permit() { Release(); }
    bool held() const { return owner_ != nullptr; }
    void Release() {
      if (owner_ != nullptr) std::exchange(owner_, nullptr)->in_flight_.fetch_sub(1);
    }

   private:
    friend class Bulkhead;
    explicit Permit(Bulkhead* owner) : owner_(owner) {}
    Bulkhead* owner_ = nullptr;
  };

  // limit <= 0: unbounded (every acquire succeeds; in-flight still counted).
  explicit Bulkhead(int64_t limit) : limit_(limit) {}
  Bulkhead(const Bulkhead&) = delete;
  Bulkhead& operator=(const Bulkhead&) = delete;

  // A held permit, or nullopt when `limit` calls are in flight.
  std::optional<Permit> TryAcquire() {
    const int64_t now = in_flight_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (limit_ > 0 && now > limit_) {
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    return Permit(this);
  }

  int64_t limit() const { return limit_; }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }

 private:
  const int64_t limit_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace pulse::resilience
