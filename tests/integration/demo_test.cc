// `pulse demo`: one command from an empty data dir to live recommendations, and a clean stop.
#include <signal.h>

#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

using nlohmann::json;

json RecommendOver(int port, const std::string& user) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  auto res =
      client.Post("/v1/recommend", json{{"user_id", user}, {"n", 5}}.dump(), "application/json");
  if (!res || res->status != 200) return json();
  return json::parse(res->body, nullptr, false);
}

TEST(DemoTest, ServesRecommendationsFromAnEmptyDataDirAndStopsCleanly) {
  testing::TempDir dir;
  std::string data = dir.Sub("demo-data");
  std::string error;
  auto demo = ServerProcess::Start({"demo", "--data-dir", data}, &error, 120);
  ASSERT_NE(demo, nullptr) << error;
  ASSERT_TRUE(WaitReady(demo->http_port())) << demo->Output();
  json response = RecommendOver(demo->http_port(), "u1");
  ASSERT_TRUE(response.is_object()) << demo->Output();
  EXPECT_EQ(response["items"].size(), 5u);
  EXPECT_EQ(response["items"][0]["explanation_id"], "similar_to_recent");
  EXPECT_NE(demo->Output().find("pulse demo is running"), std::string::npos);
  EXPECT_EQ(demo->Stop(SIGTERM), 0) << demo->Output();

  // A second run reuses the data dir: no new data, same model.
  auto again = ServerProcess::Start({"demo", "--data-dir", data}, &error, 120);
  ASSERT_NE(again, nullptr) << error;
  ASSERT_TRUE(WaitReady(again->http_port())) << again->Output();
  EXPECT_EQ(again->Output().find("generating"), std::string::npos) << again->Output();
  EXPECT_EQ(RecommendOver(again->http_port(), "u1")["model_version"], "v000001");
  EXPECT_EQ(again->Stop(SIGINT), 0) << again->Output();
}

TEST(DemoTest, BadFlagsExitWithUsageError) {
  auto result = RunPulse({"demo", "--no-such-flag"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--no-such-flag"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace pulse::integration
