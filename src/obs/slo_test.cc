#include "obs/slo.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::obs {
namespace {

using ::testing::HasSubstr;

TEST(SloTrackerTest, BurnRateIsBadShareOverBudget) {
  testing::FakeClock clock;
  SloTargets targets;
  targets.availability_target = 0.99;  // budget 1%
  SloTracker slo(targets, &clock);
  EXPECT_EQ(slo.BurnRate(Slo::kAvailability, 5), 0.0);  // nothing recorded
  for (int i = 0; i < 98; ++i) slo.Record(Slo::kAvailability, true);
  slo.Record(Slo::kAvailability, false);
  slo.Record(Slo::kAvailability, false);
  // 2% bad against a 1% budget: burning twice as fast as allowed.
  EXPECT_NEAR(slo.BurnRate(Slo::kAvailability, 5), 2.0, 1e-9);
  EXPECT_NEAR(slo.BurnRate(Slo::kAvailability, 4320), 2.0, 1e-9);
}

TEST(SloTrackerTest, WindowsForgetOldMinutes) {
  testing::FakeClock clock;
  SloTargets targets;
  targets.latency_target = 0.9;
  SloTracker slo(targets, &clock);
  slo.Record(Slo::kLatency, false);  // an old bad minute
  clock.AdvanceMillis(10 * 60 * 1000);
  for (int i = 0; i < 10; ++i) slo.Record(Slo::kLatency, true);
  EXPECT_EQ(slo.BurnRate(Slo::kLatency, 5), 0.0);  // the bad one is 10 minutes back
  EXPECT_NEAR(slo.BurnRate(Slo::kLatency, 30), (1.0 / 11.0) / 0.1, 1e-9);
  // Three days later the ring has recycled the bucket: nothing of it remains.
  clock.AdvanceMillis(int64_t{3} * 24 * 60 * 60 * 1000);
  slo.Record(Slo::kLatency, true);
  EXPECT_EQ(slo.BurnRate(Slo::kLatency, 4320), 0.0);
}

TEST(SloTrackerTest, RequestsFeedAvailabilityAndLatency) {
  testing::FakeClock clock;
  SloTargets targets;
  targets.latency_threshold_ms = 100;
  SloTracker slo(targets, &clock);
  slo.RecordRequest("recommend", StatusCode::kOk, 0.050);
  slo.RecordRequest("recommend", StatusCode::kOk, 0.500);               // slow
  slo.RecordRequest("recommend", StatusCode::kInvalidArgument, 0.001);  // client's fault
  slo.RecordRequest("publish_events", StatusCode::kUnavailable, 0.001);
  slo.RecordRequest("healthz", StatusCode::kInternal, 0.001);  // probes do not count
  EXPECT_NEAR(slo.BurnRate(Slo::kAvailability, 5), (1.0 / 4.0) / 0.001, 1e-6);
  EXPECT_NEAR(slo.BurnRate(Slo::kLatency, 5), (1.0 / 2.0) / 0.01, 1e-6);
  slo.RecordFreshness(1.0);
  slo.RecordFreshness(10.0);
  EXPECT_NEAR(slo.BurnRate(Slo::kFreshness, 5), 0.5 / 0.01, 1e-6);
}

TEST(SloTrackerTest, RendersEveryWindowAndBudget) {
  testing::FakeClock clock;
  SloTracker slo(SloTargets{}, &clock);
  slo.Record(Slo::kAvailability, true);
  std::string out;
  slo.RenderMetrics(&out);
  for (const char* window : {"5m", "30m", "1h", "6h", "3d"}) {
    for (const char* name : {"availability", "latency", "freshness"}) {
      EXPECT_THAT(out, HasSubstr(StrCat("pulse_slo_burn_rate{slo=\"", name, "\",window=\"", window,
                                        "\"} ")));
    }
  }
  EXPECT_THAT(out, HasSubstr("pulse_slo_error_budget_remaining{slo=\"availability\"} 1\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE pulse_slo_burn_rate gauge\n"));
}

}  // namespace
}  // namespace pulse::obs
