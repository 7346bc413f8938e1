// Nearline checkpoints written by the background checkpoint writer: each one is the processor's
// state exactly at the log sequence it records, and a restart from it neither loses nor
// double-counts an event.
#include <chrono>
#include <thread>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "serving/engine.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using ::pulse::testing::IsOk;

class EngineCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.Sub("data");
    config_.server.model_poll_ms = 0;
    data_dir_ = store::DataDir::Open(config_.data_dir, config_.store).value();
  }

  // Publishes one call of `n` clicks (one group commit, since calls here are sequential).
  void Publish(Engine& engine, int n) {
    const int64_t now = SystemClock::Get().NowMillis();
    std::vector<EventInput> inputs;
    for (int i = 0; i < n; ++i, ++next_) {
      Event event;
      event.event_id = StrCat("c", next_);
      event.user_id = StrCat("user", next_ % 3);
      event.item_id = StrCat("item", next_ % 7);
      event.type = EventType::kClick;
      event.ts_ms = now - 1000 + next_;
      EventInput input;
      input.event = event;
      inputs.push_back(std::move(input));
    }
    auto published = engine.PublishEvents(std::move(inputs), "test");
    ASSERT_THAT(published.status(), IsOk());
    ASSERT_EQ(published->accepted, n);
  }

  static bool WaitCheckpoints(const Engine& engine, uint64_t n) {
    for (int i = 0; i < 2000 && engine.background_checkpoints() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return engine.background_checkpoints() >= n;
  }

  // The stored checkpoint: its sequence and the applied-event count of the restored state.
  std::pair<uint64_t, int64_t> StoredCheckpoint() {
    auto blob = data_dir_->GetBlob("nearline_checkpoint");
    EXPECT_THAT(blob.status(), IsOk());
    if (!blob.ok() || !*blob || (*blob)->size() < 8) return {0, -1};
    const std::string& data = **blob;
    uint64_t seq = 0;
    for (int i = 7; i >= 0; --i) seq = (seq << 8) | static_cast<unsigned char>(data[i]);
    auto restored = nearline::FeatureProcessor::Restore(
        std::string_view(data).substr(8), nearline::ProcessorOptions{},
        [](std::string_view) { return std::string_view(); });
    EXPECT_THAT(restored.status(), IsOk());
    if (!restored.ok()) return {seq, -1};
    return {seq, (*restored)->counters().applied};
  }

  testing::TempDir dir_;
  Config config_;
  std::unique_ptr<store::DataDir> data_dir_;
  int next_ = 0;
};

TEST_F(EngineCheckpointTest, BackgroundCheckpointIsTheStateAtItsSequence) {
  {
    auto engine = Engine::Create(config_, data_dir_.get()).value();
    engine->SetCheckpointEveryEventsForTest(10);
    Publish(*engine, 6);
    EXPECT_EQ(engine->background_checkpoints(), 0u);
    Publish(*engine, 6);  // 12 ≥ 10: the writer thread copies, the checkpoint thread writes
    ASSERT_TRUE(WaitCheckpoints(*engine, 1));
    EXPECT_EQ(StoredCheckpoint(), std::make_pair(uint64_t{12}, int64_t{12}));

    Publish(*engine, 6);
    Publish(*engine, 6);
    ASSERT_TRUE(WaitCheckpoints(*engine, 2));
    EXPECT_EQ(StoredCheckpoint(), std::make_pair(uint64_t{24}, int64_t{24}));
    Publish(*engine, 3);  // below the interval: only the shutdown checkpoint has these
    EXPECT_EQ(engine->nearline_counters().applied, 27);
  }
  EXPECT_EQ(StoredCheckpoint(), std::make_pair(uint64_t{27}, int64_t{27}));

  // A restart from a background checkpoint replays exactly the events after it.
  ASSERT_THAT(data_dir_->PutBlob("nearline_checkpoint", ""), IsOk());
  std::string background;
  {
    auto engine = Engine::Create(config_, data_dir_.get()).value();
    engine->SetCheckpointEveryEventsForTest(10);
    Publish(*engine, 12);
    ASSERT_TRUE(WaitCheckpoints(*engine, 1));
    EXPECT_EQ(StoredCheckpoint(), std::make_pair(uint64_t{39}, int64_t{39}));
    background = data_dir_->GetBlob("nearline_checkpoint").value().value();
    Publish(*engine, 2);
  }
  // As after a kill -9 once the background checkpoint was written: only it is on disk.
  ASSERT_THAT(data_dir_->PutBlob("nearline_checkpoint", background), IsOk());
  auto restarted = Engine::Create(config_, data_dir_.get()).value();
  EXPECT_TRUE(restarted->nearline_startup().from_checkpoint);
  EXPECT_EQ(restarted->nearline_startup().checkpoint_seq, 39u);
  EXPECT_EQ(restarted->nearline_startup().replayed_events, 2u);
  EXPECT_EQ(restarted->nearline_counters().applied, 41);
  EXPECT_EQ(restarted->nearline_counters().duplicates, 0);
}

}  // namespace
}  // namespace pulse::serving
