#include "ingest/validator.h"

#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingest/json_codec.h"
#include "testing/test_util.h"

namespace pulse::ingest {
namespace {

using ::pulse::testing::FakeClock;
using ::testing::HasSubstr;

constexpr int64_t kNowMs = 1'700'000'000'000;

Event GoodEvent(int64_t ts_ms = kNowMs) {
  Event e;
  e.user_id = "u1";
  e.item_id = "i1";
  e.type = EventType::kClick;
  e.ts_ms = ts_ms;
  return e;
}

TEST(RejectReasonTest, LabelsAreStableAndRoundTrip) {
  EXPECT_EQ(RejectReasonLabel(RejectReason::kParseError), "parse_error");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kMissingField), "missing_field");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kBadType), "bad_type");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kBadValue), "bad_value");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kBadId), "bad_id");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kUnknownType), "unknown_type");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kTsInFuture), "ts_in_future");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kTsTooOld), "ts_too_old");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kNegativeDwell), "negative_dwell");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kOversizedBatch), "oversized_batch");
  EXPECT_EQ(RejectReasonLabel(RejectReason::kOther), "other");
  EXPECT_EQ(RejectReasonLabel(static_cast<RejectReason>(200)), "other");
  for (size_t i = 0; i < kNumRejectReasons; ++i) {
    auto reason = static_cast<RejectReason>(i);
    EXPECT_EQ(ParseRejectReason(RejectReasonLabel(reason)), reason);
  }
  EXPECT_EQ(ParseRejectReason("nope"), std::nullopt);
}

struct ParseCase {
  const char* name;
  std::string line;
  RejectReason reason;
};
void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.name; }

class ClassifyTest : public ::testing::TestWithParam<ParseCase> {};

// Every error json_codec produces for an event maps to its specific reason, not to "other".
TEST_P(ClassifyTest, JsonCodecErrorsMapToReasons) {
  const ParseCase& c = GetParam();
  auto parsed = ParseEventLine(c.line);
  ASSERT_FALSE(parsed.ok()) << c.line;
  EXPECT_EQ(RejectReasonLabel(ClassifyParseError(parsed.status().message())),
            RejectReasonLabel(c.reason))
      << parsed.status().message();
}

const std::string kTail = R"("type":"view","ts":1700000000000)";

INSTANTIATE_TEST_SUITE_P(
    AllCodecErrors, ClassifyTest,
    ::testing::Values(
        ParseCase{"not_json", "{oops", RejectReason::kParseError},
        ParseCase{"empty", "", RejectReason::kParseError},
        ParseCase{"not_object", "[1,2]", RejectReason::kBadType},
        ParseCase{"no_user", R"({"item_id":"i",)" + kTail + "}", RejectReason::kMissingField},
        ParseCase{"no_item", R"({"user_id":"u",)" + kTail + "}", RejectReason::kMissingField},
        ParseCase{"no_type", R"({"user_id":"u","item_id":"i","ts":5})",
                  RejectReason::kMissingField},
        ParseCase{"no_ts", R"({"user_id":"u","item_id":"i","type":"view"})",
                  RejectReason::kMissingField},
        ParseCase{"user_not_string", R"({"user_id":7,"item_id":"i",)" + kTail + "}",
                  RejectReason::kBadType},
        ParseCase{"type_not_string", R"({"user_id":"u","item_id":"i","type":1,"ts":5})",
                  RejectReason::kBadType},
        ParseCase{"ts_not_int", R"({"user_id":"u","item_id":"i","type":"view","ts":"x"})",
                  RejectReason::kBadType},
        ParseCase{"ts_fraction", R"({"user_id":"u","item_id":"i","type":"view","ts":1.5})",
                  RejectReason::kBadType},
        ParseCase{"empty_user", R"({"user_id":"","item_id":"i",)" + kTail + "}",
                  RejectReason::kBadId},
        ParseCase{"long_item",
                  R"({"user_id":"u","item_id":")" + std::string(300, 'x') + R"(",)" + kTail + "}",
                  RejectReason::kBadId},
        ParseCase{"control_char", R"({"user_id":"u\u0001","item_id":"i",)" + kTail + "}",
                  RejectReason::kBadId},
        ParseCase{"bad_event_id", R"({"event_id":"e\t","user_id":"u","item_id":"i",)" + kTail + "}",
                  RejectReason::kBadId},
        ParseCase{"unknown_type", R"({"user_id":"u","item_id":"i","type":"like","ts":5})",
                  RejectReason::kUnknownType},
        ParseCase{"ts_zero", R"({"user_id":"u","item_id":"i","type":"view","ts":0})",
                  RejectReason::kBadValue},
        ParseCase{"ts_overflow",
                  R"({"user_id":"u","item_id":"i","type":"view","ts":18446744073709551615})",
                  RejectReason::kBadValue},
        ParseCase{"rating_huge", R"({"user_id":"u","item_id":"i",)" + kTail + R"(,"rating":1e300})",
                  RejectReason::kBadValue},
        ParseCase{"negative_dwell",
                  R"({"user_id":"u","item_id":"i",)" + kTail + R"(,"dwell_ms":-1})",
                  RejectReason::kNegativeDwell}),
    [](const ::testing::TestParamInfo<ParseCase>& p) { return std::string(p.param.name); });

TEST(ClassifyTest, UnknownMessages) {
  EXPECT_EQ(ClassifyParseError("invalid JSON at byte 3"), RejectReason::kParseError);
  EXPECT_EQ(ClassifyParseError("something odd"), RejectReason::kOther);
}

struct ValidateCase {
  const char* name;
  Event event;
  std::optional<RejectReason> reason;  // nullopt: accepted
};
void PrintTo(const ValidateCase& c, std::ostream* os) { *os << c.name; }

std::vector<ValidateCase> ValidateCases() {
  IngestConfig defaults;
  const int64_t skew = defaults.max_future_skew_ms;
  const int64_t age = defaults.max_event_age_ms;
  auto with = [](auto mutate) {
    Event e = GoodEvent();
    mutate(e);
    return e;
  };
  return {
      {"now", GoodEvent(), std::nullopt},
      {"skew_exactly", GoodEvent(kNowMs + skew), std::nullopt},
      {"skew_plus_one", GoodEvent(kNowMs + skew + 1), RejectReason::kTsInFuture},
      {"far_future", GoodEvent(std::numeric_limits<int64_t>::max()), RejectReason::kTsInFuture},
      {"age_exactly", GoodEvent(kNowMs - age), std::nullopt},
      {"age_plus_one", GoodEvent(kNowMs - age - 1), RejectReason::kTsTooOld},
      {"ts_one", GoodEvent(1), RejectReason::kTsTooOld},
      {"ts_zero", GoodEvent(0), RejectReason::kBadValue},
      {"ts_negative", GoodEvent(std::numeric_limits<int64_t>::min()), RejectReason::kBadValue},
      {"empty_user", with([](Event& e) { e.user_id.clear(); }), RejectReason::kBadId},
      {"long_item", with([](Event& e) { e.item_id.assign(257, 'x'); }), RejectReason::kBadId},
      {"max_item", with([](Event& e) { e.item_id.assign(256, 'x'); }), std::nullopt},
      {"control_event_id", with([](Event& e) { e.event_id = "e\n1"; }), RejectReason::kBadId},
      {"long_request_id", with([](Event& e) { e.request_id.assign(300, 'r'); }),
       RejectReason::kBadId},
      {"bad_enum", with([](Event& e) { e.type = static_cast<EventType>(9); }),
       RejectReason::kUnknownType},
      {"negative_dwell", with([](Event& e) { e.dwell_ms = -5; }), RejectReason::kNegativeDwell},
      {"zero_dwell", with([](Event& e) { e.dwell_ms = 0; }), std::nullopt},
  };
}

class ValidateTest : public ::testing::TestWithParam<ValidateCase> {};

TEST_P(ValidateTest, Verdict) {
  FakeClock clock(kNowMs * 1000);
  EventValidator validator(IngestConfig{}, clock);
  const ValidateCase& c = GetParam();
  std::optional<Reject> reject = validator.Validate(c.event);
  if (!c.reason) {
    EXPECT_FALSE(reject.has_value()) << reject->message;
  } else {
    ASSERT_TRUE(reject.has_value());
    EXPECT_EQ(RejectReasonLabel(reject->reason), RejectReasonLabel(*c.reason));
    EXPECT_FALSE(reject->message.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ValidateTest, ::testing::ValuesIn(ValidateCases()),
                         [](const ::testing::TestParamInfo<ValidateCase>& p) {
                           return std::string(p.param.name);
                         });

TEST(ValidateTest, FollowsTheClockAndConfig) {
  FakeClock clock(kNowMs * 1000);
  IngestConfig config;
  config.max_future_skew_ms = 1000;
  config.max_event_age_ms = 0;  // unlimited
  EventValidator validator(config, clock);
  EXPECT_FALSE(validator.Validate(GoodEvent(kNowMs + 1000)).has_value());
  auto reject = validator.Validate(GoodEvent(kNowMs + 1001));
  ASSERT_TRUE(reject.has_value());
  EXPECT_THAT(reject->message, HasSubstr("future"));
  EXPECT_FALSE(validator.Validate(GoodEvent(1)).has_value());  // no age limit
  clock.AdvanceMillis(1);
  EXPECT_FALSE(validator.Validate(GoodEvent(kNowMs + 1001)).has_value());
}

TEST(IngestConfigTest, ParsesValidatesAndRefusesUnknownKeys) {
  auto config = ParseConfigYaml(
      "ingest:\n  max_future_skew_ms: 1000\n  max_event_age_ms: 0\n  max_batch_events: 50\n"
      "  max_pending_events: 500\n  dead_letter_max: 7\n");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->ingest.max_future_skew_ms, 1000);
  EXPECT_EQ(config->ingest.max_event_age_ms, 0);
  EXPECT_EQ(config->ingest.max_batch_events, 50);
  EXPECT_EQ(config->ingest.max_pending_events, 500);
  EXPECT_EQ(config->ingest.dead_letter_max, 7);

  auto defaults = ParseConfigYaml("");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->ingest.max_future_skew_ms, 300000);
  EXPECT_EQ(defaults->ingest.max_event_age_ms, int64_t{30} * 24 * 3600 * 1000);
  EXPECT_EQ(defaults->ingest.max_batch_events, 10000);
  EXPECT_EQ(defaults->ingest.max_pending_events, 100000);
  EXPECT_EQ(defaults->ingest.dead_letter_max, 100000);

  EXPECT_THAT(ParseConfigYaml("ingest:\n  max_skew: 1\n").status().message(),
              HasSubstr("ingest.max_skew"));
  EXPECT_THAT(ParseConfigYaml("ingest:\n  max_batch_events: 0\n").status().message(),
              HasSubstr("ingest.max_batch_events"));
  EXPECT_THAT(ParseConfigYaml("ingest:\n  max_batch_events: 10\n  max_pending_events: 9\n")
                  .status()
                  .message(),
              HasSubstr("ingest.max_pending_events"));
  EXPECT_THAT(ParseConfigYaml("ingest:\n  max_future_skew_ms: -1\n").status().message(),
              HasSubstr("ingest.max_future_skew_ms"));
  EXPECT_THAT(ParseConfigYaml("ingest:\n  dead_letter_max: x\n").status().message(),
              HasSubstr("ingest.dead_letter_max"));
}

TEST(IngestMetricsTest, CountsAndRenders) {
  IngestMetrics metrics;
  metrics.CountRejected(RejectReason::kTsInFuture);
  metrics.CountRejected(RejectReason::kTsInFuture, 2);
  metrics.CountIngested("http", 5);
  metrics.CountIngested("grpc", 1);
  metrics.CountIngested("http", 1);
  EXPECT_EQ(metrics.Rejected(RejectReason::kTsInFuture), 3u);
  EXPECT_EQ(metrics.Rejected(RejectReason::kBadId), 0u);
  EXPECT_EQ(metrics.Ingested("http"), 6u);
  EXPECT_EQ(metrics.Ingested("kafka"), 0u);
  std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("pulse_events_rejected_total{reason=\"ts_in_future\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("pulse_events_rejected_total{reason=\"parse_error\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("pulse_events_ingested_total{source=\"http\"} 6\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE pulse_events_rejected_total counter"));
}

}  // namespace
}  // namespace pulse::ingest
