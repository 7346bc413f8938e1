// Durable ingest throughput over the wire: client threads send batches of 100 events to an
// in-process server (engine + HTTP + gRPC front ends on free loopback ports) for a fixed time;
// every accepted event is fsync'd (group commit) before its reply. Reports events/s per protocol.
//
//   ./build/bench/ingest_wire_bench [clients=8] [seconds=5]
//   PULSE_REDIS=127.0.0.1:6379 ./build/bench/ingest_wire_bench ...   (store.backend: redis; also
//       reports how far the asynchronous Redis applier lagged and how long it took to catch up)
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "api/grpc_server.h"
#include "api/http_server.h"
#include "core/strings.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "pulse/v1/pulse.grpc.pb.h"
#include "serving/engine.h"
#include "store/data_dir.h"

namespace {

constexpr int kBatch = 100;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename SendBatch>
double Run(const char* name, int clients, int seconds, SendBatch send_batch) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> failed{0};
  std::vector<std::thread> threads;
  auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      int64_t sequence = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        int n = send_batch(c, sequence++);
        if (n < 0) {
          failed.fetch_add(1);
        } else {
          accepted.fetch_add(n);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double rate = static_cast<double>(accepted.load()) / elapsed;
  std::printf(
      "%-5s clients %d  batch %d  accepted %lld events in %.1f s  = %.0f events/s  "
      "(failed batches %lld)\n",
      name, clients, kBatch, static_cast<long long>(accepted.load()), elapsed, rate,
      static_cast<long long>(failed.load()));
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::max(1, std::atoi(argv[1])) : 8;
  const int seconds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  const std::string dir =
      (std::filesystem::temp_directory_path() / "pulse-ingest-wire-bench").string();
  std::filesystem::remove_all(dir);
  pulse::Config config;
  config.data_dir = dir;
  config.server.model_poll_ms = 0;
  config.server.http_threads = clients;
  if (const char* redis = std::getenv("PULSE_REDIS")) {
    config.store.backend = "redis";
    config.redis.address = redis;
  }
  auto data_dir = pulse::store::DataDir::Open(dir, config.store);
  if (!data_dir.ok()) return 1;
  auto engine = pulse::serving::Engine::Create(config, data_dir->get());
  if (!engine.ok()) return 1;
  pulse::api::HttpServer http(**engine, config.server);
  pulse::api::GrpcServer grpc(**engine, config.server);
  if (!http.Start("127.0.0.1:0").ok() || !grpc.Start("127.0.0.1:0").ok()) return 1;
  const int64_t base_ts = NowMs();

  Run("http", clients, seconds, [&](int client_id, int64_t sequence) {
    thread_local httplib::Client client("127.0.0.1", http.port());
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);
    nlohmann::json batch = nlohmann::json::array();
    for (int i = 0; i < kBatch; ++i) {
      std::string id = pulse::StrCat("h", client_id, "-", sequence, "-", i);
      batch.push_back({{"event_id", id},
                       {"user_id", pulse::StrCat("u", (sequence * kBatch + i) % 10000)},
                       {"item_id", pulse::StrCat("i", i * 7 % 5000)},
                       {"type", "view"},
                       {"ts", base_ts}});
    }
    auto res = client.Post("/v1/events", batch.dump(), "application/json");
    if (!res || res->status != 202) return -1;
    return nlohmann::json::parse(res->body)["accepted"].get<int>();
  });

  auto channel = grpc::CreateChannel(pulse::StrCat("127.0.0.1:", grpc.port()),
                                     grpc::InsecureChannelCredentials());
  Run("grpc", clients, seconds, [&](int client_id, int64_t sequence) {
    thread_local auto stub = pulse::v1::Events::NewStub(channel);
    pulse::v1::PublishRequest request;
    for (int i = 0; i < kBatch; ++i) {
      pulse::v1::Event* event = request.add_events();
      event->set_event_id(pulse::StrCat("g", client_id, "-", sequence, "-", i));
      event->set_user_id(pulse::StrCat("u", (sequence * kBatch + i) % 10000));
      event->set_item_id(pulse::StrCat("i", i * 7 % 5000));
      event->set_type("view");
      event->set_ts(base_ts);
    }
    pulse::v1::PublishResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub->Publish(&context, request, &response);
    return status.ok() ? response.accepted() : -1;
  });
  grpc.Stop(1000);
  http.Stop();
  if (auto* applier = (*engine)->feature_store_applier()) {
    const uint64_t lag = applier->lag_events();
    const auto start = std::chrono::steady_clock::now();
    applier->WaitAppliedForTest((*data_dir)->EventCount(), 600'000);
    std::printf("redis applier: %llu events behind at the end, caught up %.2f s later\n",
                static_cast<unsigned long long>(lag),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  engine->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
