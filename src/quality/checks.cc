#include "quality/checks.h"

#include <string_view>
#include <unordered_set>

namespace pulse::quality {
namespace {

// One call in kDriftSampleEvery per thread and call site (the counter is per thread: no sharing).
template <int kSite>
bool Sampled() {
  thread_local int calls = 0;
  return calls++ % kDriftSampleEvery == 0;
}

float Checked(DataQuality& quality, Feature feature, float value, bool observe) {
  const float valid = static_cast<float>(quality.Validate(feature, value));
  if (observe) quality.Observe(feature, valid);
  return valid;
}

}  // namespace

void CheckRankingFeatures(std::span<candidates::Candidate> candidates, DataQuality& quality,
                          bool observe_drift) {
  const bool observe = observe_drift && Sampled<0>();
  for (candidates::Candidate& c : candidates) {
    c.similarity = Checked(quality, kSimilarity, c.similarity, observe);
    c.popularity = Checked(quality, kPopularity, c.popularity, observe);
    c.freshness = Checked(quality, kFreshness, c.freshness, observe);
  }
}

void CheckScores(std::span<candidates::Candidate> candidates, DataQuality& quality,
                 bool observe_drift) {
  const bool observe = observe_drift && Sampled<1>();
  for (candidates::Candidate& c : candidates) c.score = Checked(quality, kScore, c.score, observe);
}

void CheckNearline(const nearline::FeatureView& view, std::span<const Event> events,
                   DataQuality& quality) {
  std::unordered_set<std::string_view> users, items;
  auto check = [&quality](Feature feature, double value) {
    quality.Observe(feature, quality.Validate(feature, value));
  };
  for (const Event& event : events) {
    if (users.size() < kMaxNearlineChecks && users.insert(event.user_id).second) {
      if (std::optional<nearline::UserFeatures> user = view.User(event.user_id)) {
        const Feature windows[] = {kUserEvents1h, kUserEvents24h, kUserEvents7d};
        for (int w = 0; w < nearline::kNumUserWindows; ++w) {
          double total = 0;
          for (int64_t count : user->counts[w]) total += static_cast<double>(count);
          check(windows[w], total);
        }
        check(kUserCtr24h, user->ctr_24h);
      }
    }
    if (items.size() < kMaxNearlineChecks && items.insert(event.item_id).second) {
      if (std::optional<nearline::ItemFeatures> item = view.Item(event.item_id)) {
        check(kItemViews1h, static_cast<double>(item->views[nearline::kItem1h]));
        check(kItemClicks1h, static_cast<double>(item->clicks[nearline::kItem1h]));
        check(kItemEngagements24h, static_cast<double>(item->engagements[nearline::kItem24h]));
        check(kItemTrendingVelocity, item->trending_velocity);
      }
    }
    if (users.size() >= kMaxNearlineChecks && items.size() >= kMaxNearlineChecks) break;
  }
}

}  // namespace pulse::quality
