#include "train/popularity.h"

#include <algorithm>
#include <cmath>

namespace pulse::train {

DecayedPopularity::DecayedPopularity(int64_t half_life_ms)
    : half_life_ms_(static_cast<double>(std::max<int64_t>(half_life_ms, 1))) {}

void DecayedPopularity::Add(DenseId item, float weight, int64_t ts_ms) {
  if (!(weight > 0) || !std::isfinite(weight)) return;
  if (item >= sum_.size()) {
    sum_.resize(static_cast<size_t>(item) + 1, 0.0);
    ref_.resize(static_cast<size_t>(item) + 1, std::numeric_limits<int64_t>::min());
  }
  newest_ = std::max(newest_, ts_ms);
  double& sum = sum_[item];
  int64_t& ref = ref_[item];
  if (sum == 0) {
    sum = weight;
    ref = ts_ms;
  } else if (ts_ms > ref) {
    // Differences in double: int64 subtraction could overflow on hostile timestamps.
    const double age = static_cast<double>(ts_ms) - static_cast<double>(ref);
    sum = sum * std::exp2(-age / half_life_ms_) + weight;
    ref = ts_ms;
  } else {
    const double age = static_cast<double>(ref) - static_cast<double>(ts_ms);
    sum += weight * std::exp2(-age / half_life_ms_);
  }
}

std::vector<float> DecayedPopularity::Finish(size_t n_items) const {
  std::vector<float> out(n_items, 0.0f);
  for (size_t i = 0; i < std::min(n_items, sum_.size()); ++i) {
    if (sum_[i] == 0) continue;
    const double age = static_cast<double>(newest_) - static_cast<double>(ref_[i]);
    out[i] = static_cast<float>(sum_[i] * std::exp2(-age / half_life_ms_));
  }
  return out;
}

}  // namespace pulse::train
