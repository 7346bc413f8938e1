#include "ranking/gbdt_scorer.h"

#include <memory>
#include <random>
#include <vector>

#include "gbdt/ensemble.h"
#include "gbdt/xgboost.h"
#include "gtest/gtest.h"
#include "ranking/ranker_features.h"
#include "testing/test_util.h"

namespace pulse::ranking {
namespace {

using candidates::Candidate;
using candidates::RecommendContext;
using ::pulse::testing::IsOk;

// A ranker over `features` columns that likes similarity and dislikes popularity.
std::shared_ptr<const gbdt::CompiledEnsemble> TrainRanker(size_t features) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> x, y;
  for (int i = 0; i < 2000; ++i) {
    for (size_t f = 0; f < features; ++f) x.push_back(u(rng));
    y.push_back(u(rng) < x[x.size() - features] * (1 - x[x.size() - features + 1]) ? 1.0f : 0.0f);
  }
  gbdt::TrainParams params;
  params.trees = 20;
  params.max_depth = 4;
  auto booster = gbdt::Booster::Train({x, 2000, features}, y, params);
  EXPECT_THAT(booster, IsOk());
  auto ensemble = gbdt::ParseXgboostJson(*booster->SaveJson());
  EXPECT_THAT(ensemble, IsOk());
  auto compiled = gbdt::CompiledEnsemble::Compile(*ensemble);
  EXPECT_THAT(compiled, IsOk());
  return std::make_shared<const gbdt::CompiledEnsemble>(std::move(compiled).value());
}

std::vector<Candidate> SomeCandidates() {
  std::vector<Candidate> c(3);
  c[0].similarity = 0.9f;
  c[0].popularity = 0.1f;
  c[1].similarity = 0.1f;
  c[1].popularity = 0.9f;
  c[2].similarity = 0.5f;
  c[2].popularity = 0.5f;
  c[2].freshness = 0.3f;
  c[2].retrieval_score = 2.0f;
  return c;
}

std::unique_ptr<GbdtScorer> MakeScorer() {
  auto linear = LinearScorer::Create({{"similarity", 1.0}, {"popularity", 0.5}});
  EXPECT_THAT(linear, IsOk());
  return std::make_unique<GbdtScorer>(std::move(linear).value());
}

TEST(GbdtScorerTest, ScoresWithTheBundlesRankerOverTheLoggedFeatureVector) {
  rollout::ModelBundle model;
  model.ranker = TrainRanker(kRankerFeatureCount);
  RecommendContext context;
  context.model = &model;
  context.vector_kind = candidates::UserVectorKind::kRecentItems;
  auto scorer = MakeScorer();
  EXPECT_EQ(scorer->stage_name(context), "gbdt");
  std::vector<Candidate> candidates = SomeCandidates();
  scorer->Score(context, candidates);
  std::vector<float> rows;
  for (const Candidate& c : candidates) {
    float f[kRankerFeatureCount];
    RankerFeatures(context, c, f);
    rows.insert(rows.end(), f, f + kRankerFeatureCount);
  }
  EXPECT_EQ(rows[4], 1.0f);  // has_user_vector
  std::vector<float> want(3);
  ASSERT_THAT(model.ranker->PredictProbability(rows, 3, kRankerFeatureCount, want), IsOk());
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(candidates[i].score, want[i]);
  EXPECT_GT(candidates[0].score, candidates[1].score);
  EXPECT_GT(candidates[0].score, 0.0f);
  EXPECT_LT(candidates[0].score, 1.0f);
}

TEST(GbdtScorerTest, FallsBackToLinearWithoutAUsableRanker) {
  auto scorer = MakeScorer();
  rollout::ModelBundle model;
  RecommendContext context;
  context.model = &model;
  for (int variant = 0; variant < 2; ++variant) {
    // No ranker; then a ranker for another feature schema (3 columns).
    if (variant == 1) model.ranker = TrainRanker(3);
    EXPECT_EQ(scorer->stage_name(context), "linear");
    std::vector<Candidate> candidates = SomeCandidates();
    scorer->Score(context, candidates);
    EXPECT_FLOAT_EQ(candidates[0].score, 0.9f + 0.05f);
    EXPECT_FLOAT_EQ(candidates[1].score, 0.1f + 0.45f);
  }
}

}  // namespace
}  // namespace pulse::ranking
