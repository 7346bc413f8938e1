// Redis-specific behaviour of RedisFeatureStore (the shared history semantics are in
// feature_store_test.cc): equivalence with DataDir on random input, configuration errors,
// unreachable Redis, key prefixes, and a flushed script cache.
#include "store/redis_feature_store.h"

#include <hiredis/hiredis.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/data_dir.h"
#include "store/redis_server_for_test.h"
#include "testing/test_util.h"

namespace pulse::store {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

class RedisFeatureStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!RedisServerForTest::Available()) return;
    dir_ = new pulse::testing::TempDir();
    server_ = new RedisServerForTest();
    if (!server_->Start(pulse::testing::FreePort(), dir_->path())) {
      delete server_;
      server_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "redis-server not available";
    redis_.address = server_->address();
    redis_.key_prefix =
        StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name(), ":");
  }
  std::unique_ptr<RedisFeatureStore> NewStore(const StoreConfig& config) {
    auto store = RedisFeatureStore::Create(redis_, config, clock_);
    PULSE_CHECK(store.ok());
    return std::move(store).value();
  }

  static pulse::testing::TempDir* dir_;
  static RedisServerForTest* server_;
  RedisConfig redis_;
  pulse::testing::FakeClock clock_;
};
pulse::testing::TempDir* RedisFeatureStoreTest::dir_ = nullptr;
RedisServerForTest* RedisFeatureStoreTest::server_ = nullptr;

void ExpectSameHistory(const UserHistory& want, const UserHistory& got, const std::string& user) {
  EXPECT_EQ(got.events_total, want.events_total) << user;
  EXPECT_EQ(got.updated_at_ms, want.updated_at_ms) << user;
  ASSERT_EQ(got.recent.size(), want.recent.size()) << user;
  for (size_t i = 0; i < want.recent.size(); ++i) {
    EXPECT_EQ(got.recent[i].item_id, want.recent[i].item_id) << user << " #" << i;
    EXPECT_EQ(got.recent[i].type, want.recent[i].type) << user << " #" << i;
    EXPECT_EQ(got.recent[i].ts_ms, want.recent[i].ts_ms) << user << " #" << i;
  }
}

// Random batches (repeated items, equal times, impressions, retried ids) give the same histories
// as the reference implementation, DataDir::AppendEvents.
TEST_F(RedisFeatureStoreTest, MatchesDataDirOnRandomBatches) {
  StoreConfig config;
  config.history_per_user = 7;
  pulse::testing::TempDir temp;
  auto dir = DataDir::Open(temp.Sub("data"), config, clock_);
  ASSERT_THAT(dir, IsOk());
  auto store = NewStore(config);
  std::mt19937 rng(20261124);
  std::vector<Event> previous;
  for (int b = 0; b < 40; ++b) {
    std::vector<Event> batch;
    const int n = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      Event e;
      e.user_id = StrCat("u", rng() % 5);
      e.item_id = StrCat("i", rng() % 12);
      e.type = static_cast<EventType>(rng() % kNumEventTypes);
      e.ts_ms = 1000 + static_cast<int64_t>(rng() % 50);
      // Ids are unique per user here: DataDir dedups ids globally, Redis per user (same outcome
      // for real, globally unique ids).
      if (rng() % 3 != 0) e.event_id = StrCat(e.user_id, "/e", rng() % 80);
      batch.push_back(e);
    }
    if (!previous.empty() && rng() % 4 == 0) batch.push_back(previous[rng() % previous.size()]);
    ASSERT_THAT(dir.value()->AppendEvents(batch, /*sync=*/false), IsOk());
    ASSERT_THAT(store->ApplyEvents(batch), IsOk());
    clock_.AdvanceMillis(1);
    previous = batch;
  }
  for (int u = 0; u < 5; ++u) {
    const std::string user = StrCat("u", u);
    auto want = dir.value()->GetUserHistory(user);
    auto got = store->GetUserHistory(user);
    ASSERT_THAT(want, IsOk());
    ASSERT_THAT(got, IsOk());
    ExpectSameHistory(*want, *got, user);
  }
}

TEST_F(RedisFeatureStoreTest, KeyPrefixesIsolateDeployments) {
  auto a = NewStore(StoreConfig{});
  redis_.key_prefix = "other:";
  auto b = NewStore(StoreConfig{});
  Event e;
  e.user_id = "u";
  e.item_id = "x";
  ASSERT_THAT(a->ApplyEvents(std::vector<Event>{e}), IsOk());
  EXPECT_EQ(a->GetUserHistory("u")->events_total, 1u);
  EXPECT_EQ(b->GetUserHistory("u")->events_total, 0u);
}

TEST_F(RedisFeatureStoreTest, RecoversFromFlushedScriptCache) {
  auto store = NewStore(StoreConfig{});
  Event e;
  e.user_id = "u";
  e.item_id = "x";
  ASSERT_THAT(store->ApplyEvents(std::vector<Event>{e}), IsOk());
  redisContext* ctx = redisConnect("127.0.0.1", server_->port());
  ASSERT_TRUE(ctx != nullptr && ctx->err == 0);
  freeReplyObject(redisCommand(ctx, "SCRIPT FLUSH"));
  redisFree(ctx);
  ASSERT_THAT(store->ApplyEvents(std::vector<Event>{e}), IsOk());
  auto h = store->GetUserHistory("u");
  ASSERT_THAT(h, IsOk());
  EXPECT_EQ(h->events_total, 2u);
}

TEST_F(RedisFeatureStoreTest, EmptyBatchIsOk) {
  auto store = NewStore(StoreConfig{});
  EXPECT_THAT(store->ApplyEvents({}), IsOk());
}

TEST(RedisFeatureStoreConfigTest, RejectsUnusableConfig) {
  RedisConfig redis;
  redis.address = "no-port";
  EXPECT_THAT(RedisFeatureStore::Create(redis, StoreConfig{}),
              StatusIs(StatusCode::kInvalidArgument));
  redis.address = "127.0.0.1:99999";
  EXPECT_THAT(RedisFeatureStore::Create(redis, StoreConfig{}),
              StatusIs(StatusCode::kInvalidArgument));
  redis.address = "127.0.0.1:6379";
  redis.pool_size = 0;
  EXPECT_THAT(RedisFeatureStore::Create(redis, StoreConfig{}),
              StatusIs(StatusCode::kInvalidArgument));
}

// Nothing listens on the port: every call answers Unavailable (naming the address, not the
// user), and creating the store does not need Redis.
TEST(RedisFeatureStoreConfigTest, UnreachableRedisIsUnavailable) {
  RedisConfig redis;
  redis.address = StrCat("127.0.0.1:", pulse::testing::FreePort());
  redis.connect_timeout_ms = 100;
  auto store = RedisFeatureStore::Create(redis, StoreConfig{});
  ASSERT_THAT(store, IsOk());
  auto h = store.value()->GetUserHistory("secret-user");
  EXPECT_THAT(h, StatusIs(StatusCode::kUnavailable, redis.address));
  EXPECT_EQ(h.status().message().find("secret-user"), std::string::npos);
  Event e;
  e.user_id = "secret-user";
  e.item_id = "x";
  EXPECT_THAT(store.value()->ApplyEvents(std::vector<Event>{e}),
              StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(store.value()->Ping(), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(store.value()->name(), "redis");
}

}  // namespace
}  // namespace pulse::store
