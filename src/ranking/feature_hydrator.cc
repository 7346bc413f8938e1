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
  // log1p(popularity) is fixed per model: loaded bundles carry it per item (computed at load by
  // the same function), so a candidate costs a load, not a log.
  const bool has_log_table = model->item_log_popularity.size() == model->item_popularity.size();
  auto log_popularity = [&](DenseId item) {
    return has_log_table ? model->item_log_popularity[item]
                         : rollout::LogPopularity(model->item_popularity[item]);
  };
  float log_max_popularity = 0;
  if (!context.popular_items.empty()) {
    log_max_popularity = log_popularity(context.popular_items.front());
  }
  // LogPopularity(p) > 0 exactly when p > 0, so these are the tests on the raw popularity.
  const float popularity_norm = log_max_popularity > 0 ? 1.0f / log_max_popularity : 0.0f;
  for (candidates::Candidate& candidate : candidates) {
    if (context.has_user_vector() && !candidate.similarity_set) {
      candidate.similarity = Dot(context.user_vector.data(), model->ItemVector(candidate.item),
                                 static_cast<size_t>(model->dim));
    }
    const float log_popularity_value = log_popularity(candidate.item);
    candidate.popularity = log_popularity_value > 0 ? log_popularity_value * popularity_norm : 0.0f;
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
