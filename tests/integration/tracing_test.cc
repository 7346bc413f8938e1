// Traces end to end: `pulse serve` exports spans over OTLP/HTTP (JSON) to a collector this test
// runs (a cpp-httplib server). Requests with and without a W3C traceparent, over HTTP and gRPC;
// the spans' parent/child structure and attributes are checked as the collector received them.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
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

constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParentSpan[] = "00f067aa0ba902b7";
constexpr char kErrorTraceId[] = "5b8aa5a2d2c872e8321cf37308d69df2";
constexpr char kGrpcTraceId[] = "0af7651916cd43dd8448eb211c80319c";
// Distinctive, so the test can check no span carries it.
constexpr char kUser[] = "u7";

class Collector {
 public:
  Collector() {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      json body = json::parse(req.body, nullptr, false);
      std::lock_guard<std::mutex> lock(mu_);
      bodies_.push_back(req.body);
      if (body.is_object()) {
        for (auto& rs : body["resourceSpans"]) {
          for (auto& ss : rs["scopeSpans"]) {
            for (auto& span : ss["spans"]) spans_.push_back(span);
          }
        }
      }
      cv_.notify_all();
      res.status = 200;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~Collector() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

  // The spans of `trace_id` once at least `min_spans` arrived (bounded wait).
  std::vector<json> WaitForTrace(const std::string& trace_id, size_t min_spans) {
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<json> found;
    cv_.wait_for(lock, std::chrono::seconds(30), [&] {
      found.clear();
      for (const json& span : spans_) {
        if (span["traceId"] == trace_id) found.push_back(span);
      }
      return found.size() >= min_spans;
    });
    return found;
  }
  std::string AllBodies() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string all;
    for (const auto& body : bodies_) all += body;
    return all;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> spans_;
  std::vector<std::string> bodies_;
};

const json* FindSpan(const std::vector<json>& spans, const std::string& name) {
  for (const json& span : spans) {
    if (span["name"] == name) return &span;
  }
  return nullptr;
}

std::map<std::string, json> Attributes(const json& span) {
  std::map<std::string, json> out;
  for (const json& attribute : span["attributes"]) {
    const json& value = attribute["value"];
    out[attribute["key"]] = value.begin().value();
  }
  return out;
}

class TracingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    collector_ = new Collector();
    const std::string data_dir = dir_->Sub("data");
    ASSERT_EQ(PrepareTrainedDataDir(dir_->path(), data_dir, 200, 150, 5000, 5), "");
    testing::WriteFile(dir_->Sub("pulse.yaml"),
                       StrCat("obs:\n  tracing:\n    endpoint: \"http://127.0.0.1:",
                              collector_->port(), "\"\n    sample_ratio: 1.0\n    flush_ms: 20\n",
                              // Long enough that a repeated request is a cache hit on any machine.
                              "cache:\n  ttl_ms: 600000\n"));
    std::string error;
    server_ = ServerProcess::Start(
                  {"serve", "--data-dir", data_dir, "--config", dir_->Sub("pulse.yaml")}, &error)
                  .release();
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_TRUE(WaitReady(server_->http_port())) << server_->Output();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete collector_;
    delete dir_;
  }

  static httplib::Result Recommend(const httplib::Headers& headers) {
    httplib::Client client("127.0.0.1", server_->http_port());
    client.set_read_timeout(10);
    json body = {{"user_id", kUser}, {"n", 5}, {"debug", true}};
    return client.Post("/v1/recommend", headers, body.dump(), "application/json");
  }

  // Root (server) span → "recommend" span → one span per stage, all in one trace.
  static void ExpectRequestStructure(const std::vector<json>& spans, const std::string& root_name) {
    const json* root = FindSpan(spans, root_name);
    ASSERT_NE(root, nullptr) << json(spans).dump(1);
    EXPECT_EQ((*root)["kind"], 2);
    const json* recommend = FindSpan(spans, "recommend");
    ASSERT_NE(recommend, nullptr);
    EXPECT_EQ((*recommend)["parentSpanId"], (*root)["spanId"]);
    auto attributes = Attributes(*recommend);
    ASSERT_TRUE(attributes.count("pulse.user_bucket"));
    EXPECT_GE(std::stoll(attributes["pulse.user_bucket"].get<std::string>()), 0);
    EXPECT_FALSE(attributes["pulse.model_version"].get<std::string>().empty());
    EXPECT_TRUE(attributes.count("pulse.degraded"));
    EXPECT_TRUE(attributes.count("pulse.fallback"));
    EXPECT_TRUE(attributes.count("pulse.candidates.ann"));
    EXPECT_TRUE(attributes.count("pulse.candidates.popular"));
    for (const char* stage : {"stage user", "stage ann", "stage popular", "stage merge",
                              "stage seen", "stage linear", "stage truncate_top_n"}) {
      const json* span = FindSpan(spans, stage);
      ASSERT_NE(span, nullptr) << stage;
      EXPECT_EQ((*span)["parentSpanId"], (*recommend)["spanId"]) << stage;
      EXPECT_TRUE(Attributes(*span).count("pulse.candidates")) << stage;
      EXPECT_LE(std::stoll((*span)["startTimeUnixNano"].get<std::string>()),
                std::stoll((*span)["endTimeUnixNano"].get<std::string>()));
    }
  }

  static testing::TempDir* dir_;
  static Collector* collector_;
  static ServerProcess* server_;
};

testing::TempDir* TracingTest::dir_ = nullptr;
Collector* TracingTest::collector_ = nullptr;
ServerProcess* TracingTest::server_ = nullptr;

TEST_F(TracingTest, HttpRequestWithTraceparentContinuesTheCallersTrace) {
  auto res = Recommend({{"traceparent", StrCat("00-", kTraceId, "-", kParentSpan, "-01")}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json body = json::parse(res->body);
  EXPECT_EQ(body["debug"]["trace_id"], kTraceId);
  // The server propagates the trace back: same trace, its own span.
  std::string echoed = res->get_header_value("traceparent");
  EXPECT_EQ(echoed.substr(0, 36), StrCat("00-", kTraceId, "-"));
  EXPECT_NE(echoed.substr(36, 16), kParentSpan);

  std::vector<json> spans = collector_->WaitForTrace(kTraceId, 10);
  ASSERT_GE(spans.size(), 10u);
  const json* root = FindSpan(spans, "http recommend");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ((*root)["parentSpanId"], kParentSpan);
  EXPECT_EQ((*root)["spanId"], echoed.substr(36, 16));
  EXPECT_EQ(Attributes(*root)["pulse.code"], "OK");
  ExpectRequestStructure(spans, "http recommend");
  // Spans carry a hash bucket, never the user id.
  EXPECT_EQ(collector_->AllBodies().find(StrCat("\"", kUser, "\"")), std::string::npos);
}

TEST_F(TracingTest, HttpRequestWithoutOrWithMalformedTraceparentStartsANewTrace) {
  for (const httplib::Headers& headers :
       {httplib::Headers{}, httplib::Headers{{"traceparent", "00-garbage-01"}}}) {
    auto res = Recommend(headers);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    json body = json::parse(res->body);
    const std::string trace_id = body["debug"]["trace_id"];
    ASSERT_EQ(trace_id.size(), 32u);
    std::vector<json> spans = collector_->WaitForTrace(trace_id, 10);
    const json* root = FindSpan(spans, "http recommend");
    ASSERT_NE(root, nullptr);
    EXPECT_FALSE(root->contains("parentSpanId"));  // a root of its own
    ExpectRequestStructure(spans, "http recommend");
  }
}

TEST_F(TracingTest, DebugResponseHasFeatureValuesAndAges) {
  auto res = Recommend({});
  ASSERT_TRUE(res);
  json debug = json::parse(res->body)["debug"];
  ASSERT_TRUE(debug["candidates_by_source"].is_object()) << debug.dump();
  EXPECT_TRUE(debug["candidates_by_source"].contains("ann"));
  ASSERT_TRUE(debug["user_features"].is_array());
  bool has_history = false;
  for (const json& feature : debug["user_features"]) {
    if (feature["name"] == "history_items") {
      has_history = true;
      EXPECT_GT(feature["value"].get<double>(), 0);
      EXPECT_TRUE(feature["age_ms"].is_number());
    }
  }
  EXPECT_TRUE(has_history) << debug["user_features"].dump();
  ASSERT_EQ(debug["item_features"].size(), 5u);
  for (const json& item : debug["item_features"]) {
    EXPECT_FALSE(item["item_id"].get<std::string>().empty());
    std::set<std::string> names;
    for (const json& feature : item["features"]) names.insert(feature["name"]);
    EXPECT_EQ(names, (std::set<std::string>{"retrieval_score", "similarity", "popularity",
                                            "freshness", "score"}));
  }
}

TEST_F(TracingTest, GrpcMetadataTraceparentIsHonoured) {
  auto stub = pulse::v1::Recommender::NewStub(
      grpc::CreateChannel(server_->grpc_target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("traceparent", StrCat("00-", kGrpcTraceId, "-", kParentSpan, "-00"));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pulse::v1::RecommendRequest request;
  request.set_user_id(kUser);
  request.set_n(5);
  request.set_debug(true);
  pulse::v1::RecommendResponse response;
  grpc::Status status = stub->Recommend(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.debug().trace_id(), kGrpcTraceId);
  // The debug extras travel over gRPC too.
  EXPECT_TRUE(response.debug().candidates_by_source().contains("ann"));
  EXPECT_GE(response.debug().user_features_size(), 1);
  ASSERT_EQ(response.debug().item_features_size(), 5);
  EXPECT_EQ(response.debug().item_features(0).features_size(), 5);
  std::vector<json> spans = collector_->WaitForTrace(kGrpcTraceId, 10);
  const json* root = FindSpan(spans, "grpc recommend");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ((*root)["parentSpanId"], kParentSpan);
  EXPECT_EQ(Attributes(*root)["rpc.system"], "grpc");
  ExpectRequestStructure(spans, "grpc recommend");
}

TEST_F(TracingTest, CacheHitsHaveARecommendSpanButNoStageSpans) {
  // Not debug (debug answers bypass the cache); a user no other test asks for.
  constexpr char kMissTrace[] = "6e0c63257de34c926f9efcd03899cc01";
  constexpr char kHitTrace[] = "6e0c63257de34c926f9efcd03899cc02";
  constexpr char kLaterTrace[] = "6e0c63257de34c926f9efcd03899cc03";
  httplib::Client client("127.0.0.1", server_->http_port());
  client.set_read_timeout(10);
  const std::string body = R"({"user_id":"u11","n":5})";
  json responses[3];
  int i = 0;
  for (const char* trace : {kMissTrace, kHitTrace, kLaterTrace}) {
    auto res = client.Post("/v1/recommend",
                           {{"traceparent", StrCat("00-", trace, "-", kParentSpan, "-01")}},
                           i == 2 ? R"({"user_id":"u12","n":5})" : body, "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    responses[i++] = json::parse(res->body);
  }
  // The first request ran the pipeline.
  std::vector<json> miss = collector_->WaitForTrace(kMissTrace, 10);
  ExpectRequestStructure(miss, "http recommend");
  auto miss_attributes = Attributes(*FindSpan(miss, "recommend"));
  EXPECT_EQ(miss_attributes["pulse.cache_hit"], false);
  const std::string rung = responses[0].value("fallback", std::string());
  EXPECT_EQ(miss_attributes["pulse.fallback_rung"], rung.empty() ? "personalized" : rung);

  // The second was answered from the cache: the server span and a recommend span that says so.
  // Spans leave in order, so once the later trace arrived the cache hit's are all in.
  ASSERT_GE(collector_->WaitForTrace(kLaterTrace, 3).size(), 3u);
  std::vector<json> hit = collector_->WaitForTrace(kHitTrace, 2);
  ASSERT_EQ(hit.size(), 2u) << json(hit).dump(1);
  const json* root = FindSpan(hit, "http recommend");
  const json* recommend = FindSpan(hit, "recommend");
  ASSERT_NE(root, nullptr);
  ASSERT_NE(recommend, nullptr);
  EXPECT_EQ((*recommend)["parentSpanId"], (*root)["spanId"]);
  auto attributes = Attributes(*recommend);
  EXPECT_EQ(attributes["pulse.cache_hit"], true);
  EXPECT_EQ(attributes["pulse.fallback_rung"], rung.empty() ? "personalized" : rung);
  EXPECT_EQ(attributes["pulse.items"], "5");  // OTLP JSON carries int64 as a string
  EXPECT_EQ(attributes["pulse.model_version"], responses[1]["model_version"]);
  EXPECT_TRUE(attributes.count("pulse.user_bucket"));
  EXPECT_EQ(responses[1]["items"], responses[0]["items"]);
}

TEST_F(TracingTest, ErrorsAreTracedAndMetricsCountSpans) {
  httplib::Client client("127.0.0.1", server_->http_port());
  auto res = client.Post("/v1/recommend",
                         {{"traceparent", StrCat("00-", kErrorTraceId, "-", kParentSpan, "-00")}},
                         R"({"user_id":"u1","n":1000})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  std::vector<json> spans = collector_->WaitForTrace(kErrorTraceId, 1);
  ASSERT_EQ(spans.size(), 1u);  // refused before the engine ran: the server span only
  EXPECT_EQ(spans[0]["status"]["code"], 2);
  EXPECT_EQ(Attributes(spans[0])["pulse.code"], "INVALID_ARGUMENT");
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("pulse_trace_spans_exported_total "), std::string::npos);
  EXPECT_NE(metrics->body.find("pulse_trace_spans_dropped_total{reason=\"queue_full\"} 0"),
            std::string::npos);
}

// Spans still queued when the server stops are exported during shutdown, not lost: the
// periodic flush is an hour away, so only the shutdown flush can deliver them.
TEST(TracingShutdownTest, QueuedSpansAreFlushedAtShutdown) {
  constexpr char kShutdownTrace[] = "7d1b2c3a4e5f60718293a4b5c6d7e8f9";
  testing::TempDir dir;
  Collector collector;
  testing::WriteFile(dir.Sub("pulse.yaml"),
                     StrCat("obs:\n  tracing:\n    endpoint: \"http://127.0.0.1:", collector.port(),
                            "\"\n    sample_ratio: 1.0\n    flush_ms: 3600000\n"
                            "    shutdown_flush_ms: 30000\n"));
  std::string error;
  // An empty data dir: no model, so recommend fails fast — its trace is kept all the same.
  auto server = ServerProcess::Start(
      {"serve", "--data-dir", dir.Sub("data"), "--config", dir.Sub("pulse.yaml")}, &error);
  ASSERT_NE(server, nullptr) << error;
  httplib::Client client("127.0.0.1", server->http_port());
  client.set_read_timeout(10);
  auto res = client.Post("/v1/recommend",
                         {{"traceparent", StrCat("00-", kShutdownTrace, "-", kParentSpan, "-01")}},
                         R"({"user_id":"u1","n":5})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(server->Stop(SIGTERM), 0) << server->Output();
  std::vector<json> spans = collector.WaitForTrace(kShutdownTrace, 1);
  ASSERT_GE(spans.size(), 1u) << server->Output();
  EXPECT_NE(FindSpan(spans, "http recommend"), nullptr);
}

}  // namespace
}  // namespace pulse::integration
