// Admission control in both front ends: per-client rate limits (HTTP 429 + Retry-After + JSON
// error; gRPC RESOURCE_EXHAUSTED + retry-after-ms), bulkheads per endpoint class (503), and
// exempt probes.
#include "resilience/admission.h"

#include <grpcpp/grpcpp.h>

#include "api/fake_pulse_service.h"
#include "api/grpc_server.h"
#include "api/http_server.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "pulse/v1/pulse.grpc.pb.h"
#include "testing/test_util.h"

namespace pulse::api {
namespace {

using ::pulse::testing::IsOk;

class AdmissionFrontEndTest : public ::testing::Test {
 protected:
  // Quota 2/s with a burst of 2 per client; at most 1 ingest call in flight.
  AdmissionFrontEndTest()
      : limiter_(2, 2, 1000, clock_),
        http_admission_("http", Options(), &limiter_, clock_),
        grpc_admission_("grpc", Options(), &limiter_, clock_) {}

  static resilience::AdmissionOptions Options() {
    resilience::AdmissionOptions options;
    options.max_in_flight = {0, 1, 0};
    options.adaptive = false;
    return options;
  }

  ::pulse::testing::FakeClock clock_;
  resilience::KeyedRateLimiter limiter_;
  resilience::AdmissionController http_admission_;
  resilience::AdmissionController grpc_admission_;
  api::testing::FakePulseService service_;
  RequestMetrics metrics_;
};

TEST_F(AdmissionFrontEndTest, HttpRateLimitIsPerClientWith429AndRetryAfter) {
  HttpServer server(service_, ServerConfig{}, &metrics_);
  server.SetAdmission(&http_admission_);
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  httplib::Client client("127.0.0.1", server.port());
  const std::string body = R"({"user_id":"u1"})";
  httplib::Headers abuser = {{"x-api-key", "abuser"}};
  EXPECT_EQ(client.Post("/v1/recommend", abuser, body, "application/json")->status, 200);
  EXPECT_EQ(client.Post("/v1/recommend", abuser, body, "application/json")->status, 200);
  auto limited = client.Post("/v1/recommend", abuser, body, "application/json");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->get_header_value("Retry-After"), "1");
  auto error = nlohmann::json::parse(limited->body);
  EXPECT_EQ(error["error"]["code"], "RESOURCE_EXHAUSTED");
  EXPECT_EQ(service_.recommend_calls(), 2) << "refused before the service";
  // Another key has its own quota; probes are never limited.
  httplib::Headers other = {{"x-api-key", "polite"}};
  EXPECT_EQ(client.Post("/v1/recommend", other, body, "application/json")->status, 200);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.Get("/healthz", abuser)->status, 200);
  // Without a key the client is its address.
  EXPECT_EQ(client.Post("/v1/recommend", body, "application/json")->status, 200);
  EXPECT_EQ(client.Post("/v1/recommend", body, "application/json")->status, 200);
  EXPECT_EQ(client.Post("/v1/recommend", body, "application/json")->status, 429);
  EXPECT_EQ(metrics_.RequestCount("recommend", "RESOURCE_EXHAUSTED"), 2u);
  // The quota refills with time.
  clock_.AdvanceMillis(500);
  EXPECT_EQ(client.Post("/v1/recommend", abuser, body, "application/json")->status, 200);
  server.Stop();
}

TEST_F(AdmissionFrontEndTest, HttpFullBulkheadIs503) {
  resilience::AdmissionController tight("http", Options(), nullptr, clock_);
  HttpServer server(service_, ServerConfig{}, &metrics_);
  server.SetAdmission(&tight);
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  // Hold the only ingest slot, as a slow in-flight ingest call would.
  auto held = tight.Admit(resilience::EndpointClass::kIngest, "someone");
  ASSERT_TRUE(held.admitted());
  httplib::Client client("127.0.0.1", server.port());
  auto refused = client.Post(
      "/v1/events", R"([{"user_id":"u","item_id":"i","type":"click","ts":1}])", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  EXPECT_EQ(nlohmann::json::parse(refused->body)["error"]["code"], "UNAVAILABLE");
  // Recommend has its own compartment.
  EXPECT_EQ(client.Post("/v1/recommend", R"({"user_id":"u1"})", "application/json")->status, 200);
  held.Complete(0);
  auto accepted = client.Post(
      "/v1/events", R"([{"user_id":"u","item_id":"i","type":"click","ts":1}])", "application/json");
  EXPECT_EQ(accepted->status, 202);
  server.Stop();
}

TEST_F(AdmissionFrontEndTest, GrpcRateLimitIsResourceExhaustedWithRetryHint) {
  GrpcServer server(service_, ServerConfig{}, &metrics_);
  server.SetAdmission(&grpc_admission_);
  ASSERT_THAT(server.Start("127.0.0.1:0"), IsOk());
  auto channel =
      grpc::CreateChannel(StrCat("127.0.0.1:", server.port()), grpc::InsecureChannelCredentials());
  auto stub = v1::Recommender::NewStub(channel);
  v1::RecommendRequest request;
  request.set_user_id("u1");
  auto call = [&](const std::string& key, grpc::ClientContext* context) {
    if (!key.empty()) context->AddMetadata("x-api-key", key);
    v1::RecommendResponse response;
    return stub->Recommend(context, request, &response);
  };
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    EXPECT_TRUE(call("abuser", &context).ok());
  }
  grpc::ClientContext limited_context;
  grpc::Status limited = call("abuser", &limited_context);
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const auto& trailers = limited_context.GetServerTrailingMetadata();
  auto hint = trailers.find("retry-after-ms");
  ASSERT_NE(hint, trailers.end());
  EXPECT_EQ(std::string(hint->second.data(), hint->second.size()), "500");
  grpc::ClientContext other;
  EXPECT_TRUE(call("polite", &other).ok());
  server.Stop(0);
}

}  // namespace
}  // namespace pulse::api
