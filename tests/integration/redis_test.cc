// The Redis feature store against a real `redis-server` (Debian package) on a free loopback port:
// two stores as two API replicas share histories; concurrent writers stay exact; Redis killed
// (SIGKILL) → calls answer Unavailable within the timeouts, no hang, no crash; Redis restarted on
// the same port → the store recovers by itself.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/redis_feature_store.h"
#include "store/redis_server_for_test.h"
#include "testing/test_util.h"

namespace pulse::store {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

Event Ev(std::string user, std::string item, int64_t ts, std::string id = "") {
  Event e;
  e.event_id = std::move(id);
  e.user_id = std::move(user);
  e.item_id = std::move(item);
  e.type = EventType::kClick;
  e.ts_ms = ts;
  return e;
}

class RedisIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServerForTest::Available()) GTEST_SKIP() << "redis-server not installed";
    port_ = pulse::testing::FreePort();
    ASSERT_TRUE(server_.Start(port_, dir_.path())) << "redis-server did not start";
    config_.address = server_.address();
    config_.key_prefix = "it:";
    config_.connect_timeout_ms = 200;
    config_.command_timeout_ms = 200;
    config_.pool_size = 4;
    store_config_.history_per_user = 100;
  }
  std::unique_ptr<RedisFeatureStore> NewStore() {
    auto store = RedisFeatureStore::Create(config_, store_config_);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(store).value() : nullptr;
  }

  pulse::testing::TempDir dir_;
  RedisServerForTest server_;
  int port_ = 0;
  RedisConfig config_;
  StoreConfig store_config_;
};

TEST_F(RedisIntegrationTest, TwoReplicasSeeEachOthersWrites) {
  auto a = NewStore();
  auto b = NewStore();
  ASSERT_THAT(a->ApplyEvents(std::vector<Event>{Ev("u1", "x", 10, "a1")}), IsOk());
  ASSERT_THAT(b->ApplyEvents(std::vector<Event>{Ev("u1", "y", 20, "b1"), Ev("u1", "x", 10, "a1")}),
              IsOk());
  for (RedisFeatureStore* s : {a.get(), b.get()}) {
    auto h = s->GetUserHistory("u1");
    ASSERT_THAT(h, IsOk());
    EXPECT_EQ(h->events_total, 2u);  // the replayed "a1" counted once
    ASSERT_EQ(h->recent.size(), 2u);
    EXPECT_EQ(h->recent[0].item_id, "y");
    EXPECT_EQ(h->recent[1].item_id, "x");
  }
}

TEST_F(RedisIntegrationTest, ConcurrentWritersForOneUserStayExact) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  constexpr int kPerBatch = 20;
  std::vector<std::unique_ptr<RedisFeatureStore>> stores;
  for (int t = 0; t < kThreads; ++t) stores.push_back(NewStore());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Event> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          const int n = (b * kPerBatch + i) * kThreads + t;  // distinct across threads
          batch.push_back(Ev("hot", StrCat("item", n), n, StrCat("ev", n)));
        }
        // Every batch is sent twice (a retry): ids keep it exact.
        if (!stores[t]->ApplyEvents(batch).ok()) failures.fetch_add(1);
        if (!stores[t]->ApplyEvents(batch).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto h = stores[0]->GetUserHistory("hot");
  ASSERT_THAT(h, IsOk());
  const int total = kThreads * kBatches * kPerBatch;
  EXPECT_EQ(h->events_total, static_cast<uint64_t>(total));
  ASSERT_EQ(h->recent.size(), 100u);
  for (size_t i = 0; i < h->recent.size(); ++i) {  // the newest 100 of all threads, in order
    EXPECT_EQ(h->recent[i].ts_ms, total - 1 - static_cast<int64_t>(i));
    EXPECT_EQ(h->recent[i].item_id, StrCat("item", total - 1 - static_cast<int64_t>(i)));
  }
}

TEST_F(RedisIntegrationTest, KilledRedisIsUnavailableThenRecoversByItself) {
  auto store = NewStore();
  ASSERT_THAT(store->ApplyEvents(std::vector<Event>{Ev("u", "before", 1, "e1")}), IsOk());
  server_.Kill();

  // Every call fails fast with Unavailable; generous bound (10x the timeouts) only guards a hang.
  for (int i = 0; i < 20; ++i) {
    Stopwatch watch;
    EXPECT_THAT(store->GetUserHistory("u"), StatusIs(StatusCode::kUnavailable));
    Status apply = store->ApplyEvents(std::vector<Event>{Ev("u", "during", 2, "e2")});
    EXPECT_THAT(apply, StatusIs(StatusCode::kUnavailable));
    EXPECT_EQ(apply.message().find("during"), std::string::npos) << "no ids in errors";
    EXPECT_LT(watch.ElapsedMicros(),
              10 * (config_.connect_timeout_ms + config_.command_timeout_ms) * 1000);
  }
  EXPECT_THAT(store->Ping(), StatusIs(StatusCode::kUnavailable));

  // Same port, empty data (no persistence): the store reconnects on its own.
  ASSERT_TRUE(server_.Start(port_, dir_.path()));
  Status status = UnavailableError("not tried");
  for (int attempt = 0; attempt < 100 && !status.ok(); ++attempt) {
    status = store->ApplyEvents(std::vector<Event>{Ev("u", "after", 3, "e3")});
  }
  ASSERT_THAT(status, IsOk());
  EXPECT_THAT(store->Ping(), IsOk());
  auto h = store->GetUserHistory("u");
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->events_total, 1u);
  ASSERT_EQ(h->recent.size(), 1u);
  EXPECT_EQ(h->recent[0].item_id, "after");
}

}  // namespace
}  // namespace pulse::store
