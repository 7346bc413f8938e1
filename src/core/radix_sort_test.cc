#include "core/radix_sort.h"

#include <algorithm>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace pulse {
namespace {

// Against std::sort on sizes either side of the small-input cut-off, with keys that share high
// bytes (skipped passes), many duplicates, and full-width random keys.
TEST(RadixSortTest, EqualsStdSort) {
  std::mt19937_64 rng(31);
  std::vector<uint64_t> keys, scratch;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = rng() % 2000;
    keys.clear();
    for (size_t i = 0; i < n; ++i) {
      switch (trial % 4) {
        case 0:
          keys.push_back(rng());
          break;
        case 1:
          keys.push_back(rng() % 100000);
          break;
        case 2:
          keys.push_back((rng() % 7) << 40 | (rng() % 5));
          break;
        default:
          keys.push_back(uint64_t{0xbf800000u} << 32 | (rng() % 90000));
          break;
      }
    }
    std::vector<uint64_t> expected = keys;
    std::sort(expected.begin(), expected.end());
    RadixSortKeys(keys, scratch);
    ASSERT_EQ(keys, expected) << "trial " << trial << " n " << n;
  }
}

}  // namespace
}  // namespace pulse
