#include "ingest/json_codec.h"

#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"

namespace pulse::ingest {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::testing::ElementsAre;

struct LineCase {
  const char* name;
  std::string line;
  // Empty: the line must parse. Else: InvalidArgument whose message contains this.
  std::string error;
};

// Keeps gtest from printing the struct's bytes.
void PrintTo(const LineCase& c, std::ostream* os) { *os << c.name; }

std::string Repeat(char c, size_t n) { return std::string(n, c); }

std::string EventWithUser(const std::string& user_json) {
  return R"({"user_id":)" + user_json + R"(,"item_id":"i1","type":"view","ts":1700000000000})";
}

std::vector<LineCase> EventCases() {
  const std::string ok_tail = R"("item_id":"i1","type":"view","ts":1700000000000)";
  return {
      {"minimal", R"({"user_id":"u1",)" + ok_tail + "}", ""},
      {"all_fields",
       R"({"event_id":"e1","user_id":"u1","item_id":"i1","type":"dwell","ts":5,"dwell_ms":1200,)"
       R"("request_id":"r1","rating":4.5,"extra":{"ignored":[1,2]}})",
       ""},
      {"unknown_fields_ignored", R"({"user_id":"u1",)" + ok_tail + R"(,"zzz":null})", ""},
      {"float_ts_whole", R"({"user_id":"u1","item_id":"i1","type":"view","ts":1.7e12})", ""},
      {"null_optional", R"({"user_id":"u1",)" + ok_tail + R"(,"event_id":null,"dwell_ms":null})",
       ""},
      {"unicode_id", EventWithUser(R"("\u00fcser-\ud83d\ude00")"), ""},
      {"id_256_bytes", EventWithUser("\"" + Repeat('a', 256) + "\""), ""},
      // JSON itself.
      {"empty_line", "", "not valid JSON"},
      {"whitespace", "   ", "not valid JSON"},
      {"truncated", R"({"user_id":"u1")", "not valid JSON"},
      {"trailing_garbage", R"({"user_id":"u1",)" + ok_tail + "}x", "not valid JSON"},
      {"two_objects", R"({"a":1} {"b":2})", "not valid JSON"},
      {"invalid_utf8", EventWithUser("\"u\xff\""), "not valid JSON"},
      {"nul_byte", std::string("{\"user_id\":\"u\0\"}", 16), "not valid JSON"},
      {"comment", "// hi\n{}", "not valid JSON"},
      // Shape.
      {"array", "[1,2]", "must be a JSON object"},
      {"number", "42", "must be a JSON object"},
      {"string", "\"event\"", "must be a JSON object"},
      {"null", "null", "must be a JSON object"},
      // Missing fields.
      {"no_user", R"({"item_id":"i1","type":"view","ts":1})", "user_id is required"},
      {"no_item", R"({"user_id":"u1","type":"view","ts":1})", "item_id is required"},
      {"no_type", R"({"user_id":"u1","item_id":"i1","ts":1})", "type is required"},
      {"no_ts", R"({"user_id":"u1","item_id":"i1","type":"view"})", "ts is required"},
      {"null_user", EventWithUser("null"), "user_id is required"},
      // Wrong types.
      {"user_number", EventWithUser("7"), "user_id must be a string"},
      {"user_object", EventWithUser("{}"), "user_id must be a string"},
      {"user_array", EventWithUser(R"(["u1"])"), "user_id must be a string"},
      {"type_number", R"({"user_id":"u1","item_id":"i1","type":1,"ts":1})",
       "type must be a string"},
      {"ts_string", R"({"user_id":"u1","item_id":"i1","type":"view","ts":"1"})",
       "ts must be an integer"},
      {"ts_bool", R"({"user_id":"u1","item_id":"i1","type":"view","ts":true})",
       "ts must be an integer"},
      {"rating_string", R"({"user_id":"u1",)" + ok_tail + R"(,"rating":"5"})", "rating must be"},
      {"event_id_number", R"({"user_id":"u1",)" + ok_tail + R"(,"event_id":5})",
       "event_id must be a string"},
      // Ids.
      {"empty_user", EventWithUser(R"("")"), "user_id must not be empty"},
      {"oversized_user", EventWithUser("\"" + Repeat('a', 257) + "\""), "longer than 256"},
      {"control_char_user", EventWithUser(R"("u\u0001")"), "control character"},
      {"newline_user", EventWithUser(R"("u\n1")"), "control character"},
      {"del_user", EventWithUser("\"u\x7f\""), "control character"},
      {"empty_event_id_is_absent", R"({"user_id":"u1",)" + ok_tail + R"(,"event_id":""})", ""},
      {"oversized_request_id",
       R"({"user_id":"u1",)" + ok_tail + R"(,"request_id":")" + Repeat('r', 300) + "\"}",
       "request_id is longer"},
      // Values.
      {"unknown_type", R"({"user_id":"u1","item_id":"i1","type":"teleport","ts":1})",
       "type must be one of"},
      {"uppercase_type", R"({"user_id":"u1","item_id":"i1","type":"VIEW","ts":1})",
       "type must be one of"},
      {"zero_ts", R"({"user_id":"u1","item_id":"i1","type":"view","ts":0})",
       "ts must be a positive"},
      {"negative_ts", R"({"user_id":"u1","item_id":"i1","type":"view","ts":-5})",
       "ts must be a positive"},
      {"fractional_ts", R"({"user_id":"u1","item_id":"i1","type":"view","ts":1.5})",
       "ts must be an integer"},
      {"huge_float_ts", R"({"user_id":"u1","item_id":"i1","type":"view","ts":1e300})",
       "ts must be an integer"},
      {"huge_unsigned_ts",
       R"({"user_id":"u1","item_id":"i1","type":"view","ts":18446744073709551615})",
       "ts is out of range"},
      {"int64_max_ts", R"({"user_id":"u1","item_id":"i1","type":"view","ts":9223372036854775807})",
       ""},
      {"beyond_uint64_ts",
       R"({"user_id":"u1","item_id":"i1","type":"view","ts":123456789012345678901234567890})",
       "ts must be an integer"},
      {"negative_dwell", R"({"user_id":"u1",)" + ok_tail + R"(,"dwell_ms":-1})",
       "dwell_ms must be >= 0"},
      {"huge_unsigned_dwell",
       R"({"user_id":"u1",)" + ok_tail + R"(,"dwell_ms":9223372036854775808})",
       "dwell_ms is out of range"},
      {"huge_rating", R"({"user_id":"u1",)" + ok_tail + R"(,"rating":1e300})", "rating must be"},
  };
}

class EventLineTest : public ::testing::TestWithParam<LineCase> {};

TEST_P(EventLineTest, ParsesOrRejectsWithReason) {
  const LineCase& c = GetParam();
  Result<Event> event = ParseEventLine(c.line);
  if (c.error.empty()) {
    EXPECT_THAT(event, IsOk());
  } else {
    EXPECT_THAT(event, StatusIs(StatusCode::kInvalidArgument, c.error));
  }
}

INSTANTIATE_TEST_SUITE_P(Table, EventLineTest, ::testing::ValuesIn(EventCases()),
                         [](const auto& p) { return std::string(p.param.name); });

std::vector<LineCase> ItemCases() {
  return {
      {"minimal", R"({"item_id":"i1"})", ""},
      {"full",
       R"({"item_id":"i1","title":"T","category":"c","tags":["a","b"],"created_at":5,)"
       R"("available":false})",
       ""},
      {"float_created_at", R"({"item_id":"i1","created_at":1.0e3})", ""},
      {"not_json", "{item_id:i1}", "not valid JSON"},
      {"array", "[]", "must be a JSON object"},
      {"no_id", R"({"title":"x"})", "item_id is required"},
      {"empty_id", R"({"item_id":""})", "item_id must not be empty"},
      {"numeric_id", R"({"item_id":12})", "item_id must be a string"},
      {"control_id", R"({"item_id":"a\tb"})", "control character"},
      {"title_number", R"({"item_id":"i1","title":5})", "title must be a string"},
      {"title_too_long", R"({"item_id":"i1","title":")" + Repeat('t', 4097) + "\"}",
       "title is longer"},
      {"category_too_long", R"({"item_id":"i1","category":")" + Repeat('c', 257) + "\"}",
       "category is longer"},
      {"tags_string", R"({"item_id":"i1","tags":"a,b"})", "tags must be an array"},
      {"tags_mixed", R"({"item_id":"i1","tags":["a",1]})", "tags must be an array"},
      {"tag_too_long", R"({"item_id":"i1","tags":[")" + Repeat('g', 257) + "\"]}", "a tag is"},
      {"negative_created_at", R"({"item_id":"i1","created_at":-1})", "created_at must be >= 0"},
      {"available_string", R"({"item_id":"i1","available":"yes"})", "available must be true"},
      {"available_number", R"({"item_id":"i1","available":1})", "available must be true"},
  };
}

class ItemLineTest : public ::testing::TestWithParam<LineCase> {};

TEST_P(ItemLineTest, ParsesOrRejectsWithReason) {
  const LineCase& c = GetParam();
  Result<Item> item = ParseItemLine(c.line);
  if (c.error.empty()) {
    EXPECT_THAT(item, IsOk());
  } else {
    EXPECT_THAT(item, StatusIs(StatusCode::kInvalidArgument, c.error));
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ItemLineTest, ::testing::ValuesIn(ItemCases()),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(JsonCodecTest, TooManyTags) {
  nlohmann::json tags = nlohmann::json::array();
  for (int i = 0; i < 257; ++i) tags.push_back(StrCat("t", i));
  nlohmann::json item = {{"item_id", "i1"}, {"tags", tags}};
  EXPECT_THAT(ItemFromJson(item), StatusIs(StatusCode::kInvalidArgument, "more than 256"));
}

TEST(JsonCodecTest, DeeplyNestedJsonDoesNotCrash) {
  const int depth = 100000;
  std::string nested = std::string(depth, '[') + std::string(depth, ']');
  EXPECT_THAT(ParseEventLine(nested), StatusIs(StatusCode::kInvalidArgument));
  std::string in_field = R"({"user_id":"u1","item_id":"i1","type":"view","ts":1,"x":)" +
                         std::string(depth, '[') + std::string(depth, ']') + "}";
  EXPECT_THAT(ParseEventLine(in_field), IsOk());
  std::string unbalanced = std::string(depth, '{');
  EXPECT_THAT(ParseItemLine(unbalanced), StatusIs(StatusCode::kInvalidArgument, "not valid JSON"));
}

TEST(JsonCodecTest, TwoMebibyteLine) {
  std::string big(2 << 20, 'x');
  std::string line =
      R"({"user_id":"u1","item_id":"i1","type":"view","ts":1,"payload":")" + big + "\"}";
  EXPECT_THAT(ParseEventLine(line), IsOk());
  std::string big_id = R"({"user_id":")" + big + R"(","item_id":"i1","type":"view","ts":1})";
  EXPECT_THAT(ParseEventLine(big_id), StatusIs(StatusCode::kInvalidArgument, "longer than"));
  std::string big_title = R"({"item_id":"i1","title":")" + big + "\"}";
  EXPECT_THAT(ParseItemLine(big_title), StatusIs(StatusCode::kInvalidArgument, "title"));
}

TEST(JsonCodecTest, EventFieldsDecoded) {
  auto event = ParseEventLine(
      R"({"event_id":"e1","user_id":"u1","item_id":"i1","type":"purchase","ts":1700000000123,)"
      R"("dwell_ms":0,"request_id":"r9","rating":3.5})");
  ASSERT_THAT(event, IsOk());
  EXPECT_EQ(event->event_id, "e1");
  EXPECT_EQ(event->user_id, "u1");
  EXPECT_EQ(event->item_id, "i1");
  EXPECT_EQ(event->type, EventType::kPurchase);
  EXPECT_EQ(event->ts_ms, 1700000000123);
  EXPECT_EQ(event->request_id, "r9");
  EXPECT_FLOAT_EQ(event->rating, 3.5f);
}

TEST(JsonCodecTest, EventRoundTrip) {
  std::vector<Event> events(3);
  events[0] = {"", "u1", "i1", EventType::kView, 1, 0, "", 0};
  events[1] = {"e-2",
               "\xC3\xBC\x73\x65r",
               "i\xF0\x9F\x98\x80",
               EventType::kDwell,
               1767225600000,
               4500,
               "req-1",
               0};
  events[2] = {"e3", "u3", "i3", EventType::kImpression, INT64_MAX, 0, "", 4.5f};
  for (const Event& e : events) {
    std::string line = EventToJson(e).dump();
    auto back = ParseEventLine(line);
    ASSERT_THAT(back, IsOk()) << line;
    EXPECT_EQ(back->event_id, e.event_id);
    EXPECT_EQ(back->user_id, e.user_id);
    EXPECT_EQ(back->item_id, e.item_id);
    EXPECT_EQ(back->type, e.type);
    EXPECT_EQ(back->ts_ms, e.ts_ms);
    EXPECT_EQ(back->dwell_ms, e.dwell_ms);
    EXPECT_EQ(back->request_id, e.request_id);
    EXPECT_EQ(back->rating, e.rating);
  }
  for (int t = 0; t < kNumEventTypes; ++t) {
    Event e{"", "u", "i", static_cast<EventType>(t), 10, 0, "", 0};
    auto back = ParseEventLine(EventToJson(e).dump());
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(back->type, e.type);
  }
}

TEST(JsonCodecTest, ItemRoundTrip) {
  Item item{"i1", "Caf\xC3\xA9 \"quoted\"\n", "topic-07", {"a", "b c"}, 1767225600000, false};
  auto back = ParseItemLine(ItemToJson(item).dump());
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->item_id, item.item_id);
  EXPECT_EQ(back->title, item.title);
  EXPECT_EQ(back->category, item.category);
  EXPECT_THAT(back->tags, ElementsAre("a", "b c"));
  EXPECT_EQ(back->created_at_ms, item.created_at_ms);
  EXPECT_FALSE(back->available);
  Item bare;
  bare.item_id = "x";
  auto bare_back = ParseItemLine(ItemToJson(bare).dump());
  ASSERT_THAT(bare_back, IsOk());
  EXPECT_TRUE(bare_back->available);
  EXPECT_TRUE(bare_back->tags.empty());
}

TEST(JsonCodecTest, ValidateItemOnBuiltItems) {
  Item item;
  EXPECT_THAT(ValidateItem(item), StatusIs(StatusCode::kInvalidArgument, "item_id"));
  item.item_id = "i";
  EXPECT_THAT(ValidateItem(item), IsOk());
  item.created_at_ms = -1;
  EXPECT_THAT(ValidateItem(item), StatusIs(StatusCode::kInvalidArgument, "created_at"));
}

TEST(JsonCodecTest, ValidateIdNamesTheField) {
  EXPECT_THAT(ValidateId("", "request_id"), StatusIs(StatusCode::kInvalidArgument, "request_id"));
  EXPECT_THAT(ValidateId("ok-id", "x"), IsOk());
}

}  // namespace
}  // namespace pulse::ingest
