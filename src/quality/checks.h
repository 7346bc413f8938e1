// quality/checks.h — the feature writers' side of the contracts: one call where each kind of
// feature is written.
//   ranking:  CheckRankingFeatures after the hydrator, CheckScores after the scorer (the
//             pipeline); invalid values are replaced by their contract's default in place.
//   nearline: CheckNearline after a batch is applied; the features of the batch's users and
//             items (up to kMaxNearlineChecks of each) are read back and validated (counted
//             only: the processor's state is its own).
// Drift is observed on a sample of requests (one in kDriftSampleEvery per thread) so the hot path
// pays a few comparisons per candidate, and atomics only on sampled requests.
// Thread-safety: as DataQuality.
#pragma once

#include <span>

#include "candidates/context.h"
#include "core/types.h"
#include "nearline/feature_view.h"
#include "quality/data_quality.h"

namespace pulse::quality {

inline constexpr int kDriftSampleEvery = 16;
inline constexpr size_t kMaxNearlineChecks = 16;

void CheckRankingFeatures(std::span<candidates::Candidate> candidates,
                          DataQuality& quality = DefaultDataQuality(), bool observe_drift = true);
void CheckScores(std::span<candidates::Candidate> candidates,
                 DataQuality& quality = DefaultDataQuality(), bool observe_drift = true);
void CheckNearline(const nearline::FeatureView& view, std::span<const Event> events,
                   DataQuality& quality = DefaultDataQuality());

}  // namespace pulse::quality
