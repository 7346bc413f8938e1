// The optional learned ranker file (ranker.json) of a model bundle.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "gbdt/xgboost.h"
#include "gtest/gtest.h"
#include "rollout/model_bundle.h"
#include "testing/test_util.h"

namespace pulse::rollout {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::pulse::testing::TempDir;

ModelBundle SmallBundle() {
  ModelBundle b;
  b.dim = 2;
  for (int i = 0; i < 3; ++i) b.items.Intern(StrCat("i", i));
  b.users.Intern("u0");
  b.item_factors = {1, 0, 0, 1, 1, 1};
  b.user_factors = {1, 1};
  b.item_popularity = {1, 2, 3};
  IndexConfig config;
  config.type = "flat";
  auto index = index::AnnIndex::Build(b.item_factors.data(), 3, 2, config);
  EXPECT_THAT(index, IsOk());
  b.index = std::move(index).value();
  return b;
}

struct Ranker {
  std::string json;
  std::vector<float> x;
  std::vector<float> probabilities;  // XGBoost's
};

Ranker TrainRanker() {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 1);
  Ranker r;
  std::vector<float> y;
  for (int i = 0; i < 300; ++i) {
    const float a = normal(rng), b = normal(rng);
    r.x.push_back(a);
    r.x.push_back(b);
    y.push_back(a + 0.5f * b > 0 ? 1.0f : 0.0f);
  }
  gbdt::TrainParams params;
  params.trees = 5;
  params.max_depth = 3;
  auto booster = gbdt::Booster::Train({r.x, 300, 2}, y, params);
  EXPECT_THAT(booster, IsOk());
  r.json = *booster->SaveJson();
  r.probabilities = *booster->Predict({r.x, 300, 2}, false);
  return r;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(RankerBundleTest, RankerRoundTripsAndIsCompiledOnLoad) {
  TempDir dir;
  const Ranker r = TrainRanker();
  ModelBundle b = SmallBundle();
  b.ranker_json = r.json;
  ASSERT_THAT(WriteModelBundle(dir.path(), b), IsOk());
  auto manifest = nlohmann::json::parse(*ReadManifestJson(b.dir));
  EXPECT_EQ(manifest["files"]["ranker.json"]["bytes"], r.json.size());
  auto loaded = LoadModelBundle(b.dir, IndexConfig());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ((*loaded)->ranker_json, r.json);
  ASSERT_NE((*loaded)->ranker, nullptr);
  std::vector<float> p(300);
  ASSERT_THAT((*loaded)->ranker->PredictProbability(r.x, 300, 2, p), IsOk());
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p[i], r.probabilities[i], 1e-5);
}

TEST(RankerBundleTest, BundlesWithoutARankerLoadWithoutOne) {
  TempDir dir;
  ModelBundle b = SmallBundle();
  ASSERT_THAT(WriteModelBundle(dir.path(), b), IsOk());
  EXPECT_FALSE(std::filesystem::exists(b.dir + "/ranker.json"));
  auto loaded = LoadModelBundle(b.dir, IndexConfig());
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ((*loaded)->ranker, nullptr);
  EXPECT_TRUE((*loaded)->ranker_json.empty());
}

TEST(RankerBundleTest, InvalidOrCorruptRankerIsRefused) {
  TempDir dir;
  ModelBundle bad = SmallBundle();
  bad.ranker_json = R"({"learner": {}})";
  EXPECT_THAT(WriteModelBundle(dir.path(), bad),
              StatusIs(StatusCode::kInvalidArgument, "bundle ranker"));

  ModelBundle b = SmallBundle();
  b.ranker_json = TrainRanker().json;
  ASSERT_THAT(WriteModelBundle(dir.path(), b), IsOk());
  const std::string path = b.dir + "/ranker.json";
  std::string bytes = ReadBytes(path);
  bytes[bytes.size() / 2] ^= 0x01;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_THAT(LoadModelBundle(b.dir, IndexConfig()),
              StatusIs(StatusCode::kDataLoss, "ranker.json"));
}

}  // namespace
}  // namespace pulse::rollout
