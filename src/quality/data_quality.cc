#include "quality/data_quality.h"

#include <algorithm>
#include <cmath>

#include "core/strings.h"
#include "obs/metrics.h"

namespace pulse::quality {
namespace {
constexpr double kPsiFloor = 1e-4;  // an empty bin would make ln(a/e) infinite
}  // namespace

int BinOf(const FeatureContract& contract, int bins, double value) {
  if (std::isnan(value) || value < contract.bin_lo) return 0;
  if (value >= contract.bin_hi) return bins + 1;
  double position = 0;  // in [0, 1)
  if (contract.binning == Binning::kLog2) {
    // Edges lo, lo+1, lo+2, lo+4, ... scaled so that the last edge is hi.
    const double span = std::log2(1 + contract.bin_hi - contract.bin_lo);
    position = span > 0 ? std::log2(1 + value - contract.bin_lo) / span : 0;
  } else {
    position = (value - contract.bin_lo) / (contract.bin_hi - contract.bin_lo);
  }
  return 1 + std::clamp(static_cast<int>(position * bins), 0, bins - 1);
}

double PopulationStabilityIndex(std::span<const double> expected, std::span<const double> actual) {
  double expected_total = 0, actual_total = 0;
  for (double v : expected) expected_total += v;
  for (double v : actual) actual_total += v;
  if (expected_total <= 0 || actual_total <= 0 || expected.size() != actual.size()) return 0;
  double psi = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = std::max(expected[i] / expected_total, kPsiFloor);
    const double a = std::max(actual[i] / actual_total, kPsiFloor);
    psi += (a - e) * std::log(a / e);
  }
  return psi;
}

namespace {
DriftOptions Sanitized(DriftOptions options) {
  if (options.bins < 1 || options.bins > kMaxDriftBins - 2) options.bins = 10;
  if (options.window == 0) options.window = 1;
  return options;
}
}  // namespace

DataQuality::DataQuality(DriftOptions options) : options_(Sanitized(options)) {}

DataQuality::~DataQuality() = default;

double DataQuality::Validate(Feature feature, double value) {
  const FeatureContract& contract = ContractOf(feature);
  if (Check(contract, value) == Violation::kNone) return value;
  features_[feature].violations.fetch_add(1, std::memory_order_relaxed);
  return contract.default_value;
}

void DataQuality::AddViolations(Feature feature, uint64_t n) {
  if (n > 0) features_[feature].violations.fetch_add(n, std::memory_order_relaxed);
}

void DataQuality::Observe(Feature feature, double value) {
  PerFeature& f = features_[feature];
  const int bin = BinOf(ContractOf(feature), options_.bins, value);
  f.live[static_cast<size_t>(bin)].fetch_add(1, std::memory_order_relaxed);
  if (f.live_total.fetch_add(1, std::memory_order_acq_rel) + 1 == options_.window) Seal(feature);
}

void DataQuality::Seal(Feature feature) {
  PerFeature& f = features_[feature];
  std::lock_guard<std::mutex> lock(f.mu);
  f.live_total.store(0, std::memory_order_release);
  std::vector<double> window(static_cast<size_t>(options_.bins) + 2);
  for (size_t i = 0; i < window.size(); ++i) {
    window[i] = static_cast<double>(f.live[i].exchange(0, std::memory_order_relaxed));
  }
  if (f.reference.empty()) {
    f.reference = std::move(window);
  } else {
    f.psi = PopulationStabilityIndex(f.reference, window);
  }
}

void DataQuality::ResetReference() {
  for (PerFeature& f : features_) {
    std::lock_guard<std::mutex> lock(f.mu);
    f.reference.clear();
    f.psi.reset();
  }
}

uint64_t DataQuality::violations(Feature feature) const {
  return features_[feature].violations.load(std::memory_order_relaxed);
}

std::optional<double> DataQuality::psi(Feature feature) const {
  std::lock_guard<std::mutex> lock(features_[feature].mu);
  return features_[feature].psi;
}

void DataQuality::Render(std::string* out) const {
  obs::RenderHeader(out, "pulse_feature_violations_total", "counter",
                    "Written feature values that broke their contract (replaced by the default).");
  for (int i = 0; i < kNumFeatures; ++i) {
    StrAppend(*out, "pulse_feature_violations_total{feature=\"", FeatureContracts()[i].name, "\"} ",
              violations(static_cast<Feature>(i)), "\n");
  }
  obs::RenderHeader(out, "pulse_feature_psi", "gauge",
                    "Population stability index of the latest window against the reference.");
  for (int i = 0; i < kNumFeatures; ++i) {
    if (std::optional<double> value = psi(static_cast<Feature>(i))) {
      StrAppend(*out, "pulse_feature_psi{feature=\"", FeatureContracts()[i].name, "\"} ", *value,
                "\n");
    }
  }
}

DataQuality& DefaultDataQuality() {
  static DataQuality* quality = [] {
    auto* instance = new DataQuality();  // never destroyed: collectors may run at exit
    obs::DefaultMetricsRegistry().Register([instance](std::string* out) { instance->Render(out); });
    return instance;
  }();
  return *quality;
}

}  // namespace pulse::quality
