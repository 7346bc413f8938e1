// Engine::Recommend through the per-user result cache: hits, TTL, invalidation by the user's own
// events and by catalog writes, request coalescing under a stampede, the fallback rung, and the
// circuit breaker in front of a shared feature store.
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "index/ann_index.h"
#include "serving/engine.h"
#include "serving/guarded_feature_store.h"
#include "serving/test_bundles.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using ::pulse::serving::test_bundles::TwoClusterBundle;

using ::pulse::testing::FakeClock;
using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

class EngineCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.Sub("data");
    config_.index.type = "flat";
    config_.server.model_poll_ms = 0;
    config_.cache.ttl_ms = 1000;
    config_.cache.jitter = 0.2;
    data_dir_ = store::DataDir::Open(config_.data_dir, config_.store, clock_).value();
    rollout::ModelBundle bundle = TwoClusterBundle();
    ASSERT_THAT(rollout::WriteModelBundle(data_dir_->models_dir(), bundle), IsOk());
  }

  std::unique_ptr<Engine> MakeEngine() {
    return Engine::Create(config_, data_dir_.get(), &clock_).value();
  }

  Status Click(Engine& engine, const std::string& user, const std::string& item) {
    Event e;
    e.user_id = user;
    e.item_id = item;
    e.type = EventType::kClick;
    e.ts_ms = clock_.NowMillis();
    std::vector<EventInput> inputs(1);
    inputs[0].event = std::move(e);
    return engine.PublishEvents(std::move(inputs), "test").status();
  }

  static RecommendRequest Request(const std::string& user, int n = 5) {
    RecommendRequest request;
    request.user_id = user;
    request.n = n;
    return request;
  }

  static std::vector<std::string> Ids(const RecommendResponse& response) {
    std::vector<std::string> ids;
    for (const auto& item : response.items) ids.push_back(item.item_id);
    return ids;
  }

  FakeClock clock_{1'767'000'000'000'000};
  testing::TempDir dir_;
  Config config_;
  std::unique_ptr<store::DataDir> data_dir_;
};

TEST_F(EngineCacheTest, RepeatedRequestIsServedFromTheCacheWithItsOwnRequestId) {
  auto engine = MakeEngine();
  auto first = engine->Recommend(Request("alice"));
  auto second = engine->Recommend(Request("alice"));
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(Ids(*first), Ids(*second));
  EXPECT_NE(first->request_id, second->request_id);
  EXPECT_EQ(engine->RecommendComputationsForTest(), 1u);
  EXPECT_EQ(engine->cache_stats().hits, 1u);
  EXPECT_EQ(engine->cache_stats().misses, 1u);
  // Anything else the answer depends on is part of the key.
  ASSERT_THAT(engine->Recommend(Request("alice", 3)), IsOk());
  RecommendRequest excluding = Request("alice");
  excluding.exclude = {"i19"};
  ASSERT_THAT(engine->Recommend(excluding), IsOk());
  RecommendRequest with_context = Request("alice");
  with_context.context = {{"surface", "home"}};
  ASSERT_THAT(engine->Recommend(with_context), IsOk());
  ASSERT_THAT(engine->Recommend(Request("bob")), IsOk());
  EXPECT_EQ(engine->RecommendComputationsForTest(), 5u);
  // Debug answers are never shared.
  RecommendRequest debug = Request("alice");
  debug.debug = true;
  ASSERT_THAT(engine->Recommend(debug), IsOk());
  ASSERT_THAT(engine->Recommend(debug), IsOk());
  EXPECT_EQ(engine->RecommendComputationsForTest(), 7u);
}

TEST_F(EngineCacheTest, EntriesExpireWithinTtlPlusJitter) {
  auto engine = MakeEngine();
  ASSERT_THAT(engine->Recommend(Request("alice")), IsOk());
  clock_.AdvanceMillis(799);  // under ttl × (1 - jitter): still fresh
  ASSERT_THAT(engine->Recommend(Request("alice")), IsOk());
  EXPECT_EQ(engine->RecommendComputationsForTest(), 1u);
  clock_.AdvanceMillis(402);  // over ttl × (1 + jitter): expired
  ASSERT_THAT(engine->Recommend(Request("alice")), IsOk());
  EXPECT_EQ(engine->RecommendComputationsForTest(), 2u);
}

TEST_F(EngineCacheTest, TheUsersOwnEventInvalidatesBeforeThePublishReturns) {
  auto engine = MakeEngine();
  auto before = engine->Recommend(Request("carol", 20));
  ASSERT_THAT(before, IsOk());
  ASSERT_THAT(engine->Recommend(Request("dave")), IsOk());
  const std::string clicked = before->items[0].item_id;
  ASSERT_THAT(Click(*engine, "carol", clicked), IsOk());
  // Freshness beats hit rate: the very next request recomputes and the click shows (seen items
  // are filtered), while another user's entry is untouched.
  auto after = engine->Recommend(Request("carol", 20));
  ASSERT_THAT(after, IsOk());
  for (const auto& item : after->items) EXPECT_NE(item.item_id, clicked);
  EXPECT_EQ(engine->RecommendComputationsForTest(), 3u);
  ASSERT_THAT(engine->Recommend(Request("dave")), IsOk());
  EXPECT_EQ(engine->RecommendComputationsForTest(), 3u);
  EXPECT_GE(engine->cache_stats().invalidations, 1u);
}

TEST_F(EngineCacheTest, CatalogWritesClearTheCache) {
  auto engine = MakeEngine();
  auto before = engine->Recommend(Request("erin"));
  ASSERT_THAT(before, IsOk());
  const std::string top = before->items[0].item_id;
  ASSERT_THAT(engine->DeleteItem(top), IsOk());
  auto after = engine->Recommend(Request("erin"));
  ASSERT_THAT(after, IsOk());
  for (const auto& item : after->items) EXPECT_NE(item.item_id, top);
  Item restored;
  restored.item_id = top;
  ASSERT_THAT(engine->UpsertItems({restored}), IsOk());
  auto again = engine->Recommend(Request("erin"));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->items[0].item_id, top);
  EXPECT_EQ(engine->RecommendComputationsForTest(), 3u);
}

TEST_F(EngineCacheTest, StampedeAtExpiryComputesOnce) {
  auto engine = MakeEngine();
  ASSERT_THAT(engine->Recommend(Request("hot")), IsOk());
  clock_.AdvanceMillis(1201);  // every entry has expired
  const uint64_t before = engine->RecommendComputationsForTest();
  constexpr int kCallers = 500;
  // Each computation waits until every caller is accounted for — computing, or waiting for an
  // identical computation — so all 500 are in flight at once: without coalescing, 500 compute.
  std::atomic<int> computing{0};
  engine->SetComputeHookForTest([&] {
    computing.fetch_add(1);
    while (computing.load() + static_cast<int>(engine->CoalescedForTest()) < kCallers) {
      std::this_thread::yield();
    }
  });
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(kCallers);
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      if (engine->Recommend(Request("hot")).ok()) ok.fetch_add(1);
    });
  }
  while (ready.load() < kCallers) std::this_thread::yield();
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kCallers);
  EXPECT_EQ(engine->RecommendComputationsForTest() - before, 1u);
  EXPECT_EQ(engine->CoalescedForTest(), static_cast<uint64_t>(kCallers - 1));
}

TEST_F(EngineCacheTest, CacheOffComputesEveryTime) {
  config_.cache.ttl_ms = 0;
  auto engine = MakeEngine();
  for (int i = 0; i < 3; ++i) ASSERT_THAT(engine->Recommend(Request("alice")), IsOk());
  EXPECT_EQ(engine->RecommendComputationsForTest(), 3u);
}

TEST_F(EngineCacheTest, FallbackRungNamesWhatServed) {
  auto engine = MakeEngine();
  ASSERT_THAT(Click(*engine, "fan", "i1"), IsOk());
  auto personal = engine->Recommend(Request("fan"));
  ASSERT_THAT(personal, IsOk());
  EXPECT_EQ(personal->fallback, "") << "a user vector: the personalized rung";
  EXPECT_FALSE(personal->degraded);
  auto stranger = engine->Recommend(Request("stranger"));
  ASSERT_THAT(stranger, IsOk());
  EXPECT_TRUE(stranger->fallback == "popular" || stranger->fallback == "heuristic")
      << stranger->fallback;
  EXPECT_FALSE(stranger->degraded) << "an unknown user is the normal path";
}

// A store that fails on demand and counts the calls that reach it.
class FlakyStore final : public store::FeatureStore {
 public:
  Result<store::UserHistory> GetUserHistory(std::string_view) override {
    ++calls;
    if (failing) return UnavailableError("down");
    return store::UserHistory{};
  }
  Status ApplyEvents(std::span<const Event>) override {
    ++calls;
    return failing ? UnavailableError("down") : OkStatus();
  }
  std::string_view name() const override { return "flaky"; }
  Result<bool> HoldsMarker(std::string_view) override {
    ++markers;
    return false;
  }
  Status PutMarker(std::string_view) override {
    ++markers;
    return OkStatus();
  }
  std::atomic<int> calls{0};
  std::atomic<int> markers{0};
  std::atomic<bool> failing{false};
};

TEST(GuardedFeatureStoreTest, OpenBreakerSkipsTheBackendUntilItsProbeSucceeds) {
  FakeClock clock;
  resilience::CircuitBreakerOptions options;
  options.consecutive_failures = 3;
  options.open_ms = 1000;
  resilience::CircuitBreaker breaker(options, clock);
  auto flaky = std::make_unique<FlakyStore>();
  FlakyStore* backend = flaky.get();
  GuardedFeatureStore store(std::move(flaky), &breaker, 0);
  backend->failing = true;
  for (int i = 0; i < 3; ++i)
    EXPECT_THAT(store.GetUserHistory("u"), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(breaker.state(), resilience::CircuitState::kOpen);
  for (int i = 0; i < 100; ++i) {
    EXPECT_THAT(store.GetUserHistory("u"), StatusIs(StatusCode::kUnavailable, "circuit open"));
    EXPECT_THAT(store.ApplyEvents({}), StatusIs(StatusCode::kUnavailable, "circuit open"));
  }
  EXPECT_EQ(backend->calls.load(), 3) << "an open breaker costs the backend nothing";
  backend->failing = false;
  clock.AdvanceMillis(1000);
  EXPECT_THAT(store.GetUserHistory("u"), IsOk());  // the probe
  EXPECT_EQ(breaker.state(), resilience::CircuitState::kClosed);
  EXPECT_THAT(store.ApplyEvents({}), IsOk());
  EXPECT_EQ(backend->calls.load(), 5);
  // Every operation of the wrapped store is forwarded (the applier's refill markers too).
  EXPECT_THAT(store.HoldsMarker("m"), IsOk());
  EXPECT_THAT(store.PutMarker("m"), IsOk());
  EXPECT_EQ(backend->markers.load(), 2);
  EXPECT_EQ(store.name(), "flaky");
}

}  // namespace
}  // namespace pulse::serving
