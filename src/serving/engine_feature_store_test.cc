// The engine with the Redis feature store while Redis is unreachable: ingest keeps
// acknowledging from the embedded log until the applier's lag passes redis.max_apply_lag_events,
// then answers ResourceExhausted (HTTP 429); reads of a user with unapplied events come from the
// embedded copy and say they are degraded.
#include "core/strings.h"
#include "gtest/gtest.h"
#include "serving/engine.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

std::vector<EventInput> Clicks(const std::string& user, int n, int* next) {
  std::vector<EventInput> inputs;
  for (int i = 0; i < n; ++i, ++*next) {
    Event event;
    event.event_id = StrCat("f", *next);
    event.user_id = user;
    event.item_id = StrCat("item", *next);
    event.type = EventType::kClick;
    event.ts_ms = SystemClock::Get().NowMillis();
    EventInput input;
    input.event = event;
    inputs.push_back(std::move(input));
  }
  return inputs;
}

TEST(EngineFeatureStoreTest, LagPastTheBoundIsBackpressureAndReadsStayFresh) {
  testing::TempDir dir;
  Config config;
  config.data_dir = dir.Sub("data");
  config.server.model_poll_ms = 0;
  config.store.backend = "redis";
  config.redis.address = StrCat("127.0.0.1:", testing::FreePort());  // nothing listens
  config.redis.connect_timeout_ms = 50;
  config.redis.max_apply_lag_events = 5;
  auto data_dir = store::DataDir::Open(config.data_dir, config.store).value();
  auto engine = Engine::Create(config, data_dir.get()).value();
  int next = 0;

  ASSERT_THAT(engine->PublishEvents(Clicks("alice", 4, &next), "test").status(), IsOk());
  ASSERT_THAT(engine->PublishEvents(Clicks("bob", 2, &next), "test").status(), IsOk());  // lag 6
  EXPECT_THAT(engine->PublishEvents(Clicks("carol", 1, &next), "test").status(),
              StatusIs(StatusCode::kResourceExhausted));
  EXPECT_EQ(data_dir->EventCount(), 6u) << "nothing of the refused call was written";
  EXPECT_EQ(engine->feature_store_applier()->live_lag_events(), 6u);

  // alice's events are only in the embedded copy: she still sees them.
  auto features = engine->GetUserFeatures("alice");
  ASSERT_THAT(features.status(), IsOk());
  EXPECT_EQ(features->history.events_total, 4u);
  EXPECT_EQ(features->history.recent.size(), 4u);
}

}  // namespace
}  // namespace pulse::serving
