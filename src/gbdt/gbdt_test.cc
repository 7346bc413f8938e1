#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/strings.h"
#include "gbdt/ensemble.h"
#include "gbdt/evaluator.h"
#include "gbdt/metrics.h"
#include "gbdt/xgboost.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::gbdt {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Dataset {
  std::vector<float> x;
  std::vector<float> y;
  size_t rows = 0;
  size_t cols = 0;
  DenseMatrix matrix() const { return {x, rows, cols}; }
};

// Labels from a nonlinear logistic function of the first features; `nan_rate` of the values are
// missing; the last feature is never informative.
Dataset Synthetic(size_t rows, size_t cols, double nan_rate, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<double> uniform(0, 1);
  Dataset d;
  d.rows = rows;
  d.cols = cols;
  d.x.resize(rows * cols);
  d.y.resize(rows);
  for (size_t r = 0; r < rows; ++r) {
    float* row = &d.x[r * cols];
    for (size_t c = 0; c < cols; ++c) row[c] = normal(rng);
    // Narrow datasets (cols < 6) simply lack the later terms.
    auto at = [&](size_t c) { return c < cols ? row[c] : 0.0f; };
    double z = 1.5 * at(0) - at(1) * at(2) + (at(3) > 0.5f ? 1.0 : -0.5) + 0.3 * at(4);
    for (size_t c = 0; c < cols; ++c) {
      if (uniform(rng) < nan_rate) row[c] = kNaN;
    }
    if (cols > 5 && std::isnan(row[5])) z += 1.0;  // missingness itself is informative
    d.y[r] = uniform(rng) < 1.0 / (1.0 + std::exp(-z)) ? 1.0f : 0.0f;
  }
  return d;
}

struct Trained {
  Booster booster;
  Ensemble ensemble;
  CompiledEnsemble compiled;
};

Trained Train(const Dataset& d, const TrainParams& params) {
  auto booster = Booster::Train(d.matrix(), d.y, params);
  EXPECT_THAT(booster, IsOk());
  auto json = booster->SaveJson();
  EXPECT_THAT(json, IsOk());
  auto ensemble = ParseXgboostJson(*json);
  EXPECT_THAT(ensemble, IsOk());
  auto compiled = CompiledEnsemble::Compile(*ensemble);
  EXPECT_THAT(compiled, IsOk());
  return {std::move(booster).value(), std::move(ensemble).value(), std::move(compiled).value()};
}

// Every path this CPU can run (scalar, AVX2, AVX-512), with the path's name for messages.
std::vector<std::pair<CompiledEnsemble::Path, const char*>> SupportedPaths() {
  std::vector<std::pair<CompiledEnsemble::Path, const char*>> paths;
  for (auto [path, name] : {std::pair{CompiledEnsemble::Path::kScalar, "scalar"},
                            std::pair{CompiledEnsemble::Path::kAvx2, "avx2"},
                            std::pair{CompiledEnsemble::Path::kAvx512, "avx512"}}) {
    if (CompiledEnsemble::CpuSupports(path)) paths.emplace_back(path, name);
  }
  return paths;
}

// Every row: XGBoost's margin and probability against the compiled evaluator's (default path and
// every path the CPU supports) to 1e-5; every path and the reference walk agree exactly.
void ExpectParity(Trained& t, const Dataset& test) {
  auto xgb_margin = t.booster.Predict(test.matrix(), /*output_margin=*/true);
  auto xgb_prob = t.booster.Predict(test.matrix(), /*output_margin=*/false);
  ASSERT_THAT(xgb_margin, IsOk());
  ASSERT_THAT(xgb_prob, IsOk());
  std::vector<float> margin(test.rows), prob(test.rows), scalar(test.rows);
  ASSERT_THAT(t.compiled.PredictMargin(test.x, test.rows, test.cols, margin), IsOk());
  ASSERT_THAT(t.compiled.PredictProbability(test.x, test.rows, test.cols, prob), IsOk());
  CompiledEnsemble scalar_only = t.compiled;
  scalar_only.DisableSimdForTest();
  ASSERT_THAT(scalar_only.PredictMargin(test.x, test.rows, test.cols, scalar), IsOk());
  for (size_t r = 0; r < test.rows; ++r) {
    ASSERT_NEAR(margin[r], (*xgb_margin)[r], 1e-5) << "row " << r;
    ASSERT_NEAR(prob[r], (*xgb_prob)[r], 1e-5) << "row " << r;
    ASSERT_EQ(margin[r], scalar[r]) << "row " << r;
    ASSERT_EQ(margin[r], ReferenceMargin(t.ensemble, &test.x[r * test.cols])) << "row " << r;
  }
  for (auto [path, name] : SupportedPaths()) {
    CompiledEnsemble forced = t.compiled;
    ASSERT_TRUE(forced.ForcePathForTest(path)) << name;
    ASSERT_EQ(forced.path(), path) << name;
    std::vector<float> got(test.rows), got_prob(test.rows);
    ASSERT_THAT(forced.PredictMargin(test.x, test.rows, test.cols, got), IsOk());
    ASSERT_THAT(forced.PredictProbability(test.x, test.rows, test.cols, got_prob), IsOk());
    for (size_t r = 0; r < test.rows; ++r) {
      ASSERT_EQ(got[r], scalar[r]) << name << " row " << r;
      ASSERT_EQ(got_prob[r], prob[r]) << name << " row " << r;
      ASSERT_NEAR(got[r], (*xgb_margin)[r], 1e-5) << name << " row " << r;
    }
  }
}

TEST(GbdtEvaluatorTest, PathDispatchPrefersAvx512ThenAvx2ThenScalar) {
  const Dataset train = Synthetic(300, 4, 0.1, 21);
  TrainParams params;
  params.trees = 2;
  params.max_depth = 3;
  Trained t = Train(train, params);
  using Path = CompiledEnsemble::Path;
  EXPECT_TRUE(CompiledEnsemble::CpuSupports(Path::kScalar));
  const Path best = CompiledEnsemble::CpuSupports(Path::kAvx512) ? Path::kAvx512
                    : CompiledEnsemble::CpuSupports(Path::kAvx2) ? Path::kAvx2
                                                                 : Path::kScalar;
  EXPECT_EQ(t.compiled.path(), best);
  EXPECT_EQ(t.compiled.uses_simd(), best == Path::kAvx512);
  CompiledEnsemble disabled = t.compiled;
  disabled.DisableSimdForTest();
  EXPECT_EQ(disabled.path(), Path::kScalar);
  for (Path path : {Path::kScalar, Path::kAvx2, Path::kAvx512}) {
    CompiledEnsemble forced = t.compiled;
    EXPECT_EQ(forced.ForcePathForTest(path), CompiledEnsemble::CpuSupports(path));
    EXPECT_EQ(forced.path(), CompiledEnsemble::CpuSupports(path) ? path : best);
  }
}

TEST(GbdtParityTest, Depth6WithMissingValuesMatchesXgboostOnEveryRow) {
  const Dataset train = Synthetic(3000, 30, 0.1, 1);
  const Dataset test = Synthetic(1000, 30, 0.1, 2);
  TrainParams params;
  params.trees = 60;
  params.max_depth = 6;
  params.subsample = 0.8;
  params.seed = 7;
  Trained t = Train(train, params);
  EXPECT_EQ(t.compiled.num_trees(), 60u);
  EXPECT_EQ(t.compiled.num_deep_trees(), 0u);
  ExpectParity(t, test);
  // The model learned something (guards against a degenerate all-leaf model passing parity).
  std::vector<float> prob(test.rows);
  ASSERT_THAT(t.compiled.PredictProbability(test.x, test.rows, test.cols, prob), IsOk());
  auto auc = Auc(prob, test.y);
  ASSERT_THAT(auc, IsOk());
  EXPECT_GT(*auc, 0.75);
}

TEST(GbdtParityTest, TreesDeeperThanSixTakeTheFallbackPathAndStillMatch) {
  const Dataset train = Synthetic(3000, 12, 0.15, 3);
  const Dataset test = Synthetic(700, 12, 0.15, 4);
  TrainParams params;
  params.trees = 20;
  params.max_depth = 10;
  params.tree_method = "exact";
  params.min_child_weight = 0;
  Trained t = Train(train, params);
  EXPECT_GT(t.compiled.num_deep_trees(), 0u);
  EXPECT_LT(t.compiled.num_deep_trees(), t.compiled.num_trees() + 1);
  ExpectParity(t, test);
}

TEST(GbdtParityTest, ValuesEqualToThresholdsGoWhereXgboostSendsThem) {
  const Dataset train = Synthetic(2000, 8, 0.05, 5);
  TrainParams params;
  params.trees = 30;
  params.max_depth = 6;
  params.tree_method = "exact";  // thresholds are midpoints of training values
  Trained t = Train(train, params);
  // One test row per split node, with that node's feature set exactly to its threshold; the
  // other features vary, some NaN.
  Dataset test = Synthetic(1, 8, 0.2, 6);
  test.x.clear();
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0, 1);
  for (const Tree& tree : t.ensemble.trees) {
    for (const TreeNode& node : tree.nodes) {
      if (node.is_leaf()) continue;
      for (size_t c = 0; c < 8; ++c) test.x.push_back(c == 7 ? kNaN : normal(rng));
      test.x[test.x.size() - 8 + node.feature] = node.threshold;
    }
  }
  test.rows = test.x.size() / 8;
  ASSERT_GT(test.rows, 100u);
  ExpectParity(t, test);
}

TEST(GbdtParityTest, EveryRowBlockSizeAndWideRows) {
  const Dataset train = Synthetic(1500, 10, 0.1, 11);
  TrainParams params;
  params.trees = 15;
  params.max_depth = 4;
  Trained t = Train(train, params);
  for (size_t rows : {1u, 15u, 16u, 17u, 63u, 64u, 65u, 200u}) {
    const Dataset test = Synthetic(rows, 10, 0.1, 100 + static_cast<uint32_t>(rows));
    ExpectParity(t, test);
  }
  // Rows wider than the model: the extra columns are ignored.
  const Dataset narrow = Synthetic(50, 10, 0.1, 12);
  std::vector<float> wide;
  for (size_t r = 0; r < 50; ++r) {
    wide.insert(wide.end(), narrow.x.begin() + static_cast<long>(r * 10),
                narrow.x.begin() + static_cast<long>(r * 10 + 10));
    wide.push_back(123.0f);
    wide.push_back(kNaN);
  }
  std::vector<float> a(50), b(50);
  ASSERT_THAT(t.compiled.PredictMargin(narrow.x, 50, 10, a), IsOk());
  ASSERT_THAT(t.compiled.PredictMargin(wide, 50, 12, b), IsOk());
  EXPECT_EQ(a, b);
}

// A hand-written XGBoost 1.7 JSON model. Each tree: {left, right, feature, condition, default}.
struct NodeSpec {
  int left, right, feature;
  double condition;
  int default_left;
};

// XGBoost's loader wants floats spelled as floats ("1.0", not "1").
std::string Float(double v) {
  std::string s = StrCat(v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string ModelJson(const std::vector<std::vector<NodeSpec>>& trees, int num_feature,
                      const std::string& base_score = "5E-1") {
  std::string out =
      R"({"learner":{"attributes":{},"feature_names":[],"feature_types":[],)"
      R"("gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1",)";
  StrAppend(out, R"("num_trees":")", trees.size(), R"("},"tree_info":[)");
  for (size_t t = 0; t < trees.size(); ++t) StrAppend(out, t ? "," : "", 0);
  out += R"(],"trees":[)";
  for (size_t t = 0; t < trees.size(); ++t) {
    auto list = [&](auto field) {
      std::string s = "[";
      for (size_t i = 0; i < trees[t].size(); ++i) StrAppend(s, i ? "," : "", field(trees[t][i]));
      return s + "]";
    };
    std::vector<int> parents(trees[t].size(), 2147483647);
    for (size_t i = 0; i < trees[t].size(); ++i) {
      for (int child : {trees[t][i].left, trees[t][i].right}) {
        if (child >= 0 && static_cast<size_t>(child) < parents.size()) {
          parents[static_cast<size_t>(child)] = static_cast<int>(i);
        }
      }
    }
    std::string parent_list = "[";
    for (size_t i = 0; i < parents.size(); ++i) StrAppend(parent_list, i ? "," : "", parents[i]);
    parent_list += "]";
    // XGBoost's loader also needs the training statistics and the (empty) categorical fields.
    StrAppend(out, t ? "," : "", R"({"id":)", t, R"(,"parents":)", parent_list,
              R"(,"base_weights":)", list([](const NodeSpec& n) { return Float(n.condition); }),
              R"(,"loss_changes":)", list([](const NodeSpec&) { return "0.0"; }),
              R"(,"sum_hessian":)", list([](const NodeSpec&) { return "1.0"; }),
              R"(,"categories":[],"categories_nodes":[],"categories_segments":[],)"
              R"("categories_sizes":[])",
              R"(,"left_children":)", list([](const NodeSpec& n) { return n.left; }),
              R"(,"right_children":)", list([](const NodeSpec& n) { return n.right; }),
              R"(,"split_indices":)", list([](const NodeSpec& n) { return n.feature; }),
              R"(,"split_conditions":)", list([](const NodeSpec& n) { return Float(n.condition); }),
              R"(,"default_left":)", list([](const NodeSpec& n) { return n.default_left; }),
              R"(,"split_type":)", list([](const NodeSpec&) { return 0; }),
              R"(,"tree_param":{"num_deleted":"0","num_feature":")", num_feature,
              R"(","num_nodes":")", trees[t].size(), R"(","size_leaf_vector":"0"}})");
  }
  StrAppend(out, R"(]},"name":"gbtree"},"learner_model_param":{"base_score":")", base_score,
            R"(","num_class":"0","num_feature":")", num_feature,
            R"(","num_target":"1"},"objective":{"name":"binary:logistic",)"
            R"("reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]})");
  return out;
}

// The model and XGBoost agree on it (XGBoost loads the same text), and the compiled evaluator
// returns `want` margins.
void ExpectMargins(const std::string& json, size_t cols, const std::vector<float>& rows,
                   const std::vector<float>& want) {
  auto ensemble = ParseXgboostJson(json);
  ASSERT_THAT(ensemble, IsOk());
  auto compiled = CompiledEnsemble::Compile(*ensemble);
  ASSERT_THAT(compiled, IsOk());
  auto booster = Booster::LoadJson(json);
  ASSERT_THAT(booster, IsOk());
  const size_t n = want.size();
  auto xgb = booster->Predict({rows, n, cols}, /*output_margin=*/true);
  ASSERT_THAT(xgb, IsOk());
  std::vector<float> got(n);
  ASSERT_THAT(compiled->PredictMargin(rows, n, cols, got), IsOk());
  for (size_t r = 0; r < n; ++r) {
    EXPECT_NEAR(got[r], want[r], 1e-6) << "row " << r;
    EXPECT_NEAR((*xgb)[r], want[r], 1e-6) << "row " << r;
  }
  for (auto [path, name] : SupportedPaths()) {
    CompiledEnsemble forced = *compiled;
    ASSERT_TRUE(forced.ForcePathForTest(path)) << name;
    std::vector<float> on_path(n);
    ASSERT_THAT(forced.PredictMargin(rows, n, cols, on_path), IsOk());
    for (size_t r = 0; r < n; ++r) EXPECT_EQ(on_path[r], got[r]) << name << " row " << r;
  }
}

TEST(GbdtEdgeTest, SingleLeafTreeAndFeaturesNeverSplitOn) {
  // Tree 0: a single leaf 0.25. Tree 1: x1 < 2 ? -1 : +1, missing goes right. Features 0 and 2
  // are never split on. base_score 0.5 -> base margin 0.
  const std::string json = ModelJson(
      {{{-1, -1, 0, 0.25, 0}}, {{1, 2, 1, 2.0, 0}, {-1, -1, 0, -1.0, 0}, {-1, -1, 0, 1.0, 0}}}, 3);
  ExpectMargins(json, 3,
                {9, 1.5f, 9,  //
                 9, 2.0f, 9,  // equal to the threshold: right
                 9, kNaN, 9,  // missing: default right
                 kNaN, -1e30f, kNaN},
                {-0.75f, 1.25f, 1.25f, -0.75f});
}

TEST(GbdtEdgeTest, MissingFollowsDefaultLeftAndBaseScoreIsInMarginSpace) {
  // x0 < 0 ? (x1 < 5 ? 0.1 : 0.2) : 0.3, missing left at the root and right below.
  const std::string json = ModelJson({{{1, 2, 0, 0.0, 1},
                                       {3, 4, 1, 5.0, 0},
                                       {-1, -1, 0, 0.3, 0},
                                       {-1, -1, 0, 0.1, 0},
                                       {-1, -1, 0, 0.2, 0}}},
                                     2, "2E-1");
  const float base = -std::log(1.0f / 0.2f - 1.0f);
  ExpectMargins(json, 2, {kNaN, 4, kNaN, kNaN, -1, 5, 0, kNaN},
                {base + 0.1f, base + 0.2f, base + 0.2f, base + 0.3f});
}

TEST(GbdtEdgeTest, ExtremeValuesAndUnbalancedTrees) {
  // A left spine of depth 4 with a single right leaf at each level.
  const std::string json = ModelJson({{{1, 2, 0, 10.0, 1},
                                       {3, 4, 0, 5.0, 1},
                                       {-1, -1, 0, 4.0, 0},
                                       {5, 6, 0, 1.0, 0},
                                       {-1, -1, 0, 3.0, 0},
                                       {7, 8, 0, -3.0, 0},
                                       {-1, -1, 0, 2.0, 0},
                                       {-1, -1, 0, 0.5, 0},
                                       {-1, -1, 0, 1.5, 0}}},
                                     1);
  // (XGBoost refuses infinite inputs, so the extremes are large finite values.)
  ExpectMargins(json, 1, {-1e30f, -3, 0, 1, 7, 10, 1e30f, kNaN},
                {0.5f, 1.5f, 1.5f, 2.0f, 3.0f, 4.0f, 4.0f, 2.0f});
}

TEST(GbdtParserTest, RejectsMalformedAndHostileModels) {
  const std::string good =
      ModelJson({{{1, 2, 0, 0.5, 1}, {-1, -1, 0, 1, 0}, {-1, -1, 0, 2, 0}}}, 2);
  ASSERT_THAT(ParseXgboostJson(good), IsOk());
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    return s.replace(pos, from.size(), to);
  };
  const std::pair<std::string, std::string> cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[]", "not a JSON object"},
      {"{}", "no \"learner\""},
      {std::string(100, '[') + std::string(100, ']'), "nests deeper"},
      {replace("binary:logistic", "multi:softprob"), "objective"},
      {replace(R"("name":"gbtree")", R"("name":"dart")"), "gbtree"},
      {replace(R"("base_score":"5E-1")", R"("base_score":"1.5")"), "base_score"},
      {replace(R"("base_score":"5E-1")", R"("base_score":"abc")"), "base_score"},
      {replace(R"("num_class":"0")", R"("num_class":"3")"), "num_class"},
      {replace(R"("left_children":[1,-1,-1])", R"("left_children":[1,-1])"), "num_nodes"},
      {replace(R"("left_children":[1,-1,-1])", R"("left_children":[7,-1,-1])"), "out of range"},
      {replace(R"("left_children":[1,-1,-1])", R"("left_children":[0,-1,-1])"), "reached twice"},
      {replace(R"("left_children":[1,-1,-1])", R"("left_children":[2,-1,-1])"), "reached twice"},
      {replace(R"("left_children":[1,-1,-1])", R"("left_children":[-1,-1,-1])"), "one child"},
      {replace(R"("left_children":[1,-1,-1])", R"("left_children":["1",-1,-1])"), "integers"},
      {replace(R"("split_indices":[0,0,0])", R"("split_indices":[2,0,0])"), "split feature"},
      {replace(R"("split_indices":[0,0,0])", R"("split_indices":[-1,0,0])"), "split feature"},
      {replace(R"("split_conditions":[0.5,)", R"("split_conditions":[null,)"), "not a number"},
      {replace(R"("split_conditions":[0.5,1.0,2.0])", R"("split_conditions":[0.5,1e999,2.0])"),
       "not valid JSON"},
      {replace(R"("default_left":[1,0,0])", R"("default_left":[2,0,0])"), "default_left"},
      {replace(R"("split_type":[0,0,0])", R"("split_type":[1,0,0])"), "categorical"},
      {replace(R"("num_nodes":"3")", R"("num_nodes":"0")"), "num_nodes"},
      {replace(R"("num_nodes":"3")", R"("num_nodes":"99999999999")"), "num_nodes"},
      {replace(R"("tree_info":[0])", R"("tree_info":[1])"), "tree_info"},
      {replace(R"("trees":[)", R"("trees":7,"x":[)"), "not an array"},
  };
  for (const auto& [text, message] : cases) {
    EXPECT_THAT(ParseXgboostJson(text), StatusIs(StatusCode::kInvalidArgument, message))
        << text.substr(0, 300);
  }
}

// A left spine `depth` levels deep: internal node 2d has its right leaf at 2d + 1 and its left
// child at 2d + 2; the last node is a leaf.
std::vector<NodeSpec> Spine(int depth) {
  std::vector<NodeSpec> nodes;
  for (int d = 0; d < depth; ++d) {
    nodes.push_back({2 * d + 2, 2 * d + 1, 0, static_cast<double>(-d), 1});
    nodes.push_back({-1, -1, 0, static_cast<double>(d), 0});
  }
  nodes.push_back({-1, -1, 0, -1.0, 0});
  return nodes;
}

TEST(GbdtParserTest, RejectsTreesDeeperThanTheLimit) {
  EXPECT_THAT(ParseXgboostJson(ModelJson({Spine(kMaxTreeDepth + 1)}, 1)),
              StatusIs(StatusCode::kInvalidArgument, "deeper than"));
  auto ok = ParseXgboostJson(ModelJson({Spine(kMaxTreeDepth)}, 1));
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(TreeDepth(ok->trees[0]), kMaxTreeDepth);
  auto compiled = CompiledEnsemble::Compile(*ok);
  ASSERT_THAT(compiled, IsOk());
  EXPECT_EQ(compiled->num_deep_trees(), 1u);
  // x = -2.5: goes left at thresholds 0, -1, -2 and right at -3 (leaf value 3).
  std::vector<float> row = {-2.5f}, out(1);
  ASSERT_THAT(compiled->PredictMargin(row, 1, 1, out), IsOk());
  EXPECT_EQ(out[0], 3.0f);
}

TEST(GbdtEvaluatorTest, RejectsMisShapedInput) {
  auto ensemble =
      ParseXgboostJson(ModelJson({{{1, 2, 1, 0.5, 1}, {-1, -1, 0, 1, 0}, {-1, -1, 0, 2, 0}}}, 2));
  ASSERT_THAT(ensemble, IsOk());
  auto compiled = CompiledEnsemble::Compile(*ensemble);
  ASSERT_THAT(compiled, IsOk());
  std::vector<float> rows(6), out(3);
  EXPECT_THAT(compiled->PredictMargin(rows, 6, 1, std::span<float>(out).first(3)),
              StatusIs(StatusCode::kInvalidArgument, "needs 2"));
  EXPECT_THAT(compiled->PredictMargin(rows, 2, 2, out), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(compiled->PredictMargin(rows, 3, 2, out), IsOk());
  EXPECT_THAT(compiled->PredictMargin({}, 0, 2, {}), IsOk());
}

TEST(GbdtXgboostTest, ErrorsBecomeStatusesWithXgboostsText) {
  EXPECT_THAT(Booster::LoadJson("{not a model"),
              StatusIs(StatusCode::kInvalidArgument, "XGBoost loading a model"));
  const Dataset d = Synthetic(50, 3, 0, 1);
  TrainParams params;
  params.eta = 0;
  EXPECT_THAT(Booster::Train(d.matrix(), d.y, params),
              StatusIs(StatusCode::kInvalidArgument, "eta"));
  params = {};
  params.subsample = 1.5;
  EXPECT_THAT(Booster::Train(d.matrix(), d.y, params), StatusIs(StatusCode::kInvalidArgument));
  params = {};
  EXPECT_THAT(Booster::Train(d.matrix(), std::span<const float>(d.y).first(10), params),
              StatusIs(StatusCode::kInvalidArgument, "labels"));
  std::vector<float> bad_labels(d.y);
  bad_labels[0] = 2;
  EXPECT_THAT(Booster::Train(d.matrix(), bad_labels, params),
              StatusIs(StatusCode::kInvalidArgument, "0 or 1"));
  EXPECT_THAT(Booster::Train({{}, 0, 3}, {}, params), StatusIs(StatusCode::kInvalidArgument));
  params.trees = 2;
  auto booster = Booster::Train(d.matrix(), d.y, params);
  ASSERT_THAT(booster, IsOk());
  EXPECT_THAT(booster->Predict({std::span<const float>(d.x).first(100), 50, 2}, false),
              StatusIs(StatusCode::kInvalidArgument, "needs 3"));
  // A round trip through JSON keeps the predictions.
  auto json = booster->SaveJson();
  ASSERT_THAT(json, IsOk());
  auto loaded = Booster::LoadJson(*json);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(*loaded->Predict(d.matrix(), true), *booster->Predict(d.matrix(), true));
}

TEST(GbdtMetricsTest, AucAgainstHandComputedValues) {
  // Positives 0.35, 0.8; negatives 0.1, 0.4: 3 of 4 pairs ordered.
  EXPECT_DOUBLE_EQ(
      *Auc(std::vector<float>{0.1f, 0.4f, 0.35f, 0.8f}, std::vector<float>{0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(*Auc(std::vector<float>{0.5f, 0.5f}, std::vector<float>{0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(*Auc(std::vector<float>{0.9f, 0.1f}, std::vector<float>{0, 1}), 0.0);
  // Ties across classes: pos {0.5, 0.7}, neg {0.5, 0.2, 0.2}: 0.5 vs {0.5,0.2,0.2} = 0.5+1+1,
  // 0.7 vs all = 3 -> 5.5 / 6.
  EXPECT_DOUBLE_EQ(
      *Auc(std::vector<float>{0.5f, 0.7f, 0.5f, 0.2f, 0.2f}, std::vector<float>{1, 1, 0, 0, 0}),
      5.5 / 6.0);
  EXPECT_THAT(Auc(std::vector<float>{0.1f, 0.2f}, std::vector<float>{1, 1}),
              StatusIs(StatusCode::kInvalidArgument, "both"));
  EXPECT_THAT(Auc(std::vector<float>{0.1f}, std::vector<float>{1, 0}),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Auc(std::vector<float>{kNaN, 0.2f}, std::vector<float>{1, 0}),
              StatusIs(StatusCode::kInvalidArgument, "NaN"));
}

TEST(GbdtMetricsTest, LogLossAgainstHandComputedValues) {
  // -(ln 0.9 + ln 0.8) / 2.
  EXPECT_NEAR(*LogLoss(std::vector<float>{0.9f, 0.2f}, std::vector<float>{1, 0}),
              (0.10536051565782628 + 0.2231435513142097) / 2, 1e-7);
  // Certain and right: 0; certain and wrong: clipped to -ln(1e-15).
  EXPECT_NEAR(*LogLoss(std::vector<float>{1.0f}, std::vector<float>{1}), 0.0, 1e-12);
  EXPECT_NEAR(*LogLoss(std::vector<float>{0.0f}, std::vector<float>{1}), -std::log(1e-15), 1e-9);
  EXPECT_THAT(LogLoss(std::vector<float>{1.5f}, std::vector<float>{1}),
              StatusIs(StatusCode::kInvalidArgument, "[0, 1]"));
  EXPECT_THAT(LogLoss(std::vector<float>{0.5f}, std::vector<float>{0.5f}),
              StatusIs(StatusCode::kInvalidArgument, "0 or 1"));
  EXPECT_THAT(LogLoss({}, {}), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace pulse::gbdt
