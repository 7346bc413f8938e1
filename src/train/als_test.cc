#include "train/als.h"

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::train {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

// Random interactions: users prefer items of their own cluster.
Interactions RandomInteractions(int users, int items, int events_per_user, int clusters,
                                uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Event> events;
  const EventType types[] = {EventType::kView, EventType::kClick, EventType::kDwell,
                             EventType::kPurchase};
  for (int u = 0; u < users; ++u) {
    const int cluster = u % clusters;
    for (int e = 0; e < events_per_user; ++e) {
      int item = static_cast<int>(rng() % static_cast<uint64_t>(items / clusters)) * clusters;
      item += (rng() % 10 < 8) ? cluster : static_cast<int>(rng() % clusters);
      Event ev;
      ev.user_id = StrCat("u", u);
      ev.item_id = StrCat("i", item % items);
      ev.type = types[rng() % 4];
      ev.dwell_ms = static_cast<int64_t>(rng() % 100000);
      ev.ts_ms = static_cast<int64_t>(rng() % 1000000);
      events.push_back(ev);
    }
  }
  return Interactions::FromEvents(events);
}

TrainConfig SmallConfig() {
  TrainConfig config;
  config.factors = 8;
  config.iterations = 6;
  config.regularization = 0.05;
  config.alpha = 10;
  config.threads = 1;
  config.seed = 7;
  return config;
}

class AlsSolverTest : public ::testing::TestWithParam<std::string> {
 protected:
  TrainConfig Config() const {
    TrainConfig config = SmallConfig();
    config.solver = GetParam();
    return config;
  }
};

TEST_P(AlsSolverTest, LossNeverIncreases) {
  Interactions data = RandomInteractions(120, 60, 12, 4, 1);
  AlsOptions options;
  options.compute_loss = true;
  TrainConfig config = Config();
  config.iterations = 8;
  auto model = TrainAls(data, config, options);
  ASSERT_THAT(model, IsOk());
  ASSERT_EQ(model->loss.size(), 8u);
  // All-zero factors cost sum of c_ui over observed pairs: the model must do much better.
  const std::vector<float> zero_users(data.num_users() * 8, 0.0f);
  const std::vector<float> zero_items(data.num_items() * 8, 0.0f);
  const double initial = AlsLoss(data, zero_users.data(), zero_items.data(), 8, config);
  EXPECT_LT(model->loss.back(), 0.9 * initial);
  for (size_t i = 1; i < model->loss.size(); ++i) {
    // Exact alternating minimisation: each half-step can only lower the objective (up to float
    // rounding in the solves).
    EXPECT_LE(model->loss[i], model->loss[i - 1] * (1 + 1e-5)) << "iteration " << i + 1;
  }
}

TEST(AlsTest, ProgressCallbackRunsPerIteration) {
  Interactions data = RandomInteractions(30, 20, 5, 2, 2);
  std::vector<int> seen;
  AlsOptions options;
  options.on_iteration = [&](const AlsProgress& p) {
    seen.push_back(p.iteration);
    EXPECT_EQ(p.iterations, 6);
    EXPECT_TRUE(std::isnan(p.loss));
  };
  ASSERT_THAT(TrainAls(data, SmallConfig(), options), IsOk());
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 4, 5, 6}));
}

TEST(AlsTest, DeterministicWhateverTheThreadCount) {
  Interactions data = RandomInteractions(300, 100, 10, 5, 3);
  TrainConfig config = SmallConfig();
  config.threads = 1;
  auto one = TrainAls(data, config);
  config.threads = 3;
  auto three = TrainAls(data, config);
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT(three, IsOk());
  EXPECT_EQ(one->user_factors, three->user_factors);
  EXPECT_EQ(one->item_factors, three->item_factors);
  config.seed = 8;
  auto other_seed = TrainAls(data, config);
  EXPECT_NE(one->item_factors, other_seed->item_factors);
}

// `n` row-major factor rows of `dim` floats, N(0, 0.3²) each.
std::vector<float> RandomFactors(int n, int dim, std::mt19937& rng) {
  std::normal_distribution<float> normal(0, 0.3f);
  std::vector<float> factors(static_cast<size_t>(n) * static_cast<size_t>(dim));
  for (float& v : factors) v = normal(rng);
  return factors;
}

TEST(AlsTest, GramianMatchesNaiveProduct) {
  const int dim = 5;
  std::vector<float> y(7 * dim);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(i % 11) * 0.25f - 1.0f;
  std::vector<float> g = ComputeGramian(y.data(), 7, dim);
  ASSERT_EQ(g.size(), static_cast<size_t>(dim * dim));
  for (int a = 0; a < dim; ++a) {
    for (int b = 0; b < dim; ++b) {
      double expected = 0;
      for (int i = 0; i < 7; ++i) expected += y[i * dim + a] * y[i * dim + b];
      EXPECT_NEAR(g[a * dim + b], expected, 1e-5);
    }
  }
  EXPECT_EQ(ComputeGramian(y.data(), 0, dim), std::vector<float>(dim * dim, 0.0f));
}

// Fold-in against the normal equations written out densely over every item, in double.
TEST(AlsTest, FoldInSolvesTheWeightedLeastSquaresProblem) {
  const int dim = 6;
  const int n_items = 40;
  std::mt19937 rng(5);
  const std::vector<float> y = RandomFactors(n_items, dim, rng);
  std::vector<DenseId> items = {3, 17, 22, 39};
  std::vector<float> weights = {1.0f, 4.0f, 2.0f, 1.5f};
  TrainConfig config = SmallConfig();
  config.alpha = 3;
  config.regularization = 0.1;

  Eigen::MatrixXd a = Eigen::MatrixXd::Zero(dim, dim);
  Eigen::VectorXd b = Eigen::VectorXd::Zero(dim);
  for (int i = 0; i < n_items; ++i) {
    Eigen::VectorXd yi(dim);
    for (int d = 0; d < dim; ++d) yi[d] = y[i * dim + d];
    double c = 1, p = 0;
    for (size_t k = 0; k < items.size(); ++k) {
      if (static_cast<int>(items[k]) == i) {
        c = 1 + 3 * std::log1p(static_cast<double>(weights[k]));
        p = 1;
      }
    }
    a += c * yi * yi.transpose();
    b += c * p * yi;
  }
  a.diagonal().array() += 0.1 * (4 + 1);  // lambda * (n_u + nu)
  Eigen::VectorXd expected = a.ldlt().solve(b);

  std::vector<float> gramian = ComputeGramian(y.data(), n_items, dim);
  std::vector<float> out(dim);
  FoldInUser(y.data(), dim, gramian.data(), items, weights, config, out.data());
  for (int d = 0; d < dim; ++d) EXPECT_NEAR(out[d], expected[d], 1e-4) << d;
}

// The fold-in's per-thread buffer only grows: after longer histories, a shorter one gets the
// bits a fresh thread computes (d = 64, the served models' size, so Eigen's blocked kernels run).
TEST(AlsTest, FoldInAfterLongerHistoriesEqualsAFreshThread) {
  const int dim = 64;
  const int n_items = 500;
  std::mt19937 rng(7);
  const std::vector<float> y = RandomFactors(n_items, dim, rng);
  const std::vector<float> gramian = ComputeGramian(y.data(), n_items, dim);
  std::vector<std::vector<DenseId>> histories;
  for (size_t n : {200, 37, 150, 1, 64}) {
    std::vector<DenseId> items;
    for (size_t k = 0; k < n; ++k) items.push_back(static_cast<DenseId>(rng() % n_items));
    histories.push_back(std::move(items));
  }
  const TrainConfig config = SmallConfig();
  auto fold = [&](const std::vector<DenseId>& items) {
    std::vector<float> weights(items.size(), 2.0f), out(dim);
    FoldInUser(y.data(), dim, gramian.data(), items, weights, config, out.data());
    return out;
  };
  for (const auto& items : histories) {
    const std::vector<float> warm = fold(items);
    std::vector<float> fresh;
    std::thread([&] { fresh = fold(items); }).join();
    EXPECT_EQ(warm, fresh) << items.size() << " items";
  }
}

TEST_P(AlsSolverTest, FoldInReproducesTrainedUserVectors) {
  Interactions data = RandomInteractions(200, 80, 15, 4, 9);
  TrainConfig config = Config();
  config.factors = 16;
  auto model = TrainAls(data, config);
  ASSERT_THAT(model, IsOk());
  std::vector<float> gramian =
      ComputeGramian(model->item_factors.data(), model->num_items, model->dim);
  std::vector<float> out(16);
  for (DenseId u = 0; u < data.num_users(); u += 7) {
    FoldInUser(model->item_factors.data(), model->dim, gramian.data(), data.UserItems(u),
               data.UserWeights(u), config, out.data());
    for (int d = 0; d < 16; ++d) {
      EXPECT_NEAR(out[d], model->user_factors[u * 16 + d], 1e-5) << "user " << u << " dim " << d;
    }
  }
}

TEST(AlsTest, FoldInIgnoresUnusableWeights) {
  const int dim = 3;
  std::vector<float> y = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  std::vector<float> gramian = ComputeGramian(y.data(), 3, dim);
  std::vector<float> out(dim, 42.0f);
  std::vector<DenseId> items = {0, 1};
  std::vector<float> bad = {0.0f, std::nanf("")};
  FoldInUser(y.data(), dim, gramian.data(), items, bad, SmallConfig(), out.data());
  EXPECT_EQ(out, std::vector<float>(dim, 0.0f));

  FoldInUser(y.data(), dim, gramian.data(), {}, {}, SmallConfig(), out.data());
  EXPECT_EQ(out, std::vector<float>(dim, 0.0f));

  // The usable entry alone decides the vector: it points at item 1.
  std::vector<float> mixed = {-1.0f, 2.0f};
  FoldInUser(y.data(), dim, gramian.data(), items, mixed, SmallConfig(), out.data());
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_GT(out[1], 0.5f);
  EXPECT_FLOAT_EQ(out[2], 0.0f);
}

TEST(AlsTest, ZeroRegularizationStillSolves) {
  Interactions data = RandomInteractions(5, 30, 4, 1, 4);
  TrainConfig config = SmallConfig();
  config.regularization = 0;
  config.factors = 16;  // more factors than users: a singular Gramian in the item half-step
  auto model = TrainAls(data, config);
  ASSERT_THAT(model, IsOk());
  for (float v : model->item_factors) ASSERT_TRUE(std::isfinite(v));
  for (float v : model->user_factors) ASSERT_TRUE(std::isfinite(v));
}

TEST_P(AlsSolverTest, LearnsClusters) {
  // Four taste clusters: every user's best items come from their own cluster.
  Interactions data = RandomInteractions(200, 80, 12, 4, 11);
  auto model = TrainAls(data, Config());
  ASSERT_THAT(model, IsOk());
  int right = 0, total = 0;
  for (DenseId u = 0; u < data.num_users(); ++u) {
    const int cluster = std::stoi(data.users().Name(u).substr(1)) % 4;
    int best = -1;
    float best_score = -1e30f;
    for (DenseId i = 0; i < data.num_items(); ++i) {
      float s = 0;
      for (int d = 0; d < 8; ++d)
        s += model->user_factors[u * 8 + d] * model->item_factors[i * 8 + d];
      if (s > best_score) best_score = s, best = static_cast<int>(i);
    }
    right += (std::stoi(data.items().Name(best).substr(1)) % 4 == cluster) ? 1 : 0;
    ++total;
  }
  EXPECT_GT(right, total * 9 / 10);
}

INSTANTIATE_TEST_SUITE_P(Solvers, AlsSolverTest, ::testing::Values("cg", "cholesky"));

TEST(AlsTest, RejectsBadConfigAndAcceptsEmptyData) {
  Interactions data = RandomInteractions(10, 10, 3, 1, 1);
  TrainConfig config = SmallConfig();
  config.factors = 0;
  EXPECT_THAT(TrainAls(data, config), StatusIs(StatusCode::kInvalidArgument));
  config = SmallConfig();
  config.iterations = 0;
  EXPECT_THAT(TrainAls(data, config), StatusIs(StatusCode::kInvalidArgument));
  config = SmallConfig();
  config.alpha = -1;
  EXPECT_THAT(TrainAls(data, config), StatusIs(StatusCode::kInvalidArgument));
  config = SmallConfig();
  config.solver = "lu";
  EXPECT_THAT(TrainAls(data, config), StatusIs(StatusCode::kInvalidArgument));
  config = SmallConfig();
  config.cg_steps = 0;
  EXPECT_THAT(TrainAls(data, config), StatusIs(StatusCode::kInvalidArgument));
  config = SmallConfig();
  config.regularization = std::nan("");
  EXPECT_THAT(TrainAls(data, config), StatusIs(StatusCode::kInvalidArgument));

  auto empty = TrainAls(Interactions(), SmallConfig());
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->num_users, 0u);
  EXPECT_TRUE(empty->item_factors.empty());
}

}  // namespace
}  // namespace pulse::train
