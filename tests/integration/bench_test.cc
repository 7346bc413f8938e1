// `pulse bench` against a real `pulse serve`: a short low-rate run over each protocol, the JSON
// form of CONTRACT.md, --find-max, and bad flags.
#include <set>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

using nlohmann::json;

constexpr int kUsers = 300;

class BenchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    ASSERT_EQ(PrepareTrainedDataDir(dir_->path(), dir_->Sub("data"), kUsers, 200, 9000, 5), "");
    std::string error;
    server_ = ServerProcess::Start({"serve", "--data-dir", dir_->Sub("data")}, &error).release();
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_TRUE(WaitReady(server_->http_port())) << server_->Output();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
  }

  static std::string Target(const std::string& proto) {
    return StrCat("127.0.0.1:", proto == "http" ? server_->http_port() : server_->grpc_port());
  }

  static testing::TempDir* dir_;
  static ServerProcess* server_;
};

testing::TempDir* BenchTest::dir_ = nullptr;
ServerProcess* BenchTest::server_ = nullptr;

TEST_F(BenchTest, ShortRunOverEachProtocolPrintsTheContractJson) {
  for (const std::string proto : {"grpc", "http"}) {
    SCOPED_TRACE(proto);
    CommandResult run = RunPulse({"bench", "--target", Target(proto), "--rps", "100", "--duration",
                                  "1.5", "--proto", proto, "--json", "--users",
                                  std::to_string(kUsers), "--unknown-share", "0.2"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    json out = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(out.is_object()) << run.out;
    std::set<std::string> keys;
    for (const auto& [key, value] : out.items()) keys.insert(key);
    EXPECT_EQ(keys, (std::set<std::string>{"offered_rps", "achieved_rps", "requests", "errors",
                                           "latency_ms"}));
    EXPECT_DOUBLE_EQ(out["offered_rps"].get<double>(), 100.0);
    EXPECT_EQ(out["requests"].get<int>(), 150);  // every scheduled request completed
    EXPECT_TRUE(out["errors"].is_object());
    EXPECT_TRUE(out["errors"].empty()) << out["errors"];
    EXPECT_GT(out["achieved_rps"].get<double>(), 0.0);
    EXPECT_LE(out["achieved_rps"].get<double>(), 101.0);
    const json& latency = out["latency_ms"];
    for (const char* p : {"p50", "p90", "p99", "p999", "max"}) {
      ASSERT_TRUE(latency.contains(p)) << p;
      EXPECT_GT(latency[p].get<double>(), 0.0) << p;
    }
    EXPECT_LE(latency["p50"].get<double>(), latency["p90"].get<double>());
    EXPECT_LE(latency["p90"].get<double>(), latency["p99"].get<double>());
    EXPECT_LE(latency["p99"].get<double>(), latency["p999"].get<double>());
    EXPECT_LE(latency["p999"].get<double>(), latency["max"].get<double>());
  }
}

TEST_F(BenchTest, TextOutputAndShapes) {
  CommandResult run = RunPulse({"bench", "--target", Target("grpc"), "--rps", "50", "--duration",
                                "1", "--shape", "spike", "--users", std::to_string(kUsers)});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("achieved"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("p99.9"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("errors: none"), std::string::npos) << run.out;
}

TEST_F(BenchTest, FindMaxReportsTheHighestPassingRate) {
  CommandResult run = RunPulse({"bench", "--target", Target("grpc"), "--rps", "20", "--duration",
                                "0.5", "--find-max", "--p99-ms", "2000", "--max-steps", "2",
                                "--json", "--users", std::to_string(kUsers)});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json out = json::parse(run.out, nullptr, false);
  ASSERT_TRUE(out.is_object()) << run.out;
  EXPECT_EQ(out["p99_ms_bound"].get<double>(), 2000.0);
  ASSERT_TRUE(out["steps"].is_array());
  ASSERT_GE(out["steps"].size(), 1u);
  // A passing step's rate is a lower bound of the answer; 20 and 25 req/s pass on any machine.
  EXPECT_GE(out["max_rps"].get<double>(), 20.0);
  for (const json& step : out["steps"]) {
    EXPECT_TRUE(step.contains("pass"));
    EXPECT_TRUE(step.contains("latency_ms"));
  }
}

// --api-key: the server's rate limit is per key, so a second key starts with a full burst while
// the first key's bucket is empty (without the key both runs would share the address's bucket).
TEST(BenchApiKeyTest, EachKeyIsItsOwnClientToTheRateLimit) {
  testing::TempDir dir;
  ASSERT_EQ(PrepareTrainedDataDir(dir.path(), dir.Sub("data"), 50, 60, 1500, 3), "");
  testing::WriteFile(dir.Sub("pulse.yaml"),
                     "resilience: {rate_limit_rps: 1, rate_limit_burst: 10}\n");
  std::string error;
  auto server = ServerProcess::Start(
      {"serve", "--config", dir.Sub("pulse.yaml"), "--data-dir", dir.Sub("data")}, &error);
  ASSERT_NE(server, nullptr) << error;
  ASSERT_TRUE(WaitReady(server->http_port())) << server->Output();
  for (const std::string proto : {"grpc", "http"}) {
    SCOPED_TRACE(proto);
    const std::string target =
        StrCat("127.0.0.1:", proto == "http" ? server->http_port() : server->grpc_port());
    for (const std::string& key : {"first-" + proto, "second-" + proto}) {
      CommandResult run =
          RunPulse({"bench", "--target", target, "--proto", proto, "--rps", "40", "--duration", "1",
                    "--users", "50", "--json", "--api-key", key});
      ASSERT_EQ(run.exit_code, 0) << run.err;
      json out = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
      ASSERT_TRUE(out.is_object()) << run.out;
      const int requests = out["requests"].get<int>();
      const int limited = out["errors"].value("RESOURCE_EXHAUSTED", 0);  // 429 over HTTP
      // Each key gets its burst of 10 (plus about one refill) and no more.
      EXPECT_GE(requests - limited, 10) << key << ": " << run.out;
      EXPECT_LE(requests - limited, 13) << key << ": " << run.out;
    }
  }
}

TEST_F(BenchTest, BadFlagsExitWithCode2AndAMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"bench", "--rps", "10", "--duration", "1"}, "--target is required"},
      {{"bench", "--target", "127.0.0.1:1", "--rps", "fast", "--duration", "1"},
       "--rps: expected a number"},
      {{"bench", "--target", "127.0.0.1:1", "--rps", "10", "--duration", "1", "--shape", "wave"},
       "--shape must be flat, diurnal or spike"},
      {{"bench", "--target", "127.0.0.1:1", "--rps", "10", "--duration", "1", "--proto", "quic"},
       "--proto must be grpc or http"},
      {{"bench", "--target", "localhost", "--rps", "10", "--duration", "1"},
       "--target must be host:port"},
      {{"bench", "--target", "127.0.0.1:1", "--rps", "10", "--duration", "1", "--nope"},
       "unknown flag --nope"},
  };
  for (const Case& c : cases) {
    CommandResult run = RunPulse(c.args);
    EXPECT_EQ(run.exit_code, 2) << c.message;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
  }
}

}  // namespace
}  // namespace pulse::integration
