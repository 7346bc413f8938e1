#include "tools/synthetic.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pulse::tools {
namespace {

constexpr int64_t kDayMs = 86'400'000;

bool SameEvent(const Event& a, const Event& b) {
  return a.event_id == b.event_id && a.user_id == b.user_id && a.item_id == b.item_id &&
         a.type == b.type && a.ts_ms == b.ts_ms && a.dwell_ms == b.dwell_ms;
}

bool SameItem(const Item& a, const Item& b) {
  return a.item_id == b.item_id && a.title == b.title && a.category == b.category &&
         a.tags == b.tags && a.created_at_ms == b.created_at_ms;
}

TEST(SyntheticTest, DeterministicForParams) {
  SyntheticParams params;
  params.users = 200;
  params.items = 100;
  params.events = 3000;
  SyntheticData a = GenerateSynthetic(params);
  SyntheticData b = GenerateSynthetic(params);
  ASSERT_EQ(a.events.size(), b.events.size());
  ASSERT_EQ(a.items.size(), b.items.size());
  for (size_t i = 0; i < a.events.size(); ++i)
    ASSERT_TRUE(SameEvent(a.events[i], b.events[i])) << i;
  for (size_t i = 0; i < a.items.size(); ++i) ASSERT_TRUE(SameItem(a.items[i], b.items[i])) << i;

  params.seed = 43;
  SyntheticData c = GenerateSynthetic(params);
  size_t differing = 0;
  for (size_t i = 0; i < std::min(a.events.size(), c.events.size()); ++i) {
    differing += !SameEvent(a.events[i], c.events[i]);
  }
  EXPECT_GT(differing, a.events.size() / 2);
}

// A pinned fingerprint: catches accidental changes to the generator. Update it deliberately when
// the generator's model changes. (It also pins libm's log/exp/pow/cos results, which glibc
// computes identically on every x86-64/arm64 build we use.)
TEST(SyntheticTest, PinnedFingerprint) {
  SyntheticParams params;
  params.users = 50;
  params.items = 40;
  params.events = 500;
  SyntheticData data = GenerateSynthetic(params);
  ASSERT_EQ(data.events.size(), 500u);
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  };
  for (const Event& e : data.events) {
    mix(e.user_id);
    mix(e.item_id);
    mix(std::to_string(e.ts_ms));
    mix(std::to_string(static_cast<int>(e.type)));
    mix(std::to_string(e.dwell_ms));
  }
  for (const Item& i : data.items) {
    mix(i.title);
    mix(i.category);
    mix(std::to_string(i.created_at_ms));
  }
  EXPECT_EQ(h, 11931465471940304438ULL) << "fingerprint changed: " << h;
}

TEST(SyntheticTest, EveryUserHasAtLeastFiveEvents) {
  SyntheticParams params;
  params.users = 300;
  params.items = 50;
  params.events = 1000;  // fewer than 5 per user: raised to 5 * users
  SyntheticData data = GenerateSynthetic(params);
  EXPECT_EQ(data.events.size(), 1500u);
  std::map<std::string, int> per_user;
  for (const Event& e : data.events) ++per_user[e.user_id];
  EXPECT_EQ(per_user.size(), 300u);
  for (const auto& [user, n] : per_user) EXPECT_GE(n, 5) << user;

  params.events = 20000;
  data = GenerateSynthetic(params);
  EXPECT_EQ(data.events.size(), 20000u);
  per_user.clear();
  for (const Event& e : data.events) ++per_user[e.user_id];
  int most = 0;
  for (const auto& [user, n] : per_user) {
    EXPECT_GE(n, 5) << user;
    most = std::max(most, n);
  }
  // Power-law activity: the most active user does far more than the average (66), without
  // swamping everyone else.
  EXPECT_GT(most, 330);
  EXPECT_LT(most, 4000);
}

TEST(SyntheticTest, ShapeOfEventsAndItems) {
  SyntheticParams params;
  SyntheticData data = GenerateSynthetic(params);
  ASSERT_EQ(data.items.size(), 500u);
  ASSERT_EQ(data.events.size(), 20000u);
  const int64_t start = params.end_ms - params.days * kDayMs;
  std::unordered_map<std::string, const Item*> items;
  for (const Item& item : data.items) {
    EXPECT_EQ(item.item_id[0], 'i');
    EXPECT_THAT(item.category, ::testing::MatchesRegex("topic-[0-9][0-9]"));
    ASSERT_FALSE(item.tags.empty());
    EXPECT_EQ(item.tags[0], item.category);
    EXPECT_GE(item.created_at_ms, start - 366 * kDayMs);
    EXPECT_LT(item.created_at_ms, params.end_ms);
    items[item.item_id] = &item;
  }
  std::set<std::string> ids;
  std::map<EventType, int> types;
  int64_t previous = 0;
  int before_creation = 0;
  for (const Event& e : data.events) {
    EXPECT_GE(e.ts_ms, previous);
    previous = e.ts_ms;
    EXPECT_GE(e.ts_ms, start);
    EXPECT_LT(e.ts_ms, params.end_ms);
    EXPECT_TRUE(ids.insert(e.event_id).second);
    ASSERT_TRUE(items.count(e.item_id)) << e.item_id;
    before_creation += e.ts_ms < items[e.item_id]->created_at_ms;
    ++types[e.type];
    if (e.type == EventType::kDwell) {
      EXPECT_GE(e.dwell_ms, 1000);
    } else {
      EXPECT_EQ(e.dwell_ms, 0);
    }
  }
  EXPECT_LT(before_creation, 20);  // only the rare fallback
  EXPECT_GT(types[EventType::kView], 12000);
  EXPECT_GT(types[EventType::kClick], 2500);
  EXPECT_GT(types[EventType::kDwell], 800);
  EXPECT_GT(types[EventType::kPurchase], 150);
  EXPECT_LT(types[EventType::kPurchase], 1000);
}

TEST(SyntheticTest, UsersConcentrateOnFewTopics) {
  SyntheticData data = GenerateSynthetic(SyntheticParams());
  std::unordered_map<std::string, std::string> category;
  for (const Item& item : data.items) category[item.item_id] = item.category;
  std::map<std::string, std::map<std::string, int>> per_user;
  for (const Event& e : data.events) ++per_user[e.user_id][category[e.item_id]];
  double share_sum = 0;
  int users = 0;
  for (const auto& [user, cats] : per_user) {
    std::vector<int> counts;
    int total = 0;
    for (const auto& [c, n] : cats) {
      counts.push_back(n);
      total += n;
    }
    if (total < 20) continue;
    std::sort(counts.rbegin(), counts.rend());
    int top3 = 0;
    for (size_t i = 0; i < counts.size() && i < 3; ++i) top3 += counts[i];
    share_sum += static_cast<double>(top3) / total;
    ++users;
  }
  ASSERT_GT(users, 100);
  // Uniform choice over 20 topics would give ~0.15 (a bit more through topic sizes).
  EXPECT_GT(share_sum / users, 0.75);
}

TEST(SyntheticTest, PopularityIsHeavyTailed) {
  SyntheticData data = GenerateSynthetic(SyntheticParams());
  std::map<std::string, int> per_item;
  for (const Event& e : data.events) ++per_item[e.item_id];
  std::vector<int> counts;
  for (const auto& [item, n] : per_item) counts.push_back(n);
  std::sort(counts.rbegin(), counts.rend());
  int top = 0;
  for (size_t i = 0; i < 50 && i < counts.size(); ++i) top += counts[i];  // top 10% of 500
  EXPECT_GT(static_cast<double>(top) / data.events.size(), 0.35);
  // ... yet the catalog is used: most items get some traffic.
  EXPECT_GT(per_item.size(), 400u);
}

TEST(SyntheticTest, RecentHistoryPredictsNextBetterThanOldHistory) {
  SyntheticParams params;
  params.users = 1000;
  params.events = 60000;
  SyntheticData data = GenerateSynthetic(params);
  std::unordered_map<std::string, std::string> category;
  for (const Item& item : data.items) category[item.item_id] = item.category;
  std::map<std::string, std::vector<std::string>> per_user;
  for (const Event& e : data.events) per_user[e.user_id].push_back(category[e.item_id]);
  auto mode = [](auto begin, auto end) {
    std::map<std::string, int> counts;
    for (auto it = begin; it != end; ++it) ++counts[*it];
    return std::max_element(counts.begin(), counts.end(),
                            [](const auto& a, const auto& b) { return a.second < b.second; })
        ->first;
  };
  int recent_hits = 0, old_hits = 0, users = 0;
  for (const auto& [user, cats] : per_user) {
    if (cats.size() < 40) continue;
    const std::string& next = cats.back();
    recent_hits += mode(cats.end() - 11, cats.end() - 1) == next;
    old_hits += mode(cats.begin(), cats.begin() + 10) == next;
    ++users;
  }
  ASSERT_GT(users, 200);
  EXPECT_GT(recent_hits, old_hits + users / 20);
}

TEST(SyntheticTest, DegenerateParamsStillWork) {
  SyntheticParams params;
  params.users = 0;
  params.items = 0;
  params.topics = 0;
  params.events = 0;
  params.days = 0;
  SyntheticData data = GenerateSynthetic(params);
  EXPECT_EQ(data.items.size(), 1u);
  EXPECT_EQ(data.events.size(), 5u);
  params.items = 3;  // fewer items than topics
  params.topics = 10;
  params.users = 20;
  data = GenerateSynthetic(params);
  EXPECT_EQ(data.items.size(), 3u);
  EXPECT_EQ(data.events.size(), 100u);
}

}  // namespace
}  // namespace pulse::tools
