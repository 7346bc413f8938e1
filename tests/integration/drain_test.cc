// Serving under SIGTERM and deadlines, against the real binary with an injected slow source
// (pipeline.fault_injection): in-flight requests finish during the drain while new ones are
// refused; a request's deadline stops the pipeline instead of waiting out the slow stage.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "pulse/v1/pulse.grpc.pb.h"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

using nlohmann::json;

class DrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    ASSERT_EQ(PrepareTrainedDataDir(dir_->path(), dir_->Sub("data"), 200, 150, 6000, 8), "");
  }
  static void TearDownTestSuite() { delete dir_; }

  // A server whose `ann` source takes `delay_ms` (or until the request's deadline).
  static std::unique_ptr<ServerProcess> StartSlowServer(int delay_ms, const std::string& name) {
    const std::string config = dir_->Sub(name + ".yaml");
    testing::WriteFile(config,
                       StrCat("server:\n  drain_timeout_ms: 10000\n"
                              "pipeline:\n  fault_injection: {delay_source: ann, delay_ms: ",
                              delay_ms, "}\n"));
    std::string error;
    auto server = ServerProcess::Start(
        {"serve", "--config", config, "--data-dir", dir_->Sub("data")}, &error);
    EXPECT_NE(server, nullptr) << error;
    if (server) {
      EXPECT_TRUE(WaitReady(server->http_port())) << server->Output();
    }
    return server;
  }

  static testing::TempDir* dir_;
};

testing::TempDir* DrainTest::dir_ = nullptr;

// Eight clients keep calls in flight (each takes >= 300 ms on the server) when SIGTERM arrives.
// Every call that was surely on the server by then (started 200 ms before the signal or
// earlier) must succeed; calls sent as the drain begins are refused (UNAVAILABLE, or CANCELLED
// when the server is already shutting down); the server exits 0 without cancelling anything at
// the drain deadline.
TEST_F(DrainTest, SigtermFinishesInFlightCallsAndRefusesNewOnes) {
  auto server = StartSlowServer(300, "drain");
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel(server->grpc_target(), grpc::InsecureChannelCredentials());
  auto stub = v1::Recommender::NewStub(channel);
  using Clock = std::chrono::steady_clock;

  struct CallRecord {
    Clock::time_point start;
    Clock::time_point end;
    grpc::StatusCode code;
    std::string message;
  };
  std::mutex mu;
  std::condition_variable progress;
  int ok_total = 0;
  std::vector<CallRecord> calls;  // guarded by mu

  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0;; ++i) {
        v1::RecommendRequest request;
        request.set_user_id(StrCat("u", 1 + (c * 17 + i) % 200));
        v1::RecommendResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        const auto start = Clock::now();
        grpc::Status status = stub->Recommend(&context, request, &response);
        std::lock_guard<std::mutex> lock(mu);
        calls.push_back({start, Clock::now(), status.error_code(), status.error_message()});
        if (!status.ok()) return;  // the server is going away: this client stops
        ++ok_total;
        progress.notify_all();
      }
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(progress.wait_for(lock, std::chrono::seconds(60), [&] { return ok_total >= 16; }))
        << server->Output();
  }
  const auto signal_time = Clock::now();
  const int exit_status = server->Stop(SIGTERM, 60);
  for (auto& client : clients) client.join();

  EXPECT_EQ(exit_status, 0) << server->Output();
  int finished_during_drain = 0;
  int refused = 0;
  for (const CallRecord& call : calls) {
    if (call.code == grpc::StatusCode::OK) {
      if (call.end > signal_time) ++finished_during_drain;
      continue;
    }
    EXPECT_GT(call.start, signal_time - std::chrono::milliseconds(200))
        << "an in-flight call failed: " << static_cast<int>(call.code) << " " << call.message;
    EXPECT_TRUE(call.code == grpc::StatusCode::UNAVAILABLE ||
                call.code == grpc::StatusCode::CANCELLED)
        << static_cast<int>(call.code) << " " << call.message;
    ++refused;
  }
  EXPECT_GE(finished_during_drain, 1) << "no in-flight call finished during the drain";
  EXPECT_EQ(refused, 8);  // each client stops at its first refused call
  const std::string log = server->Output();
  EXPECT_NE(log.find(", 0 cancelled at the drain deadline"), std::string::npos) << log;
  EXPECT_NE(log.find("drained in"), std::string::npos) << log;
}

// The slow source would take 60 s; a 50 ms deadline ends the request at the deadline with
// DEADLINE_EXCEEDED (no stage after the slow one starts), over both protocols.
TEST_F(DrainTest, DeadlineStopsThePipelineAtTheDeadline) {
  constexpr int kDelayMs = 60'000;
  auto server = StartSlowServer(kDelayMs, "deadline");
  ASSERT_NE(server, nullptr);

  httplib::Client http("127.0.0.1", server->http_port());
  http.set_read_timeout(kDelayMs / 1000 * 2, 0);
  const auto start = std::chrono::steady_clock::now();
  auto res = http.Post("/v1/recommend", {{"x-pulse-deadline-ms", "50"}}, R"({"user_id":"u3"})",
                       "application/json");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504) << res->body;
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "DEADLINE_EXCEEDED");
  // The server answered without waiting out the injected delay.
  EXPECT_LT(elapsed, std::chrono::milliseconds(kDelayMs));

  auto stub = v1::Recommender::NewStub(
      grpc::CreateChannel(server->grpc_target(), grpc::InsecureChannelCredentials()));
  v1::RecommendRequest request;
  request.set_user_id("u3");
  v1::RecommendResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
  grpc::Status status = stub->Recommend(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  // Both requests were stopped inside the pipeline, by the server (polled: the gRPC reply may
  // land after the client gave up).
  int64_t in_pipeline = 0;
  for (int i = 0; i < 200 && in_pipeline < 2; ++i) {
    auto metrics = http.Get("/metrics");
    ASSERT_TRUE(metrics);
    const std::string key = "pulse_deadline_exceeded_total{where=\"pipeline\"} ";
    const size_t at = metrics->body.find(key);
    ASSERT_NE(at, std::string::npos) << metrics->body;
    in_pipeline = std::stoll(metrics->body.substr(at + key.size()));
    if (in_pipeline < 2) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(in_pipeline, 2);
  // Requests without a deadline are not affected by this test's server: stop it now.
  EXPECT_EQ(server->Stop(SIGTERM, 60), 0) << server->Output();
}

}  // namespace
}  // namespace pulse::integration
