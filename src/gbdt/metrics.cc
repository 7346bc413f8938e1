#include "gbdt/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/strings.h"

namespace pulse::gbdt {
namespace {

Status CheckInput(std::span<const float> predictions, std::span<const float> labels) {
  if (predictions.size() != labels.size()) {
    return InvalidArgumentError(
        StrCat("have ", predictions.size(), " predictions for ", labels.size(), " labels"));
  }
  if (predictions.empty()) return InvalidArgumentError("no predictions");
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 0.0f && labels[i] != 1.0f) {
      return InvalidArgumentError("labels must be 0 or 1");
    }
    if (std::isnan(predictions[i])) return InvalidArgumentError("a prediction is NaN");
  }
  return OkStatus();
}

}  // namespace

Result<double> Auc(std::span<const float> scores, std::span<const float> labels) {
  RETURN_IF_ERROR(CheckInput(scores, labels));
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  double positive_rank_sum = 0;
  double positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]] == 1.0f) {
        positive_rank_sum += average_rank;
        positives += 1;
      }
    }
    i = j;
  }
  const double negatives = static_cast<double>(order.size()) - positives;
  if (positives == 0 || negatives == 0) {
    return InvalidArgumentError("AUC needs both positive and negative labels");
  }
  return (positive_rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives);
}

Result<double> LogLoss(std::span<const float> probabilities, std::span<const float> labels) {
  RETURN_IF_ERROR(CheckInput(probabilities, labels));
  constexpr double kEps = 1e-15;
  double sum = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    const double raw = probabilities[i];
    if (raw < 0.0 || raw > 1.0) return InvalidArgumentError("a probability is outside [0, 1]");
    const double p = std::clamp(raw, kEps, 1.0 - kEps);
    sum -= labels[i] == 1.0f ? std::log(p) : std::log(1.0 - p);
  }
  return sum / static_cast<double>(labels.size());
}

}  // namespace pulse::gbdt
