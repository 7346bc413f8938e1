#include "rollout/retrain_scheduler.h"

#include <atomic>

#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::rollout {
namespace {

using ::pulse::testing::FakeClock;
using ::testing::HasSubstr;
using Outcome = RetrainScheduler::Outcome;

class RetrainSchedulerTest : public ::testing::Test {
 protected:
  RetrainSchedulerOptions Options() {
    RetrainSchedulerOptions o;
    o.interval_ms = 60'000;
    o.min_new_events = 100;
    o.baseline_seq = 1000;
    o.event_count = [this] { return events_.load(); };
    o.retrain = [this](const std::atomic<bool>&) -> Result<RetrainResult> {
      ++runs_;
      if (!fail_with_.ok()) return fail_with_;
      return RetrainResult{StrCat("v00000", runs_.load()), events_.load()};
    };
    return o;
  }

  FakeClock clock_;
  std::atomic<uint64_t> events_{1000};
  std::atomic<int> runs_{0};
  Status fail_with_ = OkStatus();
};

TEST_F(RetrainSchedulerTest, RunsOnlyWhenDueAndEnoughNewEvents) {
  obs::MetricsRegistry registry;
  RetrainScheduler scheduler(Options(), clock_, &registry);
  events_ = 1500;
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kNotDue);  // not an interval yet
  clock_.AdvanceMillis(59'999);
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kNotDue);
  EXPECT_EQ(runs_, 0);
  clock_.AdvanceMillis(1);
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kSucceeded);
  EXPECT_EQ(runs_, 1);
  EXPECT_EQ(scheduler.stats().baseline_seq, 1500u);
  EXPECT_EQ(scheduler.stats().last_version, "v000001");

  // Due again, but only 99 new events since the bundle's data: an idle system does not retrain.
  clock_.AdvanceMillis(60'000);
  events_ = 1599;
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kTooFewEvents);
  EXPECT_EQ(runs_, 1);
  // The skipped look still consumed the slot: the next chance is an interval later.
  events_ = 1600;
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kNotDue);
  clock_.AdvanceMillis(60'000);
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kSucceeded);
  EXPECT_EQ(runs_, 2);

  const std::string metrics = registry.Render();
  EXPECT_THAT(metrics, HasSubstr("pulse_retrain_runs_total{outcome=\"succeeded\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("pulse_retrain_runs_total{outcome=\"skipped\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("pulse_retrain_last_success 1\n"));
  EXPECT_THAT(metrics, HasSubstr(StrCat("pulse_retrain_last_run_timestamp_seconds ",
                                        clock_.NowMillis() / 1000, "\n")));
}

TEST_F(RetrainSchedulerTest, FailureKeepsBaselineAndRetriesNextInterval) {
  obs::MetricsRegistry registry;
  RetrainScheduler scheduler(Options(), clock_, &registry);
  events_ = 2000;
  fail_with_ = ResourceExhaustedError("disk full");
  clock_.AdvanceMillis(60'000);
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kFailed);
  EXPECT_EQ(scheduler.stats().baseline_seq, 1000u);
  EXPECT_THAT(registry.Render(), HasSubstr("pulse_retrain_last_success 0\n"));
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kNotDue);  // no tight retry loop
  fail_with_ = OkStatus();
  clock_.AdvanceMillis(60'000);
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kSucceeded);
  EXPECT_EQ(scheduler.stats().failed, 1u);
  EXPECT_EQ(scheduler.stats().succeeded, 1u);
}

TEST_F(RetrainSchedulerTest, RunsNeverOverlap) {
  RetrainSchedulerOptions options = Options();
  std::atomic<bool> inside{false};
  std::atomic<bool> release{false};
  RetrainScheduler* self = nullptr;
  Outcome nested = Outcome::kNotDue;
  options.retrain = [&](const std::atomic<bool>&) -> Result<RetrainResult> {
    inside = true;
    nested = self->RunIfDue();  // a second run while one is in progress
    return RetrainResult{"v000001", 2000};
  };
  RetrainScheduler scheduler(std::move(options), clock_, nullptr);
  self = &scheduler;
  events_ = 2000;
  clock_.AdvanceMillis(60'000);
  EXPECT_EQ(scheduler.RunIfDue(), Outcome::kSucceeded);
  EXPECT_TRUE(inside);
  EXPECT_EQ(nested, Outcome::kBusy);
}

TEST_F(RetrainSchedulerTest, StopCancelsARunningRetrainAndJoins) {
  RetrainSchedulerOptions options = Options();
  options.interval_ms = 1;  // the background loop finds it due at once
  std::atomic<bool> started{false};
  options.retrain = [&](const std::atomic<bool>& cancel) -> Result<RetrainResult> {
    started = true;
    started.notify_all();
    while (!cancel.load()) cancel.wait(false);  // a long training run, until cancelled
    return CancelledError("training cancelled");
  };
  events_ = 5000;
  RetrainScheduler scheduler(std::move(options), clock_, nullptr);
  clock_.AdvanceMillis(10);
  scheduler.Start();
  started.wait(false);
  scheduler.Stop();  // returns only after the run gave up
  EXPECT_EQ(scheduler.stats().succeeded, 0u);
  EXPECT_EQ(scheduler.stats().failed, 0u);  // a cancel is not a failure
}

}  // namespace
}  // namespace pulse::rollout
