// obs/slo.h — service-level objectives and their error-budget burn rates, computed in-process.
//
// Three SLOs, each a stream of good/bad events against a target share of good ones:
//   availability — API requests that did not fail on the server's side (INTERNAL, UNAVAILABLE,
//                  DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNKNOWN, DATA_LOSS are bad);
//   latency      — recommend requests answered within latency_threshold_ms;
//   freshness    — live events whose features became visible within freshness_threshold_ms.
// Burn rate over a window = (bad / total) / (1 - target): 1 spends the budget exactly over the
// SLO period, 14.4 spends a 30-day budget in ~2 days. Exposed as
// pulse_slo_burn_rate{slo,window} for 5m, 30m, 1h, 6h, 3d, and
// pulse_slo_error_budget_remaining{slo} = 1 - burn over the longest window (3d; below 0 when
// overspent). Prometheus computes the same from the raw counters (deploy/prometheus/); the
// in-process figures serve the dashboard and `curl /metrics` without a Prometheus.
//
// Cost: Record is two relaxed atomic adds into a one-minute bucket of a 3-day ring (4320
// buckets); rendering sums buckets. Thread-safety: Record and Render may run concurrently.
// NOTE: a bucket is recycled by the first Record of a new minute; a Record racing that recycle on
// another thread may land in the old minute's count (off by a few events, never unbounded).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"

namespace pulse::obs {

struct SloTargets {
  double availability_target = 0.999;
  int64_t latency_threshold_ms = 100;
  double latency_target = 0.99;
  int64_t freshness_threshold_ms = 5000;
  double freshness_target = 0.99;
};

enum class Slo : int { kAvailability = 0, kLatency = 1, kFreshness = 2 };
inline constexpr int kSloCount = 3;

// Windows in minutes, as in the SRE workbook's multiwindow alerts.
inline constexpr std::array<std::pair<std::string_view, int>, 5> kSloWindows = {
    {{"5m", 5}, {"30m", 30}, {"1h", 60}, {"6h", 360}, {"3d", 4320}}};

class SloTracker {
 public:
  explicit SloTracker(SloTargets targets, const Clock* clock = nullptr);

  void Record(Slo slo, bool good);
  // The request-level SLOs from one finished API call (`code` a StatusCodeName).
  void RecordRequest(std::string_view method, StatusCode code, double seconds);
  void RecordFreshness(double seconds) {
    Record(Slo::kFreshness,
           seconds * 1000.0 <= static_cast<double>(targets_.freshness_threshold_ms));
  }

  // Burn rate of `slo` over the last `minutes` (0 when nothing was recorded).
  double BurnRate(Slo slo, int minutes) const;
  void RenderMetrics(std::string* out) const;
  const SloTargets& targets() const { return targets_; }

 private:
  static constexpr int kBuckets = 4320;  // one per minute, 3 days
  struct Bucket {
    std::atomic<int64_t> minute{-1};
    std::atomic<uint64_t> total[kSloCount];
    std::atomic<uint64_t> bad[kSloCount];
  };
  double Target(Slo slo) const;

  const SloTargets targets_;
  const Clock& clock_;
  std::unique_ptr<Bucket[]> buckets_;
};

// The process-wide tracker the front ends and the engine feed (default targets until
// SetGlobalSloTargets, which serve calls once at start-up before traffic).
SloTracker& GlobalSlo();
void SetGlobalSloTargets(const SloTargets& targets);

// Whether a status counts against availability (the server's fault, not the client's).
bool IsServerError(StatusCode code);

}  // namespace pulse::obs
