// gbdt/metrics.h — offline quality of a binary classifier: ROC AUC and log loss.
//
// Pure functions over (prediction, label) pairs; labels are 0 or 1. Thread-safe.
// Failure: InvalidArgument for mismatched sizes, empty input, labels other than 0/1,
// predictions that are NaN (or, for log loss, outside [0, 1]), and (AUC) a single class.
#pragma once

#include <span>

#include "core/status.h"

namespace pulse::gbdt {

// Probability that a random positive scores above a random negative; ties count one half
// (the Mann-Whitney U statistic with average ranks). O(n log n).
Result<double> Auc(std::span<const float> scores, std::span<const float> labels);

// Mean of -(y log p + (1 - y) log(1 - p)), p clipped to [1e-15, 1 - 1e-15].
Result<double> LogLoss(std::span<const float> probabilities, std::span<const float> labels);

}  // namespace pulse::gbdt
