#include "train/ease.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::train {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

Event Ev(const std::string& user, const std::string& item) {
  Event e;
  e.user_id = user;
  e.item_id = item;
  e.ts_ms = 1;
  return e;
}

TEST(EaseTest, TwoItemsByHand) {
  // u0 {a, b}, u1 {a}: XᵀX = [[2, 1], [1, 1]]; with lambda 1, G = [[3, 1], [1, 2]], det 5,
  // P = G⁻¹ = [[2, -1], [-1, 3]] / 5. B_ab = -P_ab / P_bb = (1/5) / (3/5) = 1/3;
  // B_ba = -P_ba / P_aa = (1/5) / (2/5) = 1/2.
  const Interactions data = Interactions::FromEvents({Ev("u0", "a"), Ev("u0", "b"), Ev("u1", "a")});
  auto model = EaseModel::Train(data, 1.0);
  ASSERT_THAT(model, IsOk());
  EXPECT_NEAR(model->Weight(0, 1), 1.0 / 3.0, 1e-6);
  EXPECT_NEAR(model->Weight(1, 0), 0.5, 1e-6);
  EXPECT_EQ(model->Weight(0, 0), 0.0f);
  std::vector<float> scores(2);
  const DenseId u1[] = {1};
  model->Score(u1, scores.data());
  EXPECT_NEAR(scores[1], 1.0 / 3.0, 1e-6);  // u1 has {a}: score(b) = B_ab
  EXPECT_EQ(scores[0], 0.0f);
}

TEST(EaseTest, RefusesBigCatalogsAndBadLambda) {
  const Interactions data = Interactions::FromEvents({Ev("u0", "a"), Ev("u0", "b")});
  EXPECT_THAT(EaseModel::Train(data, 10.0, /*max_items=*/1),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(EaseModel::Train(data, 0.0), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(EaseModel::Train(data, -3.0), StatusIs(StatusCode::kInvalidArgument));
}

// Against an independent Gauss–Jordan inverse of XᵀX + lambda I.
TEST(EaseTest, MatchesANaiveInverse) {
  std::mt19937 rng(4);
  std::vector<Event> events;
  for (int u = 0; u < 25; ++u) {
    for (int i = 0; i < 12; ++i) {
      if (rng() % 3 == 0) events.push_back(Ev(StrCat("u", u), StrCat("i", i)));
    }
  }
  const Interactions data = Interactions::FromEvents(events);
  const size_t n = data.num_items();
  const double lambda = 3.0;
  std::vector<std::vector<double>> a(n, std::vector<double>(2 * n, 0));
  for (size_t u = 0; u < data.num_users(); ++u) {
    for (DenseId i : data.UserItems(static_cast<DenseId>(u))) {
      for (DenseId j : data.UserItems(static_cast<DenseId>(u))) a[i][j] += 1;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    a[i][i] += lambda;
    a[i][n + i] = 1;
  }
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    }
    std::swap(a[c], a[pivot]);
    const double d = a[c][c];
    for (double& v : a[c]) v /= d;
    for (size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r][c];
      for (size_t k = 0; k < 2 * n; ++k) a[r][k] -= f * a[c][k];
    }
  }
  auto model = EaseModel::Train(data, lambda);
  ASSERT_THAT(model, IsOk());
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const double expected = i == j ? 0.0 : -a[i][n + j] / a[j][n + j];
      ASSERT_NEAR(model->Weight(static_cast<DenseId>(i), static_cast<DenseId>(j)), expected, 1e-5);
    }
  }
}

}  // namespace
}  // namespace pulse::train
