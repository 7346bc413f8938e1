#include "index/top_k.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "index/heap_top_k.h"

namespace pulse::index {
namespace {

TEST(TopKTest, OrderedBitsFollowTheFloatOrder) {
  const float values[] = {-std::numeric_limits<float>::infinity(),
                          -1e30f,
                          -2.5f,
                          -1e-40f,
                          -0.0f,
                          0.0f,
                          1e-40f,
                          1.0f,
                          3.5f,
                          1e30f,
                          std::numeric_limits<float>::infinity()};
  for (float a : values) {
    for (float b : values) {
      EXPECT_EQ(OrderedBits(a) < OrderedBits(b), a < b) << a << " " << b;
      EXPECT_EQ(OrderedBits(a) == OrderedBits(b), a == b) << a << " " << b;
    }
    if (a != 0.0f) {
      EXPECT_EQ(std::bit_cast<uint32_t>(FromOrderedBits(OrderedBits(a))),
                std::bit_cast<uint32_t>(a));
    }
  }
}

// Random streams with many exact ties (a few distinct scores, ±0.0, infinities), every k from
// 0 to past the stream's length: the same neighbours in the same order with the same score bits.
TEST(TopKTest, EqualsTheHeapOnRandomStreamsWithTies) {
  std::mt19937_64 rng(21);
  const float pool[] = {0.0f,
                        -0.0f,
                        1.0f,
                        -1.0f,
                        0.5f,
                        2.0f,
                        -3.0f,
                        1e-38f,
                        std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity()};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  TopKCollector top;
  std::vector<Neighbor> got;
  for (int trial = 0; trial < 300; ++trial) {
    const size_t n = rng() % 1500;
    std::vector<DenseId> ids(n);
    std::iota(ids.begin(), ids.end(), 0u);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<Neighbor> stream(n);
    const bool discrete = trial % 3 != 0;
    for (size_t i = 0; i < n; ++i) {
      stream[i] = {ids[i] * 7 + 3, discrete ? pool[rng() % std::size(pool)] : normal(rng)};
    }
    const size_t k = trial % 10 == 0 ? 0 : 1 + rng() % (n + 40);
    top.Reset(k);
    for (const Neighbor& c : stream) top.Push(c.id, c.score);
    top.Finish(&got);
    if (k == 0) {  // the heap assumed k >= 1 (Search rejects k < 1)
      EXPECT_TRUE(got.empty());
      continue;
    }
    const std::vector<Neighbor> want = HeapTopK(stream, k);
    ASSERT_EQ(got.size(), want.size()) << "trial " << trial;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i].id, want[i].id) << "trial " << trial << " rank " << i;
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i].score), std::bit_cast<uint32_t>(want[i].score))
          << "trial " << trial << " rank " << i;
    }
  }
}

// The probed lists: the same set as nth_element with the old (score desc, list asc) comparator.
TEST(TopKTest, RankKeysSelectTheSameListsAsTheComparator) {
  std::mt19937_64 rng(22);
  const float pool[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.25f};
  for (int trial = 0; trial < 200; ++trial) {
    const size_t nlist = 1 + rng() % 300;
    const size_t nprobe = 1 + rng() % nlist;
    std::vector<float> scores(nlist);
    for (float& s : scores) s = pool[rng() % std::size(pool)];
    std::vector<uint32_t> want(nlist);
    std::iota(want.begin(), want.end(), 0u);
    std::nth_element(want.begin(), want.begin() + static_cast<ptrdiff_t>(nprobe), want.end(),
                     [&](uint32_t a, uint32_t b) {
                       return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
                     });
    want.resize(nprobe);
    std::vector<uint64_t> keys(nlist);
    for (uint32_t i = 0; i < nlist; ++i) keys[i] = RankKey(scores[i], i);
    std::nth_element(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(nprobe), keys.end());
    std::vector<uint32_t> got;
    for (size_t i = 0; i < nprobe; ++i) got.push_back(static_cast<uint32_t>(keys[i]));
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, want) << "trial " << trial;
  }
}

// Duplicated vectors score exactly alike: the ivf search breaks those ties by id.
TEST(TopKTest, IvfSearchBreaksExactTiesById) {
  constexpr int kDim = 8;
  std::mt19937_64 rng(23);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> base(200 * kDim);
  for (float& x : base) x = normal(rng);
  std::vector<float> data;
  for (int copy = 0; copy < 4; ++copy) data.insert(data.end(), base.begin(), base.end());
  IndexConfig config;
  config.type = "ivf";
  config.ivf_nlist = 4;
  config.ivf_nprobe = 4;
  auto index = AnnIndex::Build(data.data(), data.size() / kDim, kDim, config);
  ASSERT_TRUE(index.ok());
  std::vector<Neighbor> out;
  int ties = 0;
  for (int q = 0; q < 10; ++q) {
    ASSERT_TRUE((*index)->Search(base.data() + q * kDim, 50, &out).ok());
    ASSERT_EQ(out.size(), 50u);
    for (size_t i = 1; i < out.size(); ++i) {
      EXPECT_TRUE(out[i - 1].score > out[i].score ||
                  (out[i - 1].score == out[i].score && out[i - 1].id < out[i].id))
          << "query " << q << " rank " << i;
      if (out[i - 1].score == out[i].score) ++ties;
    }
  }
  EXPECT_GT(ties, 0);
}

}  // namespace
}  // namespace pulse::index
