// `pulse serve` with the Redis feature store against a real redis-server: histories shared
// through Redis; Redis killed mid-traffic → answers keep coming (degraded, from the embedded
// copy); Redis back → the server recovers by itself.
#include <signal.h>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
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

  ASSERT_TRUE(redis_.Start(redis_port_, dir_.Sub("")));
  Click("shared-user", item, "r3");
  response = Recommend("shared-user");
  EXPECT_EQ(response["degraded"], false) << response;
  EXPECT_TRUE(Personal(response)) << response;
  EXPECT_TRUE(server_->Running());
}

}  // namespace
}  // namespace pulse::integration
