// Redis killed under load: a server in `store.backend: redis` mode (engine + HTTP front end in
// this process, over a data dir generated and trained on first use) with publishing clients
// (POST /v1/events, batches of 100 over 1,000 users, half without event ids) and recommending
// clients (POST /v1/recommend). After --before seconds the redis-server is SIGKILLed; after
// --down seconds a fresh, empty one starts on the same port; the load runs --after more seconds
// once the server has refilled Redis. Reports per phase: recommend and ingest calls, error rates,
// degraded answers and p50/p99 latency; the time from Redis's restart until the refill finished
// and until the last degraded answer; and whether every acknowledged event ended up in Redis
// exactly once (per user: Redis events_total == acknowledged events).
//
//   ./build/bench/redis_fault_bench [--before 3] [--down 3] [--after 3] [--publishers 1]
//                                   [--recommenders 2] [--rate 5000]
// --rate is the offered ingest load in events/s over all publishers (0 = as fast as they can).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/http_server.h"
#include "core/flags.h"
#include "core/strings.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "serving/engine.h"
#include "store/data_dir.h"
#include "store/redis_feature_store.h"
#include "store/redis_server_for_test.h"
#include "tools/commands.h"
#include "train/commands.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Sample {
  double at_s;        // since the load started
  double latency_ms;  // of the call
  bool ok;
  bool degraded;
};

struct Phase {
  const char* name;
  double from_s, to_s;
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

void Report(const char* what, const std::vector<Sample>& samples, const Phase& phase,
            int events_per_call) {
  std::vector<double> latency;
  int calls = 0, errors = 0, degraded = 0;
  for (const Sample& s : samples) {
    if (s.at_s < phase.from_s || s.at_s >= phase.to_s) continue;
    ++calls;
    if (!s.ok) ++errors;
    if (s.degraded) ++degraded;
    latency.push_back(s.latency_ms);
  }
  const double seconds = std::max(phase.to_s - phase.from_s, 1e-9);
  std::printf(
      "  %-9s %-10s %6.2f s  calls %7d  errors %6d (%5.2f%%)  degraded %6d (%5.1f%%)  "
      "p50 %7.2f ms  p99 %8.2f ms  %9.0f %s/s\n",
      what, phase.name, seconds, calls, errors, calls ? 100.0 * errors / calls : 0.0, degraded,
      calls ? 100.0 * degraded / calls : 0.0, Quantile(latency, 0.5), Quantile(latency, 0.99),
      (calls - errors) * events_per_call / seconds, events_per_call > 1 ? "events" : "answers");
}

}  // namespace

int main(int argc, char** argv) {
  auto flags =
      pulse::Flags::Parse(std::vector<std::string>(argv + 1, argv + argc),
                          {"before", "down", "after", "publishers", "recommenders", "rate"});
  if (!flags.ok()) return pulse::ExitWithError("redis_fault_bench", flags.status());
  const double before_s = static_cast<double>(flags->GetInt("before", 3).value_or(3));
  const double down_s = static_cast<double>(flags->GetInt("down", 3).value_or(3));
  const double after_s = static_cast<double>(flags->GetInt("after", 3).value_or(3));
  const int publishers = static_cast<int>(flags->GetInt("publishers", 1).value_or(1));
  const int recommenders = static_cast<int>(flags->GetInt("recommenders", 2).value_or(2));
  // Offered ingest load in events/s over all publishers (0 = as fast as they can).
  const int64_t rate = flags->GetInt("rate", 5000).value_or(5000);
  if (!pulse::store::RedisServerForTest::Available()) {
    std::fprintf(stderr, "redis-server is not installed\n");
    return 1;
  }

  const std::string dir =
      (std::filesystem::temp_directory_path() / "pulse-redis-fault-bench").string();
  // A trained template, copied afresh for every run so each run's log is the same 150,000
  // imported events plus its own load.
  const std::string template_dir = dir + "/template";
  const std::string data = dir + "/data";
  if (!std::filesystem::exists(template_dir + "/models")) {
    std::filesystem::remove_all(dir);
    if (pulse::tools::RunGenCommand({"--users", "2000", "--items", "3000", "--events", "150000",
                                     "--seed", "7", "--out", dir + "/in"}) != 0 ||
        pulse::tools::RunImportCommand({"--data-dir", template_dir, "--items",
                                        dir + "/in/items.jsonl", "--events",
                                        dir + "/in/events.jsonl"}) != 0 ||
        pulse::train::RunTrainCommand({"--data-dir", template_dir}) != 0) {
      std::fprintf(stderr, "preparing the data dir failed\n");
      return 1;
    }
  }
  std::filesystem::remove_all(data);
  std::filesystem::copy(template_dir, data, std::filesystem::copy_options::recursive);
  std::filesystem::create_directories(dir + "/redis");
  pulse::store::RedisServerForTest redis;
  const int redis_port = 20000 + static_cast<int>(getpid() % 20000);
  if (!redis.Start(redis_port, dir + "/redis")) {
    std::fprintf(stderr, "redis-server did not start on %d\n", redis_port);
    return 1;
  }

  pulse::Config config;
  config.data_dir = data;
  config.server.model_poll_ms = 0;
  config.store.backend = "redis";
  config.redis.address = redis.address();
  config.redis.command_timeout_ms = 100;
  config.redis.connect_timeout_ms = 100;
  auto data_dir = pulse::store::DataDir::Open(data, config.store);
  if (!data_dir.ok()) return 1;
  auto engine = pulse::serving::Engine::Create(config, data_dir->get());
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().ToString().c_str());
    return 1;
  }
  pulse::store::FeatureStoreApplier* applier = (*engine)->feature_store_applier();
  const auto fill_start = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the first marker check
  while (applier->refilling() || applier->lag_events() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("initial fill of the empty Redis from the log: %llu events in %.2f s\n",
              static_cast<unsigned long long>((*data_dir)->EventCount()),
              std::chrono::duration<double>(SteadyClock::now() - fill_start).count());

  pulse::api::HttpServer server(**engine, config.server);
  if (!server.Start("127.0.0.1:0").ok()) return 1;
  auto make_client = [&] {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", server.port());
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
    client->set_read_timeout(10);
    return client;
  };
  std::vector<std::string> items;
  {
    auto res = make_client()->Post("/v1/recommend", R"({"user_id":"fault-probe","n":200})",
                                   "application/json");
    if (!res || res->status != 200) return 1;
    const nlohmann::json popular = nlohmann::json::parse(res->body, nullptr, false);
    if (!popular.is_object()) return 1;
    for (const auto& item : popular["items"]) {
      items.push_back(item["item_id"].get<std::string>());
    }
    if (items.empty()) {
      std::fprintf(stderr, "no items to click: %s\n", res->body.c_str());
      return 1;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch() /
                                         std::chrono::milliseconds(1));
  constexpr int kUsers = 1000;
  constexpr int kBatch = 100;

  std::mutex mu;
  std::vector<Sample> publish_samples, recommend_samples;
  std::map<std::string, uint64_t> acked;  // user → acknowledged events
  std::atomic<bool> stop{false};
  const auto load_start = SteadyClock::now();
  auto since_start = [&] {
    return std::chrono::duration<double>(SteadyClock::now() - load_start).count();
  };

  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p) {
    threads.emplace_back([&, p] {
      auto client = make_client();
      std::vector<Sample> samples;
      std::map<std::string, uint64_t> mine;
      const auto paced_start = SteadyClock::now();
      for (int call = 0; !stop; ++call) {
        if (rate > 0) {  // open loop: call k starts at k·batch·publishers/rate seconds
          std::this_thread::sleep_until(
              paced_start +
              std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(
                  static_cast<double>(call) * kBatch * publishers / rate)));
        }
        nlohmann::json batch = nlohmann::json::array();
        std::vector<std::string> users;
        for (int i = 0; i < kBatch; ++i) {
          const int n = call * kBatch + i;
          users.push_back(pulse::StrCat("fault-", run, "-", (n * 7 + p) % kUsers));
          nlohmann::json event = {{"user_id", users.back()},
                                  {"item_id", items[static_cast<size_t>(n) % items.size()]},
                                  {"type", "click"},
                                  {"ts", std::chrono::system_clock::now().time_since_epoch() /
                                             std::chrono::milliseconds(1)}};
          if (i % 2 == 0) event["event_id"] = pulse::StrCat(run, "-", p, "-", n);
          batch.push_back(std::move(event));
        }
        const double at = since_start();
        const auto t0 = SteadyClock::now();
        auto res = client->Post("/v1/events", batch.dump(), "application/json");
        const double ms =
            std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
        const bool ok = res && res->status == 202;
        samples.push_back({at, ms, ok, false});
        if (ok) {
          for (const std::string& user : users) ++mine[user];
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      publish_samples.insert(publish_samples.end(), samples.begin(), samples.end());
      for (const auto& [user, n] : mine) acked[user] += n;
    });
  }
  for (int r = 0; r < recommenders; ++r) {
    threads.emplace_back([&, r] {
      auto client = make_client();
      std::vector<Sample> samples;
      for (int i = r; !stop; i += recommenders) {
        const std::string body = nlohmann::json{
            {"user_id", pulse::StrCat("fault-", run, "-", i % kUsers)},
            {"n", 10}}.dump();
        const double at = since_start();
        const auto t0 = SteadyClock::now();
        auto res = client->Post("/v1/recommend", body, "application/json");
        const double ms =
            std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
        const bool ok = res && res->status == 200;
        bool degraded = false;
        if (ok)
          degraded = nlohmann::json::parse(res->body, nullptr, false).value("degraded", false);
        samples.push_back({at, ms, ok, degraded});
      }
      std::lock_guard<std::mutex> lock(mu);
      recommend_samples.insert(recommend_samples.end(), samples.begin(), samples.end());
    });
  }

  auto sleep_s = [](double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); };
  sleep_s(before_s);
  const double kill_at = since_start();
  redis.Kill();  // SIGKILL
  sleep_s(down_s);
  const double restart_at = since_start();
  if (!redis.Start(redis_port, dir + "/redis")) {
    std::fprintf(stderr, "redis-server did not restart\n");
    return 1;
  }
  // Recovered: the applier has noticed the empty Redis, refilled it and caught up.
  while (!(applier->healthy() && !applier->refilling() && applier->stats().refills >= 1)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double recovered_at = since_start();
  sleep_s(after_s);
  const double end_at = since_start();
  stop = true;
  for (std::thread& t : threads) t.join();

  double last_degraded = -1;
  for (const Sample& s : recommend_samples) {
    if (s.degraded && s.at_s >= restart_at) last_degraded = std::max(last_degraded, s.at_s);
  }
  const Phase phases[] = {{"healthy", 0, kill_at},
                          {"down", kill_at, restart_at},
                          {"refill", restart_at, recovered_at},
                          {"after", recovered_at, end_at}};
  std::printf("redis SIGKILLed at %.2f s, restarted empty at %.2f s; log %llu events\n", kill_at,
              restart_at, static_cast<unsigned long long>((*data_dir)->EventCount()));
  for (const Phase& phase : phases) Report("recommend", recommend_samples, phase, 1);
  for (const Phase& phase : phases) Report("ingest", publish_samples, phase, kBatch);
  std::printf("refill finished %.3f s after the restart; last degraded answer %.3f s after it\n",
              recovered_at - restart_at, last_degraded < 0 ? 0.0 : last_degraded - restart_at);

  // Exactly once: once the applier has caught up, Redis counts each acknowledged event once.
  const uint64_t head = (*data_dir)->EventCount();
  if (!applier->WaitAppliedForTest(head, 60'000)) {
    std::fprintf(stderr, "the applier did not catch up\n");
    return 1;
  }
  auto store = pulse::store::RedisFeatureStore::Create(config.redis, config.store);
  if (!store.ok()) return 1;
  uint64_t acked_total = 0, in_redis = 0;
  int mismatched = 0;
  for (const auto& [user, n] : acked) {
    auto history = (*store)->GetUserHistory(user);
    const uint64_t got = history.ok() ? history->events_total : 0;
    acked_total += n;
    in_redis += got;
    if (got != n) ++mismatched;
  }
  std::printf(
      "exactly once: %s — %llu acknowledged events over %zu users, %llu counted in Redis, "
      "%d users differ\n",
      mismatched == 0 && acked_total == in_redis ? "yes" : "NO",
      static_cast<unsigned long long>(acked_total), acked.size(),
      static_cast<unsigned long long>(in_redis), mismatched);
  server.Stop();
  return mismatched == 0 ? 0 : 1;
}
