// quality/data_quality.h — feature contract violations and drift, as metrics.
//
// Validate(): a written value is checked against its FeatureContract; an invalid one (NaN, out
// of range, a fractional count) is counted in pulse_feature_violations_total{feature} and
// replaced by the contract's default, so one bad input cannot poison a ranking (fail-open, as
// the hydrator's missing features are).
// Observe(): drift by the population stability index, PSI = Σ (aᵢ − eᵢ)·ln(aᵢ / eᵢ) over the
// contract's bins (proportions eᵢ of the reference window, aᵢ of the latest window, floored at
// 1e-4). Windows hold DriftOptions::window observations; the first full window after start (or
// after ResetReference) is the reference, every later one is compared with it and its PSI
// published as pulse_feature_psi{feature}. Rules of thumb: < 0.1 stable, 0.1–0.25 moderate
// shift, > 0.25 a shift worth a look (a broken feed, a new traffic mix, a retrained model).
//
// Thread-safety: every method may be called concurrently. Validate is a few comparisons (an
// atomic increment only on a violation); Observe is two relaxed atomic increments, and the one
// call that fills a window also seals it under a per-feature mutex.
// NOTE: observations racing a seal may land in either window; PSI does not notice.
// Ownership: DefaultDataQuality() is process-wide and registered with
// obs::DefaultMetricsRegistry(); tests make their own.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "quality/feature_contracts.h"

namespace pulse::quality {

inline constexpr int kMaxDriftBins = 32;

struct DriftOptions {
  uint64_t window = 2000;  // observations per window (≈200 per bin at 10 bins)
  int bins = 10;           // between bin_lo and bin_hi (plus under- and overflow); ≤ 30
};

// The bin of `value` for the contract's binning: 0 = underflow, bins + 1 = overflow.
int BinOf(const FeatureContract& contract, int bins, double value);

// PSI of two histograms given as counts (same length); 0 when either is empty.
double PopulationStabilityIndex(std::span<const double> expected, std::span<const double> actual);

class DataQuality {
 public:
  explicit DataQuality(DriftOptions options = {});
  ~DataQuality();
  DataQuality(const DataQuality&) = delete;
  DataQuality& operator=(const DataQuality&) = delete;

  // Returns `value` when it honours the feature's contract, else counts a violation and returns
  // the contract's default.
  double Validate(Feature feature, double value);
  // Counts `n` violations of `feature` at once: for a caller that checks a batch itself by the
  // same rules (Honours) and substitutes the default, with one atomic add per batch instead of
  // one per violation (quality/checks.cc).
  void AddViolations(Feature feature, uint64_t n);
  // Adds a (valid) value to the feature's current drift window.
  void Observe(Feature feature, double value);
  // The next full window of every feature becomes its reference (a new model's scores are a new
  // normal, not drift).
  void ResetReference();

  uint64_t violations(Feature feature) const;
  // PSI of the latest sealed window against the reference; nullopt before there is one.
  std::optional<double> psi(Feature feature) const;
  // pulse_feature_violations_total{feature} (every feature, zeros included) and
  // pulse_feature_psi{feature} (features with a PSI).
  void Render(std::string* out) const;

 private:
  struct PerFeature {
    std::atomic<uint64_t> violations{0};
    std::array<std::atomic<uint64_t>, kMaxDriftBins> live{};
    std::atomic<uint64_t> live_total{0};
    mutable std::mutex mu;          // guards the fields below
    std::vector<double> reference;  // counts; empty = none yet
    std::optional<double> psi;
  };
  void Seal(Feature feature);

  const DriftOptions options_;
  std::array<PerFeature, kNumFeatures> features_;
};

// The process-wide instance, registered with obs::DefaultMetricsRegistry() on first use.
DataQuality& DefaultDataQuality();

}  // namespace pulse::quality
