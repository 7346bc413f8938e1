// End to end: `pulse gen` → `pulse import` → `pulse train` → `pulse serve`, then the HTTP and
// gRPC APIs as a client sees them.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <set>

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

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    data_dir_ = dir_->Sub("data");
    ASSERT_EQ(PrepareTrainedDataDir(dir_->path(), data_dir_, 400, 300, 12000, 3), "");
    StartServer();
  }

  static void StartServer() {
    std::string error;
    server_ = ServerProcess::Start({"serve", "--data-dir", data_dir_}, &error).release();
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_TRUE(WaitReady(server_->http_port())) << server_->Output();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
  }

  void TearDown() override {
    // Whatever a test sent, the server must still be up.
    ASSERT_TRUE(server_->Running()) << server_->Output();
    auto res = Http().Get("/healthz");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }

  static httplib::Client Http() {
    httplib::Client client("127.0.0.1", server_->http_port());
    client.set_read_timeout(10);
    return client;
  }

  static json Recommend(const json& body, int expect_status = 200) {
    auto res = Http().Post("/v1/recommend", body.dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, expect_status) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  static std::unique_ptr<pulse::v1::Recommender::Stub> GrpcStub() {
    auto channel = grpc::CreateChannel(server_->grpc_target(), grpc::InsecureChannelCredentials());
    return pulse::v1::Recommender::NewStub(channel);
  }

  static testing::TempDir* dir_;
  static std::string data_dir_;
  static ServerProcess* server_;
};

testing::TempDir* ServeTest::dir_ = nullptr;
std::string ServeTest::data_dir_;
ServerProcess* ServeTest::server_ = nullptr;

void ExpectWellFormed(const json& response, size_t n) {
  ASSERT_TRUE(response.is_object()) << response;
  EXPECT_FALSE(response.value("request_id", "").empty());
  EXPECT_FALSE(response.value("model_version", "").empty());
  ASSERT_TRUE(response["items"].is_array());
  EXPECT_EQ(response["items"].size(), n) << response;
  std::set<std::string> ids;
  for (const auto& item : response["items"]) {
    ids.insert(item["item_id"].get<std::string>());
    EXPECT_FALSE(item["explanation_id"].get<std::string>().empty());
    EXPECT_TRUE(item["score"].is_number());
    std::string source = item["source"].get<std::string>();
    EXPECT_TRUE(source == "ann" || source == "covisit" || source == "trending" ||
                source == "popular")
        << source;
  }
  EXPECT_EQ(ids.size(), n) << "items must be distinct: " << response;
}

TEST_F(ServeTest, HttpRecommendReturnsNDistinctItemsWithExplanations) {
  for (int user : {0, 1, 7, 42, 399}) {
    json response = Recommend({{"user_id", StrCat("u", user)}, {"n", 10}});
    ExpectWellFormed(response, 10);
    EXPECT_EQ(response["degraded"], false);
  }
  // Default n is 10; a large n is honoured.
  ExpectWellFormed(Recommend({{"user_id", "u5"}}), 10);
  ExpectWellFormed(Recommend({{"user_id", "u5"}, {"n", 50}}), 50);
}

TEST_F(ServeTest, KnownUsersGetPersonalResultsNotJustPopular) {
  json response = Recommend({{"user_id", "u3"}, {"n", 10}});
  int personal = 0;
  for (const auto& item : response["items"]) personal += item["source"] == "ann";
  EXPECT_GT(personal, 0) << response;
  EXPECT_EQ(response["items"][0]["explanation_id"], "similar_to_recent") << response;
}

TEST_F(ServeTest, RecommendationsExcludeWhatTheUserAlreadySaw) {
  auto features = Http().Get("/v1/users/u3/features");
  ASSERT_TRUE(features);
  ASSERT_EQ(features->status, 200) << features->body;
  json history = json::parse(features->body);
  std::set<std::string> seen;
  for (const auto& entry : history["recent_items"]) seen.insert(entry["item_id"]);
  ASSERT_FALSE(seen.empty());
  EXPECT_GT(history["events_total"].get<int>(), 0);
  json response = Recommend({{"user_id", "u3"}, {"n", 30}});
  for (const auto& item : response["items"]) EXPECT_EQ(seen.count(item["item_id"]), 0u);
}

TEST_F(ServeTest, UnknownUserGetsNonEmptyFallback) {
  json response = Recommend({{"user_id", "never-seen-user"}, {"n", 10}});
  ExpectWellFormed(response, 10);
  // Without any history only the non-personal sources can answer.
  for (const auto& item : response["items"]) {
    EXPECT_TRUE(item["source"] == "popular" || item["source"] == "trending") << item;
    EXPECT_TRUE(item["explanation_id"] == "popular_now" || item["explanation_id"] == "trending_now")
        << item;
  }
  EXPECT_EQ(Recommend({{"user_id", "用户-ü-🙂"}, {"n", 3}})["items"].size(), 3u);
}

TEST_F(ServeTest, ExcludeIsHonoured) {
  json first = Recommend({{"user_id", "u9"}, {"n", 5}});
  std::vector<std::string> excluded;
  for (const auto& item : first["items"]) excluded.push_back(item["item_id"]);
  json second = Recommend({{"user_id", "u9"}, {"n", 5}, {"exclude", excluded}});
  ExpectWellFormed(second, 5);
  for (const auto& item : second["items"]) {
    EXPECT_EQ(std::count(excluded.begin(), excluded.end(), item["item_id"]), 0);
  }
}

TEST_F(ServeTest, DeletedItemNeverComesBackEvenAfterRestart) {
  // The most popular item is what unknown users see first.
  json response = Recommend({{"user_id", "nobody"}, {"n", 5}});
  std::string victim = response["items"][0]["item_id"];
  auto res = Http().Delete("/v1/items/" + victim);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;

  auto check_absent = [&] {
    for (int user = 0; user < 60; ++user) {
      for (const std::string& id : {StrCat("u", user), StrCat("stranger", user)}) {
        json r = Recommend({{"user_id", id}, {"n", 50}});
        for (const auto& item : r["items"]) ASSERT_NE(item["item_id"], victim) << id;
      }
    }
  };
  check_absent();
  ASSERT_EQ(server_->Stop(SIGTERM), 0) << server_->Output();
  delete server_;
  StartServer();
  check_absent();

  // Upserting it as available brings it back.
  res = Http().Post("/v1/items", json::array({{{"item_id", victim}, {"available", true}}}).dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  response = Recommend({{"user_id", "nobody"}, {"n", 5}});
  EXPECT_EQ(response["items"][0]["item_id"], victim);
}

TEST_F(ServeTest, BadHttpRequestsGetClearErrors) {
  auto client = Http();
  auto expect_error = [&](const std::string& body, int status, const std::string& needle) {
    auto res = client.Post("/v1/recommend", body, "application/json");
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, status) << body << " -> " << res->body;
    json error = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(error.is_object()) << res->body;
    EXPECT_FALSE(error["error"]["code"].get<std::string>().empty());
    EXPECT_NE(error["error"]["message"].get<std::string>().find(needle), std::string::npos)
        << res->body;
  };
  expect_error(R"({"user_id":"u1","n":0})", 400, "n must be between 1 and 200");
  expect_error(R"({"user_id":"u1","n":201})", 400, "n must be between 1 and 200");
  expect_error(R"({"user_id":"u1","n":"10"})", 400, "n");
  expect_error(R"({"n":10})", 400, "user_id");
  expect_error(R"({"user_id":"u1","n":1)", 400, "");
  expect_error("", 400, "");
  expect_error(R"({"user_id":")" + std::string(300, 'x') + R"("})", 400, "user_id");
  expect_error(std::string(2 << 20, '['), 413, "");
  auto res = client.Get("/v1/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST_F(ServeTest, GrpcRecommendAndErrors) {
  auto stub = GrpcStub();
  pulse::v1::RecommendRequest request;
  request.set_user_id("u11");
  request.set_n(8);
  pulse::v1::RecommendResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status status = stub->Recommend(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.items_size(), 8);
  std::set<std::string> ids;
  for (const auto& item : response.items()) {
    ids.insert(item.item_id());
    EXPECT_FALSE(item.explanation_id().empty());
  }
  EXPECT_EQ(ids.size(), 8u);
  EXPECT_FALSE(response.model_version().empty());

  for (int n : {201, -1}) {
    request.set_n(n);
    grpc::ClientContext bad_context;
    status = stub->Recommend(&bad_context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("n must be between"), std::string::npos);
  }
  request.set_n(5);
  request.set_user_id("");
  grpc::ClientContext empty_user_context;
  status = stub->Recommend(&empty_user_context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServeTest, DebugExplainsStagesAndRemovals) {
  json response = Recommend({{"user_id", "u3"}, {"n", 5}, {"debug", true}});
  ASSERT_TRUE(response.contains("debug")) << response;
  const json& debug = response["debug"];
  std::set<std::string> stages;
  for (const auto& stage : debug["stages"]) stages.insert(stage["name"]);
  for (const char* name : {"ann", "popular", "seen", "linear"}) EXPECT_EQ(stages.count(name), 1u);
  bool removed_seen = false;
  for (const auto& removed : debug["removed"]) removed_seen |= removed["filter"] == "seen";
  EXPECT_TRUE(removed_seen) << debug;
  EXPECT_FALSE(debug["trace_id"].get<std::string>().empty());
  EXPECT_EQ(debug["model_version"], response["model_version"]);
  EXPECT_FALSE(Recommend({{"user_id", "u3"}, {"n", 5}}).contains("debug"));
}

}  // namespace
}  // namespace pulse::integration
