#include "evaluation/holdout.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pulse::evaluation {
namespace {

using ::testing::ElementsAre;

Event Ev(const std::string& user, const std::string& item, int64_t ts = 1) {
  Event e;
  e.user_id = user;
  e.item_id = item;
  e.ts_ms = ts;
  e.rating = 1;  // a rating of 1 is still a positive
  return e;
}

std::vector<std::string> Names(const IdDictionary& dict) { return dict.names(); }

TEST(ExternalIdLessTest, NumbersNumericallyThenText) {
  EXPECT_TRUE(ExternalIdLess("2", "10"));
  EXPECT_FALSE(ExternalIdLess("10", "2"));
  EXPECT_TRUE(ExternalIdLess("-1", "0"));
  EXPECT_TRUE(ExternalIdLess("999999", "a"));
  EXPECT_TRUE(ExternalIdLess("a10", "a2"));  // text: bytewise
  EXPECT_TRUE(ExternalIdLess("01", "1"));    // equal numbers: by text
  EXPECT_FALSE(ExternalIdLess("1", "1"));
  EXPECT_TRUE(ExternalIdLess("99999999999999999999", "a"));   // too big for int64: text, "9" < "a"
  EXPECT_FALSE(ExternalIdLess("99999999999999999999", "5"));  // numbers come first
}

TEST(MakeHoldoutTest, CatalogOrderTestSetsAndDroppedPairs) {
  std::vector<Event> train = {Ev("7", "10"), Ev("7", "2"), Ev("30", "2"), Ev("30", "100")};
  Event impression = Ev("7", "555");
  impression.type = EventType::kImpression;
  train.push_back(impression);  // not a positive: neither trains nor joins the catalog
  std::vector<Event> test = {Ev("7", "100"), Ev("7", "2"),   Ev("7", "9"),
                             Ev("30", "10"), Ev("30", "10"), Ev("8", "2")};
  const HoldoutData data = MakeHoldout(train, test);
  const train::EvalSplit& s = data.split;
  EXPECT_THAT(Names(s.train.items()), ElementsAre("2", "9", "10", "100"));
  EXPECT_THAT(Names(s.train.users()), ElementsAre("7", "8", "30"));
  EXPECT_TRUE(s.rank_all_items);
  EXPECT_EQ(s.train.nnz(), 4u);
  EXPECT_EQ(data.train_events.size(), 4u);
  // 7: {100, 9} (2 is a training pair: dropped); 8: {2} (no training data); 30: {10} once.
  EXPECT_THAT(s.test_users, ElementsAre(0, 1, 2));
  ASSERT_EQ(s.test_items.size(), 3u);
  EXPECT_THAT(s.test_items[0], ElementsAre(1, 3));
  EXPECT_THAT(s.test_items[1], ElementsAre(0));
  EXPECT_THAT(s.test_items[2], ElementsAre(2));
  EXPECT_EQ(s.test_pairs, 4u);
  EXPECT_EQ(data.test_pairs_in_train, 1u);
}

std::vector<Event> RandomEvents(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Event> events;
  for (int u = 0; u < 50; ++u) {
    const int n = 1 + static_cast<int>(rng() % 20);
    for (int j = 0; j < n; ++j) {
      events.push_back(Ev(StrCat("u", u), std::to_string(rng() % 40), j));
    }
  }
  return events;
}

TEST(SplitHoldoutTest, CeilOfTheFractionTrainsAndTheRestTests) {
  const std::vector<Event> events = RandomEvents(3);
  const HoldoutData data = SplitHoldout(events, 0.75, 42);
  const train::EvalSplit& s = data.split;
  std::map<std::string, std::set<std::string>> by_user;
  for (const Event& e : events) by_user[e.user_id].insert(e.item_id);
  size_t test_pairs = 0;
  size_t t = 0;
  for (const auto& [user, items] : by_user) {
    const DenseId u = *s.train.users().Find(user);
    const size_t n = items.size();
    const size_t n_train = static_cast<size_t>(std::ceil(0.75 * static_cast<double>(n)));
    EXPECT_EQ(s.train.UserItems(u).size(), n_train) << user;
    if (n_train == n) continue;
    ASSERT_LT(t, s.test_users.size());
    ASSERT_EQ(s.test_users[t], u);
    EXPECT_EQ(s.test_items[t].size(), n - n_train);
    for (DenseId item : s.test_items[t]) {
      EXPECT_TRUE(items.count(s.train.items().Name(item)));
      std::span<const DenseId> trained = s.train.UserItems(u);
      EXPECT_FALSE(std::binary_search(trained.begin(), trained.end(), item));
    }
    test_pairs += n - n_train;
    ++t;
  }
  EXPECT_EQ(t, s.test_users.size());
  EXPECT_EQ(s.test_pairs, test_pairs);
}

TEST(SplitHoldoutTest, DeterministicForTheSeedWhateverTheLineOrder) {
  std::vector<Event> events = RandomEvents(4);
  const HoldoutData a = SplitHoldout(events, 0.75, 9);
  std::reverse(events.begin(), events.end());
  const HoldoutData b = SplitHoldout(events, 0.75, 9);
  EXPECT_EQ(a.split.test_users, b.split.test_users);
  EXPECT_EQ(a.split.test_items, b.split.test_items);
  const HoldoutData c = SplitHoldout(events, 0.75, 10);
  EXPECT_NE(a.split.test_items, c.split.test_items);
}

TEST(ScoreHoldoutTest, CoverageAndPopularityRankByHand) {
  // Items 1, 2, 3, 4; training counts: 1 → 2 users, 2 → 2, 3 → 1, 4 → 0.
  // Popularity ranks (ties by id): 1 → 1, 2 → 2, 3 → 3, 4 → 4.
  const HoldoutData data =
      MakeHoldout({Ev("a", "1"), Ev("b", "1"), Ev("a", "2"), Ev("c", "2"), Ev("c", "3")},
                  {Ev("a", "4"), Ev("b", "3"), Ev("b", "4")});
  const train::EvalSplit& s = data.split;
  ASSERT_THAT(s.test_users, ElementsAre(0, 1));  // a, b
  // a gets [4, 3] (hit at 1), b gets [2, 3] (hit at 2 of T = {3, 4}).
  const std::vector<std::vector<DenseId>> recs = {{3, 2}, {1, 2}};
  const int ks[] = {1, 2};
  const auto m = ScoreHoldout(s, recs, ks);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].users, 2u);
  // K = 1: a hits (P 1, R 1, NDCG 1, AP 1), b misses. Shown {4, 2} of 4 items.
  EXPECT_DOUBLE_EQ(m[0].precision, 0.5);
  EXPECT_DOUBLE_EQ(m[0].recall, 0.5);
  EXPECT_DOUBLE_EQ(m[0].ndcg, 0.5);
  EXPECT_DOUBLE_EQ(m[0].hit_rate, 0.5);
  EXPECT_DOUBLE_EQ(m[0].coverage, 0.5);
  EXPECT_DOUBLE_EQ(m[0].mean_popularity_rank, (4 + 2) / 2.0);
  // K = 2: a: P 1/2, R 1, NDCG 1, AP 1 (both /|T| = 1 and /min(1, 2)).
  //        b: P 1/2, R 1/2, DCG 1/log2(3), IDCG 1 + 1/log2(3), AP (1/2)/2 and (1/2)/min(2, 2).
  EXPECT_DOUBLE_EQ(m[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(m[1].recall, 0.75);
  EXPECT_NEAR(m[1].ndcg, (1 + 0.6309298 / 1.6309298) / 2, 1e-7);
  EXPECT_DOUBLE_EQ(m[1].hit_rate, 1.0);
  EXPECT_DOUBLE_EQ(m[1].map, (1 + 0.25) / 2);
  EXPECT_DOUBLE_EQ(m[1].map_min, (1 + 0.25) / 2);
  EXPECT_DOUBLE_EQ(m[1].coverage, 0.75);  // {4, 3, 2} of 4 items
  EXPECT_DOUBLE_EQ(m[1].mean_popularity_rank, (4 + 3 + 2 + 3) / 4.0);
}

}  // namespace
}  // namespace pulse::evaluation
