// End-to-end freshness of the embedded deployment: for each of N brand-new users, publish one
// click over HTTP (POST /v1/events), then poll POST /v1/recommend until the answer reflects it
// (personal `similar_to_recent` items instead of the popular fallback). Reports the time from
// sending the event to the first request that shows the change: p50/p99/max.
//
//   ./build/bench/freshness_bench [users=1000]
//
// The server (engine + HTTP front end) runs in this process on a free loopback port over a data
// dir generated and trained on first use (pulse gen/import/train, 2,000 users × 3,000 items).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "core/strings.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "serving/engine.h"
#include "store/data_dir.h"
#include "tools/commands.h"
#include "train/commands.h"

namespace {

using Clock = std::chrono::steady_clock;

bool Personal(const std::string& body) {
  nlohmann::json response = nlohmann::json::parse(body, nullptr, false);
  if (!response.is_object() || !response.contains("items")) return false;
  for (const auto& item : response["items"]) {
    if (item.value("explanation_id", "") == "similar_to_recent") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const int users = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1000;
  const std::string dir =
      (std::filesystem::temp_directory_path() / "pulse-freshness-bench").string();
  const std::string data = dir + "/data";
  pulse::Config config;
  config.data_dir = data;
  config.server.model_poll_ms = 0;
  if (!std::filesystem::exists(data + "/models")) {
    std::filesystem::remove_all(dir);
    if (pulse::tools::RunGenCommand({"--users", "2000", "--items", "3000", "--events", "150000",
                                     "--seed", "7", "--out", dir + "/in"}) != 0 ||
        pulse::tools::RunImportCommand({"--data-dir", data, "--items", dir + "/in/items.jsonl",
                                        "--events", dir + "/in/events.jsonl"}) != 0 ||
        pulse::train::RunTrainCommand({"--data-dir", data}) != 0) {
      std::fprintf(stderr, "preparing the data dir failed\n");
      return 1;
    }
  }
  auto data_dir = pulse::store::DataDir::Open(data, config.store);
  if (!data_dir.ok()) return 1;
  auto engine = pulse::serving::Engine::Create(config, data_dir->get());
  if (!engine.ok()) return 1;
  pulse::api::HttpServer server(**engine, config.server);
  if (!server.Start("127.0.0.1:0").ok()) return 1;

  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);  // headers and body go out as two writes: no Nagle stall
  const int64_t run = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  // Items the model knows (an item without interactions has no embedding to fold in).
  std::vector<std::string> items;
  {
    auto res = client.Post("/v1/recommend", R"({"user_id":"freshness-probe","n":200})",
                           "application/json");
    if (!res || res->status != 200) return 1;
    nlohmann::json popular = nlohmann::json::parse(res->body, nullptr, false);
    if (!popular.is_object()) return 1;
    for (const auto& item : popular["items"]) items.push_back(item["item_id"].get<std::string>());
  }
  if (items.empty()) return 1;
  std::vector<double> millis;
  millis.reserve(static_cast<size_t>(users));
  int polls_total = 0;
  for (int u = 0; u < users; ++u) {
    const std::string user = pulse::StrCat("fresh-", run, "-", u);
    const std::string& item = items[static_cast<size_t>(u) % items.size()];
    nlohmann::json event = {{"event_id", user + "-e"},
                            {"user_id", user},
                            {"item_id", item},
                            {"type", "click"},
                            {"ts", run + u}};
    nlohmann::json request = {{"user_id", user}, {"n", 10}};
    auto start = Clock::now();
    auto published =
        client.Post("/v1/events", nlohmann::json::array({event}).dump(), "application/json");
    if (!published || published->status != 202) {
      std::fprintf(stderr, "publish failed\n");
      return 1;
    }
    while (true) {
      ++polls_total;
      auto res = client.Post("/v1/recommend", request.dump(), "application/json");
      if (res && res->status == 200 && Personal(res->body)) break;
      if (Clock::now() - start > std::chrono::seconds(5)) {
        std::fprintf(stderr, "change not visible after 5 s\n");
        return 1;
      }
    }
    millis.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  server.Stop();
  std::sort(millis.begin(), millis.end());
  auto at = [&](double q) { return millis[static_cast<size_t>(q * (millis.size() - 1))]; };
  std::printf("users %d  polls/user %.2f  freshness ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
              users, static_cast<double>(polls_total) / users, at(0.5), at(0.9), at(0.99),
              millis.back());
  return 0;
}
