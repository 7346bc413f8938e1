// End-to-end freshness of the embedded deployment: for each of N brand-new users, publish one
// click over HTTP (POST /v1/events), then poll POST /v1/recommend until the answer reflects it
// (personal `similar_to_recent` items instead of the popular fallback). Reports the time from
// sending the event to the first request that shows the change: p50/p99/max.
//
//   ./build/bench/freshness_bench [--users 1000]
//       The server (engine + HTTP front end) runs in this process on a free loopback port over a
//       data dir generated and trained on first use (pulse gen/import/train, 2,000 × 3,000).
//   ./build/bench/freshness_bench --target 127.0.0.1:8080 --kafka BOOTSTRAP --topic pulse-events
//       Against a running `pulse serve` (e.g. with store.backend: redis and kafka.brokers set):
//       each click is produced to Kafka (key = user id) instead of posted over HTTP; the clock
//       starts before the produce call.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "core/flags.h"
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

int RunExternal(const pulse::Flags& flags, int users);

// A minimal librdkafka producer for the external mode (delivery awaited per event).
class KafkaProducer {
 public:
  static std::unique_ptr<KafkaProducer> Create(const std::string& bootstrap, std::string topic) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (rk == nullptr) return nullptr;
    return std::unique_ptr<KafkaProducer>(new KafkaProducer(rk, std::move(topic)));
  }
  ~KafkaProducer() {
    rd_kafka_flush(rk_, 5000);
    rd_kafka_destroy(rk_);
  }
  bool Send(const std::string& key, const std::string& value) {
    rd_kafka_resp_err_t err =
        rd_kafka_producev(rk_, RD_KAFKA_V_TOPIC(topic_.c_str()),
                          RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    return err == RD_KAFKA_RESP_ERR_NO_ERROR && rd_kafka_flush(rk_, 5000) == 0;
  }

 private:
  KafkaProducer(rd_kafka_t* rk, std::string topic) : rk_(rk), topic_(std::move(topic)) {}
  rd_kafka_t* rk_;
  std::string topic_;
};

int main(int argc, char** argv) {
  auto flags = pulse::Flags::Parse(std::vector<std::string>(argv + 1, argv + argc),
                                   {"users", "target", "kafka", "topic"});
  if (!flags.ok()) return pulse::ExitWithError("freshness_bench", flags.status());
  const int users =
      static_cast<int>(std::max<int64_t>(1, flags->GetInt("users", 1000).value_or(1000)));
  if (flags->Has("target")) {
    return RunExternal(*flags, users);
  }
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

int RunExternal(const pulse::Flags& flags, int users) {
  const std::string target = flags.GetString("target");
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) return 2;
  httplib::Client client(target.substr(0, colon), std::atoi(target.c_str() + colon + 1));
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  std::unique_ptr<KafkaProducer> producer;
  if (flags.Has("kafka")) {
    producer =
        KafkaProducer::Create(flags.GetString("kafka"), flags.GetString("topic", "pulse-events"));
    if (!producer) {
      std::fprintf(stderr, "cannot create a Kafka producer\n");
      return 1;
    }
  }
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
  const int64_t run = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::vector<double> millis;
  int polls_total = 0;
  for (int u = 0; u < users; ++u) {
    const std::string user = pulse::StrCat("fresh-", run, "-", u);
    nlohmann::json event = {{"event_id", user + "-e"},
                            {"user_id", user},
                            {"item_id", items[static_cast<size_t>(u) % items.size()]},
                            {"type", "click"},
                            {"ts", run + u}};
    nlohmann::json request = {{"user_id", user}, {"n", 10}};
    auto start = Clock::now();
    if (producer) {
      if (!producer->Send(user, event.dump())) return 1;
    } else {
      auto res =
          client.Post("/v1/events", nlohmann::json::array({event}).dump(), "application/json");
      if (!res || res->status != 202) return 1;
    }
    while (true) {
      ++polls_total;
      auto res = client.Post("/v1/recommend", request.dump(), "application/json");
      if (res && res->status == 200 && Personal(res->body)) break;
      if (Clock::now() - start > std::chrono::seconds(10)) {
        std::fprintf(stderr, "change not visible after 10 s\n");
        return 1;
      }
    }
    millis.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(millis.begin(), millis.end());
  auto at = [&](double q) { return millis[static_cast<size_t>(q * (millis.size() - 1))]; };
  std::printf(
      "users %d  via %s  polls/user %.2f  freshness ms: p50 %.2f  p90 %.2f  p99 %.2f  "
      "max %.2f\n",
      users, producer ? "kafka" : "http", static_cast<double>(polls_total) / users, at(0.5),
      at(0.9), at(0.99), millis.back());
  return 0;
}
