// ranking/feature_hydrator.h — fills each candidate's features before scoring.
//
// Features and their defaults (fail-open: a missing input yields the default, never an error):
//   similarity  user vector · item vector; 0 without a user vector
//   popularity  log1p(item popularity) / log1p(max popularity) in [0, 1]; 0 when unknown
//   freshness   exp(-item age / 30 days); 0 when the item's created_at is unknown
//   category    the item's category id (ItemTable), kNoCategory when unknown
// The same functions compute the features offline, so training sees what serving sees.
// Thread-safety: const, called concurrently.
#pragma once

#include <span>
#include <string_view>

#include "candidates/context.h"

namespace pulse::ranking {

class FeatureHydrator {
 public:
  virtual ~FeatureHydrator() = default;
  virtual std::string_view name() const = 0;
  virtual void Hydrate(const candidates::RecommendContext& context,
                       std::span<candidates::Candidate> candidates) const = 0;
};

// The hydrator for the features listed above.
class CoreFeatureHydrator final : public FeatureHydrator {
 public:
  std::string_view name() const override { return "features"; }
  void Hydrate(const candidates::RecommendContext& context,
               std::span<candidates::Candidate> candidates) const override;
};

}  // namespace pulse::ranking
