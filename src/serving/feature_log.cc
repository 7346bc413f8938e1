#include "serving/feature_log.h"

#include <cstdint>

#include "ranking/ranker_features.h"

namespace pulse::serving {

bool SampledForFeatureLog(std::string_view request_id, double rate) {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  // FNV-1a: stable across builds and processes (std::hash is not).
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : request_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<double>(h % 1'000'000) < rate * 1'000'000.0;
}

store::ServedRequest MakeServedRequest(const candidates::RecommendContext& context,
                                       std::span<const candidates::Candidate> served,
                                       std::string_view request_id, std::string_view user_id) {
  store::ServedRequest out;
  out.request_id = std::string(request_id);
  out.user_id = std::string(user_id);
  out.ts_ms = context.now_ms;
  out.model_version = context.model != nullptr ? context.model->version : std::string();
  out.schema = ranking::kRankerFeatureSchema;
  out.items.reserve(served.size());
  for (size_t i = 0; i < served.size(); ++i) {
    store::ServedItem item;
    if (context.model != nullptr) item.item_id = context.model->items.Name(served[i].item);
    item.position = static_cast<int>(i);
    item.features.resize(ranking::kRankerFeatureCount);
    ranking::RankerFeatures(context, served[i],
                            std::span<float, ranking::kRankerFeatureCount>(
                                item.features.data(), ranking::kRankerFeatureCount));
    out.items.push_back(std::move(item));
  }
  return out;
}

}  // namespace pulse::serving
