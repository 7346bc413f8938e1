#include "ranking/feature_hydrator.h"

#include <cmath>

#include "core/vector_math.h"

namespace pulse::ranking {
namespace {
constexpr double kFreshnessScaleMs = 30.0 * 24 * 3600 * 1000;
}  // namespace

void CoreFeatureHydrator::Hydrate(const candidates::RecommendContext& context,
                                  std::span<candidates::Candidate> candidates) const {
  const rollout::ModelBundle* model = context.model;
  if (model == nullptr) return;
  float max_popularity = 0;
  if (!context.popular_items.empty()) {
    max_popularity = model->item_popularity[context.popular_items.front()];
  }
  const float popularity_norm = max_popularity > 0 ? 1.0f / std::log1p(max_popularity) : 0.0f;
  for (candidates::Candidate& candidate : candidates) {
    if (context.has_user_vector() && !candidate.similarity_set) {
      candidate.similarity = Dot(context.user_vector.data(), model->ItemVector(candidate.item),
                                 static_cast<size_t>(model->dim));
    }
    float popularity = model->item_popularity[candidate.item];
    candidate.popularity = popularity > 0 ? std::log1p(popularity) * popularity_norm : 0.0f;
    if (context.items != nullptr) {
      candidate.category = context.items->category(candidate.item);
      int64_t created_at = context.items->created_at_ms(candidate.item);
      if (created_at > 0) {
        double age_ms = static_cast<double>(std::max<int64_t>(0, context.now_ms - created_at));
        candidate.freshness = static_cast<float>(std::exp(-age_ms / kFreshnessScaleMs));
      }
    }
  }
}

}  // namespace pulse::ranking
