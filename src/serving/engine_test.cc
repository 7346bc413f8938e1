#include "serving/engine.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "index/ann_index.h"
#include "serving/test_bundles.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using ::pulse::serving::test_bundles::TwoClusterBundle;

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.Sub("data");
    config_.index.type = "flat";
    config_.server.model_poll_ms = 0;
    data_dir_ = store::DataDir::Open(config_.data_dir, config_.store).value();
    std::vector<Event> events;
    for (int i : {0, 1, 2}) {
      Event e;
      e.user_id = "alice";
      e.item_id = StrCat("i", i);
      e.type = EventType::kClick;
      e.ts_ms = 1000 + i;
      events.push_back(e);
    }
    ASSERT_THAT(data_dir_->AppendEvents(events, true), IsOk());
  }

  void WriteBundle() {
    rollout::ModelBundle bundle = TwoClusterBundle(4, /*trained_user=*/true);
    ASSERT_THAT(rollout::WriteModelBundle(data_dir_->models_dir(), bundle), IsOk());
  }

  std::unique_ptr<Engine> MakeEngine() { return Engine::Create(config_, data_dir_.get()).value(); }

  static std::vector<std::string> Ids(const RecommendResponse& response) {
    std::vector<std::string> ids;
    for (const auto& item : response.items) ids.push_back(item.item_id);
    return ids;
  }

  testing::TempDir dir_;
  Config config_;
  std::unique_ptr<store::DataDir> data_dir_;
};

TEST_F(EngineTest, NotReadyWithoutModel) {
  auto engine = MakeEngine();
  EXPECT_FALSE(engine->GetReadiness().ready);
  RecommendRequest request;
  request.user_id = "alice";
  EXPECT_THAT(engine->Recommend(request), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(EngineTest, RecentHistoryDrivesPersonalResultsWithoutSeenItems) {
  WriteBundle();
  auto engine = MakeEngine();
  ASSERT_TRUE(engine->GetReadiness().ready);
  RecommendRequest request;
  request.user_id = "alice";
  request.n = 5;
  auto response = engine->Recommend(request);
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->items.size(), 5u);
  for (const auto& item : response->items) {
    int index = std::stoi(item.item_id.substr(1));
    EXPECT_LT(index, 10) << "alice likes cluster A, got " << item.item_id;
    EXPECT_GT(index, 2) << "already seen: " << item.item_id;
    EXPECT_EQ(item.explanation_id, "similar_to_recent");
    EXPECT_EQ(item.source, "ann");
  }
  EXPECT_EQ(response->model_version, "v000001");
  EXPECT_FALSE(response->degraded);
  EXPECT_EQ(response->request_id.size(), 32u);
}

TEST_F(EngineTest, UnknownUserGetsPopularAndTrainedUserGetsTaste) {
  WriteBundle();
  auto engine = MakeEngine();
  RecommendRequest request;
  request.user_id = "stranger";
  request.n = 3;
  auto response = engine->Recommend(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(Ids(*response), (std::vector<std::string>{"i19", "i18", "i17"}));
  for (const auto& item : response->items) EXPECT_EQ(item.explanation_id, "popular_now");

  request.user_id = "trained-only";
  response = engine->Recommend(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->items[0].explanation_id, "matches_your_taste");
}

TEST_F(EngineTest, ExcludeAndDeleteRemoveItems) {
  WriteBundle();
  auto engine = MakeEngine();
  RecommendRequest request;
  request.user_id = "stranger";
  request.n = 3;
  request.exclude = {"i19"};
  EXPECT_EQ(Ids(engine->Recommend(request).value()),
            (std::vector<std::string>{"i18", "i17", "i16"}));
  ASSERT_THAT(engine->DeleteItem("i18"), IsOk());
  EXPECT_EQ(Ids(engine->Recommend(request).value()),
            (std::vector<std::string>{"i17", "i16", "i15"}));
  EXPECT_THAT(engine->DeleteItem("no-such-item"), StatusIs(StatusCode::kNotFound));
  // Deletion survives a new engine (a restart) over the same data dir.
  auto restarted = MakeEngine();
  EXPECT_EQ(Ids(restarted->Recommend(request).value()),
            (std::vector<std::string>{"i17", "i16", "i15"}));
  // Upserting it as available brings it back.
  Item item;
  item.item_id = "i18";
  auto upserted = restarted->UpsertItems({item});
  ASSERT_THAT(upserted, IsOk());
  EXPECT_EQ(upserted->upserted, 1);
  EXPECT_EQ(Ids(restarted->Recommend(request).value()),
            (std::vector<std::string>{"i18", "i17", "i16"}));
}

TEST_F(EngineTest, InvalidItemsAreRejectedWithIndex) {
  WriteBundle();
  auto engine = MakeEngine();
  Item good;
  good.item_id = "new";
  Item bad;
  bad.item_id = std::string(300, 'x');
  auto result = engine->UpsertItems({good, bad});
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->upserted, 1);
  ASSERT_EQ(result->rejected.size(), 1u);
  EXPECT_EQ(result->rejected[0].first, 1);
  EXPECT_THAT(engine->GetItem("new"), IsOk());
  EXPECT_THAT(engine->GetItem("missing"), StatusIs(StatusCode::kNotFound));
}

TEST_F(EngineTest, ValidatesRequests) {
  WriteBundle();
  auto engine = MakeEngine();
  RecommendRequest request;
  request.user_id = "alice";
  request.n = 0;
  EXPECT_THAT(engine->Recommend(request),
              StatusIs(StatusCode::kInvalidArgument, "n must be between 1 and 200"));
  request.n = 201;
  EXPECT_THAT(engine->Recommend(request), StatusIs(StatusCode::kInvalidArgument));
  request.n = 5;
  request.user_id = "";
  EXPECT_THAT(engine->Recommend(request), StatusIs(StatusCode::kInvalidArgument, "user_id"));
}

TEST_F(EngineTest, DebugReportsStagesAndRemovals) {
  WriteBundle();
  auto engine = MakeEngine();
  RecommendRequest request;
  request.user_id = "alice";
  request.n = 2;
  request.debug = true;
  request.trace_id = "0af7651916cd43dd8448eb211c80319c";
  auto response = engine->Recommend(request);
  ASSERT_THAT(response, IsOk());
  ASSERT_TRUE(response->debug.has_value());
  EXPECT_EQ(response->debug->trace_id, request.trace_id);
  std::set<std::string> stages;
  for (const auto& stage : response->debug->stages) stages.insert(stage.name);
  for (const char* name : {"user", "ann", "popular", "merge", "seen", "linear", "total"}) {
    EXPECT_EQ(stages.count(name), 1u) << name;
  }
  std::set<std::string> removed_seen;
  for (const auto& removed : response->debug->removed) {
    if (removed.filter == "seen") removed_seen.insert(removed.item_id);
  }
  EXPECT_EQ(removed_seen, (std::set<std::string>{"i0", "i1", "i2"}));
}

TEST_F(EngineTest, HotSwapsNewerBundleAndRefusesCorruptOne) {
  WriteBundle();
  auto engine = MakeEngine();
  EXPECT_EQ(engine->GetReadiness().model_version, "v000001");
  EXPECT_FALSE(engine->ReloadModelIfNewer().value());

  WriteBundle();  // v000002
  // Corrupt v000002: it must be refused and v000001 keep serving.
  std::string factors = data_dir_->models_dir() + "/v000002/item_factors.f32";
  {
    std::fstream file(factors, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(3);
    file.put('\x7f');
  }
  auto reloaded = engine->ReloadModelIfNewer();
  ASSERT_THAT(reloaded, IsOk());
  EXPECT_FALSE(*reloaded);
  EXPECT_EQ(engine->GetReadiness().model_version, "v000001");

  // Requests keep flowing while a good newer bundle swaps in.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    RecommendRequest request;
    request.user_id = "alice";
    request.n = 5;
    while (!stop) {
      auto response = engine->Recommend(request);
      if (!response.ok() || response->items.size() != 5) ++failures;
    }
  });
  WriteBundle();  // v000003
  auto swapped = engine->ReloadModelIfNewer();
  ASSERT_THAT(swapped, IsOk());
  EXPECT_TRUE(*swapped);
  stop = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(engine->GetReadiness().model_version, "v000003");
}

}  // namespace
}  // namespace pulse::serving

namespace pulse::serving {
namespace {

EventInput Click(const std::string& user, const std::string& item, int64_t ts_ms,
                 const std::string& event_id) {
  Event event;
  event.event_id = event_id;
  event.user_id = user;
  event.item_id = item;
  event.type = EventType::kClick;
  event.ts_ms = ts_ms;
  EventInput input;
  input.event = event;
  return input;
}

int StageCandidates(const RecommendResponse& response, const std::string& stage) {
  for (const auto& s : response.debug->stages) {
    if (s.name == stage) return s.candidates;
  }
  return -1;
}

TEST_F(EngineTest, LiveEventsFeedCovisitAndTrendingSources) {
  WriteBundle();
  auto engine = MakeEngine();
  const int64_t now = SystemClock::Get().NowMillis();
  // Several users engage with i4 then i5 within a session: i5 becomes i4's neighbour, and both
  // trend in the last hour.
  std::vector<EventInput> events;
  for (int u = 0; u < 6; ++u) {
    std::string user = StrCat("covisitor", u);
    events.push_back(Click(user, "i4", now - 60000 + u, StrCat("a", u)));
    events.push_back(Click(user, "i5", now - 30000 + u, StrCat("b", u)));
  }
  auto published = engine->PublishEvents(std::move(events), "http");
  ASSERT_THAT(published, IsOk());
  EXPECT_EQ(published->accepted, 12);

  // A new user who just clicked i4 gets i5 proposed by `covisit`.
  auto clicked = engine->PublishEvents({Click("newcomer", "i4", now, "c1")}, "http");
  ASSERT_THAT(clicked, IsOk());
  RecommendRequest request;
  request.user_id = "newcomer";
  request.n = 19;
  request.debug = true;
  auto response = engine->Recommend(request);
  ASSERT_THAT(response, IsOk());
  EXPECT_GE(StageCandidates(*response, "covisit"), 1);
  EXPECT_GE(StageCandidates(*response, "trending"), 1);
  for (const auto& item : response->items) EXPECT_NE(item.item_id, "i4");  // just clicked: seen

  // With covisit first in the pipeline, its candidate keeps covisit's explanation.
  config_.pipeline.sources = {{"covisit", 10}, {"ann", 10}, {"popular", 10}};
  auto covisit_first = MakeEngine();
  request.debug = false;
  response = covisit_first->Recommend(request);
  ASSERT_THAT(response, IsOk());
  bool found = false;
  for (const auto& item : response->items) {
    if (item.item_id == "i5") {
      found = true;
      EXPECT_EQ(item.explanation_id, "co_engaged_with_recent");
      EXPECT_EQ(item.source, "covisit");
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace pulse::serving

namespace pulse::serving {
namespace {

TEST_F(EngineTest, NearlineRestartsFromCheckpointWithoutDoubleCounting) {
  WriteBundle();
  const int64_t now = SystemClock::Get().NowMillis();
  int64_t applied_before = 0;
  {
    auto engine = MakeEngine();
    EXPECT_FALSE(engine->nearline_startup().from_checkpoint);   // first start: whole log
    EXPECT_EQ(engine->nearline_startup().replayed_events, 3u);  // alice's clicks
    std::vector<EventInput> events;
    for (int i = 0; i < 20; ++i) {
      events.push_back(Click(StrCat("live", i % 4), StrCat("i", i), now - i, StrCat("l", i)));
    }
    ASSERT_THAT(engine->PublishEvents(std::move(events), "http"), IsOk());
    applied_before = engine->nearline_counters().applied;
    EXPECT_EQ(applied_before, 23);
  }  // shutdown writes the checkpoint

  // Events that arrive while the server is down (e.g. `pulse import`) are replayed after it.
  std::vector<Event> offline;
  for (int i = 0; i < 5; ++i) {
    Event e;
    e.event_id = StrCat("offline", i);
    e.user_id = "importer";
    e.item_id = StrCat("i", i);
    e.type = EventType::kView;
    e.ts_ms = now;
    offline.push_back(e);
  }
  ASSERT_THAT(data_dir_->AppendEvents(offline, true), IsOk());

  auto restarted = MakeEngine();
  EXPECT_TRUE(restarted->nearline_startup().from_checkpoint);
  EXPECT_EQ(restarted->nearline_startup().checkpoint_seq, 23u);
  EXPECT_EQ(restarted->nearline_startup().replayed_events, 5u);
  EXPECT_EQ(restarted->nearline_counters().applied, applied_before + 5);
  EXPECT_EQ(restarted->nearline_counters().duplicates, 0);
}

TEST_F(EngineTest, CorruptNearlineCheckpointFallsBackToTheLog) {
  WriteBundle();
  ASSERT_THAT(data_dir_->PutBlob("nearline_checkpoint", std::string(40, '\x7f')), IsOk());
  auto engine = MakeEngine();
  EXPECT_FALSE(engine->nearline_startup().from_checkpoint);
  EXPECT_EQ(engine->nearline_startup().replayed_events, 3u);
  EXPECT_EQ(engine->nearline_counters().applied, 3);
}

// The user-state memo must be invisible: an answer from remembered state (memo warm) is exactly
// the answer computed anew (memo cleared) — same items, same scores — before and after the user's
// history changes, from any thread.
TEST_F(EngineTest, RememberedUserStateAnswersAsAFreshComputation) {
  config_.cache.ttl_ms = 0;  // every request computes
  WriteBundle();
  auto engine = MakeEngine();
  RecommendRequest request;
  request.user_id = "alice";
  request.n = 8;
  auto fresh = [&] {
    engine->ForgetUserStatesForTest();
    const uint64_t misses = engine->UserStateMemoMissesForTest();
    Result<RecommendResponse> out = engine->Recommend(request);
    EXPECT_EQ(engine->UserStateMemoMissesForTest(), misses + 1);  // solved anew
    return out;
  };
  auto on_another_thread = [&] {
    Result<RecommendResponse> out = InternalError("not run");
    std::thread([&] { out = engine->Recommend(request); }).join();
    return out;
  };
  auto same = [](const RecommendResponse& a, const RecommendResponse& b) {
    ASSERT_EQ(a.items.size(), b.items.size());
    for (size_t i = 0; i < a.items.size(); ++i) {
      EXPECT_EQ(a.items[i].item_id, b.items[i].item_id) << i;
      EXPECT_EQ(a.items[i].score, b.items[i].score) << i;
      EXPECT_EQ(a.items[i].source, b.items[i].source) << i;
    }
  };
  for (int round = 0; round < 3; ++round) {
    const uint64_t hits = engine->UserStateMemoHitsForTest();
    auto warm = engine->Recommend(request);  // round > 0: remembered from the last round
    EXPECT_EQ(engine->UserStateMemoHitsForTest(), hits + (round > 0 ? 1 : 0)) << round;
    auto shared = on_another_thread();  // remembered: the memo is shared by threads
    EXPECT_EQ(engine->UserStateMemoHitsForTest(), hits + (round > 0 ? 2 : 1)) << round;
    auto cold = fresh();
    ASSERT_THAT(warm, IsOk());
    ASSERT_THAT(shared, IsOk());
    ASSERT_THAT(cold, IsOk());
    same(*warm, *cold);
    same(*shared, *cold);
    // Alice turns to cluster B: the remembered state is of the old history and must not serve.
    const std::string item = StrCat("i", 10 + round);
    ASSERT_THAT(
        engine->PublishEvents(
            {Click("alice", item, SystemClock::Get().NowMillis(), StrCat("m", round))}, "test"),
        IsOk());
    const uint64_t misses = engine->UserStateMemoMissesForTest();
    auto after = engine->Recommend(request);
    ASSERT_THAT(after, IsOk());
    EXPECT_EQ(engine->UserStateMemoMissesForTest(), misses + 1) << round;  // solved anew
    auto after_cold = fresh();
    ASSERT_THAT(after_cold, IsOk());
    same(*after, *after_cold);
    for (const auto& served : after->items) EXPECT_NE(served.item_id, item);  // now seen
  }
}

}  // namespace
}  // namespace pulse::serving
