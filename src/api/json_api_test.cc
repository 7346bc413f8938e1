#include "api/json_api.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::api {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr char kNRange[] = "n must be between 1 and 200";

struct BadCase {
  std::string name;
  std::string body;
  std::string reason;  // substring of the InvalidArgument message
};

std::string Repeat(std::string_view piece, size_t times) {
  std::string out;
  out.reserve(piece.size() * times);
  for (size_t i = 0; i < times; ++i) out.append(piece);
  return out;
}

std::string WithUser(std::string_view fields) { return StrCat(R"({"user_id":"u1",)", fields, "}"); }

TEST(ParseRecommendRequestTest, RejectsBadBodiesWithAReasonNamingTheField) {
  const std::vector<BadCase> cases = {
      {"empty", "", "request body is empty"},
      {"whitespace", " \n\t ", "request body is empty"},
      {"empty object", "{}", "user_id is required"},
      {"truncated", R"({"user_id":"u1")", "not valid JSON"},
      {"truncated string", R"({"user_id":"u)", "not valid JSON"},
      {"trailing garbage", R"({"user_id":"u1"} x)", "not valid JSON"},
      {"array", "[]", "must be a JSON object"},
      {"string", R"("u1")", "must be a JSON object"},
      {"number", "42", "must be a JSON object"},
      {"null", "null", "must be a JSON object"},
      {"user_id number", R"({"user_id":42})", "user_id must be a string"},
      {"user_id array", R"({"user_id":["u1"]})", "user_id must be a string"},
      {"user_id object", R"({"user_id":{}})", "user_id must be a string"},
      {"user_id bool", R"({"user_id":true})", "user_id must be a string"},
      {"user_id null", R"({"user_id":null})", "user_id is required"},
      {"user_id empty", R"({"user_id":""})", "user_id is required"},
      {"n zero", WithUser(R"("n":0)"), kNRange},
      {"n negative", WithUser(R"("n":-1)"), kNRange},
      {"n 201", WithUser(R"("n":201)"), kNRange},
      {"n 1e9", WithUser(R"("n":1e9)"), kNRange},
      {"n 1e1 (float form of 10)", WithUser(R"("n":1e1)"), kNRange},
      {"n 10.0", WithUser(R"("n":10.0)"), kNRange},
      {"n 3.5", WithUser(R"("n":3.5)"), kNRange},
      {"n string", WithUser(R"("n":"10")"), kNRange},
      {"n bool", WithUser(R"("n":true)"), kNRange},
      {"n array", WithUser(R"("n":[10])"), kNRange},
      {"n object", WithUser(R"("n":{})"), kNRange},
      {"n int64 max", WithUser(R"("n":9223372036854775807)"), kNRange},
      {"n uint64 max", WithUser(R"("n":18446744073709551615)"), kNRange},
      {"n beyond uint64", WithUser(R"("n":99999999999999999999999999)"), kNRange},
      {"n int64 min", WithUser(R"("n":-9223372036854775808)"), kNRange},
      {"n 2^32+10 (wraps to 10 as int)", WithUser(R"("n":4294967306)"), kNRange},
      {"n 1e400", WithUser(R"("n":1e400)"), "not valid JSON"},
      {"exclude string", WithUser(R"("exclude":"i9")"), "exclude must be an array of strings"},
      {"exclude object", WithUser(R"("exclude":{"i9":1})"), "exclude must be an array of strings"},
      {"exclude numbers", WithUser(R"("exclude":[1,2])"), "exclude must be an array of strings"},
      {"exclude null entry", WithUser(R"("exclude":["i1",null])"),
       "exclude must be an array of strings"},
      {"exclude nested", WithUser(R"("exclude":[["i1"]])"), "exclude must be an array of strings"},
      {"exclude empty id", WithUser(R"("exclude":[""])"), "exclude id must not be empty"},
      {"exclude control char", WithUser(R"("exclude":["i\u0001"])"),
       "exclude id contains a control character"},
      {"exclude too many", WithUser(StrCat(R"("exclude":[)", Repeat(R"("i",)", 1000), R"("i"])")),
       "exclude has more than 1000 items"},
      {"context array", WithUser(R"("context":["home"])"), "context must be an object"},
      {"context string", WithUser(R"("context":"home")"), "context must be an object"},
      {"context number value", WithUser(R"("context":{"surface":1})"),
       "context must be an object of string values"},
      {"context null value", WithUser(R"("context":{"surface":null})"),
       "context must be an object of string values"},
      {"context empty key", WithUser(R"("context":{"":"x"})"), "context keys must be 1 to 64"},
      {"debug string", WithUser(R"("debug":"true")"), "debug must be true or false"},
      {"debug number", WithUser(R"("debug":1)"), "debug must be true or false"},
      {"user_id 257 bytes", StrCat(R"({"user_id":")", std::string(257, 'u'), R"("})"),
       "user_id is longer than 256 bytes"},
      {"user_id 257 bytes of emoji", StrCat(R"({"user_id":"x)", Repeat("😀", 64), R"("})"),
       "user_id is longer than 256 bytes"},
      {"user_id escaped control char", R"({"user_id":"u\u0001"})",
       "user_id contains a control character"},
      {"user_id escaped NUL", R"({"user_id":"u\u0000x"})", "user_id contains a control character"},
      {"user_id DEL", "{\"user_id\":\"u\x7f\"}", "user_id contains a control character"},
      {"user_id raw tab (invalid JSON)", "{\"user_id\":\"u\tx\"}", "not valid JSON"},
      {"user_id invalid UTF-8", "{\"user_id\":\"u\xff\xfe\"}", "not valid JSON"},
      {"user_id lone surrogate", R"({"user_id":"\ud800"})", "not valid JSON"},
      {"nested too deep", StrCat(R"({"user_id":"u1","x":)", Repeat("[", 64), Repeat("]", 64), "}"),
       "nested deeper than 64 levels"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto result = ParseRecommendRequest(c.body);
    EXPECT_THAT(result, StatusIs(StatusCode::kInvalidArgument, c.reason));
  }
}

TEST(ParseRecommendRequestTest, ParsesEveryField) {
  auto result = ParseRecommendRequest(
      R"({"user_id":"u1","n":10,"exclude":["i9","i8"],"context":{"surface":"home","lang":"fr"},)"
      R"("debug":true})");
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->user_id, "u1");
  EXPECT_EQ(result->n, 10);
  EXPECT_THAT(result->exclude, ElementsAre("i9", "i8"));
  EXPECT_THAT(result->context, ElementsAre(Pair("lang", "fr"), Pair("surface", "home")));
  EXPECT_TRUE(result->debug);
  EXPECT_EQ(result->trace_id, "");
}

TEST(ParseRecommendRequestTest, OptionalFieldsDefaultWhenAbsentOrNull) {
  for (const char* body :
       {R"({"user_id":"u1"})",
        R"({"user_id":"u1","n":null,"exclude":null,"context":null,"debug":null})"}) {
    SCOPED_TRACE(body);
    auto result = ParseRecommendRequest(body);
    ASSERT_THAT(result, IsOk());
    EXPECT_FALSE(result->n.has_value());
    EXPECT_TRUE(result->exclude.empty());
    EXPECT_TRUE(result->context.empty());
    EXPECT_FALSE(result->debug);
  }
}

TEST(ParseRecommendRequestTest, AcceptsBoundaryValuesAndUnknownFields) {
  auto one = ParseRecommendRequest(R"({"user_id":"u1","n":1})");
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(one->n, 1);
  auto max = ParseRecommendRequest(R"({"user_id":"u1","n":200})");
  ASSERT_THAT(max, IsOk());
  EXPECT_EQ(max->n, 200);
  auto unknown = ParseRecommendRequest(
      R"({"future":{"a":[1,2,{"b":null}]},"user_id":"u1","also":"x","n":-0})");
  // -0 is the integer 0: out of range, not "absent".
  EXPECT_THAT(unknown, StatusIs(StatusCode::kInvalidArgument, kNRange));
  auto ignored = ParseRecommendRequest(R"({"future":{"a":[1,2,{"b":null}]},"user_id":"u1"})");
  EXPECT_THAT(ignored, IsOk());
  // Duplicate keys: the last one wins (nlohmann's rule), never a crash.
  auto duplicate = ParseRecommendRequest(R"({"user_id":"a","user_id":"b"})");
  ASSERT_THAT(duplicate, IsOk());
  EXPECT_EQ(duplicate->user_id, "b");
}

TEST(ParseRecommendRequestTest, KeepsUnicodeAndEmojiIdsByteForByte) {
  auto result = ParseRecommendRequest(
      R"({"user_id":"ユーザー😀","exclude":["\u00e9t\u00e9","🎬"],"context":{"pays":"français"}})");
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->user_id, "ユーザー😀");
  EXPECT_THAT(result->exclude, ElementsAre("été", "🎬"));
  EXPECT_THAT(result->context, ElementsAre(Pair("pays", "français")));
  // Exactly 256 bytes is allowed (64 four-byte emoji).
  auto longest = ParseRecommendRequest(StrCat(R"({"user_id":")", Repeat("😀", 64), R"("})"));
  EXPECT_THAT(longest, IsOk());
}

TEST(ParseRecommendRequestTest, BracketsInsideStringsDoNotCountAsNesting) {
  auto result =
      ParseRecommendRequest(StrCat(R"({"user_id":"u1","note":")", Repeat("[{", 500), R"(\"]"})"));
  EXPECT_THAT(result, IsOk());
  // 63 arrays inside the top-level object: 64 levels, the limit.
  auto at_limit = ParseRecommendRequest(
      StrCat(R"({"user_id":"u1","x":)", Repeat("[", 63), Repeat("]", 63), "}"));
  EXPECT_THAT(at_limit, IsOk());
}

TEST(ParseRecommendRequestTest, SurvivesOneMebibyteOfNesting) {
  const size_t kSize = 1 << 20;
  EXPECT_THAT(ParseRecommendRequest(std::string(kSize, '[')),
              StatusIs(StatusCode::kInvalidArgument, "nested deeper"));
  EXPECT_THAT(ParseRecommendRequest(Repeat("{\"a\":", kSize / 5)),
              StatusIs(StatusCode::kInvalidArgument, "nested deeper"));
  EXPECT_THAT(ParseRecommendRequest(Repeat("[]", kSize / 2)),
              StatusIs(StatusCode::kInvalidArgument, "not valid JSON"));
  EXPECT_THAT(ParseRecommendRequest(std::string(kSize, ']')),
              StatusIs(StatusCode::kInvalidArgument, "not valid JSON"));
}

TEST(ParseRecommendRequestTest, HandlesTwoMebibyteBodies) {
  const size_t kSize = 2 << 20;
  // A large unknown field is ignored (the server's body limit, not the parser, bounds size).
  std::string padded = StrCat(R"({"user_id":"u1","padding":")", std::string(kSize, 'x'), R"("})");
  EXPECT_THAT(ParseRecommendRequest(padded), IsOk());
  std::string many_excludes =
      StrCat(R"({"user_id":"u1","exclude":[)", Repeat(R"("i",)", kSize / 4), R"("i"]})");
  EXPECT_THAT(ParseRecommendRequest(many_excludes),
              StatusIs(StatusCode::kInvalidArgument, "exclude has more than 1000 items"));
  EXPECT_THAT(ParseRecommendRequest(std::string(kSize, 'x')),
              StatusIs(StatusCode::kInvalidArgument, "not valid JSON"));
}

TEST(ParseRecommendRequestTest, NeverThrowsOnArbitraryBytes) {
  // A deterministic sweep of short byte strings built from JSON-ish fragments.
  const std::vector<std::string> pieces = {"{",       "}", "[", "]", "\"", ":",    ",",    "\\",
                                           "user_id", "n", "1", "-", "e",  "null", "\xff", " "};
  uint64_t state = 42;
  for (int i = 0; i < 2000; ++i) {
    std::string body;
    for (int j = 0; j < 12; ++j) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      body += pieces[(state >> 33) % pieces.size()];
    }
    auto result = ParseRecommendRequest(body);
    if (!result.ok()) {
      EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << body;
    }
  }
}

TEST(RecommendResponseToJsonTest, MatchesTheContractExactly) {
  serving::RecommendResponse response;
  response.request_id = "r-1";
  response.model_version = "m3";
  response.items.push_back({"i3", 0.83f, "similar_to_recent", "ann"});
  response.items.push_back({"i7", 0.5f, "popular", "popular"});
  EXPECT_EQ(RecommendResponseToJson(response),
            R"({"request_id":"r-1","model_version":"m3","degraded":false,"items":[)"
            R"({"item_id":"i3","score":0.83,"explanation_id":"similar_to_recent","source":"ann"},)"
            R"({"item_id":"i7","score":0.5,"explanation_id":"popular","source":"popular"}]})");
}

TEST(RecommendResponseToJsonTest, EmptyAndDegraded) {
  serving::RecommendResponse response;
  response.request_id = "r";
  response.model_version = "";
  response.degraded = true;
  EXPECT_EQ(RecommendResponseToJson(response),
            R"({"request_id":"r","model_version":"","degraded":true,"items":[]})");
}

TEST(RecommendResponseToJsonTest, DebugOnlyWhenPresent) {
  serving::RecommendResponse response;
  response.request_id = "r";
  response.model_version = "m";
  response.items.push_back({"i1", 1.0f, "popular", "popular"});
  serving::RecommendDebug debug;
  debug.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  debug.stages.push_back({"ann", 120, 300});
  debug.removed.push_back({"i9", "seen", "user already engaged"});
  debug.model_version = "m";
  debug.index_version = "x7";
  response.debug = debug;
  EXPECT_EQ(RecommendResponseToJson(response),
            R"({"request_id":"r","model_version":"m","degraded":false,"items":[)"
            R"({"item_id":"i1","score":1.0,"explanation_id":"popular","source":"popular"}],)"
            R"("debug":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
            R"("stages":[{"name":"ann","duration_us":120,"candidates":300}],)"
            R"("removed":[{"item_id":"i9","filter":"seen","reason":"user already engaged"}],)"
            R"("model_version":"m","index_version":"x7"}})");
}

TEST(RecommendResponseToJsonTest, StageOutcomeOnlyWhenNotOk) {
  serving::RecommendResponse response;
  response.degraded = true;
  serving::RecommendDebug debug;
  debug.stages.push_back({"ann", 20000, 0, "budget_exceeded"});
  debug.stages.push_back({"popular", 12, 100});
  response.debug = debug;
  EXPECT_THAT(RecommendResponseToJson(response),
              HasSubstr(R"("stages":[{"name":"ann","duration_us":20000,"candidates":0,)"
                        R"("outcome":"budget_exceeded"},)"
                        R"({"name":"popular","duration_us":12,"candidates":100}])"));
}

TEST(RecommendResponseToJsonTest, EscapesAndSurvivesBadStrings) {
  serving::RecommendResponse response;
  response.request_id = "r";
  response.model_version = "m";
  response.items.push_back({"a\"b\\c\n", 0.1f, "popular", "bad\xff"});
  response.items.push_back({"nan", std::numeric_limits<float>::quiet_NaN(), "e", "s"});
  std::string json = RecommendResponseToJson(response);
  EXPECT_THAT(json, HasSubstr(R"("item_id":"a\"b\\c\n")"));
  EXPECT_THAT(json, HasSubstr("\"source\":\"bad\xEF\xBF\xBD\""));  // U+FFFD
  EXPECT_THAT(json, HasSubstr(R"("score":0.1,)"));
  EXPECT_THAT(json, HasSubstr(R"("score":null)"));
}

TEST(ErrorJsonTest, BodyAndStatusMapping) {
  EXPECT_EQ(ErrorToJson(InvalidArgumentError("n must be between 1 and 200")),
            R"({"error":{"code":"INVALID_ARGUMENT","message":"n must be between 1 and 200"}})");
  EXPECT_EQ(ErrorToJson(StatusCode::kNotFound, "item \"x\" not found"),
            R"({"error":{"code":"NOT_FOUND","message":"item \"x\" not found"}})");

  const std::vector<std::pair<StatusCode, int>> mapping = {
      {StatusCode::kOk, 200},
      {StatusCode::kInvalidArgument, 400},
      {StatusCode::kOutOfRange, 400},
      {StatusCode::kNotFound, 404},
      {StatusCode::kAlreadyExists, 409},
      {StatusCode::kPermissionDenied, 403},
      {StatusCode::kUnauthenticated, 401},
      {StatusCode::kResourceExhausted, 429},
      {StatusCode::kFailedPrecondition, 503},
      {StatusCode::kUnavailable, 503},
      {StatusCode::kDeadlineExceeded, 504},
      {StatusCode::kUnimplemented, 501},
      {StatusCode::kInternal, 500},
      {StatusCode::kUnknown, 500},
      {StatusCode::kDataLoss, 500},
      {StatusCode::kCancelled, 500},
      {StatusCode::kAborted, 500},
  };
  for (const auto& [code, http] : mapping) {
    EXPECT_EQ(HttpStatusFor(code), http) << StatusCodeName(code);
  }
}

TEST(TraceparentTest, AcceptsVersion00) {
  EXPECT_EQ(TraceIdFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(TraceIdFromTraceparent("00-0000000000000000000000000000000a-0000000000000001-00"),
            "0000000000000000000000000000000a");
}

TEST(TraceparentTest, RejectsEverythingElse) {
  const std::vector<std::string> bad = {
      "",
      "00",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // unknown version
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent id
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    // short trace id
      "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",  // long trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // non-hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  };
  for (const auto& header : bad) {
    EXPECT_EQ(TraceIdFromTraceparent(header), std::nullopt) << header;
  }
}

TEST(ParseItemsBodyTest, ArrayWithGoodAndBadItems) {
  auto result = ParseItemsBody(R"([{"item_id":"a","title":"A","tags":["x"]},42,{"title":"no id"},)"
                               R"({"item_id":"b","available":false,"created_at":5}])");
  ASSERT_THAT(result, IsOk());
  ASSERT_EQ(result->items.size(), 2u);
  EXPECT_EQ(result->items[0].item_id, "a");
  EXPECT_THAT(result->items[0].tags, ElementsAre("x"));
  EXPECT_EQ(result->items[1].item_id, "b");
  EXPECT_FALSE(result->items[1].available);
  EXPECT_EQ(result->items[1].created_at_ms, 5);
  EXPECT_THAT(result->indices, ElementsAre(0, 3));
  ASSERT_EQ(result->rejected.size(), 2u);
  EXPECT_EQ(result->rejected[0].first, 1);
  EXPECT_THAT(result->rejected[0].second, HasSubstr("must be a JSON object"));
  EXPECT_EQ(result->rejected[1].first, 2);
  EXPECT_THAT(result->rejected[1].second, HasSubstr("item_id is required"));
}

TEST(ParseItemsBodyTest, SingleObjectAndBadBodies) {
  auto single = ParseItemsBody(R"({"item_id":"solo"})");
  ASSERT_THAT(single, IsOk());
  ASSERT_EQ(single->items.size(), 1u);
  EXPECT_EQ(single->items[0].item_id, "solo");
  EXPECT_THAT(single->indices, ElementsAre(0));

  auto empty_array = ParseItemsBody("[]");
  ASSERT_THAT(empty_array, IsOk());
  EXPECT_TRUE(empty_array->items.empty());

  EXPECT_THAT(ParseItemsBody(""), StatusIs(StatusCode::kInvalidArgument, "empty"));
  EXPECT_THAT(ParseItemsBody("[{"), StatusIs(StatusCode::kInvalidArgument, "not valid JSON"));
  EXPECT_THAT(ParseItemsBody("\"item\""),
              StatusIs(StatusCode::kInvalidArgument, "JSON array of items"));
  EXPECT_THAT(ParseItemsBody(std::string(1 << 20, '[')),
              StatusIs(StatusCode::kInvalidArgument, "nested deeper"));
}

TEST(OtherBodiesTest, UpsertFeaturesItemReadiness) {
  serving::UpsertResult upsert;
  upsert.upserted = 2;
  upsert.rejected.emplace_back(1, "item_id is required");
  EXPECT_EQ(UpsertResultToJson(upsert),
            R"({"upserted":2,"rejected":[{"index":1,"reason":"item_id is required"}]})");
  EXPECT_EQ(UpsertResultToJson({}), R"({"upserted":0,"rejected":[]})");

  serving::UserFeatures features;
  features.user_id = "u1";
  features.history.events_total = 42;
  features.history.updated_at_ms = 1732450000123;
  features.history.recent.push_back({"i3", EventType::kClick, 1732450000000});
  EXPECT_EQ(UserFeaturesToJson(features),
            R"({"user_id":"u1","events_total":42,"recent_items":)"
            R"([{"item_id":"i3","type":"click","ts":1732450000000}],"windows":{},)"
            R"("updated_at":1732450000123})");

  Item item;
  item.item_id = "i1";
  item.title = "Title";
  item.tags = {"a"};
  std::string item_json = ItemToJsonText(item);
  EXPECT_THAT(item_json, HasSubstr(R"("item_id":"i1")"));
  EXPECT_THAT(item_json, HasSubstr(R"("tags":["a"])"));
  EXPECT_THAT(item_json, HasSubstr(R"("available":true)"));

  serving::Readiness readiness;
  readiness.ready = true;
  readiness.model_version = "m1";
  EXPECT_EQ(ReadinessToJson(readiness), R"({"status":"ready","model_version":"m1"})");
}

// ---- POST /v1/events ----

TEST(ParseEventsBodyTest, ArrayOfEvents) {
  auto inputs = ParseEventsBody(
      R"( [{"event_id":"e1","user_id":"u1","item_id":"i3","type":"click","ts":1732450000000,)"
      R"("dwell_ms":1200,"request_id":"r1"}, {"user_id":"u2","item_id":"i4","type":"view","ts":5}])");
  ASSERT_THAT(inputs.status(), IsOk());
  ASSERT_EQ(inputs->size(), 2u);
  const serving::EventInput& first = (*inputs)[0];
  ASSERT_TRUE(first.event.has_value()) << first.parse_error;
  EXPECT_EQ(first.event->event_id, "e1");
  EXPECT_EQ(first.event->user_id, "u1");
  EXPECT_EQ(first.event->item_id, "i3");
  EXPECT_EQ(first.event->type, EventType::kClick);
  EXPECT_EQ(first.event->ts_ms, 1732450000000);
  EXPECT_EQ(first.event->dwell_ms, 1200);
  EXPECT_EQ(first.event->request_id, "r1");
  EXPECT_TRUE(first.parse_error.empty());
  EXPECT_THAT(first.raw, HasSubstr(R"("event_id":"e1")"));
  ASSERT_TRUE((*inputs)[1].event.has_value());
  EXPECT_EQ((*inputs)[1].raw, R"({"user_id":"u2","item_id":"i4","type":"view","ts":5})");
}

TEST(ParseEventsBodyTest, JsonLinesKeepTheirTextAndSkipBlankLines) {
  const std::string line1 = R"({"user_id":"u1","item_id":"i3","type":"view","ts":1})";
  const std::string line2 =
      R"({"user_id":"u2", "item_id":"i4","type":"dwell","ts":2,"dwell_ms":5})";
  auto inputs = ParseEventsBody("\n  " + line1 + "\r\n\n" + line2 + "\n");
  ASSERT_THAT(inputs.status(), IsOk());
  ASSERT_EQ(inputs->size(), 2u);
  EXPECT_EQ((*inputs)[0].raw, line1);
  EXPECT_EQ((*inputs)[1].raw, line2);
  ASSERT_TRUE((*inputs)[1].event.has_value());
  EXPECT_EQ((*inputs)[1].event->dwell_ms, 5);
}

TEST(ParseEventsBodyTest, MixedElementsKeepTheirIndexes) {
  auto inputs =
      ParseEventsBody(R"([{"user_id":"u1","item_id":"i1","type":"click","ts":1},)"
                      R"({"item_id":"i1","type":"click","ts":1},)"
                      R"(7,)"
                      R"({"user_id":"u1","item_id":"i1","type":"nope","ts":1},)"
                      R"({"user_id":"u1","item_id":"i1","type":"dwell","ts":1,"dwell_ms":-3},)"
                      R"({"user_id":"u1","item_id":"i2","type":"view","ts":2}])");
  ASSERT_THAT(inputs.status(), IsOk());
  ASSERT_EQ(inputs->size(), 6u);
  EXPECT_TRUE((*inputs)[0].event.has_value());
  EXPECT_THAT((*inputs)[1].parse_error, HasSubstr("user_id"));
  EXPECT_THAT((*inputs)[2].parse_error, HasSubstr("JSON object"));
  EXPECT_EQ((*inputs)[2].raw, "7");
  EXPECT_EQ((*inputs)[1].raw, R"({"item_id":"i1","type":"click","ts":1})");
  EXPECT_THAT((*inputs)[3].parse_error, HasSubstr("type must be one of"));
  EXPECT_THAT((*inputs)[4].parse_error, HasSubstr("dwell_ms"));
  EXPECT_TRUE((*inputs)[5].event.has_value());
  for (size_t i = 1; i < 5; ++i) EXPECT_FALSE((*inputs)[i].event.has_value()) << i;
}

TEST(ParseEventsBodyTest, BadJsonLineIsOneRejectedElement) {
  auto inputs = ParseEventsBody(
      "{\"user_id\":\"u1\",\"item_id\":\"i1\",\"type\":\"click\",\"ts\":1}\n"
      "{\"user_id\":\n"
      "[1]\n"
      "{\"user_id\":\"u1\",\"item_id\":\"i2\",\"type\":\"click\",\"ts\":1}\n");
  ASSERT_THAT(inputs.status(), IsOk());
  ASSERT_EQ(inputs->size(), 4u);
  EXPECT_TRUE((*inputs)[0].event.has_value());
  EXPECT_EQ((*inputs)[1].parse_error, "event is not valid JSON");
  EXPECT_EQ((*inputs)[1].raw, R"({"user_id":)");
  EXPECT_THAT((*inputs)[2].parse_error, HasSubstr("JSON object"));
  EXPECT_TRUE((*inputs)[3].event.has_value());
}

TEST(ParseEventsBodyTest, ArrayElementsKeepTheirOriginalText) {
  auto inputs =
      ParseEventsBody("[ {\"user_id\":\"a,]}\\\"\" , \"x\":[1,{\"y\":2}]} ,\n\"s\" , [ ] , {} ]");
  ASSERT_THAT(inputs.status(), IsOk());
  ASSERT_EQ(inputs->size(), 4u);
  EXPECT_EQ((*inputs)[0].raw, R"({"user_id":"a,]}\"" , "x":[1,{"y":2}]})");
  EXPECT_EQ((*inputs)[1].raw, R"("s")");
  EXPECT_EQ((*inputs)[2].raw, "[ ]");
  EXPECT_EQ((*inputs)[3].raw, "{}");
}

TEST(ParseEventsBodyTest, EmptyArrayIsNoEvents) {
  auto inputs = ParseEventsBody(" [ ] ");
  ASSERT_THAT(inputs.status(), IsOk());
  EXPECT_TRUE(inputs->empty());
}

TEST(ParseEventsBodyTest, GarbageBodiesAreInvalidArgument) {
  for (const char* body : {"", "  \n", "garbage", "42", "\"x\"", "[1,2", "[{\"a\":1}] x", "null"}) {
    EXPECT_THAT(ParseEventsBody(body).status(), StatusIs(StatusCode::kInvalidArgument))
        << "body: " << body;
  }
  EXPECT_THAT(ParseEventsBody(Repeat("[", 100000)).status(),
              StatusIs(StatusCode::kInvalidArgument, "nested deeper"));
}

TEST(ParseEventsBodyTest, RawTextIsBounded) {
  const std::string huge(100 << 10, 'u');
  auto inputs = ParseEventsBody(R"({"user_id":")" + huge +
                                R"(","item_id":"i","type":"click","ts":1})" + "\n");
  ASSERT_THAT(inputs.status(), IsOk());
  ASSERT_EQ(inputs->size(), 1u);
  EXPECT_FALSE((*inputs)[0].event.has_value());
  EXPECT_EQ((*inputs)[0].raw.size(), kMaxRawEventBytes);
  auto array = ParseEventsBody(R"([{"user_id":")" + huge + R"("}])");
  ASSERT_THAT(array.status(), IsOk());
  EXPECT_EQ((*array)[0].raw.size(), kMaxRawEventBytes);
}

TEST(EventInputFromWireTest, SameReasonsAsJson) {
  WireEventFields fields;
  fields.event_id = "e1";
  fields.user_id = "u1";
  fields.item_id = "i1";
  fields.type = "click";
  fields.ts_ms = 7;
  serving::EventInput good = EventInputFromWire(fields);
  ASSERT_TRUE(good.event.has_value()) << good.parse_error;
  EXPECT_EQ(good.event->type, EventType::kClick);
  EXPECT_EQ(good.raw, R"({"event_id":"e1","user_id":"u1","item_id":"i1","type":"click","ts":7})");

  auto reason_of = [](std::string_view body) {
    auto inputs = ParseEventsBody(body);
    return inputs.ok() && inputs->size() == 1 ? (*inputs)[0].parse_error : std::string("?");
  };
  WireEventFields no_user = fields;
  no_user.user_id = "";
  EXPECT_EQ(EventInputFromWire(no_user).parse_error,
            reason_of(R"([{"item_id":"i1","type":"click","ts":7}])"));
  WireEventFields bad_type = fields;
  bad_type.type = "like";
  EXPECT_EQ(EventInputFromWire(bad_type).parse_error,
            reason_of(R"([{"user_id":"u1","item_id":"i1","type":"like","ts":7}])"));
  WireEventFields no_ts = fields;
  no_ts.ts_ms = 0;
  EXPECT_THAT(EventInputFromWire(no_ts).parse_error, HasSubstr("ts"));
  WireEventFields negative_ts = fields;
  negative_ts.ts_ms = -5;
  EXPECT_EQ(EventInputFromWire(negative_ts).parse_error,
            reason_of(R"([{"user_id":"u1","item_id":"i1","type":"click","ts":-5}])"));
  WireEventFields negative_dwell = fields;
  negative_dwell.dwell_ms = -1;
  EXPECT_THAT(EventInputFromWire(negative_dwell).parse_error, HasSubstr("dwell_ms"));
  const std::string long_id(300, 'x');
  WireEventFields long_item = fields;
  long_item.item_id = long_id;
  EXPECT_THAT(EventInputFromWire(long_item).parse_error, HasSubstr("item_id"));
}

TEST(PublishResultToJsonTest, Shape) {
  serving::PublishResult result;
  result.accepted = 3;
  result.duplicates = 1;
  result.rejected.emplace_back(2, "ts is too far in the future");
  EXPECT_EQ(
      PublishResultToJson(result),
      R"({"accepted":3,"duplicates":1,"rejected":[{"index":2,"reason":"ts is too far in the future"}]})");
  EXPECT_EQ(PublishResultToJson({}), R"({"accepted":0,"duplicates":0,"rejected":[]})");
}

TEST(DeadLettersToJsonTest, Shape) {
  std::vector<serving::DeadLetterView> letters = {
      {1234, "http", "missing_field", "user_id is required", R"({"item_id":"i1"})"}};
  EXPECT_EQ(DeadLettersToJson(letters),
            R"({"dead_letters":[{"received_at":1234,"source":"http","reason_code":"missing_field",)"
            R"("reason":"user_id is required","raw":"{\"item_id\":\"i1\"}"}]})");
  EXPECT_EQ(DeadLettersToJson({}), R"({"dead_letters":[]})");
}

}  // namespace
}  // namespace pulse::api
