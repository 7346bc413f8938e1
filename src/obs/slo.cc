#include "obs/slo.h"

#include <algorithm>
#include <mutex>

#include "core/strings.h"
#include "obs/metrics.h"

namespace pulse::obs {

bool IsServerError(StatusCode code) {
  switch (code) {
    case StatusCode::kInternal:
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnknown:
    case StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

SloTracker::SloTracker(SloTargets targets, const Clock* clock)
    : targets_(targets),
      clock_(clock != nullptr ? *clock : SystemClock::Get()),
      buckets_(new Bucket[kBuckets]) {
  for (int i = 0; i < kBuckets; ++i) {
    for (int s = 0; s < kSloCount; ++s) {
      buckets_[i].total[s].store(0, std::memory_order_relaxed);
      buckets_[i].bad[s].store(0, std::memory_order_relaxed);
    }
  }
}

void SloTracker::Record(Slo slo, bool good) {
  const int64_t minute = clock_.NowMicros() / 60'000'000;
  Bucket& bucket = buckets_[static_cast<size_t>(minute % kBuckets)];
  int64_t seen = bucket.minute.load(std::memory_order_acquire);
  if (seen != minute) {
    // The first writer of a new minute recycles the bucket.
    if (bucket.minute.compare_exchange_strong(seen, minute, std::memory_order_acq_rel)) {
      for (int s = 0; s < kSloCount; ++s) {
        bucket.total[s].store(0, std::memory_order_relaxed);
        bucket.bad[s].store(0, std::memory_order_relaxed);
      }
    }
  }
  const int s = static_cast<int>(slo);
  bucket.total[s].fetch_add(1, std::memory_order_relaxed);
  if (!good) bucket.bad[s].fetch_add(1, std::memory_order_relaxed);
}

void SloTracker::RecordRequest(std::string_view method, StatusCode code, double seconds) {
  // Probes and scrapes are not user traffic.
  if (method == "metrics" || method == "healthz" || method == "readyz" || method == "unknown") {
    return;
  }
  Record(Slo::kAvailability, !IsServerError(code));
  if (method == "recommend" && code == StatusCode::kOk) {
    Record(Slo::kLatency, seconds * 1000.0 <= static_cast<double>(targets_.latency_threshold_ms));
  }
}

double SloTracker::Target(Slo slo) const {
  switch (slo) {
    case Slo::kAvailability:
      return targets_.availability_target;
    case Slo::kLatency:
      return targets_.latency_target;
    case Slo::kFreshness:
      return targets_.freshness_target;
  }
  return 1.0;
}

double SloTracker::BurnRate(Slo slo, int minutes) const {
  const int64_t now_minute = clock_.NowMicros() / 60'000'000;
  const int s = static_cast<int>(slo);
  uint64_t total = 0;
  uint64_t bad = 0;
  minutes = std::clamp(minutes, 1, kBuckets);
  for (int64_t m = now_minute - minutes + 1; m <= now_minute; ++m) {
    if (m < 0) continue;
    const Bucket& bucket = buckets_[static_cast<size_t>(m % kBuckets)];
    if (bucket.minute.load(std::memory_order_acquire) != m) continue;
    total += bucket.total[s].load(std::memory_order_relaxed);
    bad += bucket.bad[s].load(std::memory_order_relaxed);
  }
  if (total == 0) return 0.0;
  const double budget = std::max(1e-9, 1.0 - Target(slo));
  return (static_cast<double>(bad) / static_cast<double>(total)) / budget;
}

void SloTracker::RenderMetrics(std::string* out) const {
  static constexpr std::array<std::pair<Slo, std::string_view>, kSloCount> kNames = {
      {{Slo::kAvailability, "availability"},
       {Slo::kLatency, "latency"},
       {Slo::kFreshness, "freshness"}}};
  RenderHeader(out, "pulse_slo_target", "gauge", "The SLO's target share of good events.");
  for (const auto& [slo, name] : kNames) {
    StrAppend(*out, "pulse_slo_target{slo=\"", name, "\"} ", Target(slo), "\n");
  }
  RenderHeader(out, "pulse_slo_burn_rate", "gauge",
               "Error-budget burn rate over a trailing window (1 = budget spent exactly over "
               "the SLO period).");
  for (const auto& [slo, name] : kNames) {
    for (const auto& [window, minutes] : kSloWindows) {
      StrAppend(*out, "pulse_slo_burn_rate{slo=\"", name, "\",window=\"", window, "\"} ",
                BurnRate(slo, minutes), "\n");
    }
  }
  RenderHeader(out, "pulse_slo_error_budget_remaining", "gauge",
               "Share of the error budget left over the last 3 days (negative when overspent).");
  for (const auto& [slo, name] : kNames) {
    StrAppend(*out, "pulse_slo_error_budget_remaining{slo=\"", name, "\"} ",
              1.0 - BurnRate(slo, kSloWindows.back().second), "\n");
  }
}

namespace {
std::atomic<SloTracker*> g_slo{nullptr};
}  // namespace

SloTracker& GlobalSlo() {
  static SloTracker* fallback = [] {
    DefaultMetricsRegistry().Register([](std::string* out) { GlobalSlo().RenderMetrics(out); });
    return new SloTracker(SloTargets{});
  }();
  SloTracker* installed = g_slo.load(std::memory_order_acquire);
  return installed != nullptr ? *installed : *fallback;
}

void SetGlobalSloTargets(const SloTargets& targets) {
  GlobalSlo();  // registers the collector
  // Kept alive for the process: requests may hold the previous tracker.
  g_slo.store(new SloTracker(targets), std::memory_order_release);
}

}  // namespace pulse::obs
