#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <thread>

#include "api/http_metrics.h"
#include "core/flags.h"
#include "core/log.h"
#include "main/commands.h"
#include "rollout/model_bundle.h"
#include "serving/engine.h"
#include "store/data_dir.h"
#include "tools/commands.h"
#include "train/commands.h"

namespace pulse {
namespace {

constexpr int kDemoUsers = 2000;

// Prepares a data dir that has a model: generates and imports a synthetic catalog and history
// when it has no events, then trains when it has no model.
Status PrepareDemoData(const Config& config, const std::vector<std::string>& config_flag) {
  const std::string& dir = config.data_dir;
  uint64_t events = 0;
  {
    ASSIGN_OR_RETURN(auto data_dir, store::DataDir::Open(dir, config.store));
    events = data_dir->EventCount();
    if (!rollout::ListModelVersions(data_dir->models_dir()).empty()) return OkStatus();
  }
  if (events == 0) {
    std::string input = dir + "/demo-input";
    std::printf("pulse demo: generating a synthetic catalog and history in %s\n", input.c_str());
    std::fflush(stdout);
    if (tools::RunGenCommand({"--users", std::to_string(kDemoUsers), "--items", "3000", "--events",
                              "150000", "--seed", "7", "--out", input}) != 0) {
      return InternalError("generating demo data failed");
    }
    if (tools::RunImportCommand({"--data-dir", dir, "--items", input + "/items.jsonl", "--events",
                                 input + "/events.jsonl"}) != 0) {
      return InternalError("importing demo data failed");
    }
  }
  std::printf("pulse demo: training the first model\n");
  std::fflush(stdout);
  std::vector<std::string> train_args = {"--data-dir", dir};
  train_args.insert(train_args.end(), config_flag.begin(), config_flag.end());
  if (train::RunTrainCommand(train_args) != 0) return InternalError("training failed");
  return OkStatus();
}

// Light simulated traffic so every screen has something to show: a few recommend calls a
// second for a skewed mix of known users and some unknown ones.
void DriveTraffic(serving::Engine& engine, const ServerInfo& info,
                  const std::function<bool()>& stopping) {
  std::printf(
      "\npulse demo is running.\n"
      "  dashboard:  http://%s:%d/\n"
      "  recommend:  curl -s -X POST http://%s:%d/v1/recommend -d '{\"user_id\":\"u1\",\"n\":5}'\n"
      "  explain:    curl -s -X POST http://%s:%d/v1/recommend -d "
      "'{\"user_id\":\"u1\",\"n\":5,\"debug\":true}'\n"
      "  user state: curl -s http://%s:%d/v1/users/u1/features\n"
      "  metrics:    curl -s http://%s:%d/metrics\n"
      "  gRPC:       %s:%d (pulse.v1.Recommender; reflection enabled)\n"
      "Ctrl-C stops.\n\n",
      info.http_host.c_str(), info.http_port,  // dashboard
      info.http_host.c_str(), info.http_port, info.http_host.c_str(), info.http_port,
      info.http_host.c_str(), info.http_port, info.http_host.c_str(), info.http_port,
      info.grpc_host.c_str(), info.grpc_port);
  std::fflush(stdout);
  std::mt19937_64 rng(7);
  while (!stopping()) {
    serving::RecommendRequest request;
    uint64_t roll = rng() % 100;
    // Skewed towards a head of active users; 10% users never seen.
    uint64_t user = roll < 10
                        ? kDemoUsers + rng() % 100000
                        : static_cast<uint64_t>(std::pow(rng() % 1000 / 1000.0, 2) * kDemoUsers);
    request.user_id = StrCat("u", user);
    request.n = 10;
    Stopwatch watch;
    auto response = engine.Recommend(request);
    // Counted as API requests are, so /metrics and the dashboard show the demo's traffic.
    api::DefaultRequestMetrics().Record("recommend", StatusCodeName(response.status().code()),
                                        watch.ElapsedSeconds());
    if (!response.ok()) LOG_WARN("demo", "recommend failed: ", response.status().ToString());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

int RunDemoCommand(const std::vector<std::string>& args) {
  auto config = ConfigFromFlags(args);
  if (!config.ok()) return ExitWithError("demo", config.status());
  std::vector<std::string> config_flag;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--config") config_flag = {"--config", args[i + 1]};
  }
  if (Status status = PrepareDemoData(*config, config_flag); !status.ok()) {
    return ExitWithError("demo", status);
  }
  return RunServer(*config, DriveTraffic);
}

}  // namespace pulse
