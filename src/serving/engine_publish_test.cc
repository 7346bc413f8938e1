// Engine::PublishEvents: validation, dead letters, durability, idempotence, backpressure, and the
// next Recommend reflecting a published event.
#include <string>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/ann_index.h"
#include "serving/engine.h"
#include "serving/test_bundles.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using ::pulse::serving::test_bundles::TwoClusterBundle;

using ::pulse::testing::FakeClock;
using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr int64_t kNowMs = 1'767'000'000'000;

EventInput Input(std::string user, std::string item, std::string event_id = "",
                 int64_t ts_ms = kNowMs, EventType type = EventType::kClick) {
  Event e;
  e.event_id = std::move(event_id);
  e.user_id = std::move(user);
  e.item_id = std::move(item);
  e.type = type;
  e.ts_ms = ts_ms;
  EventInput input;
  input.raw = StrCat("{\"user_id\":\"", e.user_id, "\"}");
  input.event = std::move(e);
  return input;
}

EventInput Unparsed(std::string raw, std::string error) {
  EventInput input;
  input.raw = std::move(raw);
  input.parse_error = std::move(error);
  return input;
}

class EnginePublishTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.Sub("data");
    config_.index.type = "flat";
    config_.server.model_poll_ms = 0;
    data_dir_ = store::DataDir::Open(config_.data_dir, config_.store, clock_).value();
  }

  std::unique_ptr<Engine> MakeEngine(bool with_model = true) {
    if (with_model) {
      rollout::ModelBundle bundle = TwoClusterBundle();
      EXPECT_THAT(rollout::WriteModelBundle(data_dir_->models_dir(), bundle), IsOk());
    }
    return Engine::Create(config_, data_dir_.get(), &clock_).value();
  }

  testing::TempDir dir_;
  FakeClock clock_{kNowMs * 1000};
  Config config_;
  std::unique_ptr<store::DataDir> data_dir_;
};

TEST_F(EnginePublishTest, NextRecommendReflectsAPublishedClick) {
  auto engine = MakeEngine();
  RecommendRequest request;
  request.user_id = "newbie";
  request.n = 5;
  // Before: an unknown user gets the popular cluster B.
  auto before = engine->Recommend(request);
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->items[0].explanation_id, "popular_now");

  std::vector<EventInput> events;
  events.push_back(Input("newbie", "i5", "e-click"));
  auto published = engine->PublishEvents(std::move(events), "http");
  ASSERT_THAT(published, IsOk());
  EXPECT_EQ(published->accepted, 1);
  EXPECT_TRUE(published->rejected.empty());

  auto after = engine->Recommend(request);
  ASSERT_THAT(after, IsOk());
  ASSERT_EQ(after->items.size(), 5u);
  for (const auto& item : after->items) {
    EXPECT_NE(item.item_id, "i5") << "the clicked item itself is never recommended";
    EXPECT_LT(std::stoi(item.item_id.substr(1)), 10) << "not similar to i5: " << item.item_id;
    EXPECT_EQ(item.explanation_id, "similar_to_recent");
  }
}

TEST_F(EnginePublishTest, RejectsGoToDeadLettersWithReasons) {
  auto engine = MakeEngine(/*with_model=*/false);  // ingest works without a model
  std::vector<EventInput> events;
  events.push_back(Input("u1", "i1", "ok-1"));
  events.push_back(Unparsed("{oops", "not valid JSON"));
  events.push_back(Input("u1", "i2", "", kNowMs + config_.ingest.max_future_skew_ms + 1));
  EventInput bad_id = Input("u1", "i3");
  bad_id.event->item_id = std::string(300, 'x');
  bad_id.raw.clear();  // as gRPC sends it: no text
  events.push_back(std::move(bad_id));
  events.push_back(Unparsed("{\"user_id\":\"u\"}", "item_id is required"));
  events.push_back(Input("u1", "i4", "ok-2", kNowMs - 1000, EventType::kView));

  auto result = engine->PublishEvents(std::move(events), "grpc");
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->accepted, 2);
  EXPECT_EQ(result->duplicates, 0);
  ASSERT_EQ(result->rejected.size(), 4u);
  EXPECT_THAT(result->rejected[0], Pair(1, "not valid JSON"));
  EXPECT_EQ(result->rejected[1].first, 2);
  EXPECT_THAT(result->rejected[1].second, HasSubstr("future"));
  EXPECT_EQ(result->rejected[2].first, 3);
  EXPECT_THAT(result->rejected[2].second, HasSubstr("item_id"));
  EXPECT_THAT(result->rejected[3], Pair(4, "item_id is required"));
  EXPECT_EQ(data_dir_->EventCount(), 2u);

  auto letters = data_dir_->ListDeadLetters(10);
  ASSERT_THAT(letters, IsOk());
  ASSERT_EQ(letters->size(), 4u);
  std::vector<std::string> reasons;
  for (const auto& l : *letters) reasons.push_back(l.reason);
  EXPECT_THAT(reasons, ElementsAre("missing_field", "bad_id", "ts_in_future", "parse_error"));
  EXPECT_EQ(letters->back().raw, "{oops");
  EXPECT_EQ(letters->back().source, "grpc");
  EXPECT_EQ(letters->back().received_at_ms, kNowMs);
  EXPECT_THAT((*letters)[1].raw, HasSubstr("xxxx"));  // rebuilt from the decoded event

  auto views = engine->ListDeadLetters(2);
  ASSERT_THAT(views, IsOk());
  ASSERT_EQ(views->size(), 2u);
  EXPECT_EQ((*views)[0].reason_code, "missing_field");
  EXPECT_EQ((*views)[0].reason, "item_id is required");
  EXPECT_EQ((*views)[0].source, "grpc");
  EXPECT_EQ((*views)[0].received_at_ms, kNowMs);
  EXPECT_EQ((*views)[0].raw, "{\"user_id\":\"u\"}");
  EXPECT_EQ((*views)[1].reason_code, "bad_id");

  const auto& metrics = engine->ingest_metrics();
  EXPECT_EQ(metrics.Ingested("grpc"), 2u);
  EXPECT_EQ(metrics.Rejected(ingest::RejectReason::kParseError), 1u);
  EXPECT_EQ(metrics.Rejected(ingest::RejectReason::kTsInFuture), 1u);
  EXPECT_EQ(metrics.Rejected(ingest::RejectReason::kBadId), 1u);
  EXPECT_EQ(metrics.Rejected(ingest::RejectReason::kMissingField), 1u);
}

TEST_F(EnginePublishTest, DuplicatesAreCountedNotReapplied) {
  auto engine = MakeEngine(false);
  auto batch = [] {
    std::vector<EventInput> events;
    events.push_back(Input("dup", "i1", "e1"));
    events.push_back(Input("dup", "i2", "e2"));
    return events;
  };
  auto first = engine->PublishEvents(batch(), "http");
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->accepted, 2);
  EXPECT_EQ(first->duplicates, 0);
  auto retry = engine->PublishEvents(batch(), "http");
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->accepted, 2);
  EXPECT_EQ(retry->duplicates, 2);
  EXPECT_EQ(data_dir_->EventCount(), 2u);
  EXPECT_EQ(engine->GetUserFeatures("dup")->history.events_total, 2u);
  EXPECT_EQ(engine->ingest_metrics().Ingested("http"), 2u);
}

TEST_F(EnginePublishTest, OversizedCallIsRefusedWhole) {
  config_.ingest.max_batch_events = 3;
  auto engine = MakeEngine(false);
  std::vector<EventInput> events;
  for (int i = 0; i < 4; ++i) events.push_back(Input("u", StrCat("i", i)));
  EXPECT_THAT(engine->PublishEvents(std::move(events), "http"),
              StatusIs(StatusCode::kInvalidArgument, "at most 3 events"));
  EXPECT_EQ(data_dir_->EventCount(), 0u);
  EXPECT_EQ(engine->ingest_metrics().Rejected(ingest::RejectReason::kOversizedBatch), 4u);
  std::vector<EventInput> fits;
  for (int i = 0; i < 3; ++i) fits.push_back(Input("u", StrCat("i", i)));
  EXPECT_THAT(engine->PublishEvents(std::move(fits), "http"), IsOk());
}

TEST_F(EnginePublishTest, BackpressurePassesThroughAndRecordsNothing) {
  config_.ingest.max_pending_events = 2;  // smaller than one call: always saturated
  auto engine = MakeEngine(false);
  std::vector<EventInput> events;
  for (int i = 0; i < 3; ++i) events.push_back(Input("u", StrCat("i", i)));
  events.push_back(Unparsed("{", "not valid JSON"));
  EXPECT_THAT(engine->PublishEvents(std::move(events), "http"),
              StatusIs(StatusCode::kResourceExhausted));
  EXPECT_EQ(data_dir_->EventCount(), 0u);
  EXPECT_EQ(data_dir_->DeadLetterCount(), 0u);
  EXPECT_EQ(engine->ingest_metrics().Rejected(ingest::RejectReason::kParseError), 0u);
}

TEST_F(EnginePublishTest, EmptyCallAcceptsNothing) {
  auto engine = MakeEngine(false);
  auto result = engine->PublishEvents({}, "http");
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->accepted, 0);
  EXPECT_EQ(engine->event_writer_stats().batches, 0u);
}

}  // namespace
}  // namespace pulse::serving
