// loadgen/zipf.h — who the load generator asks for: user ids drawn Zipf-distributed over a user
// population, plus a share of users the server has never seen.
//
// Rank r (0-based) has probability ∝ 1/(r+1)^s (s = 0 is uniform). Ranks map to the ids
// `pulse gen` writes ("u1" … "uN": rank r → "u{r+1}"), so with --users equal to the generated
// user count every known request names a user with history. Unknown users are
// "bench-new-<16 hex>" ids, fresh per request.
// Thread-safety: a sampler belongs to one thread (it owns its RNG). Memory: 8 bytes per user.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace pulse::loadgen {

class ZipfSampler {
 public:
  // n >= 1, s >= 0.
  ZipfSampler(uint64_t n, double s);
  // A rank in [0, n) for the uniform variate u in [0, 1).
  uint64_t RankFor(double u) const;
  uint64_t n() const { return cdf_.size(); }
  // P(rank) (for tests).
  double Probability(uint64_t rank) const;

 private:
  std::vector<double> cdf_;  // cdf_[r] = P(rank <= r)
};

class UserPicker {
 public:
  // `sampler` is shared (read-only) and must outlive the picker.
  UserPicker(const ZipfSampler* sampler, double unknown_share, std::string prefix, uint64_t seed);
  // Writes the next user id into *out (reusing its capacity).
  void Next(std::string* out);

 private:
  const ZipfSampler* sampler_;
  double unknown_share_;
  std::string prefix_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
};

}  // namespace pulse::loadgen
