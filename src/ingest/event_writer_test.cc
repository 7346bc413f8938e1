#include "ingest/event_writer.h"

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::ingest {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::pulse::testing::TempDir;

Event MakeEvent(std::string event_id, std::string user, int item) {
  Event e;
  e.event_id = std::move(event_id);
  e.user_id = std::move(user);
  e.item_id = StrCat("i", item);
  e.type = EventType::kClick;
  e.ts_ms = 1'700'000'000'000 + item;
  return e;
}

std::vector<Event> Batch(const std::string& prefix, int n) {
  std::vector<Event> out;
  for (int i = 0; i < n; ++i) out.push_back(MakeEvent(StrCat(prefix, "-", i), prefix, i));
  return out;
}

// Spins (yielding) until `done` holds; the writer's state is the condition, not a duration.
template <typename F>
void WaitFor(F done) {
  while (!done()) std::this_thread::yield();
}

class EventWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = store::DataDir::Open(tmp_.Sub("data"), StoreConfig());
    ASSERT_THAT(dir, IsOk());
    dir_ = std::move(dir).value();
  }
  TempDir tmp_;
  std::unique_ptr<store::DataDir> dir_;
};

TEST_F(EventWriterTest, SubmitIsDurableAndCountsDuplicates) {
  EventWriter writer(dir_.get(), 1000);
  auto first = writer.Submit(Batch("a", 5));
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->appended, 5u);
  EXPECT_EQ(first->duplicates, 0u);
  EXPECT_EQ(dir_->EventCount(), 5u);

  std::vector<Event> retry = Batch("a", 5);
  retry.push_back(MakeEvent("", "a", 99));  // no event_id: always appended
  auto second = writer.Submit(retry);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->appended, 1u);
  EXPECT_EQ(second->duplicates, 5u);
  EXPECT_EQ(dir_->EventCount(), 6u);
  EXPECT_EQ(dir_->GetUserHistory("a")->events_total, 6u);

  auto empty = writer.Submit({});
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->appended, 0u);
  EventWriter::Stats stats = writer.stats();
  EXPECT_EQ(stats.batches, 2u);
  EXPECT_EQ(stats.events_written, 6u);
  EXPECT_EQ(stats.duplicates, 5u);
  EXPECT_EQ(writer.pending_events(), 0u);
}

// 8 threads × 50 submits; the writer is held until every thread has a call queued, so each
// group holds exactly 8 calls: 400 submits cost 50 fsyncs, and every event is written once.
TEST_F(EventWriterTest, ConcurrentSubmitsShareFsyncsExactly) {
  constexpr int kThreads = 8, kSubmits = 50, kEvents = 3;
  EventWriter writer(dir_.get(), 100000);
  writer.HoldUntilQueuedForTest(kThreads);
  std::atomic<int> failures{0};
  std::atomic<uint64_t> appended{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int s = 0; s < kSubmits; ++s) {
        auto result = writer.Submit(Batch(StrCat("t", t, "s", s), kEvents));
        if (!result.ok() || result->appended != kEvents || result->duplicates != 0) ++failures;
        if (result.ok()) appended += result->appended;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(appended.load(), uint64_t{kThreads * kSubmits * kEvents});
  EXPECT_EQ(dir_->EventCount(), uint64_t{kThreads * kSubmits * kEvents});
  EventWriter::Stats stats = writer.stats();
  EXPECT_EQ(stats.submits, uint64_t{kThreads * kSubmits});
  EXPECT_EQ(stats.batches, uint64_t{kSubmits});
  EXPECT_EQ(stats.events_written, uint64_t{kThreads * kSubmits * kEvents});

  // Every event is in the log exactly once.
  std::set<std::string> ids;
  ASSERT_THAT(dir_->ForEachEvent([&](const Event& e) {
    EXPECT_TRUE(ids.insert(e.event_id).second) << e.event_id;
    return OkStatus();
  }),
              IsOk());
  EXPECT_EQ(ids.size(), size_t{kThreads * kSubmits * kEvents});
}

// The same load without the hold: results are exact whatever the grouping turns out to be.
TEST_F(EventWriterTest, ConcurrentSubmitsUnheld) {
  constexpr int kThreads = 8, kSubmits = 50;
  EventWriter writer(dir_.get(), 100000);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int s = 0; s < kSubmits; ++s) {
        // Every thread also re-sends one shared id: exactly one of them is appended.
        std::vector<Event> batch = Batch(StrCat("t", t, "s", s), 2);
        batch.push_back(MakeEvent(StrCat("shared-", s), "shared", s));
        auto result = writer.Submit(std::move(batch));
        if (!result.ok() || result->appended + result->duplicates != 3) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EventWriter::Stats stats = writer.stats();
  EXPECT_EQ(stats.events_written, uint64_t{kThreads * kSubmits * 2 + kSubmits});
  EXPECT_EQ(stats.duplicates, uint64_t{(kThreads - 1) * kSubmits});
  EXPECT_EQ(dir_->EventCount(), stats.events_written);
  EXPECT_LE(stats.batches, stats.submits);
  EXPECT_EQ(dir_->GetUserHistory("shared")->events_total, uint64_t{kSubmits});
}

TEST_F(EventWriterTest, BackpressureRefusesWithoutWriting) {
  EventWriter writer(dir_.get(), 100);
  // A call larger than the bound can never fit.
  EXPECT_THAT(writer.Submit(Batch("big", 101)), StatusIs(StatusCode::kResourceExhausted));

  writer.HoldUntilQueuedForTest(SIZE_MAX);  // the disk "stalls"
  Result<store::AppendResult> queued = store::AppendResult{};
  std::thread waiting([&] { queued = writer.Submit(Batch("q", 60)); });
  WaitFor([&] { return writer.pending_events() == 60; });

  auto refused = writer.Submit(Batch("r", 41));
  EXPECT_THAT(refused, StatusIs(StatusCode::kResourceExhausted, "saturated"));
  EXPECT_EQ(writer.pending_events(), 60u);
  EXPECT_EQ(dir_->EventCount(), 0u);

  writer.HoldUntilQueuedForTest(1);
  waiting.join();
  ASSERT_THAT(queued, IsOk());
  EXPECT_EQ(queued->appended, 60u);
  EXPECT_EQ(dir_->EventCount(), 60u);
  EXPECT_EQ(dir_->GetUserHistory("r")->events_total, 0u);  // nothing of the refused call
  // Capacity is back once the queue drained.
  EXPECT_THAT(writer.Submit(Batch("r", 41)), IsOk());
  EXPECT_EQ(writer.stats().refused, 2u);
}

TEST_F(EventWriterTest, StopDrainsQueuedWorkThenRefuses) {
  constexpr int kThreads = 4;
  EventWriter writer(dir_.get(), 1000);
  writer.HoldUntilQueuedForTest(SIZE_MAX);
  std::vector<Result<store::AppendResult>> results(kThreads, store::AppendResult{});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { results[t] = writer.Submit(Batch(StrCat("s", t), 10)); });
  }
  WaitFor([&] { return writer.queued_calls() == kThreads; });
  EXPECT_EQ(dir_->EventCount(), 0u);
  writer.Stop();  // overrides the hold: drains, then joins
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->appended, 10u);
  }
  EXPECT_EQ(dir_->EventCount(), 40u);
  EXPECT_EQ(writer.stats().batches, 1u);  // four callers, one fsync
  EXPECT_THAT(writer.Submit(Batch("late", 1)), StatusIs(StatusCode::kUnavailable));
  writer.Stop();  // idempotent
}

TEST_F(EventWriterTest, DestructorDrains) {
  std::thread caller;
  Result<store::AppendResult> result = store::AppendResult{};
  {
    EventWriter writer(dir_.get(), 1000);
    writer.HoldUntilQueuedForTest(SIZE_MAX);
    caller = std::thread([&] { result = writer.Submit(Batch("d", 7)); });
    WaitFor([&] { return writer.queued_calls() == 1; });
  }
  caller.join();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->appended, 7u);
  EXPECT_EQ(dir_->EventCount(), 7u);
}

}  // namespace
}  // namespace pulse::ingest

namespace pulse::ingest {
namespace {

TEST(EventWriterHookTest, SeesOnlyAppendedEventsBeforeSubmitReturns) {
  testing::TempDir dir;
  auto data_dir = store::DataDir::Open(dir.Sub("data"), StoreConfig{}).value();
  std::mutex mu;
  std::vector<std::string> seen;
  EventWriter writer(data_dir.get(), 1000, [&](std::span<const Event> appended) {
    std::lock_guard<std::mutex> lock(mu);
    for (const Event& e : appended) seen.push_back(e.event_id);
  });
  ASSERT_TRUE(writer.Submit({MakeEvent("a", "u", 1), MakeEvent("b", "u", 2)}).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));  // visible once acknowledged
  }
  auto result = writer.Submit({MakeEvent("b", "u", 2), MakeEvent("c", "u", 3)});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->duplicates, 1u);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));  // the duplicate is not replayed
}

}  // namespace
}  // namespace pulse::ingest
