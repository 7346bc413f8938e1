#include "api/grpc_server.h"

#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "api/fake_pulse_service.h"
#include "candidates/context.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pulse/v1/pulse.grpc.pb.h"
#include "pulse/v1/pulse.pb.h"
#include "testing/test_util.h"

namespace pulse::api {
namespace {

using ::google::protobuf::UnknownField;
using ::google::protobuf::UnknownFieldSet;
using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Debian ships no generated stubs for grpc.health.v1 or grpc.reflection.v1alpha, so the tests
// speak their (tiny) wire formats through a generic stub, encoding and decoding with
// UnknownFieldSet. A bidi reflection stream answers one request with one response, so a unary
// call carries it.
class RawCaller {
 public:
  explicit RawCaller(std::shared_ptr<grpc::Channel> channel) : stub_(std::move(channel)) {}

  grpc::Status Call(const std::string& method, const UnknownFieldSet& request,
                    UnknownFieldSet* response) {
    std::string bytes;
    request.SerializeToString(&bytes);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request_buffer(&slice, 1);
    grpc::ByteBuffer response_buffer;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::promise<grpc::Status> done;
    stub_.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                    [&done](grpc::Status status) { done.set_value(std::move(status)); });
    grpc::Status status = done.get_future().get();
    if (status.ok()) {
      std::vector<grpc::Slice> slices;
      (void)response_buffer.Dump(&slices);
      std::string out;
      for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
      response->ParseFromString(out);
    }
    return status;
  }

 private:
  grpc::GenericStub stub_;
};

// grpc.health.v1.HealthCheckResponse.ServingStatus
constexpr uint64_t kServing = 1;
constexpr uint64_t kNotServing = 2;

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(ServerConfig{}); }
  void TearDown() override { server_->Stop(1000); }

  void StartServer(ServerConfig config) {
    if (server_) server_->Stop(1000);
    config.grpc_threads = 2;
    server_ = std::make_unique<GrpcServer>(service_, config, &metrics_);
    ASSERT_THAT(server_->Start("127.0.0.1:0"), IsOk());
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  // Health status code for `service`, or -1 when the call failed.
  int64_t HealthStatus(const std::string& service) {
    UnknownFieldSet request;
    request.AddLengthDelimited(1, service);
    UnknownFieldSet response;
    grpc::Status status =
        RawCaller(channel_).Call("/grpc.health.v1.Health/Check", request, &response);
    if (!status.ok()) return -1;
    // An enum at its default (UNKNOWN = 0) is not on the wire.
    for (int i = 0; i < response.field_count(); ++i) {
      if (response.field(i).number() == 1) return static_cast<int64_t>(response.field(i).varint());
    }
    return 0;
  }

  testing::FakePulseService service_;
  RequestMetrics metrics_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(GrpcServerTest, RecommendMapsRequestAndResponse) {
  auto stub = v1::Recommender::NewStub(channel_);
  v1::RecommendRequest request;
  request.set_user_id("u1");
  request.set_n(2);
  request.add_exclude("i9");
  (*request.mutable_context())["surface"] = "home";
  (*request.mutable_context())["lang"] = "fr";
  request.set_debug(true);
  v1::RecommendResponse response;
  auto context = Context();
  context->AddMetadata("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  grpc::Status status = stub->Recommend(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.request_id(), "req-1");
  EXPECT_EQ(response.model_version(), "m1");
  EXPECT_FALSE(response.degraded());
  ASSERT_EQ(response.items_size(), 2);
  EXPECT_EQ(response.items(0).item_id(), "i0");
  EXPECT_FLOAT_EQ(response.items(0).score(), 0.9f);
  EXPECT_EQ(response.items(0).explanation_id(), "popular");
  EXPECT_EQ(response.items(0).source(), "popular");
  ASSERT_TRUE(response.has_debug());
  EXPECT_EQ(response.debug().trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  ASSERT_EQ(response.debug().stages_size(), 1);
  EXPECT_EQ(response.debug().stages(0).name(), "popular");
  EXPECT_EQ(response.debug().stages(0).duration_us(), 12);
  ASSERT_EQ(response.debug().removed_size(), 1);
  EXPECT_EQ(response.debug().removed(0).filter(), "request_exclude");
  EXPECT_EQ(response.debug().index_version(), "x1");

  auto seen = service_.last_recommend();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->user_id, "u1");
  EXPECT_EQ(seen->n, 2);
  EXPECT_THAT(seen->exclude, ElementsAre("i9"));
  EXPECT_THAT(seen->context, ElementsAre(std::pair<std::string, std::string>("lang", "fr"),
                                         std::pair<std::string, std::string>("surface", "home")));
  EXPECT_TRUE(seen->debug);
  EXPECT_EQ(metrics_.RequestCount("recommend", "OK"), 1u);
}

TEST_F(GrpcServerTest, ZeroNMeansDefaultAndNoDebugMeansNoDebugMessage) {
  auto stub = v1::Recommender::NewStub(channel_);
  v1::RecommendRequest request;
  request.set_user_id("u1");
  v1::RecommendResponse response;
  auto context = Context();
  ASSERT_TRUE(stub->Recommend(context.get(), request, &response).ok());
  EXPECT_FALSE(service_.last_recommend()->n.has_value());
  EXPECT_FALSE(response.has_debug());
  EXPECT_EQ(response.items_size(), 3);
}

TEST_F(GrpcServerTest, InvalidArgumentCarriesTheReason) {
  auto stub = v1::Recommender::NewStub(channel_);
  const std::vector<std::pair<v1::RecommendRequest, std::string>> cases = [] {
    std::vector<std::pair<v1::RecommendRequest, std::string>> out;
    v1::RecommendRequest r;
    r.set_user_id("u1");
    r.set_n(201);
    out.emplace_back(r, "n must be between 1 and 200");
    r.set_n(-1);
    out.emplace_back(r, "n must be between 1 and 200");
    r.set_n(0);
    r.set_user_id("");
    out.emplace_back(r, "user_id is required");
    r.set_user_id(std::string(257, 'u'));
    out.emplace_back(r, "user_id is longer than 256 bytes");
    r.set_user_id("u\x01");
    out.emplace_back(r, "user_id contains a control character");
    r.set_user_id("u1");
    r.add_exclude("");
    out.emplace_back(r, "exclude id must not be empty");
    return out;
  }();
  for (const auto& [request, reason] : cases) {
    v1::RecommendResponse response;
    auto context = Context();
    grpc::Status status = stub->Recommend(context.get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << reason;
    EXPECT_EQ(status.error_message(), reason);
  }
  EXPECT_EQ(service_.recommend_calls(), 0);
  EXPECT_EQ(metrics_.RequestCount("recommend", "INVALID_ARGUMENT"), cases.size());
}

TEST_F(GrpcServerTest, ServiceErrorsKeepTheirCode) {
  auto stub = v1::Recommender::NewStub(channel_);
  service_.FailRecommendWith(FailedPreconditionError("no model loaded"));
  v1::RecommendRequest request;
  request.set_user_id("u1");
  v1::RecommendResponse response;
  auto context = Context();
  grpc::Status status = stub->Recommend(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "no model loaded");
}

TEST_F(GrpcServerTest, CatalogUpsertAndDelete) {
  auto stub = v1::Catalog::NewStub(channel_);
  v1::UpsertItemsRequest upsert;
  auto* a = upsert.add_items();
  a->set_item_id("a");
  a->set_title("A");
  a->add_tags("t");
  a->set_created_at(5);
  upsert.add_items()->set_item_id("reject-me");
  auto* hidden = upsert.add_items();
  hidden->set_item_id("hidden");
  hidden->set_available(false);
  v1::UpsertItemsResponse upserted;
  auto context = Context();
  ASSERT_TRUE(stub->UpsertItems(context.get(), upsert, &upserted).ok());
  EXPECT_EQ(upserted.upserted(), 2);
  ASSERT_EQ(upserted.rejected_size(), 1);
  EXPECT_EQ(upserted.rejected(0).index(), 1);
  EXPECT_EQ(upserted.rejected(0).reason(), "rejected by the fake");
  auto items = service_.last_upsert();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].title, "A");
  EXPECT_THAT(items[0].tags, ElementsAre("t"));
  EXPECT_EQ(items[0].created_at_ms, 5);
  EXPECT_TRUE(items[0].available);  // unset on the wire means available
  EXPECT_FALSE(items[2].available);

  v1::DeleteItemRequest del;
  del.set_item_id("a");
  v1::DeleteItemResponse deleted;
  context = Context();
  ASSERT_TRUE(stub->DeleteItem(context.get(), del, &deleted).ok());
  EXPECT_TRUE(deleted.deleted());
  context = Context();
  EXPECT_EQ(stub->DeleteItem(context.get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  del.set_item_id("");
  context = Context();
  grpc::Status empty = stub->DeleteItem(context.get(), del, &deleted);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(empty.error_message(), HasSubstr("item_id"));
}

TEST_F(GrpcServerTest, HealthFollowsSetServing) {
  EXPECT_EQ(HealthStatus(""), static_cast<int64_t>(kNotServing));
  EXPECT_EQ(HealthStatus("pulse.v1.Recommender"), static_cast<int64_t>(kNotServing));
  server_->SetServing(true);
  EXPECT_EQ(HealthStatus(""), static_cast<int64_t>(kServing));
  EXPECT_EQ(HealthStatus("pulse.v1.Recommender"), static_cast<int64_t>(kServing));
  server_->SetServing(false);
  EXPECT_EQ(HealthStatus(""), static_cast<int64_t>(kNotServing));
  EXPECT_EQ(HealthStatus("no.such.Service"), -1);  // NOT_FOUND
}

TEST_F(GrpcServerTest, ReflectionListsTheServices) {
  // ServerReflectionRequest{list_services = 7: ""}
  UnknownFieldSet request;
  request.AddLengthDelimited(7, "");
  UnknownFieldSet response;
  grpc::Status status = RawCaller(channel_).Call(
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // ServerReflectionResponse{list_services_response = 6: {service = 1: {name = 1}}}
  std::vector<std::string> names;
  for (int i = 0; i < response.field_count(); ++i) {
    if (response.field(i).number() != 6) continue;
    UnknownFieldSet list;
    ASSERT_TRUE(list.ParseFromString(response.field(i).length_delimited()));
    for (int j = 0; j < list.field_count(); ++j) {
      UnknownFieldSet service;
      ASSERT_TRUE(service.ParseFromString(list.field(j).length_delimited()));
      ASSERT_GT(service.field_count(), 0);
      names.push_back(service.field(0).length_delimited());
    }
  }
  EXPECT_THAT(names, Contains("pulse.v1.Recommender"));
  EXPECT_THAT(names, Contains("pulse.v1.Catalog"));
  EXPECT_THAT(names, Contains("pulse.v1.Events"));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
}

TEST_F(GrpcServerTest, OversizedMessageIsResourceExhausted) {
  ServerConfig config;
  config.max_body_bytes = 4096;
  StartServer(config);
  auto stub = v1::Recommender::NewStub(channel_);
  v1::RecommendRequest request;
  request.set_user_id("u1");
  for (int i = 0; i < 1000; ++i) request.add_exclude(StrCat("item-", i));
  ASSERT_GT(request.ByteSizeLong(), 4096u);
  v1::RecommendResponse response;
  auto context = Context();
  grpc::Status status = stub->Recommend(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_EQ(service_.recommend_calls(), 0);

  // A message under the limit on the same channel still works.
  v1::RecommendRequest small;
  small.set_user_id("u1");
  context = Context();
  EXPECT_TRUE(stub->Recommend(context.get(), small, &response).ok());
}

v1::Event MakeEvent(const std::string& event_id, const std::string& user_id,
                    const std::string& item_id, const std::string& type, int64_t ts) {
  v1::Event event;
  event.set_event_id(event_id);
  event.set_user_id(user_id);
  event.set_item_id(item_id);
  event.set_type(type);
  event.set_ts(ts);
  return event;
}

TEST_F(GrpcServerTest, PublishMapsEventsAndResult) {
  auto stub = v1::Events::NewStub(channel_);
  v1::PublishRequest request;
  *request.add_events() = MakeEvent("e1", "u1", "i1", "click", 5);
  request.mutable_events(0)->set_dwell_ms(40);
  request.mutable_events(0)->set_request_id("r1");
  *request.add_events() = MakeEvent("", "u1", "", "click", 5);         // no item_id
  *request.add_events() = MakeEvent("", "u1", "i1", "like", 5);        // unknown type
  *request.add_events() = MakeEvent("", "u1", "reject-x", "view", 5);  // the fake refuses it
  *request.add_events() = MakeEvent("e1", "u1", "i1", "click", 5);     // duplicate
  v1::PublishResponse response;
  auto context = Context();
  grpc::Status status = stub->Publish(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.accepted(), 2);  // duplicates count as accepted: the retry succeeded
  EXPECT_EQ(response.duplicates(), 1);
  ASSERT_EQ(response.rejected_size(), 3);
  EXPECT_EQ(response.rejected(0).index(), 1);
  EXPECT_EQ(response.rejected(0).reason(), "item_id is required");
  EXPECT_EQ(response.rejected(1).index(), 2);
  EXPECT_THAT(response.rejected(1).reason(), HasSubstr("type must be one of"));
  EXPECT_EQ(response.rejected(2).index(), 3);

  EXPECT_EQ(service_.last_publish_source(), "grpc");
  auto inputs = service_.last_publish();
  ASSERT_EQ(inputs.size(), 5u);
  ASSERT_TRUE(inputs[0].event.has_value());
  EXPECT_EQ(inputs[0].event->dwell_ms, 40);
  EXPECT_EQ(inputs[0].event->request_id, "r1");
  EXPECT_EQ(inputs[0].event->type, EventType::kClick);
  EXPECT_EQ(inputs[0].raw,
            R"({"event_id":"e1","user_id":"u1","item_id":"i1","type":"click","ts":5,)"
            R"("dwell_ms":40,"request_id":"r1"})");
  EXPECT_EQ(metrics_.RequestCount("publish_events", "OK"), 1u);
}

TEST_F(GrpcServerTest, PublishEmptyRequestIsOk) {
  auto stub = v1::Events::NewStub(channel_);
  v1::PublishRequest request;
  v1::PublishResponse response;
  auto context = Context();
  EXPECT_TRUE(stub->Publish(context.get(), request, &response).ok());
  EXPECT_EQ(response.accepted(), 0);
  EXPECT_EQ(service_.publish_calls(), 0);
}

TEST_F(GrpcServerTest, PublishErrorsMapOneToOne) {
  auto stub = v1::Events::NewStub(channel_);
  v1::PublishRequest request;
  *request.add_events() = MakeEvent("", "u1", "i1", "click", 5);
  v1::PublishResponse response;
  service_.FailPublishWith(ResourceExhaustedError("ingest is saturated"));
  auto context = Context();
  grpc::Status status = stub->Publish(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "ingest is saturated");
  service_.FailPublishWith(UnimplementedError("no ingest"));
  context = Context();
  EXPECT_EQ(stub->Publish(context.get(), request, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(metrics_.RequestCount("publish_events", "RESOURCE_EXHAUSTED"), 1u);
}

// server.grpc_max_streams caps the calls one connection has open: with 1, a second and third
// call wait in the client while the first is held in the service; without the cap they reach
// the server (here both workers).
TEST_F(GrpcServerTest, MaxStreamsBoundsCallsInFlightPerConnection) {
  for (const int max_streams : {0, 1}) {
    SCOPED_TRACE(max_streams);
    ServerConfig config;
    config.grpc_max_streams = max_streams;
    StartServer(config);
    service_.HoldRecommends();
    auto stub = v1::Recommender::NewStub(channel_);
    constexpr int kCalls = 3;
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<v1::RecommendRequest> requests(kCalls);
    std::vector<v1::RecommendResponse> responses(kCalls);
    std::vector<std::promise<grpc::Status>> done(kCalls);
    for (int i = 0; i < kCalls; ++i) {
      contexts.push_back(Context());
      requests[i].set_user_id(StrCat("u", i));
      stub->async()->Recommend(contexts[i].get(), &requests[i], &responses[i],
                               [&done, i](grpc::Status s) { done[i].set_value(std::move(s)); });
    }
    ASSERT_GE(service_.WaitHeld(1, std::chrono::seconds(10)), 1);
    if (max_streams == 1) {
      // A negative check needs a wait: long enough for a second call to have arrived.
      EXPECT_EQ(service_.WaitHeld(2, std::chrono::milliseconds(300)), 1);
    } else {
      EXPECT_GE(service_.WaitHeld(2, std::chrono::seconds(10)), 2);
    }
    service_.ReleaseRecommends();
    for (int i = 0; i < kCalls; ++i) {
      EXPECT_TRUE(done[i].get_future().get().ok()) << "call " << i;
    }
  }
}

TEST_F(GrpcServerTest, ConcurrentCallsAllSucceed) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto stub = v1::Recommender::NewStub(channel_);
      for (int i = 0; i < 25; ++i) {
        v1::RecommendRequest request;
        request.set_user_id("u1");
        v1::RecommendResponse response;
        auto context = Context();
        if (stub->Recommend(context.get(), request, &response).ok()) ok.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 100);
}

TEST(GrpcServerStartTest, BusyPortAndStopSemantics) {
  testing::FakePulseService service;
  RequestMetrics metrics;
  GrpcServer first(service, ServerConfig{}, &metrics);
  ASSERT_THAT(first.Start("127.0.0.1:0"), IsOk());
  EXPECT_THAT(first.Start("127.0.0.1:0"), StatusIs(StatusCode::kFailedPrecondition));
  GrpcServer second(service, ServerConfig{}, &metrics);
  EXPECT_THAT(second.Start(StrCat("127.0.0.1:", first.port())),
              StatusIs(StatusCode::kUnavailable, "cannot listen"));
  EXPECT_EQ(second.port(), 0);
  second.SetServing(true);  // before Start: remembered, harmless

  const int port = first.port();
  first.Stop(100);
  first.Stop(100);  // idempotent
  EXPECT_EQ(first.port(), 0);
  auto channel =
      grpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  auto stub = v1::Recommender::NewStub(channel);
  v1::RecommendRequest request;
  request.set_user_id("u1");
  v1::RecommendResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(stub->Recommend(&context, request, &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // Serving status set before Start applies once started.
  ASSERT_THAT(second.Start("127.0.0.1:0"), IsOk());
  UnknownFieldSet check;
  check.AddLengthDelimited(1, "");
  UnknownFieldSet health;
  auto second_channel =
      grpc::CreateChannel(StrCat("127.0.0.1:", second.port()), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(RawCaller(second_channel).Call("/grpc.health.v1.Health/Check", check, &health).ok());
  ASSERT_EQ(health.field_count(), 1);
  EXPECT_EQ(health.field(0).varint(), kServing);
  second.Stop(100);
}

TEST(ToGrpcStatusTest, SameNumbersSameMessage) {
  for (int code = 0; code <= 16; ++code) {
    Status status(static_cast<StatusCode>(code), "why");
    grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
    EXPECT_EQ(converted.error_message(), code == 0 ? "" : "why");
  }
  EXPECT_EQ(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT),
            static_cast<int>(StatusCode::kInvalidArgument));
  EXPECT_EQ(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED),
            static_cast<int>(StatusCode::kUnauthenticated));
}

// The gRPC deadline reaches the service as the request's deadline; without one the configured
// default applies.
TEST_F(GrpcServerTest, ClientDeadlineBecomesTheRequestDeadline) {
  auto stub = v1::Recommender::NewStub(channel_);
  v1::RecommendRequest request;
  request.set_user_id("u1");
  v1::RecommendResponse response;
  grpc::ClientContext context;
  const int64_t before_us = candidates::SteadyNowMicros();
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(stub->Recommend(&context, request, &response).ok());
  const int64_t after_us = candidates::SteadyNowMicros();
  ASSERT_TRUE(service_.last_recommend().has_value());
  EXPECT_GT(service_.last_recommend()->deadline_us, before_us);
  // The wire carries the timeout at coarse precision (rounded up): allow 100 ms.
  EXPECT_LE(service_.last_recommend()->deadline_us, after_us + 5'100'000);

  grpc::ClientContext no_deadline;
  ASSERT_TRUE(stub->Recommend(&no_deadline, request, &response).ok());
  EXPECT_EQ(service_.last_recommend()->deadline_us, 0);

  ServerConfig config;
  config.default_deadline_ms = 300;
  StartServer(config);
  auto stub2 = v1::Recommender::NewStub(channel_);
  grpc::ClientContext with_default;
  const int64_t start_us = candidates::SteadyNowMicros();
  ASSERT_TRUE(stub2->Recommend(&with_default, request, &response).ok());
  EXPECT_GE(service_.last_recommend()->deadline_us, start_us + 300'000);
  EXPECT_LE(service_.last_recommend()->deadline_us, candidates::SteadyNowMicros() + 300'000);
  EXPECT_GT(service_.last_recommend()->deadline_us, 0);
}

}  // namespace
}  // namespace pulse::api
