#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "candidates/ann_source.h"
#include "core/strings.h"
#include "core/vector_math.h"
#include "gtest/gtest.h"
#include "index/ann_index.h"
#include "ranking/feature_hydrator.h"
#include "ranking/scorer.h"

namespace pulse::ranking {
namespace {

using candidates::Candidate;
using candidates::RecommendContext;

TEST(LinearScorerTest, WeightsFeatures) {
  auto scorer = LinearScorer::Create({{"similarity", 2.0}, {"popularity", 0.5}});
  ASSERT_TRUE(scorer.ok());
  std::vector<Candidate> candidates(2);
  candidates[0].similarity = 1.0f;
  candidates[0].popularity = 0.2f;
  candidates[1].freshness = 9.0f;  // weight 0
  RecommendContext context;
  (*scorer)->Score(context, candidates);
  EXPECT_FLOAT_EQ(candidates[0].score, 2.1f);
  EXPECT_FLOAT_EQ(candidates[1].score, 0.0f);
}

TEST(LinearScorerTest, RejectsUnknownOrNonFiniteWeights) {
  EXPECT_FALSE(LinearScorer::Create({{"ctr", 1.0}}).ok());
  EXPECT_FALSE(LinearScorer::Create({{"similarity", std::nan("")}}).ok());
}

TEST(FeatureHydratorTest, ComputesSimilarityPopularityFreshness) {
  rollout::ModelBundle model;
  model.dim = 2;
  model.items.Intern("a");
  model.items.Intern("b");
  model.item_factors = {1, 0, 0.5f, 0.5f};
  model.item_popularity = {100, 10};
  candidates::ItemTable table(2);
  table.set_created_at_ms(1, 1000);
  RecommendContext context;
  context.model = &model;
  context.items = &table;
  context.now_ms = 1000;
  std::vector<DenseId> popular = {0, 1};
  context.popular_items = popular;
  context.vector_kind = candidates::UserVectorKind::kRecentItems;
  context.user_vector = {2, 4};
  std::vector<Candidate> candidates(2);
  candidates[0].item = 0;
  candidates[1].item = 1;
  CoreFeatureHydrator().Hydrate(context, candidates);
  EXPECT_FLOAT_EQ(candidates[0].similarity, 2.0f);
  EXPECT_FLOAT_EQ(candidates[1].similarity, 3.0f);
  EXPECT_FLOAT_EQ(candidates[0].popularity, 1.0f);
  EXPECT_NEAR(candidates[1].popularity, std::log1p(10.0) / std::log1p(100.0), 1e-6);
  EXPECT_FLOAT_EQ(candidates[0].freshness, 0.0f);  // unknown age
  EXPECT_FLOAT_EQ(candidates[1].freshness, 1.0f);  // created just now
}

TEST(FeatureHydratorTest, NoUserVectorMeansZeroSimilarity) {
  rollout::ModelBundle model;
  model.dim = 1;
  model.items.Intern("a");
  model.item_factors = {3};
  model.item_popularity = {0};
  RecommendContext context;
  context.model = &model;
  std::vector<Candidate> candidates(1);
  CoreFeatureHydrator().Hydrate(context, candidates);
  EXPECT_FLOAT_EQ(candidates[0].similarity, 0.0f);
  EXPECT_FLOAT_EQ(candidates[0].popularity, 0.0f);
}

// The popularity feature as the hydrator computed it before the per-model log table: a log per
// candidate. The table must reproduce it bit for bit (same function, computed ahead).
float PopularityReference(float popularity, float max_popularity) {
  const float norm = max_popularity > 0 ? 1.0f / std::log1p(max_popularity) : 0.0f;
  return popularity > 0 ? std::log1p(popularity) * norm : 0.0f;
}

TEST(FeatureHydratorTest, LogPopularityTableIsBitIdenticalToLog1p) {
  // Hostile and ordinary popularities: zero, negatives, NaN, infinities, denormals, the float
  // extremes, integers, and a random spread over the whole positive range (by bit pattern).
  std::vector<float> values = {0.0f,
                               -0.0f,
                               -1.0f,
                               -0.5f,
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN(),
                               std::numeric_limits<float>::denorm_min(),
                               std::numeric_limits<float>::min(),
                               std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::epsilon(),
                               1e-30f,
                               0.5f,
                               1.0f,
                               3.0f,
                               1e6f,
                               3.4e38f};
  for (int i = 0; i < 1000; ++i) values.push_back(static_cast<float>(i));
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> bits(0, 0x7f7fffffu);  // positive finite floats
  for (int i = 0; i < 20000; ++i) values.push_back(std::bit_cast<float>(bits(rng)));
  std::uniform_real_distribution<float> small(0.0f, 10000.0f);
  for (int i = 0; i < 20000; ++i) values.push_back(small(rng));

  const size_t n = values.size();
  // The most popular item: +inf (norm 0), NaN, a denormal (norm +inf), 0, and ordinary maxima.
  for (const size_t top :
       {size_t{5}, size_t{6}, size_t{7}, size_t{0}, size_t{15}, size_t{16}, n - 1}) {
    for (const bool filled : {true, false}) {
      SCOPED_TRACE(StrCat("top ", top, filled ? " table" : " no table"));
      rollout::ModelBundle model;
      model.dim = 1;
      model.item_factors.assign(n, 1.0f);
      model.item_popularity = values;
      if (filled) {
        rollout::FillDerived(model);
        ASSERT_EQ(model.item_log_popularity.size(), n);
      }
      RecommendContext context;
      context.model = &model;
      std::vector<DenseId> popular = {static_cast<DenseId>(top)};
      context.popular_items = popular;
      std::vector<Candidate> candidates(n);
      for (size_t i = 0; i < n; ++i) candidates[i].item = static_cast<DenseId>(i);
      CoreFeatureHydrator().Hydrate(context, candidates);
      int mismatches = 0;
      for (size_t i = 0; i < n; ++i) {
        const float want = PopularityReference(values[i], values[top]);
        if (std::bit_cast<uint32_t>(candidates[i].popularity) != std::bit_cast<uint32_t>(want)) {
          if (++mismatches <= 5) {
            ADD_FAILURE() << "popularity " << values[i] << ": " << candidates[i].popularity
                          << " != " << want;
          }
        }
      }
      EXPECT_EQ(mismatches, 0);
    }
  }
}

TEST(FeatureHydratorTest, LogPopularityIsPositiveExactlyForPositivePopularity) {
  // The hydrator tests the table's value instead of the raw popularity; this is why it may.
  for (uint32_t b = 0; b < 0x7f800000u; b += 9973) {
    const float p = std::bit_cast<float>(b);
    EXPECT_EQ(rollout::LogPopularity(p) > 0, p > 0) << p;
    EXPECT_EQ(rollout::LogPopularity(-p), 0.0f);
  }
  EXPECT_GT(rollout::LogPopularity(std::numeric_limits<float>::denorm_min()), 0.0f);
}

// The `ann` source hands its scores on as the similarity feature only when the index promises
// they are Dot(user vector, item vector) bit for bit; either way the hydrated similarity is the
// same value the hydrator computes itself (training and the skew check recompute it with Dot).
TEST(FeatureHydratorTest, AnnScoresAreTheSimilarityOnlyWhenExact) {
  constexpr int kDim = 20;  // not a multiple of 8: the kernels' tails count too
  constexpr size_t kItems = 3000;
  std::mt19937 rng(7);
  std::normal_distribution<float> noise;
  for (const char* type : {"ivf", "flat", "hnsw"}) {
    SCOPED_TRACE(type);
    rollout::ModelBundle model;
    model.dim = kDim;
    for (size_t i = 0; i < kItems; ++i) model.items.Intern(StrCat("i", i));
    model.item_factors.resize(kItems * kDim);
    for (float& v : model.item_factors) v = noise(rng);
    model.item_popularity.assign(kItems, 1.0f);
    IndexConfig config;
    config.type = type;
    auto built = index::AnnIndex::Build(model.item_factors.data(), kItems, kDim, config);
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    model.index = std::move(*built);
    const bool exact = std::string(type) == "ivf";
    EXPECT_EQ(model.index->scores_are_exact_dot(), exact);

    RecommendContext context;
    context.model = &model;
    context.vector_kind = candidates::UserVectorKind::kTrained;
    context.user_vector.resize(kDim);
    for (float& v : context.user_vector) v = noise(rng);
    std::vector<Candidate> candidates;
    ASSERT_TRUE(candidates::AnnCandidateSource().Fetch(context, 100, 0, &candidates).ok());
    ASSERT_FALSE(candidates.empty());
    CoreFeatureHydrator().Hydrate(context, candidates);
    for (const Candidate& c : candidates) {
      EXPECT_EQ(c.similarity_set, exact);
      EXPECT_EQ(c.similarity, Dot(context.user_vector.data(), model.ItemVector(c.item), kDim))
          << "item " << c.item;
    }
  }
}

}  // namespace
}  // namespace pulse::ranking
