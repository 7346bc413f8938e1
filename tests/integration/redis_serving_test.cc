// `pulse serve` with the Redis feature store against a real redis-server: histories shared
// through Redis; Redis killed mid-traffic → answers keep coming (degraded, from the embedded
// copy); Redis back (empty) → the server refills it from the event log by itself, and Redis ends
// up with exactly the acknowledged events.
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "store/redis_feature_store.h"
#include "store/redis_server_for_test.h"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

using nlohmann::json;

class RedisServingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!store::RedisServerForTest::Available()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_EQ(PrepareTrainedDataDir(dir_.path(), dir_.Sub("data"), 300, 200, 8000, 5), "");
    redis_port_ = testing::FreePort();
    ASSERT_TRUE(redis_.Start(redis_port_, dir_.Sub("")));
    testing::WriteFile(dir_.Sub("pulse.yaml"),
                       StrCat("store: {backend: redis}\nredis: {address: \"127.0.0.1:", redis_port_,
                              "\", command_timeout_ms: 100}\n",
                              // Every answer below must come from the store, not the result cache,
                              // and Redis is retried at once once back (no breaker cool-down).
                              "cache: {ttl_ms: 0}\nresilience: {breaker_open_ms: 1}\n"));
    std::string error;
    server_ = ServerProcess::Start(
        {"serve", "--config", dir_.Sub("pulse.yaml"), "--data-dir", dir_.Sub("data")}, &error);
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_TRUE(WaitReady(server_->http_port())) << server_->Output();
  }

  httplib::Client Http() {
    httplib::Client client("127.0.0.1", server_->http_port());
    client.set_read_timeout(5);
    return client;
  }

  void Click(const std::string& user, const std::string& item, const std::string& id) {
    json batch = json::array({{{"event_id", id},
                               {"user_id", user},
                               {"item_id", item},
                               {"type", "click"},
                               {"ts", SystemClock::Get().NowMillis()}}});
    auto res = Http().Post("/v1/events", batch.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 202) << res->body;
  }

  json Recommend(const std::string& user) {
    auto res =
        Http().Post("/v1/recommend", json{{"user_id", user}, {"n", 5}}.dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  // Polls recommend until the answer is not degraded (the applier has (re)filled Redis).
  bool WaitNotDegraded(const std::string& user) {
    for (int i = 0; i < 3000; ++i) {
      json response = Recommend(user);
      if (response.is_object() && response["degraded"] == false) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // A metric's value from /metrics (-1 when absent).
  double Metric(const std::string& series) {
    auto res = Http().Get("/metrics");
    if (!res) return -1;
    size_t at = res->body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    double value = -1;
    ParseDouble(
        std::string_view(res->body).substr(at + series.size() + 2,
                                           res->body.find('\n', at + 1) - (at + series.size() + 2)),
        &value);
    return value;
  }

  static bool Personal(const json& response) {
    for (const auto& item : response["items"]) {
      if (item["explanation_id"] == "similar_to_recent") return true;
    }
    return false;
  }

  testing::TempDir dir_;
  store::RedisServerForTest redis_;
  int redis_port_ = 0;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(RedisServingTest, ServesThroughRedisDegradesWhenItDiesAndRecovers) {
  // The first start applies the imported log to Redis; until then answers are degraded.
  ASSERT_TRUE(WaitNotDegraded("probe"));
  std::string item = Recommend("probe")["items"][0]["item_id"];
  Click("shared-user", item, "r1");
  json response = Recommend("shared-user");
  EXPECT_EQ(response["degraded"], false) << response;
  EXPECT_TRUE(Personal(response)) << response;

  redis_.Kill();
  for (int i = 0; i < 20; ++i) {
    response = Recommend("shared-user");
    ASSERT_TRUE(response.is_object());
    EXPECT_EQ(response["degraded"], true) << response;
    EXPECT_TRUE(Personal(response)) << "the embedded copy still has the click: " << response;
  }
  Click("shared-user", item, "r2");  // ingest keeps working: the log is the source of truth
  auto metrics = Http().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("pulse_fallback_total{reason=\"feature_store_unavailable\"}"),
            std::string::npos);

  ASSERT_TRUE(redis_.Start(redis_port_, dir_.Sub("")));  // empty: refilled from the log
  Click("shared-user", item, "r3");
  response = Recommend("shared-user");
  EXPECT_TRUE(Personal(response)) << "degraded or not, the click shows: " << response;
  ASSERT_TRUE(WaitNotDegraded("shared-user"));
  response = Recommend("shared-user");
  EXPECT_TRUE(Personal(response)) << response;
  EXPECT_TRUE(server_->Running());
  EXPECT_GE(Metric("pulse_feature_store_refills_total{store=\"redis\"}"), 1);
}

// Redis SIGKILLed under a publishing and a recommending client: no recommend fails (degraded
// answers instead), ingest keeps acknowledging (it needs only the embedded log), and once Redis
// is back (empty) it is refilled to exactly the acknowledged events, each applied once.
TEST_F(RedisServingTest, RedisKilledUnderLoadLosesNoAcknowledgedEvent) {
  ASSERT_TRUE(WaitNotDegraded("probe"));
  const std::string item = Recommend("probe")["items"][0]["item_id"];
  constexpr int kUsers = 8;
  std::mutex mu;
  std::map<std::string, int> acked;  // user → acknowledged events
  std::atomic<int> acked_total{0}, publish_errors{0}, recommends{0}, recommend_errors{0},
      degraded{0};
  std::atomic<bool> stop{false};

  std::thread publisher([&] {
    httplib::Client client = Http();
    for (int call = 0; !stop; ++call) {
      json batch = json::array();
      for (int i = 0; i < 10; ++i) {
        json event = {{"user_id", StrCat("load", (call + i) % kUsers)},
                      {"item_id", item},
                      {"type", "click"},
                      {"ts", SystemClock::Get().NowMillis()}};
        if (i % 2 == 0) event["event_id"] = StrCat("load-", call, "-", i);  // half without an id
        batch.push_back(event);
      }
      auto res = client.Post("/v1/events", batch.dump(), "application/json");
      if (!res || res->status != 202) {
        ++publish_errors;
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& event : batch) ++acked[event["user_id"].get<std::string>()];
      acked_total += 10;
    }
  });
  std::thread recommender([&] {
    httplib::Client client = Http();
    for (int i = 0; !stop; ++i) {
      auto res = client.Post("/v1/recommend",
                             json{{"user_id", StrCat("load", i % kUsers)}, {"n", 5}}.dump(),
                             "application/json");
      ++recommends;
      if (!res || res->status != 200) {
        ++recommend_errors;
        continue;
      }
      if (json::parse(res->body, nullptr, false).value("degraded", false)) ++degraded;
    }
  });
  auto wait_for = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 3000 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  };

  EXPECT_TRUE(wait_for([&] { return acked_total >= 200 && recommends >= 20; }));
  redis_.Kill();
  const int acked_at_kill = acked_total, recommends_at_kill = recommends;
  EXPECT_TRUE(wait_for(
      [&] { return acked_total >= acked_at_kill + 200 && recommends >= recommends_at_kill + 20; }));
  EXPECT_GT(degraded.load(), 0);
  ASSERT_TRUE(redis_.Start(redis_port_, dir_.Sub("")));
  EXPECT_TRUE(wait_for([&] { return acked_total >= acked_at_kill + 400; }));
  stop = true;
  publisher.join();
  recommender.join();

  EXPECT_EQ(publish_errors.load(), 0);
  EXPECT_EQ(recommend_errors.load(), 0);
  ASSERT_TRUE(WaitNotDegraded("load0"));
  ASSERT_TRUE(
      wait_for([&] { return Metric("pulse_feature_store_lag_events{store=\"redis\"}") == 0; }));
  EXPECT_GE(Metric("pulse_feature_store_refills_total{store=\"redis\"}"), 1);

  // Redis holds exactly the acknowledged events: none lost, none counted twice.
  RedisConfig redis;
  redis.address = redis_.address();
  auto store = store::RedisFeatureStore::Create(redis, StoreConfig{}).value();
  for (const auto& [user, count] : acked) {
    auto history = store->GetUserHistory(user);
    ASSERT_TRUE(history.ok()) << history.status().ToString();
    EXPECT_EQ(history->events_total, static_cast<uint64_t>(count)) << user;
  }
  EXPECT_TRUE(server_->Running());
}

}  // namespace
}  // namespace pulse::integration
