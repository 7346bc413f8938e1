#include "train/interactions.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pulse::train {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;

Event Ev(const std::string& user, const std::string& item, EventType type, int64_t ts,
         int64_t dwell_ms = 0) {
  Event e;
  e.user_id = user;
  e.item_id = item;
  e.type = type;
  e.ts_ms = ts;
  e.dwell_ms = dwell_ms;
  return e;
}

TEST(InteractionWeightTest, WeightsByType) {
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kView, 0), 1.0f);
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kClick, 0), 2.0f);
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kPurchase, 0), 4.0f);
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kImpression, 0), 0.0f);
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kDwell, 0), 1.0f);
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kDwell, 15000), 1.5f);
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kDwell, 90000), 4.0f);
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kDwell, 10'000'000), 4.0f);  // capped
  EXPECT_FLOAT_EQ(InteractionWeight(EventType::kDwell, -5000), 1.0f);
}

TEST(InteractionWeightTest, RatingsAreOnePositiveEach) {
  Event e = Ev("u", "i", EventType::kView, 1);
  e.rating = 5;
  EXPECT_FLOAT_EQ(EventWeight(e), 1.0f);
  e.rating = 0.5f;
  EXPECT_FLOAT_EQ(EventWeight(e), 1.0f);
  e.type = EventType::kPurchase;
  EXPECT_FLOAT_EQ(EventWeight(e), 1.0f);
}

TEST(InteractionsTest, AggregatesPairsAndBuildsBothDirections) {
  std::vector<Event> events = {
      Ev("alice", "i1", EventType::kView, 100),
      Ev("bob", "i2", EventType::kPurchase, 50),
      Ev("alice", "i2", EventType::kImpression, 400),  // skipped entirely
      Ev("alice", "i1", EventType::kClick, 300),
      Ev("alice", "i3", EventType::kDwell, 200, 30000),
      Ev("carol", "i4", EventType::kImpression, 10),  // creates neither user nor item
      Ev("alice", "i1", EventType::kView, 250),
  };
  Interactions m = Interactions::FromEvents(events);
  ASSERT_EQ(m.num_users(), 2u);
  ASSERT_EQ(m.num_items(), 3u);
  EXPECT_EQ(m.users().Name(0), "alice");
  EXPECT_EQ(m.users().Name(1), "bob");
  EXPECT_EQ(m.items().Name(0), "i1");
  EXPECT_EQ(m.items().Name(1), "i2");
  EXPECT_EQ(m.items().Name(2), "i3");
  EXPECT_EQ(m.nnz(), 3u);

  EXPECT_THAT(m.UserItems(0), ElementsAre(0u, 2u));
  EXPECT_THAT(m.UserWeights(0), ElementsAre(FloatEq(4.0f), FloatEq(2.0f)));
  EXPECT_THAT(m.UserTimes(0), ElementsAre(300, 200));
  EXPECT_THAT(m.UserItems(1), ElementsAre(1u));
  EXPECT_THAT(m.UserWeights(1), ElementsAre(FloatEq(4.0f)));

  EXPECT_THAT(m.ItemUsers(0), ElementsAre(0u));
  EXPECT_THAT(m.ItemWeights(0), ElementsAre(FloatEq(4.0f)));
  EXPECT_THAT(m.ItemUsers(1), ElementsAre(1u));
  EXPECT_THAT(m.ItemUsers(2), ElementsAre(0u));
  EXPECT_EQ(m.min_ts_ms(), 50);
  EXPECT_EQ(m.max_ts_ms(), 300);
}

TEST(InteractionsTest, ItemRowsAreSortedByUser) {
  std::vector<Event> events;
  for (int u = 9; u >= 0; --u) {
    events.push_back(Ev(StrCat("u", u), "x", EventType::kView, u));
    events.push_back(Ev(StrCat("u", u), StrCat("y", u % 3), EventType::kView, u));
  }
  Interactions m = Interactions::FromEvents(events);
  for (DenseId i = 0; i < m.num_items(); ++i) {
    auto users = m.ItemUsers(i);
    EXPECT_TRUE(std::is_sorted(users.begin(), users.end()));
  }
  EXPECT_EQ(m.ItemUsers(0).size(), 10u);
  EXPECT_EQ(m.nnz(), 20u);
}

TEST(InteractionsTest, BuilderReportsSkippedEvents) {
  InteractionsBuilder builder;
  EXPECT_TRUE(builder.Add(Ev("u", "i", EventType::kView, 1)).has_value());
  EXPECT_FALSE(builder.Add(Ev("u", "i", EventType::kImpression, 1)).has_value());
  EXPECT_FALSE(builder.Add(Ev("", "i", EventType::kView, 1)).has_value());
  EXPECT_FALSE(builder.Add(Ev("u", "", EventType::kView, 1)).has_value());
  EXPECT_FALSE(builder.Add(Ev("u\nx", "i", EventType::kView, 1)).has_value());
  EXPECT_FALSE(builder.Add(Ev("u", std::string(kMaxIdBytes + 1, 'i'), EventType::kView, 1)));
  auto added = builder.Add(Ev("v", "j", EventType::kClick, 1));
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->user, 1u);
  EXPECT_EQ(added->item, 1u);
  EXPECT_FLOAT_EQ(added->weight, 2.0f);
  EXPECT_EQ(builder.events_added(), 2u);
  EXPECT_EQ(builder.events_skipped(), 5u);
  Interactions m = builder.Build();
  EXPECT_EQ(m.nnz(), 2u);
}

TEST(InteractionsTest, FilterKeepsDictionaries) {
  Interactions m = Interactions::FromEvents({Ev("a", "i1", EventType::kView, 1),
                                             Ev("a", "i2", EventType::kView, 2),
                                             Ev("b", "i2", EventType::kView, 3)});
  Interactions f = m.Filter([](const Interaction& e) { return e.ts_ms >= 2; });
  EXPECT_EQ(f.num_users(), 2u);
  EXPECT_EQ(f.num_items(), 2u);
  EXPECT_EQ(f.nnz(), 2u);
  EXPECT_TRUE(f.ItemUsers(0).empty());
  EXPECT_THAT(f.ItemUsers(1), ElementsAre(0u, 1u));
  EXPECT_EQ(f.min_ts_ms(), 2);
}

TEST(InteractionsTest, EmptyInput) {
  Interactions m = Interactions::FromEvents({});
  EXPECT_EQ(m.num_users(), 0u);
  EXPECT_EQ(m.num_items(), 0u);
  EXPECT_EQ(m.nnz(), 0u);
  EXPECT_EQ(m.min_ts_ms(), 0);
  Interactions only_impressions =
      Interactions::FromEvents({Ev("a", "i1", EventType::kImpression, 1)});
  EXPECT_EQ(only_impressions.num_users(), 0u);
}

}  // namespace
}  // namespace pulse::train
