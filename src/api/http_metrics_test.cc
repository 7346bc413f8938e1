#include "api/http_metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pulse::api {
namespace {

using ::testing::HasSubstr;

TEST(RequestMetricsTest, CountsAndCumulativeBuckets) {
  RequestMetrics metrics;
  metrics.Record("recommend", "OK", 0.0002);
  metrics.Record("recommend", "OK", 0.003);
  metrics.Record("recommend", "INVALID_ARGUMENT", 20.0);
  metrics.Count("unknown", "NOT_FOUND");
  EXPECT_EQ(metrics.RequestCount("recommend", "OK"), 2u);
  EXPECT_EQ(metrics.RequestCount("recommend", "INVALID_ARGUMENT"), 1u);
  EXPECT_EQ(metrics.RequestCount("unknown", "NOT_FOUND"), 1u);
  EXPECT_EQ(metrics.RequestCount("healthz", "OK"), 0u);

  std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE pulse_requests_total counter\n"));
  EXPECT_THAT(text, HasSubstr("pulse_requests_total{method=\"recommend\",code=\"OK\"} 2\n"));
  EXPECT_THAT(
      text, HasSubstr("pulse_requests_total{method=\"recommend\",code=\"INVALID_ARGUMENT\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pulse_requests_total{method=\"unknown\",code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE pulse_request_duration_seconds histogram\n"));
  EXPECT_THAT(
      text,
      HasSubstr("pulse_request_duration_seconds_bucket{method=\"recommend\",le=\"0.0005\"} 1\n"));
  EXPECT_THAT(
      text,
      HasSubstr("pulse_request_duration_seconds_bucket{method=\"recommend\",le=\"0.005\"} 2\n"));
  EXPECT_THAT(
      text, HasSubstr("pulse_request_duration_seconds_bucket{method=\"recommend\",le=\"10\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("pulse_request_duration_seconds_bucket{method=\"recommend\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("pulse_request_duration_seconds_count{method=\"recommend\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("pulse_request_duration_seconds_sum{method=\"recommend\"} 20.003"));
  // Count() without a duration adds no histogram series.
  EXPECT_THAT(text, ::testing::Not(HasSubstr("_count{method=\"unknown\"}")));
}

TEST(RequestMetricsTest, EscapesLabelValues) {
  RequestMetrics metrics;
  metrics.Count("a\"b\\c\nd", "OK");
  EXPECT_THAT(metrics.RenderPrometheus(), HasSubstr(R"(method="a\"b\\c\nd")"));
}

}  // namespace
}  // namespace pulse::api
