#include "quality/feature_contracts.h"

namespace pulse::quality {
namespace {

constexpr double kMaxCount = 1e12;  // far above any real window count; catches overflow garbage

// Order = enum Feature.
constexpr FeatureContract kContracts[] = {
    {"similarity", FeatureType::kReal, -1e3, 1e3, 0, "ranking", Binning::kLinear, -1, 2,
     "user vector · item vector; 0 without a user vector"},
    {"popularity", FeatureType::kReal, 0, 1, 0, "ranking", Binning::kLinear, 0, 1,
     "log1p(item popularity) / log1p(max popularity)"},
    {"freshness", FeatureType::kReal, 0, 1, 0, "ranking", Binning::kLinear, 0, 1,
     "exp(-item age / 30 days); 0 when the age is unknown"},
    {"score", FeatureType::kReal, -1e6, 1e6, 0, "ranking", Binning::kLinear, -1, 2,
     "the active model's score of a candidate"},
    {"user_events_1h", FeatureType::kCount, 0, kMaxCount, 0, "nearline", Binning::kLog2, 0, 256,
     "the user's events over the last hour (every type)"},
    {"user_events_24h", FeatureType::kCount, 0, kMaxCount, 0, "nearline", Binning::kLog2, 0, 1024,
     "the user's events over the last 24 hours"},
    {"user_events_7d", FeatureType::kCount, 0, kMaxCount, 0, "nearline", Binning::kLog2, 0, 4096,
     "the user's events over the last 7 days"},
    {"user_ctr_24h", FeatureType::kReal, 0, 1, 0, "nearline", Binning::kLinear, 0, 1,
     "clicks / impressions over 24h; above 1 means impressions go missing"},
    {"item_views_1h", FeatureType::kCount, 0, kMaxCount, 0, "nearline", Binning::kLog2, 0, 4096,
     "the item's views over the last hour"},
    {"item_clicks_1h", FeatureType::kCount, 0, kMaxCount, 0, "nearline", Binning::kLog2, 0, 4096,
     "the item's clicks over the last hour"},
    {"item_engagements_24h", FeatureType::kCount, 0, kMaxCount, 0, "nearline", Binning::kLog2, 0,
     65536, "the item's non-impression events over 24 hours"},
    {"item_trending_velocity", FeatureType::kReal, 0, 1e6, 0, "nearline", Binning::kLog2, 0, 64,
     "last-hour engagement over the smoothed 24h hourly average"},
};
static_assert(std::size(kContracts) == kNumFeatures, "one contract per Feature, in enum order");

}  // namespace

std::span<const FeatureContract> FeatureContracts() { return kContracts; }

const FeatureContract& ContractOf(Feature feature) { return kContracts[feature]; }

std::optional<Feature> FindFeature(std::string_view name) {
  for (int i = 0; i < kNumFeatures; ++i) {
    if (kContracts[i].name == name) return static_cast<Feature>(i);
  }
  return std::nullopt;
}

}  // namespace pulse::quality
