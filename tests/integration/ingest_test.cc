// End to end: event ingest on the real binary. `pulse gen` → `import` → `train` → `serve`, then
// POST /v1/events and Events.Publish as a client sees them: a click changes the very next
// recommendation, re-sent event ids count once, bad events are rejected with their index and
// reason (the same over HTTP and gRPC) without losing the good ones, and rejects are listed by
// GET /v1/admin/dead-letter.
//
// Until the engine implements PublishEvents the server answers 501; the tests then skip.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

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

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json Event(const std::string& event_id, const std::string& user_id, const std::string& item_id,
           const std::string& type = "click") {
  json event = {{"user_id", user_id}, {"item_id", item_id}, {"type", type}, {"ts", NowMs()}};
  if (!event_id.empty()) event["event_id"] = event_id;
  return event;
}

struct Published {
  int status = 0;
  json body;
};

class IngestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    data_dir_ = dir_->Sub("data");
    ASSERT_EQ(PrepareTrainedDataDir(dir_->path(), data_dir_, 300, 200, 9000, 5), "");
    std::string error;
    server_ = ServerProcess::Start({"serve", "--data-dir", data_dir_}, &error).release();
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_TRUE(WaitReady(server_->http_port())) << server_->Output();
    // An event without user_id reaches the service whatever it does with events.
    auto probe = Http().Post("/v1/events", R"([{"item_id":"probe","type":"click","ts":1}])",
                             "application/json");
    ASSERT_TRUE(probe);
    ingest_implemented_ = probe->status != 501;
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
  }

  void SetUp() override {
    if (server_ == nullptr) GTEST_SKIP() << "suite setup failed";
    if (!ingest_implemented_) GTEST_SKIP() << "the server answers 501: PublishEvents not there yet";
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    ASSERT_TRUE(server_->Running()) << server_->Output();
  }

  static httplib::Client Http() {
    httplib::Client client("127.0.0.1", server_->http_port());
    client.set_read_timeout(10);
    return client;
  }

  static Published PublishText(const std::string& body) {
    auto res = Http().Post("/v1/events", body, "application/json");
    EXPECT_TRUE(res);
    if (!res) return {};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  static Published Publish(const json& events) { return PublishText(events.dump()); }

  static json Recommend(const std::string& user_id, int n) {
    auto res = Http().Post("/v1/recommend", json{{"user_id", user_id}, {"n", n}}.dump(),
                           "application/json");
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  static int64_t EventsTotal(const std::string& user_id) {
    auto res = Http().Get("/v1/users/" + user_id + "/features");
    EXPECT_TRUE(res);
    if (!res || res->status == 404) return 0;
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false).value("events_total", int64_t{-1});
  }

  static std::unique_ptr<pulse::v1::Events::Stub> EventsStub() {
    return pulse::v1::Events::NewStub(
        grpc::CreateChannel(server_->grpc_target(), grpc::InsecureChannelCredentials()));
  }

  // An item of the trained catalog (the most popular one), so it has an embedding.
  static std::string PopularItem(int rank) {
    json response = Recommend("ingest-nobody", rank + 1);
    return response["items"][rank]["item_id"].get<std::string>();
  }

  static testing::TempDir* dir_;
  static std::string data_dir_;
  static ServerProcess* server_;
  static bool ingest_implemented_;
};

testing::TempDir* IngestTest::dir_ = nullptr;
std::string IngestTest::data_dir_;
ServerProcess* IngestTest::server_ = nullptr;
bool IngestTest::ingest_implemented_ = false;

void ExpectPersonalWithout(const json& response, const std::string& clicked) {
  ASSERT_TRUE(response["items"].is_array()) << response;
  ASSERT_FALSE(response["items"].empty()) << response;
  int similar = 0;
  for (const auto& item : response["items"]) {
    EXPECT_NE(item["item_id"], clicked) << "the clicked item came back: " << response;
    similar += item["explanation_id"] == "similar_to_recent";
  }
  EXPECT_GT(similar, 0) << "no personal results right after the click: " << response;
}

TEST_F(IngestTest, NewUserClickPersonalizesTheNextRequestOverHttp) {
  const std::string clicked = PopularItem(0);
  const std::string user = "fresh-http-user";
  EXPECT_EQ(EventsTotal(user), 0);
  Published published = Publish(json::array({Event("fresh-http-1", user, clicked)}));
  ASSERT_EQ(published.status, 202) << published.body;
  EXPECT_EQ(published.body["accepted"], 1);
  EXPECT_TRUE(published.body["rejected"].empty()) << published.body;
  ExpectPersonalWithout(Recommend(user, 10), clicked);
  EXPECT_EQ(EventsTotal(user), 1);
}

TEST_F(IngestTest, NewUserClickPersonalizesTheNextRequestOverGrpc) {
  const std::string clicked = PopularItem(1);
  const std::string user = "fresh-grpc-user";
  pulse::v1::PublishRequest request;
  auto* event = request.add_events();
  event->set_event_id("fresh-grpc-1");
  event->set_user_id(user);
  event->set_item_id(clicked);
  event->set_type("click");
  event->set_ts(NowMs());
  pulse::v1::PublishResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status status = EventsStub()->Publish(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.accepted(), 1);
  EXPECT_EQ(response.rejected_size(), 0);
  ExpectPersonalWithout(Recommend(user, 10), clicked);
  EXPECT_EQ(EventsTotal(user), 1);
}

TEST_F(IngestTest, EventsTotalCountsDistinctEvents) {
  const std::string user = "distinct-user";
  const std::string item = PopularItem(2);
  Published first =
      Publish(json::array({Event("d-1", user, item, "view"), Event("d-2", user, item, "click"),
                           Event("d-3", user, item, "purchase")}));
  ASSERT_EQ(first.status, 202) << first.body;
  EXPECT_EQ(first.body["duplicates"], 0);
  EXPECT_EQ(EventsTotal(user), 3);

  // A retried batch (same ids) and a batch repeating one id: nothing counts twice.
  Published retry =
      Publish(json::array({Event("d-1", user, item, "view"), Event("d-2", user, item, "click"),
                           Event("d-3", user, item, "purchase")}));
  ASSERT_EQ(retry.status, 202) << retry.body;
  EXPECT_EQ(retry.body["duplicates"], 3) << retry.body;
  EXPECT_TRUE(retry.body["rejected"].empty()) << retry.body;
  Published mixed = Publish(json::array({Event("d-2", user, item), Event("d-4", user, item)}));
  ASSERT_EQ(mixed.status, 202) << mixed.body;
  EXPECT_EQ(mixed.body["duplicates"], 1) << mixed.body;
  EXPECT_EQ(EventsTotal(user), 4);

  // The same over gRPC.
  pulse::v1::PublishRequest request;
  auto* event = request.add_events();
  event->set_event_id("d-4");
  event->set_user_id(user);
  event->set_item_id(item);
  event->set_type("click");
  event->set_ts(NowMs());
  pulse::v1::PublishResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(EventsStub()->Publish(&context, request, &response).ok());
  EXPECT_EQ(response.duplicates(), 1);
  EXPECT_EQ(EventsTotal(user), 4);
}

// Bad events of one batch: index, reason, dead letter — and the good ones of the same batch all
// land.
TEST_F(IngestTest, FeaturesShowNearlineWindows) {
  const std::string user = "windowed-user";
  const std::string item = PopularItem(3);
  Published published =
      Publish(json::array({Event("w-1", user, item, "view"), Event("w-2", user, item, "click"),
                           Event("w-3", user, item, "click")}));
  ASSERT_EQ(published.status, 202) << published.body;
  auto res = Http().Get("/v1/users/" + user + "/features");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json windows = json::parse(res->body)["windows"];
  for (const char* window : {"1h", "24h", "7d"}) {
    EXPECT_EQ(windows[window]["click"], 2) << windows;
    EXPECT_EQ(windows[window]["view"], 1) << windows;
    EXPECT_EQ(windows[window]["purchase"], 0) << windows;
  }
  EXPECT_TRUE(windows["categories"].is_array()) << windows;
  EXPECT_GT(windows["as_of"].get<int64_t>(), 0);
}

TEST_F(IngestTest, BadEventsAreRejectedWithIndexesAndGoodOnesKept) {
  const std::string user = "mixed-batch-user";
  const std::string item = PopularItem(3);
  ASSERT_EQ(Publish(json::array({Event("mixed-0", user, item)})).status, 202);
  const int64_t before = EventsTotal(user);
  ASSERT_EQ(before, 1);

  json far_future = Event("mixed-future", user, item);
  far_future["ts"] = NowMs() + int64_t{24} * 3600 * 1000;
  json batch = json::array({
      Event("mixed-1", user, item),  // 0 good
      json{{"event_id", "mixed-missing"}, {"item_id", item}, {"type", "click"}, {"ts", NowMs()}},
      Event("mixed-2", user, item, "view"),              // 2 good
      Event("mixed-long", user, std::string(300, 'x')),  // 3 id too long
      far_future,                                        // 4 far future
      Event("mixed-0", user, item),                      // 5 duplicate
      Event("mixed-type", user, item, "like"),           // 6 unknown type
      "not an event",                                    // 7 not an object
      Event("mixed-3", user, item, "dwell"),             // 8 good
  });
  Published published = Publish(batch);
  ASSERT_EQ(published.status, 202) << published.body;
  std::map<int, std::string> reasons;
  for (const auto& rejected : published.body["rejected"]) {
    reasons[rejected["index"].get<int>()] = rejected["reason"].get<std::string>();
  }
  ASSERT_EQ(reasons.size(), 5u) << published.body;
  EXPECT_NE(reasons[1].find("user_id"), std::string::npos) << reasons[1];
  EXPECT_NE(reasons[3].find("item_id"), std::string::npos) << reasons[3];
  EXPECT_NE(reasons[4].find("ts"), std::string::npos) << reasons[4];
  EXPECT_NE(reasons[6].find("type"), std::string::npos) << reasons[6];
  EXPECT_NE(reasons[7].find("object"), std::string::npos) << reasons[7];
  EXPECT_EQ(published.body["duplicates"], 1) << published.body;
  EXPECT_EQ(EventsTotal(user), before + 3) << "a good event of the batch was lost";

  // JSON lines: a garbage line is one reject, the lines around it land.
  Published lines = PublishText(Event("mixed-4", user, item).dump() + "\n{\"user_id\":\n" +
                                Event("mixed-5", user, item).dump() + "\n");
  ASSERT_EQ(lines.status, 202) << lines.body;
  ASSERT_EQ(lines.body["rejected"].size(), 1u) << lines.body;
  EXPECT_EQ(lines.body["rejected"][0]["index"], 1);
  EXPECT_EQ(EventsTotal(user), before + 5);

  // gRPC gives the same reasons for the same faults.
  pulse::v1::PublishRequest request;
  auto add = [&request](const std::string& user_id, const std::string& item_id,
                        const std::string& type, int64_t ts) {
    auto* event = request.add_events();
    event->set_user_id(user_id);
    event->set_item_id(item_id);
    event->set_type(type);
    event->set_ts(ts);
  };
  add("", item, "click", NowMs());
  add(user, std::string(300, 'x'), "click", NowMs());
  add(user, item, "click", far_future["ts"].get<int64_t>());
  add(user, item, "like", NowMs());
  pulse::v1::PublishResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(EventsStub()->Publish(&context, request, &response).ok());
  ASSERT_EQ(response.rejected_size(), 4);
  EXPECT_EQ(response.rejected(0).reason(), reasons[1]);
  EXPECT_EQ(response.rejected(1).reason(), reasons[3]);
  EXPECT_EQ(response.rejected(2).reason(), reasons[4]);
  EXPECT_EQ(response.rejected(3).reason(), reasons[6]);
  EXPECT_EQ(EventsTotal(user), before + 5);

  // A body over the limit is refused whole.
  std::string huge = "[";
  while (huge.size() < (2 << 20)) huge += Event("", user, item).dump() + ",";
  huge.back() = ']';
  auto res = Http().Post("/v1/events", huge, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413) << res->body;
  EXPECT_EQ(EventsTotal(user), before + 5);
}

TEST_F(IngestTest, GarbageBodiesAre400) {
  for (const std::string body : {"garbage", "[1,2", "42", "]", "[{\"a\":1}] tail"}) {
    Published published = PublishText(body);
    EXPECT_EQ(published.status, 400) << body << " -> " << published.body;
    EXPECT_EQ(published.body["error"]["code"], "INVALID_ARGUMENT") << published.body;
  }
  // A body starting with '{' is JSON lines: a broken line is one rejected element.
  Published broken_line = PublishText("{\"a\":");
  EXPECT_EQ(broken_line.status, 202) << broken_line.body;
  EXPECT_EQ(broken_line.body["rejected"].size(), 1u) << broken_line.body;
  Published empty = PublishText("[]");
  EXPECT_EQ(empty.status, 202) << empty.body;
  EXPECT_EQ(empty.body["accepted"], 0);
}

TEST_F(IngestTest, DeadLetterEndpointListsRejects) {
  const std::string marker = "dead-letter-marker-item";
  json bad = Event("dl-1", "dl-user", marker, "like");
  Published published = Publish(json::array({bad}));
  ASSERT_EQ(published.status, 202) << published.body;
  ASSERT_EQ(published.body["rejected"].size(), 1u);
  const std::string reason = published.body["rejected"][0]["reason"];

  auto res = Http().Get("/v1/admin/dead-letter?limit=1000");
  ASSERT_TRUE(res);
  if (res->status == 501) GTEST_SKIP() << "ListDeadLetters not implemented by the engine yet";
  ASSERT_EQ(res->status, 200) << res->body;
  json body = json::parse(res->body, nullptr, false);
  ASSERT_TRUE(body["dead_letters"].is_array()) << res->body;
  bool found = false;
  for (const auto& letter : body["dead_letters"]) {
    if (letter.value("raw", "").find(marker) == std::string::npos) continue;
    found = true;
    EXPECT_EQ(letter["reason"], reason);
    EXPECT_EQ(letter["reason_code"], "unknown_type") << letter;
    EXPECT_EQ(letter["source"], "http");
    EXPECT_GT(letter["received_at"].get<int64_t>(), 0);
  }
  EXPECT_TRUE(found) << res->body;

  auto limited = Http().Get("/v1/admin/dead-letter?limit=1");
  ASSERT_TRUE(limited);
  EXPECT_EQ(json::parse(limited->body, nullptr, false)["dead_letters"].size(), 1u);
  auto bad_limit = Http().Get("/v1/admin/dead-letter?limit=5000");
  ASSERT_TRUE(bad_limit);
  EXPECT_EQ(bad_limit->status, 400);
}

}  // namespace
}  // namespace pulse::integration
