#include "obs/runtime_metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pulse::obs {
namespace {

using ::testing::HasSubstr;

TEST(PoolMetricsTest, TracksQueueBusyAndRejections) {
  PoolMetrics pool("test_pool", 3);
  auto t1 = pool.OnEnqueue();
  auto t2 = pool.OnEnqueue();
  pool.OnReject();
  EXPECT_EQ(pool.queue_depth(), 2);
  pool.OnStart(t1);
  EXPECT_EQ(pool.queue_depth(), 1);
  EXPECT_EQ(pool.busy(), 1);
  pool.OnDone();
  pool.OnStart(t2);
  std::string text = RenderPoolMetrics();
  EXPECT_THAT(text, HasSubstr("pulse_pool_threads{pool=\"test_pool\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("pulse_pool_busy_threads{pool=\"test_pool\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pulse_pool_queue_depth{pool=\"test_pool\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("pulse_pool_rejected_total{pool=\"test_pool\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pulse_pool_tasks_total{pool=\"test_pool\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pulse_pool_queue_wait_seconds_count{pool=\"test_pool\"} 2\n"));
}

TEST(PoolMetricsTest, OneHeaderPerFamilyWithSeveralPools) {
  PoolMetrics a("a", 1);
  PoolMetrics b("b", 2);
  std::string text = RenderPoolMetrics();
  size_t first = text.find("# TYPE pulse_pool_threads gauge");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(text.find("# TYPE pulse_pool_threads gauge", first + 1), std::string::npos);
  EXPECT_THAT(text, HasSubstr("pulse_pool_threads{pool=\"b\"} 2\n"));
}

TEST(StageLatencyTest, KnownStagesAndOther) {
  StageLatency stages({"ann", "seen"});
  stages.Observe("ann", 120);
  stages.Observe("ann", 5000);
  stages.Observe("mystery", 10);
  std::string text;
  stages.Render(&text);
  EXPECT_THAT(text, HasSubstr("# TYPE pulse_stage_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("pulse_stage_duration_seconds_count{stage=\"ann\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("pulse_stage_duration_seconds_count{stage=\"seen\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("pulse_stage_duration_seconds_count{stage=\"other\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("pulse_stage_duration_seconds_bucket{stage=\"ann\",le=\"0.00025\"} 1\n"));
}

// Reads /proc/self: values must be plausible for this very process.
TEST(ProcessMetricsTest, ReadsThisProcess) {
  std::string text = RenderProcessMetrics();
  auto value = [&text](const std::string& name) {
    size_t at = text.find("\n" + name + " ");
    EXPECT_NE(at, std::string::npos) << name << " missing in\n" << text;
    if (at == std::string::npos) return -1.0;
    return std::stod(text.substr(at + name.size() + 2));
  };
  EXPECT_GT(value("process_resident_memory_bytes"), 1e5);
  EXPECT_GE(value("process_threads"), 1);
  EXPECT_GE(value("process_open_fds"), 3);  // stdin, stdout, stderr at least
  EXPECT_GE(value("process_cpu_seconds_total"), 0);
  EXPECT_GT(value("process_start_time_seconds"), 1.5e9);
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
}

}  // namespace
}  // namespace pulse::obs
