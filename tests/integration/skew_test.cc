// `pulse check-skew` end to end: `pulse serve` on a trained model (ALS factors, the bundle's own
// fold-in parameters, HNSW) logs every request's served features while events arrive over HTTP
// between requests; after it stops, `pulse check-skew` recomputes them from the event log and
// finds no mismatch. The JSON report is metric-friendly and names no user.
#include <chrono>
#include <csignal>
#include <string>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

using nlohmann::json;

TEST(CheckSkewTest, ServingAndOfflineAgreeOnARealServer) {
  testing::TempDir dir;
  const std::string data_dir = dir.Sub("data");
  ASSERT_EQ(PrepareTrainedDataDir(dir.path(), data_dir, 120, 100, 3000, 11), "");
  const std::string config = dir.Sub("pulse.yaml");
  testing::WriteFile(config, "pipeline:\n  feature_log_sample: 1.0\n  fold_in_items: 50\n");
  {
    std::string error;
    auto server =
        ServerProcess::Start({"serve", "--data-dir", data_dir, "--config", config}, &error);
    ASSERT_NE(server, nullptr) << error;
    ASSERT_TRUE(WaitReady(server->http_port())) << server->Output();
    httplib::Client client("127.0.0.1", server->http_port());
    client.set_read_timeout(10);
    for (int round = 0; round < 3; ++round) {
      for (int u = 1; u <= 15; ++u) {
        auto res =
            client.Post("/v1/recommend", StrCat(R"({"user_id":"u)", u, R"(","n":10,"debug":true})"),
                        "application/json");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
      }
      // New engagements between rounds: the next requests fold them in, the earlier ones must
      // be replayed without them.
      json events = json::array();
      const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
      for (int u = 1; u <= 15; ++u) {
        events.push_back({{"user_id", StrCat("u", u)},
                          {"item_id", StrCat("i", (u * 7 + round * 13) % 100 + 1)},
                          {"type", "click"},
                          {"ts", now_ms}});
      }
      auto res = client.Post("/v1/events", events.dump(), "application/json");
      ASSERT_TRUE(res);
      ASSERT_LT(res->status, 300) << res->body;
    }
    EXPECT_EQ(server->Stop(SIGTERM), 0) << server->Output();
  }

  CommandResult text = RunPulse({"check-skew", "--data-dir", data_dir, "--config", config});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("PASS"), std::string::npos) << text.out;

  CommandResult run =
      RunPulse({"check-skew", "--data-dir", data_dir, "--config", config, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  json report = json::parse(run.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << run.out;
  EXPECT_EQ(report["passed"], true);
  EXPECT_EQ(report["records"], 45);
  EXPECT_EQ(report["rows"], 450);
  for (const char* feature : {"similarity", "popularity", "freshness", "has_user_vector"}) {
    EXPECT_EQ(report["metrics"]["pulse_skew_compared_total"][feature], 450) << feature;
    EXPECT_EQ(report["metrics"]["pulse_skew_mismatches_total"][feature], 0) << feature;
  }
  EXPECT_EQ(run.out.find("\"u1\""), std::string::npos);  // users are buckets, never ids

  // Bad usage is exit 2 with the usage text.
  CommandResult bad = RunPulse({"check-skew", "--data-dir", data_dir, "--max-rows", "x"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("usage: pulse check-skew"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace pulse::integration
