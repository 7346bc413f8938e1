// FeatureStoreApplier against a real redis-server: follows the log, resumes from its durable
// cursor, re-applies nothing twice after a crash between apply and cursor save, refills a Redis
// that restarted empty, and tracks unapplied users for read-your-writes.
#include "store/feature_store_applier.h"

#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "store/redis_feature_store.h"
#include "store/redis_server_for_test.h"
#include "testing/test_util.h"

namespace pulse::store {
namespace {

using ::pulse::testing::IsOk;

class FeatureStoreApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServerForTest::Available()) GTEST_SKIP() << "redis-server not available";
    port_ = pulse::testing::FreePort();
    ASSERT_TRUE(redis_.Start(port_, dir_.path()));
    config_.address = redis_.address();
    config_.command_timeout_ms = 500;
    data_dir_ = DataDir::Open(dir_.Sub("data"), store_config_).value();
    store_ = RedisFeatureStore::Create(config_, store_config_).value();
  }

  // Appends `n` events over 5 users; every third has no event id (the applier must make one).
  std::vector<Event> Append(int n) {
    std::vector<Event> events;
    for (int i = 0; i < n; ++i, ++next_) {
      Event e;
      e.event_id = next_ % 3 == 0 ? "" : StrCat("e", next_);
      e.user_id = StrCat("u", next_ % 5);
      e.item_id = StrCat("item", next_ % 17);
      e.type = next_ % 4 == 0 ? EventType::kImpression : EventType::kClick;
      e.ts_ms = 1'700'000'000'000 + next_;
      events.push_back(e);
    }
    auto appended = data_dir_->AppendEvents(events, true);
    EXPECT_THAT(appended.status(), IsOk());
    return events;
  }

  std::unique_ptr<FeatureStoreApplier> NewApplier() {
    return std::make_unique<FeatureStoreApplier>(data_dir_.get(), store_.get(),
                                                 FeatureStoreApplier::Options{7, 50});
  }

  // Redis holds exactly what the data dir's embedded copy holds, user by user.
  void ExpectRedisEqualsDataDir() {
    int users = 0;
    ASSERT_THAT(data_dir_->ForEachUser([&](std::string_view user, const UserHistory& expected) {
      ++users;
      auto got = store_->GetUserHistory(user);
      EXPECT_THAT(got.status(), IsOk());
      if (!got.ok()) return OkStatus();
      EXPECT_EQ(got->events_total, expected.events_total) << user;
      EXPECT_EQ(got->recent.size(), expected.recent.size()) << user;
      for (size_t i = 0; i < std::min(got->recent.size(), expected.recent.size()); ++i) {
        EXPECT_EQ(got->recent[i].item_id, expected.recent[i].item_id) << user << " #" << i;
      }
      return OkStatus();
    }),
                IsOk());
    EXPECT_EQ(users, 5);
  }

  pulse::testing::TempDir dir_;
  RedisServerForTest redis_;
  int port_ = 0;
  RedisConfig config_;
  StoreConfig store_config_;
  std::unique_ptr<DataDir> data_dir_;
  std::unique_ptr<RedisFeatureStore> store_;
  int next_ = 0;
};

TEST_F(FeatureStoreApplierTest, FollowsTheLogAndResumesFromItsCursor) {
  Append(40);  // before the start: applied as start-up catch-up
  auto applier = NewApplier();
  ASSERT_THAT(applier->Start(), IsOk());
  std::vector<Event> live = Append(30);
  applier->Notify(live, data_dir_->EventCount());
  ASSERT_TRUE(applier->WaitAppliedForTest(70, 10'000));
  EXPECT_FALSE(applier->refilling());
  EXPECT_EQ(applier->lag_events(), 0u);
  EXPECT_FALSE(applier->HasUnapplied("u1"));
  ExpectRedisEqualsDataDir();
  applier->Stop();

  Append(12);  // while stopped: a restart resumes from the cursor, re-applying nothing
  auto restarted = NewApplier();
  ASSERT_THAT(restarted->Start(), IsOk());
  ASSERT_TRUE(restarted->WaitAppliedForTest(82, 10'000));
  EXPECT_EQ(restarted->stats().events_applied, 12u);
  EXPECT_EQ(restarted->stats().refills, 0u);
  ExpectRedisEqualsDataDir();
}

TEST_F(FeatureStoreApplierTest, CrashBetweenApplyAndCursorSaveDoesNotDoubleCount) {
  auto applier = NewApplier();
  applier->SkipNextCursorSaveForTest();  // the first batch is applied, its cursor never saved
  ASSERT_THAT(applier->Start(), IsOk());
  std::vector<Event> live = Append(6);  // one batch (< 7), two events without an id
  applier->Notify(live, data_dir_->EventCount());
  ASSERT_TRUE(applier->WaitAppliedForTest(6, 10'000));
  EXPECT_EQ(applier->stats().events_applied, 12u) << "the batch went to Redis twice";
  int64_t total = 0;
  for (int u = 0; u < 5; ++u) total += store_->GetUserHistory(StrCat("u", u))->events_total;
  EXPECT_EQ(total, 6) << "and counted once";
  applier->Stop();

  // The same from a persisted cursor behind Redis (kill -9 after the apply): restart re-applies.
  ASSERT_THAT(data_dir_->PutBlob(FeatureStoreApplier::kCursorBlob, "0"), IsOk());
  auto restarted = NewApplier();
  ASSERT_THAT(restarted->Start(), IsOk());
  ASSERT_TRUE(restarted->WaitAppliedForTest(6, 10'000));
  EXPECT_EQ(restarted->stats().events_applied, 6u);
  ExpectRedisEqualsDataDir();
}

TEST_F(FeatureStoreApplierTest, RefillsARedisThatRestartedEmpty) {
  auto applier = NewApplier();
  ASSERT_THAT(applier->Start(), IsOk());
  std::vector<Event> first = Append(25);
  applier->Notify(first, data_dir_->EventCount());
  ASSERT_TRUE(applier->WaitAppliedForTest(25, 10'000));
  ExpectRedisEqualsDataDir();

  redis_.Kill();
  std::vector<Event> during = Append(10);  // committed while Redis is down
  applier->Notify(during, data_dir_->EventCount());
  EXPECT_TRUE(applier->HasUnapplied("u0"));
  EXPECT_GT(applier->lag_events(), 0u);
  EXPECT_EQ(applier->live_lag_events(), 10u);
  ASSERT_TRUE(redis_.Start(port_, dir_.path()));  // empty
  ASSERT_TRUE(applier->WaitAppliedForTest(35, 10'000));
  EXPECT_EQ(applier->stats().refills, 1u);
  EXPECT_FALSE(applier->refilling());
  ExpectRedisEqualsDataDir();

  // Idle: no new event, Redis restarts empty again; the periodic marker check notices.
  redis_.Kill();
  ASSERT_TRUE(redis_.Start(port_, dir_.path()));
  for (int i = 0; i < 1000 && applier->stats().refills < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(applier->stats().refills, 2u);
  ASSERT_TRUE(applier->WaitAppliedForTest(35, 10'000));
  for (int i = 0; i < 1000 && applier->refilling(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(applier->refilling());
  ExpectRedisEqualsDataDir();
}

TEST_F(FeatureStoreApplierTest, TracksUnappliedUsersWhileRedisIsDown) {
  redis_.Kill();
  auto applier = NewApplier();
  ASSERT_THAT(applier->Start(), IsOk());
  std::vector<Event> live = Append(3);  // users u0, u1, u2
  applier->Notify(live, data_dir_->EventCount());
  EXPECT_TRUE(applier->HasUnapplied("u0"));
  EXPECT_TRUE(applier->HasUnapplied("u2"));
  EXPECT_FALSE(applier->HasUnapplied("u3"));
  EXPECT_EQ(applier->lag_events(), 3u);
  EXPECT_GE(applier->lag_seconds(), 0.0);
  applier->Stop();  // does not hang on a dead Redis
}

}  // namespace
}  // namespace pulse::store
