#include "resilience/adaptive_limiter.h"

#include <algorithm>
#include <cmath>

namespace pulse::resilience {

AdaptiveLimiter::AdaptiveLimiter(const AdaptiveLimiterOptions& options, const Clock& clock)
    : options_([&] {
        AdaptiveLimiterOptions o = options;
        o.min_limit = std::max(1, o.min_limit);
        o.max_limit = std::max(o.min_limit, o.max_limit);
        o.initial_limit = std::clamp(o.initial_limit, o.min_limit, o.max_limit);
        o.backoff = std::clamp(o.backoff, 0.1, 0.99);
        return o;
      }()),
      clock_(clock),
      limit_(static_cast<double>(options_.initial_limit)) {}

std::optional<AdaptiveLimiter::Permit> AdaptiveLimiter::TryAcquire() {
  const int64_t limit = static_cast<int64_t>(limit_.load(std::memory_order_relaxed));
  const int64_t now = in_flight_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (now > limit) {
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    shed_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return Permit(this);
}

void AdaptiveLimiter::OnComplete(int64_t latency_us) {
  const int64_t in_flight = in_flight_.fetch_sub(1, std::memory_order_acq_rel);  // incl. this one
  if (options_.latency_bound_us <= 0) return;
  std::unique_lock<std::mutex> lock(update_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  double limit = limit_.load(std::memory_order_relaxed);
  if (latency_us > options_.latency_bound_us) {
    const int64_t now = clock_.NowMicros();
    if (now - last_decrease_us_ < options_.latency_bound_us && now >= last_decrease_us_) return;
    last_decrease_us_ = now;
    limit = std::max<double>(options_.min_limit, std::floor(limit * options_.backoff));
  } else if (static_cast<double>(in_flight) * 2 >= limit) {
    // Grow only when the limit is what holds traffic back: an idle server learns nothing.
    limit = std::min<double>(options_.max_limit, limit + 1.0 / limit);
  } else {
    return;
  }
  limit_.store(limit, std::memory_order_relaxed);
}

}  // namespace pulse::resilience
