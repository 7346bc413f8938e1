#include "ranking/feature_hydrator.h"

#include <algorithm>
#include <cmath>

#include "core/vector_math.h"

namespace pulse::ranking {
namespace {
constexpr double kFreshnessScaleMs = 30.0 * 24 * 3600 * 1000;
constexpr size_t kCacheLine = 64;
// How many candidates ahead the loads are started: enough to cover a memory miss (~100 ns) with
// the ~40 ns of work per candidate, few enough not to evict what is about to be used.
constexpr size_t kPrefetchAhead = 8;
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
  // Each candidate's inputs are a random item's rows in tables far larger than the caches (its
  // vector, 4 cache lines at d=64, its popularity, category and age), so the loop is bound by
  // memory latency, not arithmetic: loads for the candidate kPrefetchAhead places on are started
  // before this one is computed, so several candidates' misses are in flight at once.
  const size_t vector_bytes = static_cast<size_t>(model->dim) * sizeof(float);
  auto prefetch = [&](DenseId item) {
    if (context.has_user_vector()) {
      const char* row = reinterpret_cast<const char*>(model->ItemVector(item));
      for (size_t offset = 0; offset < vector_bytes; offset += kCacheLine) {
        __builtin_prefetch(row + offset);
      }
    }
    __builtin_prefetch(&model->item_popularity[item]);
    if (context.items != nullptr) context.items->Prefetch(item);
  };
  for (size_t i = 0; i < std::min(kPrefetchAhead, candidates.size()); ++i) {
    prefetch(candidates[i].item);
  }
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (i + kPrefetchAhead < candidates.size()) prefetch(candidates[i + kPrefetchAhead].item);
    candidates::Candidate& candidate = candidates[i];
    if (context.has_user_vector()) {
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
