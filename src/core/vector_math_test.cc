#include "core/vector_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace pulse {
namespace {

double ReferenceDot(const float* a, const float* b, size_t d) {
  double sum = 0;
  for (size_t i = 0; i < d; ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

std::vector<float> RandomVector(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

TEST(VectorMathTest, ReportsItsPath) {
  const std::string path = VectorMathPath();
  EXPECT_TRUE(path == "avx2" || path == "portable") << path;
}

// Every dimension from 0 to 70 exercises the 16-wide, 8-wide and scalar tails.
TEST(VectorMathTest, DotMatchesADoublePrecisionSumForEveryTailLength) {
  std::mt19937 rng(7);
  for (size_t d = 0; d <= 70; ++d) {
    const auto a = RandomVector(d, rng);
    const auto b = RandomVector(d, rng);
    EXPECT_NEAR(Dot(a.data(), b.data(), d), ReferenceDot(a.data(), b.data(), d), 1e-4 * (d + 1))
        << "d=" << d;
  }
}

// Rows in groups of four plus a remainder, with dimensions that are and are not multiples of 8.
TEST(VectorMathTest, DotManyScoresEveryRow) {
  std::mt19937 rng(11);
  for (size_t d : {1, 7, 8, 13, 64, 67}) {
    for (size_t n : {0, 1, 3, 4, 5, 9}) {
      const auto q = RandomVector(d, rng);
      const auto base = RandomVector(n * d, rng);
      std::vector<float> out(n + 1, -12345.0f);
      DotMany(q.data(), base.data(), n, d, out.data());
      for (size_t row = 0; row < n; ++row) {
        EXPECT_NEAR(out[row], ReferenceDot(q.data(), base.data() + row * d, d), 1e-4 * (d + 1))
            << "d=" << d << " n=" << n << " row=" << row;
        // Bit for bit what Dot gives for the pair: the ranking reuses list-scan scores.
        EXPECT_EQ(out[row], Dot(q.data(), base.data() + row * d, d))
            << "d=" << d << " n=" << n << " row=" << row;
      }
      EXPECT_EQ(out[n], -12345.0f) << "wrote past the last row";
    }
  }
}

// Unaligned inputs: the kernels use unaligned loads.
TEST(VectorMathTest, UnalignedInputs) {
  std::mt19937 rng(3);
  const auto storage = RandomVector(200, rng);
  const float* a = storage.data() + 1;
  const float* b = storage.data() + 67;
  EXPECT_NEAR(Dot(a, b, 64), ReferenceDot(a, b, 64), 1e-3);
}

}  // namespace
}  // namespace pulse
