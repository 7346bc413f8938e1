// ranking/scorer.h — the scoring stage: one score per candidate, higher is better.
//
// Score() writes Candidate::score for every candidate in place; it keeps the span's size and
// order (sorting is the selectors' job). Scorers are pure functions of the hydrated features.
// Thread-safety: const, called concurrently. Swapped atomically with the model snapshot.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "candidates/context.h"
#include "core/status.h"

namespace pulse::ranking {

class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual std::string_view name() const = 0;
  // The name this request's scoring runs under (its stage trace label); a scorer that delegates
  // (gbdt falling back to linear) names the one that actually scores.
  virtual std::string_view stage_name(const candidates::RecommendContext& /*context*/) const {
    return name();
  }
  virtual void Score(const candidates::RecommendContext& context,
                     std::span<candidates::Candidate> candidates) const = 0;
};

// score = w_similarity·similarity + w_popularity·popularity + w_freshness·freshness.
class LinearScorer final : public Scorer {
 public:
  // Keys: similarity, popularity, freshness; absent keys weigh 0. InvalidArgument for any other
  // key or a non-finite weight.
  static Result<std::unique_ptr<LinearScorer>> Create(const std::map<std::string, double>& weights);
  std::string_view name() const override { return "linear"; }
  void Score(const candidates::RecommendContext& context,
             std::span<candidates::Candidate> candidates) const override;

 private:
  LinearScorer() = default;
  float w_similarity_ = 0;
  float w_popularity_ = 0;
  float w_freshness_ = 0;
};

}  // namespace pulse::ranking
