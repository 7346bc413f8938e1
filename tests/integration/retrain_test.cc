// Model lifecycle end to end: `pulse serve` with a short retrain schedule retrains after new
// events arrive and swaps the new bundle in (model_version in responses and
// pulse_model_version_info in /metrics change); `pulse models list|activate` beside the running
// server pins an older version (rollback without restart) and unpins.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

using nlohmann::json;

httplib::Client Client(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  return client;
}

json Recommend(int port, const std::string& user) {
  auto res = Client(port).Post("/v1/recommend", json{{"user_id", user}, {"n", 5}}.dump(),
                               "application/json");
  if (!res || res->status != 200) return json();
  return json::parse(res->body, nullptr, false);
}

std::string ServingVersion(int port) {
  json response = Recommend(port, "someone");
  return response.is_object() ? response.value("model_version", "") : "";
}

std::vector<std::string> MetricLines(int port, const std::string& prefix) {
  std::vector<std::string> lines;
  auto res = Client(port).Get("/metrics");
  if (!res) return lines;
  for (std::string_view line : Split(res->body, '\n')) {
    if (line.starts_with(prefix)) lines.emplace_back(line);
  }
  return lines;
}

// Waits for something the server does on its own schedule (bounded; not a timing assertion).
template <typename Pred>
bool Eventually(Pred pred, int timeout_s = 90) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

TEST(RetrainTest, ScheduledRetrainSwapsInAndActivateRollsBack) {
  testing::TempDir dir;
  const std::string data_dir = dir.Sub("data");
  ASSERT_EQ(PrepareTrainedDataDir(dir.path(), data_dir, 300, 200, 6000, 5), "");
  const std::string config_path = dir.path() + "/pulse.yaml";
  {
    std::ofstream config(config_path);
    config << "server:\n  model_poll_ms: 100\n"
              "train:\n  iterations: 3\n  eval_users: 100\n"
              "  schedule:\n    interval_s: 1\n    min_new_events: 20\n    keep_versions: 5\n";
  }
  std::string error;
  auto server =
      ServerProcess::Start({"serve", "--config", config_path, "--data-dir", data_dir}, &error);
  ASSERT_NE(server, nullptr) << error;
  ASSERT_TRUE(WaitReady(server->http_port())) << server->Output();
  const int port = server->http_port();
  ASSERT_EQ(ServingVersion(port), "v000001") << server->Output();
  EXPECT_EQ(MetricLines(port, "pulse_model_version_info{"),
            std::vector<std::string>{"pulse_model_version_info{version=\"v000001\"} 1"});

  // Nothing new since the bundle's data: the schedule comes due but does not retrain.
  ASSERT_TRUE(Eventually([&] {
    for (const std::string& line : MetricLines(port, "pulse_retrain_runs_total{")) {
      if (line.starts_with("pulse_retrain_runs_total{outcome=\"skipped\"}") &&
          !line.ends_with(" 0")) {
        return true;
      }
    }
    return false;
  })) << server->Output();
  EXPECT_EQ(ServingVersion(port), "v000001");

  // New engagement on items the model knows.
  json first = Recommend(port, "someone");
  ASSERT_TRUE(first.is_object());
  ASSERT_FALSE(first["items"].empty());
  json events = json::array();
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  for (int i = 0; i < 50; ++i) {
    const json& item = first["items"][static_cast<size_t>(i) % first["items"].size()];
    events.push_back({{"event_id", StrCat("retrain-", i)},
                      {"user_id", StrCat("new-user-", i % 7)},
                      {"item_id", item["item_id"]},
                      {"type", "click"},
                      {"ts", now_ms - 1000 + i}});
  }
  auto published = Client(port).Post("/v1/events", events.dump(), "application/json");
  ASSERT_TRUE(published);
  ASSERT_EQ(published->status, 202) << published->body;

  ASSERT_TRUE(Eventually([&] { return ServingVersion(port) == "v000002"; })) << server->Output();
  EXPECT_EQ(MetricLines(port, "pulse_model_version_info{"),
            std::vector<std::string>{"pulse_model_version_info{version=\"v000002\"} 1"});
  EXPECT_EQ(MetricLines(port, "pulse_retrain_runs_total{outcome=\"succeeded\"}"),
            std::vector<std::string>{"pulse_retrain_runs_total{outcome=\"succeeded\"} 1"});
  EXPECT_EQ(MetricLines(port, "pulse_retrain_last_success "),
            std::vector<std::string>{"pulse_retrain_last_success 1"});

  // The CLI reads the models dir beside the running server.
  CommandResult list = RunPulse({"models", "list", "--data-dir", data_dir, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  json listed = json::parse(list.out, nullptr, false);
  ASSERT_TRUE(listed.is_object()) << list.out;
  ASSERT_EQ(listed["models"].size(), 2u) << list.out;
  EXPECT_EQ(listed["models"][1]["version"], "v000002");
  EXPECT_EQ(listed["models"][1]["state"], "active");
  EXPECT_EQ(listed["models"][1]["events"].get<int64_t>(),
            listed["models"][0]["events"].get<int64_t>() + 50)
      << list.out;
  EXPECT_TRUE(listed["models"][1]["recall@10"].is_number()) << list.out;

  // Rollback without restart, then back to newest.
  CommandResult pin = RunPulse({"models", "activate", "v000001", "--data-dir", data_dir});
  ASSERT_EQ(pin.exit_code, 0) << pin.err;
  ASSERT_TRUE(Eventually([&] { return ServingVersion(port) == "v000001"; })) << server->Output();
  EXPECT_EQ(MetricLines(port, "pulse_model_version_info{"),
            std::vector<std::string>{"pulse_model_version_info{version=\"v000001\"} 1"});
  CommandResult missing = RunPulse({"models", "activate", "v000042", "--data-dir", data_dir});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no model version v000042"), std::string::npos) << missing.err;
  CommandResult unpin = RunPulse({"models", "activate", "latest", "--data-dir", data_dir});
  ASSERT_EQ(unpin.exit_code, 0) << unpin.err;
  ASSERT_TRUE(Eventually([&] { return ServingVersion(port) == "v000002"; })) << server->Output();

  EXPECT_EQ(server->Stop(SIGTERM), 0) << server->Output();
}

}  // namespace
}  // namespace pulse::integration
