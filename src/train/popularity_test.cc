#include "train/popularity.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace pulse::train {
namespace {

constexpr int64_t kDay = 24LL * 3600 * 1000;

TEST(DecayedPopularityTest, HalvesPerHalfLifeRelativeToTheNewestEvent) {
  DecayedPopularity pop;
  const int64_t now = 1'700'000'000'000;
  // Out of time order on purpose.
  pop.Add(2, 4.0f, now - 14 * kDay);
  pop.Add(0, 1.0f, now - 7 * kDay);
  pop.Add(1, 2.0f, now - 7 * kDay);
  pop.Add(0, 1.0f, now);
  pop.Add(2, 0.0f, now);   // ignored
  pop.Add(2, -3.0f, now);  // ignored
  pop.Add(5, 8.0f, now - 21 * kDay);
  EXPECT_EQ(pop.newest_ts_ms(), now);
  std::vector<float> p = pop.Finish(6);
  ASSERT_EQ(p.size(), 6u);
  EXPECT_NEAR(p[0], 1.5, 1e-6);  // 1 now + 1 a week ago
  EXPECT_NEAR(p[1], 1.0, 1e-6);
  EXPECT_NEAR(p[2], 1.0, 1e-6);
  EXPECT_EQ(p[3], 0.0f);
  EXPECT_EQ(p[4], 0.0f);
  EXPECT_NEAR(p[5], 1.0, 1e-6);
  // Fewer items than seen: truncated, not an error.
  EXPECT_EQ(pop.Finish(2).size(), 2u);
}

TEST(DecayedPopularityTest, HostileTimestampsStayFinite) {
  DecayedPopularity pop;
  pop.Add(0, 1.0f, std::numeric_limits<int64_t>::min());
  pop.Add(0, 1.0f, std::numeric_limits<int64_t>::max());
  pop.Add(1, 1e30f, std::numeric_limits<int64_t>::min());
  pop.Add(1, std::numeric_limits<float>::infinity(), 0);  // ignored
  std::vector<float> p = pop.Finish(2);
  EXPECT_FLOAT_EQ(p[0], 1.0f);
  EXPECT_TRUE(std::isfinite(p[1]));
  EXPECT_GE(p[1], 0.0f);
}

TEST(DecayedPopularityTest, CustomHalfLife) {
  DecayedPopularity pop(/*half_life_ms=*/1000);
  pop.Add(0, 1.0f, 0);
  pop.Add(1, 1.0f, 3000);
  std::vector<float> p = pop.Finish(2);
  EXPECT_NEAR(p[0], 0.125, 1e-7);
  EXPECT_NEAR(p[1], 1.0, 1e-7);
}

}  // namespace
}  // namespace pulse::train
