#include "obs/metrics.h"

#include <cmath>
#include <thread>

#include "gtest/gtest.h"

namespace pulse::obs {
namespace {

TEST(HistogramTest, RendersCumulativeBucketsSumAndCount) {
  Histogram histogram({0.1, 1});
  histogram.Observe(0.05);
  histogram.Observe(0.5);
  histogram.Observe(5);
  histogram.Observe(std::nan(""));  // ignored
  std::string out;
  histogram.Render(&out, "x_seconds", "source=\"http\"");
  EXPECT_EQ(out,
            "x_seconds_bucket{source=\"http\",le=\"0.1\"} 1\n"
            "x_seconds_bucket{source=\"http\",le=\"1\"} 2\n"
            "x_seconds_bucket{source=\"http\",le=\"+Inf\"} 3\n"
            "x_seconds_sum{source=\"http\"} 5.55\n"
            "x_seconds_count{source=\"http\"} 3\n");
  out.clear();
  Histogram empty({1});
  empty.Render(&out, "y", "");
  EXPECT_EQ(out, "y_bucket{le=\"1\"} 0\ny_bucket{le=\"+Inf\"} 0\ny_sum 0\ny_count 0\n");
}

TEST(HistogramTest, ConcurrentObservationsAllCount) {
  Histogram histogram({1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) histogram.Observe(0.5);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(histogram.count(), 40000u);
  EXPECT_DOUBLE_EQ(histogram.sum(), 20000);
}

TEST(MetricsRegistryTest, RendersRegisteredCollectorsUntilUnregistered) {
  MetricsRegistry registry;
  int a = registry.Register([](std::string* out) {
    RenderHeader(out, "pulse_a_total", "counter", "A.");
    out->append("pulse_a_total 1\n");
  });
  registry.Register([](std::string* out) { out->append("pulse_b 2\n"); });
  EXPECT_EQ(registry.Render(),
            "# HELP pulse_a_total A.\n# TYPE pulse_a_total counter\npulse_a_total 1\npulse_b 2\n");
  registry.Unregister(a);
  EXPECT_EQ(registry.Render(), "pulse_b 2\n");
}

}  // namespace
}  // namespace pulse::obs
