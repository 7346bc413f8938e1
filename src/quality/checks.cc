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

// One feature's contract for a batch of candidates: fetched once per call, checked inline
// (Honours: the rules of Check), violations counted locally and added with one atomic at the
// end — the same count and the same substituted default as DataQuality::Validate per value.
class BatchCheck {
 public:
  BatchCheck(DataQuality& quality, Feature feature, bool observe)
      : quality_(quality),
        feature_(feature),
        contract_(ContractOf(feature)),
        default_value_(static_cast<float>(contract_.default_value)),
        observe_(observe) {}
  BatchCheck(const BatchCheck&) = delete;
  BatchCheck& operator=(const BatchCheck&) = delete;
  ~BatchCheck() { quality_.AddViolations(feature_, violations_); }

  float operator()(float value) {
    if (!Honours(contract_, value)) {
      ++violations_;
      value = default_value_;
    }
    if (observe_) quality_.Observe(feature_, value);
    return value;
  }

 private:
  DataQuality& quality_;
  const Feature feature_;
  const FeatureContract contract_;  // a copy: stays in registers across Observe calls
  const float default_value_;
  const bool observe_;
  uint64_t violations_ = 0;
};

}  // namespace

void CheckRankingFeatures(std::span<candidates::Candidate> candidates, DataQuality& quality,
                          bool observe_drift) {
  const bool observe = observe_drift && Sampled<0>();
  BatchCheck similarity(quality, kSimilarity, observe);
  BatchCheck popularity(quality, kPopularity, observe);
  BatchCheck freshness(quality, kFreshness, observe);
  for (candidates::Candidate& c : candidates) {
    c.similarity = similarity(c.similarity);
    c.popularity = popularity(c.popularity);
    c.freshness = freshness(c.freshness);
  }
}

void CheckScores(std::span<candidates::Candidate> candidates, DataQuality& quality,
                 bool observe_drift) {
  const bool observe = observe_drift && Sampled<1>();
  BatchCheck score(quality, kScore, observe);
  for (candidates::Candidate& c : candidates) c.score = score(c.score);
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
