// History semantics shared by every FeatureStore backend, run against each (typed test suite).
// The embedded store is written through DataDir::AppendEvents (its ApplyEvents is a no-op by
// design); the Redis store through ApplyEvents against a throwaway redis-server.
#include "store/feature_store.h"

#include <memory>
#include <string>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "store/data_dir.h"
#include "store/embedded_feature_store.h"
#include "store/redis_feature_store.h"
#include "store/redis_server_for_test.h"
#include "testing/test_util.h"

namespace pulse::store {
namespace {

using ::pulse::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

constexpr int kHistoryCap = 4;

Event Ev(std::string user, std::string item, EventType type, int64_t ts, std::string id = "") {
  Event e;
  e.event_id = std::move(id);
  e.user_id = std::move(user);
  e.item_id = std::move(item);
  e.type = type;
  e.ts_ms = ts;
  return e;
}

std::vector<std::string> Items(const UserHistory& h) {
  std::vector<std::string> items;
  for (const HistoryEntry& e : h.recent) items.push_back(e.item_id);
  return items;
}

class EmbeddedBackend {
 public:
  static constexpr bool kNeedsRedis = false;
  EmbeddedBackend() {
    StoreConfig config;
    config.history_per_user = kHistoryCap;
    auto dir = DataDir::Open(temp_.Sub("data"), config, clock_);
    PULSE_CHECK(dir.ok());
    dir_ = std::move(dir).value();
    store_ = std::make_unique<EmbeddedFeatureStore>(dir_.get());
  }
  Status Write(const std::vector<Event>& events) {
    auto result = dir_->AppendEvents(events, /*sync=*/false);
    if (!result.ok()) return result.status();
    return store_->ApplyEvents(events);  // a no-op, but the contract says callers may call it
  }
  FeatureStore& store() { return *store_; }
  pulse::testing::FakeClock& clock() { return clock_; }

 private:
  pulse::testing::TempDir temp_;
  pulse::testing::FakeClock clock_;
  std::unique_ptr<DataDir> dir_;
  std::unique_ptr<EmbeddedFeatureStore> store_;
};

// One redis-server for the whole binary; each test gets its own key prefix.
class RedisBackend {
 public:
  static constexpr bool kNeedsRedis = true;
  // The server and its --dir both go at exit: the server is killed before its directory is
  // removed (members are destroyed in reverse order). A leaked, never-deleted TempDir here left
  // one empty pulse-test-* directory per test process (ctest runs each test alone).
  static RedisServerForTest* Server() {
    struct Shared {
      Shared()
          : started(RedisServerForTest::Available() &&
                    server.Start(pulse::testing::FreePort(), dir.path())) {}
      pulse::testing::TempDir dir;
      RedisServerForTest server;
      bool started;
    };
    static Shared shared;
    return shared.started ? &shared.server : nullptr;
  }
  RedisBackend() {
    static int next = 0;
    RedisConfig redis;
    redis.address = Server()->address();
    redis.key_prefix = StrCat("t", next++, ":");
    StoreConfig config;
    config.history_per_user = kHistoryCap;
    auto store = RedisFeatureStore::Create(redis, config, clock_);
    PULSE_CHECK(store.ok());
    store_ = std::move(store).value();
  }
  Status Write(const std::vector<Event>& events) { return store_->ApplyEvents(events); }
  FeatureStore& store() { return *store_; }
  pulse::testing::FakeClock& clock() { return clock_; }

 private:
  pulse::testing::FakeClock clock_;
  std::unique_ptr<RedisFeatureStore> store_;
};

template <typename B>
class FeatureStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (B::kNeedsRedis) {
      if (RedisBackend::Server() == nullptr) GTEST_SKIP() << "redis-server not available";
    }
    backend_ = std::make_unique<B>();
  }
  Status Write(const std::vector<Event>& events) { return backend_->Write(events); }
  UserHistory Get(const std::string& user) {
    auto h = backend_->store().GetUserHistory(user);
    EXPECT_THAT(h, IsOk());
    return h.ok() ? std::move(h).value() : UserHistory{};
  }
  std::unique_ptr<B> backend_;
};

using Backends = ::testing::Types<EmbeddedBackend, RedisBackend>;
TYPED_TEST_SUITE(FeatureStoreTest, Backends);

TYPED_TEST(FeatureStoreTest, UnknownUserIsEmpty) {
  UserHistory h = this->Get("nobody");
  EXPECT_EQ(h.events_total, 0u);
  EXPECT_THAT(h.recent, IsEmpty());
}

TYPED_TEST(FeatureStoreTest, MostRecentFirstByEventTime) {
  ASSERT_THAT(
      this->Write({Ev("u", "a", EventType::kClick, 300), Ev("u", "b", EventType::kView, 100),
                   Ev("u", "c", EventType::kPurchase, 200)}),
      IsOk());
  ASSERT_THAT(this->Write({Ev("u", "d", EventType::kView, 150)}), IsOk());  // late arrival
  UserHistory h = this->Get("u");
  EXPECT_EQ(h.events_total, 4u);
  EXPECT_THAT(Items(h), ElementsAre("a", "c", "d", "b"));
  EXPECT_EQ(h.recent[0].type, EventType::kClick);
  EXPECT_EQ(h.recent[0].ts_ms, 300);
  EXPECT_EQ(h.recent[1].type, EventType::kPurchase);
  EXPECT_EQ(h.updated_at_ms, this->backend_->clock().NowMillis());
}

TYPED_TEST(FeatureStoreTest, OneEntryPerItemKeepsLatestEngagement) {
  ASSERT_THAT(this->Write({Ev("u", "a", EventType::kView, 100), Ev("u", "b", EventType::kView, 200),
                           Ev("u", "a", EventType::kClick, 300)}),
              IsOk());
  // An older engagement of a remembered item does not displace its newer one.
  ASSERT_THAT(this->Write({Ev("u", "b", EventType::kPurchase, 50)}), IsOk());
  UserHistory h = this->Get("u");
  EXPECT_EQ(h.events_total, 4u);
  ASSERT_THAT(Items(h), ElementsAre("a", "b"));
  EXPECT_EQ(h.recent[0].type, EventType::kClick);
  EXPECT_EQ(h.recent[1].type, EventType::kView);
  EXPECT_EQ(h.recent[1].ts_ms, 200);
}

TYPED_TEST(FeatureStoreTest, CappedAtHistoryPerUser) {
  std::vector<Event> events;
  for (int i = 0; i < 10; ++i) events.push_back(Ev("u", StrCat("i", i), EventType::kView, i));
  ASSERT_THAT(this->Write(events), IsOk());
  ASSERT_THAT(this->Write({Ev("u", "old", EventType::kView, -5)}), IsOk());  // below the cap
  UserHistory h = this->Get("u");
  EXPECT_EQ(h.events_total, 11u);
  EXPECT_THAT(Items(h), ElementsAre("i9", "i8", "i7", "i6"));
}

TYPED_TEST(FeatureStoreTest, ImpressionsCountButAreNotRemembered) {
  ASSERT_THAT(
      this->Write({Ev("u", "a", EventType::kImpression, 100), Ev("u", "b", EventType::kClick, 50)}),
      IsOk());
  ASSERT_THAT(this->Write({Ev("v", "a", EventType::kImpression, 100)}), IsOk());
  UserHistory u = this->Get("u");
  EXPECT_EQ(u.events_total, 2u);
  EXPECT_THAT(Items(u), ElementsAre("b"));
  UserHistory v = this->Get("v");
  EXPECT_EQ(v.events_total, 1u);
  EXPECT_THAT(v.recent, IsEmpty());
}

TYPED_TEST(FeatureStoreTest, IdempotentByEventId) {
  std::vector<Event> batch = {Ev("u", "a", EventType::kView, 100, "e1"),
                              Ev("u", "b", EventType::kView, 200, "e2"),
                              Ev("u", "b", EventType::kView, 200, "e2"),  // in-batch duplicate
                              Ev("u", "c", EventType::kView, 300)};       // no id: always counts
  ASSERT_THAT(this->Write(batch), IsOk());
  EXPECT_EQ(this->Get("u").events_total, 3u);
  ASSERT_THAT(this->Write(batch), IsOk());  // a retried batch
  UserHistory h = this->Get("u");
  EXPECT_EQ(h.events_total, 4u);
  EXPECT_THAT(Items(h), ElementsAre("c", "b", "a"));
}

TYPED_TEST(FeatureStoreTest, EqualTimesLaterEventFirst) {
  ASSERT_THAT(
      this->Write({Ev("u", "a", EventType::kView, 100), Ev("u", "b", EventType::kView, 100)}),
      IsOk());
  ASSERT_THAT(this->Write({Ev("u", "c", EventType::kView, 100)}), IsOk());
  EXPECT_THAT(Items(this->Get("u")), ElementsAre("c", "b", "a"));
}

TYPED_TEST(FeatureStoreTest, UsersAreSeparateAndIdsAreOpaqueBytes) {
  const std::string odd_user = std::string("we{ird} user\xff", 14) + std::string(1, '\0') + "!";
  const std::string odd_item = std::string("it\0em", 5);
  ASSERT_THAT(this->Write({Ev(odd_user, odd_item, EventType::kDwell, 7),
                           Ev("plain", "x", EventType::kView, 8)}),
              IsOk());
  UserHistory h = this->Get(odd_user);
  EXPECT_EQ(h.events_total, 1u);
  ASSERT_THAT(Items(h), ElementsAre(odd_item));
  EXPECT_EQ(h.recent[0].type, EventType::kDwell);
  EXPECT_THAT(Items(this->Get("plain")), ElementsAre("x"));
  EXPECT_EQ(this->Get("we{ird} user").events_total, 0u);
}

}  // namespace
}  // namespace pulse::store
