// quality/feature_contracts.h — every nearline and ranking feature, declared once: its name (the
// `feature` metric label), type, valid range, the default a reader substitutes for an invalid
// value, the component that writes it (owner), and the bins its drift is measured over.
//
// Contracts are checked where a feature is written (quality/data_quality.h counts violations per
// feature; quality/checks.h wires the writers), so a bad value is caught at its source instead of
// surfacing later as a strange ranking. A new feature = one enum value + one row in
// feature_contracts.cc (a test checks the two agree).
// Thread-safety: immutable, static storage. Failure: Check never fails; it classifies.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace pulse::quality {

enum class FeatureType : uint8_t {
  kReal,   // any finite value in range
  kCount,  // a non-negative integer in range
};

// How a feature's drift histogram is binned between bin_lo and bin_hi (plus an underflow and an
// overflow bin): equal widths, or powers of two for heavy-tailed counts (0, 1, 2–3, 4–7, ...).
enum class Binning : uint8_t { kLinear, kLog2 };

struct FeatureContract {
  std::string_view name;
  FeatureType type;
  double min;  // inclusive
  double max;  // inclusive
  double default_value;
  std::string_view owner;
  Binning binning;
  double bin_lo;
  double bin_hi;
  std::string_view description;
};

enum Feature : int {
  // ranking: written per candidate by the hydrator (ranking/feature_hydrator.h) and the scorer.
  kSimilarity = 0,
  kPopularity,
  kFreshness,
  kScore,
  // nearline: written by the nearline processor per user and item (nearline/feature_view.h).
  kUserEvents1h,
  kUserEvents24h,
  kUserEvents7d,
  kUserCtr24h,
  kItemViews1h,
  kItemClicks1h,
  kItemEngagements24h,
  kItemTrendingVelocity,
  kNumFeatures,
};

// Indexed by Feature.
std::span<const FeatureContract> FeatureContracts();
const FeatureContract& ContractOf(Feature feature);
std::optional<Feature> FindFeature(std::string_view name);

enum class Violation : uint8_t { kNone, kNotFinite, kOutOfRange, kNotInteger };
// Inline: the per-candidate hot path (quality/checks.h) runs it for every ranking feature.
inline Violation Check(const FeatureContract& contract, double value) {
  if (!std::isfinite(value)) return Violation::kNotFinite;
  if (value < contract.min || value > contract.max) return Violation::kOutOfRange;
  if (contract.type == FeatureType::kCount && value != std::floor(value)) {
    return Violation::kNotInteger;
  }
  return Violation::kNone;
}

// Whether `value` honours its contract (the hot path asks only that, not why not).
inline bool Honours(const FeatureContract& contract, double value) {
  return Check(contract, value) == Violation::kNone;
}

}  // namespace pulse::quality
