#include "loadgen/zipf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pulse::loadgen {

ZipfSampler::ZipfSampler(uint64_t n, double s) : cdf_(std::max<uint64_t>(1, n)) {
  double sum = 0;
  for (uint64_t r = 0; r < cdf_.size(); ++r) {
    sum += std::pow(static_cast<double>(r + 1), -s);
    cdf_[r] = sum;
  }
  for (double& c : cdf_) c /= sum;
  cdf_.back() = 1.0;
}

uint64_t ZipfSampler::RankFor(double u) const {
  auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  if (it == cdf_.end()) --it;
  return static_cast<uint64_t>(it - cdf_.begin());
}

double ZipfSampler::Probability(uint64_t rank) const {
  if (rank >= cdf_.size()) return 0;
  return rank == 0 ? cdf_[0] : cdf_[rank] - cdf_[rank - 1];
}

UserPicker::UserPicker(const ZipfSampler* sampler, double unknown_share, std::string prefix,
                       uint64_t seed)
    : sampler_(sampler), unknown_share_(unknown_share), prefix_(std::move(prefix)), rng_(seed) {}

void UserPicker::Next(std::string* out) {
  out->clear();
  char digits[32];
  if (unknown_share_ > 0 && uniform_(rng_) < unknown_share_) {
    std::snprintf(digits, sizeof(digits), "%016llx", static_cast<unsigned long long>(rng_()));
    out->append("bench-new-").append(digits);
    return;
  }
  const uint64_t rank = sampler_->RankFor(uniform_(rng_));
  std::snprintf(digits, sizeof(digits), "%llu", static_cast<unsigned long long>(rank + 1));
  out->append(prefix_).append(digits);
}

}  // namespace pulse::loadgen
