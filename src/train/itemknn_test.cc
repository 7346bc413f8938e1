#include "train/itemknn.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pulse::train {
namespace {

Event Ev(const std::string& user, const std::string& item) {
  Event e;
  e.user_id = user;
  e.item_id = item;
  e.type = EventType::kClick;
  e.ts_ms = 1;
  return e;
}

// u0 {a, b}, u1 {a, b, c}, u2 {c}: every item has 2 users; co(a,b) = 2, co(a,c) = co(b,c) = 1.
Interactions Tiny() {
  return Interactions::FromEvents(
      {Ev("u0", "a"), Ev("u0", "b"), Ev("u1", "a"), Ev("u1", "b"), Ev("u1", "c"), Ev("u2", "c")});
}

TEST(ItemKnnTest, CosineByHand) {
  const Interactions data = Tiny();
  const ItemKnnModel model(data, {}, 1);
  // a=0, b=1, c=2 (first seen). sim(a,b) = 2/sqrt(2*2) = 1; sim(a,c) = sim(b,c) = 1/2.
  EXPECT_THAT(model.Neighbours(0), ::testing::ElementsAre(1, 2));
  EXPECT_THAT(model.Similarities(0), ::testing::ElementsAre(1.0f, 0.5f));
  EXPECT_THAT(model.Similarities(2), ::testing::ElementsAre(0.5f, 0.5f));
  // u2 has {c}: score(a) = score(b) = 1/2, score(c) = 0 (no self-similarity).
  std::vector<float> scores(3);
  const DenseId u2[] = {2};
  model.Score(u2, scores.data());
  EXPECT_THAT(scores, ::testing::ElementsAre(0.5f, 0.5f, 0.0f));
  // u0 has {a, b}: score(c) = 1/2 + 1/2.
  const DenseId u0[] = {0};
  model.Score(u0, scores.data());
  EXPECT_FLOAT_EQ(scores[2], 1.0f);
}

TEST(ItemKnnTest, ShrinkAndNeighboursByHand) {
  const Interactions data = Tiny();
  const ItemKnnModel shrunk(data, {0, 1.0}, 1);
  // sim(a,b) = 2 / (2 + 1); sim(a,c) = 1 / (2 + 1).
  EXPECT_FLOAT_EQ(shrunk.Similarities(0)[0], 2.0f / 3.0f);
  EXPECT_FLOAT_EQ(shrunk.Similarities(0)[1], 1.0f / 3.0f);
  const ItemKnnModel one(data, {1, 0}, 1);
  EXPECT_THAT(one.Neighbours(0), ::testing::ElementsAre(1));  // b beats c
  EXPECT_THAT(one.Neighbours(2), ::testing::ElementsAre(0));  // a tie with b: smaller id
}

// The definition as a naive triple loop in double precision.
TEST(ItemKnnTest, MatchesABruteForceTripleLoop) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    const int n_users = 30;
    const int n_items = 25;
    std::vector<Event> events;
    for (int u = 0; u < n_users; ++u) {
      for (int i = 0; i < n_items; ++i) {
        if (rng() % 4 == 0) events.push_back(Ev(StrCat("u", u), StrCat("i", i)));
      }
    }
    const Interactions data = Interactions::FromEvents(events);
    const size_t nu = data.num_users();
    const size_t ni = data.num_items();
    std::vector<std::vector<char>> x(nu, std::vector<char>(ni, 0));
    for (size_t u = 0; u < nu; ++u) {
      for (DenseId i : data.UserItems(static_cast<DenseId>(u))) x[u][i] = 1;
    }
    for (int neighbours : {0, 4}) {
      for (double shrink : {0.0, 5.0}) {
        // sim[i][j] by the triple loop.
        std::vector<std::vector<double>> sim(ni, std::vector<double>(ni, 0));
        for (size_t i = 0; i < ni; ++i) {
          for (size_t j = 0; j < ni; ++j) {
            if (i == j) continue;
            double co = 0, ci = 0, cj = 0;
            for (size_t u = 0; u < nu; ++u) {
              co += x[u][i] && x[u][j];
              ci += x[u][i];
              cj += x[u][j];
            }
            // Rounded to float as the model stores it, so ties at the cut-off match.
            sim[i][j] = static_cast<float>(co / (std::sqrt(ci * cj) + shrink));
          }
          if (neighbours > 0) {
            std::vector<size_t> order;
            for (size_t j = 0; j < ni; ++j) {
              if (sim[i][j] > 0) order.push_back(j);
            }
            std::stable_sort(order.begin(), order.end(),
                             [&](size_t a, size_t b) { return sim[i][a] > sim[i][b]; });
            for (size_t r = static_cast<size_t>(neighbours); r < order.size(); ++r) {
              sim[i][order[r]] = 0;
            }
          }
        }
        for (int threads : {1, 3}) {
          const ItemKnnModel model(data, {neighbours, shrink}, threads);
          std::vector<DenseId> users(nu);
          std::iota(users.begin(), users.end(), 0);
          std::vector<float> scores(nu * ni);
          model.Score(users, scores.data());
          for (size_t u = 0; u < nu; ++u) {
            for (size_t j = 0; j < ni; ++j) {
              double expected = 0;
              for (size_t i = 0; i < ni; ++i) expected += x[u][i] ? sim[i][j] : 0;
              ASSERT_NEAR(scores[u * ni + j], expected, 1e-5)
                  << "seed " << seed << " k " << neighbours << " shrink " << shrink;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace pulse::train
