// ranking/gbdt_scorer.h — the `gbdt` scorer: the model bundle's learned ranker (gradient-boosted
// trees, compiled by gbdt::CompiledEnsemble) when the bundle has one, else the linear scorer.
//
// score = the ranker's click probability over ranking/ranker_features.h for every candidate.
// The fallback decides per request, from the request's bundle: no ranker, or a ranker whose
// feature count differs from kRankerFeatureCount (another schema), scores with `fallback`.
// Explanations and sources are untouched (docs/EXPLANATIONS.md): the scorer only orders.
// Thread-safety: const; per-thread scratch buffers, so steady-state scoring does not allocate.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "ranking/scorer.h"

namespace pulse::ranking {

class GbdtScorer final : public Scorer {
 public:
  explicit GbdtScorer(std::unique_ptr<Scorer> fallback) : fallback_(std::move(fallback)) {}
  std::string_view name() const override { return "gbdt"; }
  // "gbdt" when the request's bundle has a usable ranker, else the fallback's name ("linear").
  std::string_view stage_name(const candidates::RecommendContext& context) const override {
    return HasUsableRanker(context) ? name() : fallback_->name();
  }
  void Score(const candidates::RecommendContext& context,
             std::span<candidates::Candidate> candidates) const override;
  // True when `context`'s bundle has a ranker this build can use.
  static bool HasUsableRanker(const candidates::RecommendContext& context);

 private:
  std::unique_ptr<Scorer> fallback_;
};

}  // namespace pulse::ranking
