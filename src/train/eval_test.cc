#include "train/eval.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::train {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::testing::ElementsAre;

Event Ev(const std::string& user, const std::string& item, int64_t ts) {
  Event e;
  e.user_id = user;
  e.item_id = item;
  e.type = EventType::kView;
  e.ts_ms = ts;
  return e;
}

TEST(MetricsTest, ByHand) {
  const std::vector<DenseId> ranked = {5, 3, 9, 7};
  const std::vector<DenseId> relevant = {3, 7};  // sorted
  EXPECT_DOUBLE_EQ(RecallAtK(ranked, relevant, 1), 0.0);
  EXPECT_DOUBLE_EQ(RecallAtK(ranked, relevant, 2), 0.5);
  EXPECT_DOUBLE_EQ(RecallAtK(ranked, relevant, 4), 1.0);
  EXPECT_DOUBLE_EQ(RecallAtK(ranked, relevant, 10), 1.0);  // list shorter than K
  EXPECT_DOUBLE_EQ(HitAtK(ranked, relevant, 1), 0.0);
  EXPECT_DOUBLE_EQ(HitAtK(ranked, relevant, 2), 1.0);
  EXPECT_DOUBLE_EQ(NdcgAtK(ranked, relevant, 1), 0.0);
  // K=2: one hit at rank 2: DCG = 1/log2(3); IDCG = 1 + 1/log2(3).
  EXPECT_NEAR(NdcgAtK(ranked, relevant, 2), (1 / std::log2(3.0)) / (1 + 1 / std::log2(3.0)), 1e-12);
  // K=4: hits at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3).
  EXPECT_NEAR(NdcgAtK(ranked, relevant, 4),
              (1 / std::log2(3.0) + 1 / std::log2(5.0)) / (1 + 1 / std::log2(3.0)), 1e-12);
  // A single relevant item at rank 1 is perfect; |T| > K caps the ideal at K.
  EXPECT_DOUBLE_EQ(NdcgAtK(std::vector<DenseId>{3}, std::vector<DenseId>{3}, 10), 1.0);
  EXPECT_DOUBLE_EQ(NdcgAtK(std::vector<DenseId>{1, 2}, std::vector<DenseId>{1, 2, 3}, 2), 1.0);
  EXPECT_DOUBLE_EQ(RecallAtK(std::vector<DenseId>{1, 2}, std::vector<DenseId>{1, 2, 3}, 2),
                   2.0 / 3.0);
  EXPECT_DOUBLE_EQ(RecallAtK({}, relevant, 10), 0.0);
}

TEST(ProtocolTest, Parse) {
  EXPECT_EQ(*ParseProtocol("leave-last-out"), Protocol::kLeaveLastOut);
  EXPECT_EQ(*ParseProtocol("temporal"), Protocol::kTemporal);
  EXPECT_THAT(ParseProtocol("random"), StatusIs(StatusCode::kInvalidArgument, "leave-last-out"));
  EXPECT_EQ(ProtocolName(Protocol::kTemporal), "temporal");
}

TEST(SplitTest, LeaveLastOut) {
  // a: newest is i2 (ts 30). b: tie at ts 20 between i1 and i3 -> the larger dense id (i3).
  // c: a single pair, not evaluated.
  Interactions all = Interactions::FromEvents({
      Ev("a", "i1", 10),
      Ev("a", "i2", 30),
      Ev("a", "i3", 20),
      Ev("b", "i1", 20),
      Ev("b", "i3", 20),
      Ev("b", "i2", 5),
      Ev("c", "i1", 99),
  });
  EvalSplit split = SplitForEval(all, Protocol::kLeaveLastOut);
  EXPECT_THAT(split.test_users, ElementsAre(0u, 1u));
  ASSERT_EQ(split.test_items.size(), 2u);
  EXPECT_THAT(split.test_items[0], ElementsAre(1u));  // i2
  EXPECT_THAT(split.test_items[1], ElementsAre(2u));  // i3
  EXPECT_EQ(split.test_pairs, 2u);
  EXPECT_EQ(split.train.nnz(), 5u);
  EXPECT_THAT(split.train.UserItems(0), ElementsAre(0u, 2u));
  EXPECT_THAT(split.train.UserItems(1), ElementsAre(0u, 1u));
  EXPECT_THAT(split.train.UserItems(2), ElementsAre(0u));
}

TEST(SplitTest, TemporalCutsAtTheEightiethPercentile) {
  // Ten pairs at times 1..10: the cut is the value at index 8 (ts 9); ts 9 and 10 are test.
  std::vector<Event> events;
  for (int t = 1; t <= 8; ++t) events.push_back(Ev(StrCat("u", t % 3), StrCat("i", t), t));
  events.push_back(Ev("u1", "i20", 9));    // u1 trained (ts 1, 4, 7): evaluated
  events.push_back(Ev("new", "i21", 10));  // no training pairs: not evaluated
  Interactions all = Interactions::FromEvents(events);
  EvalSplit split = SplitForEval(all, Protocol::kTemporal);
  EXPECT_EQ(split.train.nnz(), 8u);
  ASSERT_EQ(split.test_users.size(), 1u);
  EXPECT_EQ(all.users().Name(split.test_users[0]), "u1");
  ASSERT_EQ(split.test_items[0].size(), 1u);
  EXPECT_EQ(all.items().Name(split.test_items[0][0]), "i20");
  EXPECT_EQ(split.test_pairs, 1u);
}

TEST(RecommendTest, PopularExcludesTrainItemsAndBreaksTiesById) {
  // Training counts: i0:3 i1:2 i2:2 i3:1, i4 only held out (never recommended).
  Interactions all = Interactions::FromEvents({
      Ev("a", "i0", 1), Ev("a", "i1", 2), Ev("a", "i4", 9),                    // a holds out i4
      Ev("b", "i0", 1), Ev("b", "i2", 2), Ev("b", "i3", 3), Ev("b", "i1", 9),  // b holds out i1
      Ev("c", "i0", 1), Ev("c", "i1", 2), Ev("c", "i2", 3), Ev("c", "i3", 9),  // c holds out i3
  });
  EvalSplit split = SplitForEval(all, Protocol::kLeaveLastOut);
  PopularityModel model(split.train);
  auto recs = RecommendForEval(split, model, 3, 1);
  ASSERT_EQ(recs.size(), 3u);
  auto names = [&](const std::vector<DenseId>& ids) {
    std::vector<std::string> out;
    for (DenseId id : ids) out.push_back(all.items().Name(id));
    return out;
  };
  // a trained on i0 i1 -> i2 (2), i3 (1); i4 has no training pair, so it is never recommended.
  EXPECT_THAT(names(recs[0]), ElementsAre("i2", "i3"));
  // b trained on i0 i2 i3 -> i1.
  EXPECT_THAT(names(recs[1]), ElementsAre("i1"));
  // c trained on i0 i1 i2 -> i3.
  EXPECT_THAT(names(recs[2]), ElementsAre("i3"));

  const std::vector<int> ks = {1, 3};
  auto metrics = ComputeMetrics(split, recs, ks);
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_EQ(metrics[0].k, 1);
  EXPECT_EQ(metrics[0].users, 3u);
  EXPECT_DOUBLE_EQ(metrics[0].recall, 2.0 / 3.0);  // b and c hit at rank 1
  EXPECT_DOUBLE_EQ(metrics[0].hit_rate, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(metrics[0].ndcg, 2.0 / 3.0);
  // Catalog = items with a training pair: i0..i3. Recommended at K=1: i2, i1, i3.
  EXPECT_DOUBLE_EQ(metrics[0].coverage, 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(metrics[1].coverage, 3.0 / 4.0);
}

TEST(RecommendTest, TiesGoToTheSmallerId) {
  Interactions all = Interactions::FromEvents({
      Ev("a", "x", 1),
      Ev("a", "y", 2),
      Ev("a", "z", 3),
      Ev("a", "w", 4),
      Ev("b", "x", 1),
      Ev("b", "y", 2),
      Ev("b", "z", 3),
      Ev("b", "w", 4),
      Ev("c", "q", 1),
      Ev("c", "x", 2),
  });
  EvalSplit split = SplitForEval(all, Protocol::kLeaveLastOut);
  // All-equal factor scores: ranking is by dense id.
  std::vector<float> users(3 * 2, 1.0f), items(5 * 2, 1.0f);
  FactorModel model(users.data(), 3, items.data(), 5, 2);
  auto recs = RecommendForEval(split, model, 10, 2);
  // c (user 2) trained on q (id 4); held out x (id 0). Eligible: x y z (ids 0-2) + q.
  EXPECT_THAT(recs[2], ElementsAre(0u, 1u, 2u));
}

// Independent brute force: full sort of every item per user, metrics recomputed inline.
struct BruteForce {
  double recall = 0, ndcg = 0, hit = 0, coverage = 0;
};

BruteForce BruteForceMetrics(const Interactions& all, const EvalSplit& split,
                             const std::vector<float>& u, const std::vector<float>& v, int dim,
                             int k) {
  BruteForce out;
  std::set<DenseId> distinct;
  std::set<DenseId> catalog;
  split.train.ForEach([&](const Interaction& e) { catalog.insert(e.item); });
  for (size_t t = 0; t < split.test_users.size(); ++t) {
    const DenseId user = split.test_users[t];
    std::set<DenseId> train_items;
    split.train.ForEach([&](const Interaction& e) {
      if (e.user == user) train_items.insert(e.item);
    });
    std::vector<std::pair<float, DenseId>> scored;
    for (DenseId i = 0; i < all.num_items(); ++i) {
      if (train_items.count(i) || !catalog.count(i)) continue;
      float s = 0;
      for (int d = 0; d < dim; ++d) s += u[user * dim + d] * v[i * dim + d];
      scored.push_back({s, i});
    }
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    const std::set<DenseId> relevant(split.test_items[t].begin(), split.test_items[t].end());
    double hits = 0, dcg = 0, idcg = 0;
    for (int r = 0; r < k && r < static_cast<int>(scored.size()); ++r) {
      distinct.insert(scored[r].second);
      if (relevant.count(scored[r].second)) {
        hits += 1;
        dcg += 1 / std::log2(r + 2.0);
      }
    }
    for (int r = 0; r < k && r < static_cast<int>(relevant.size()); ++r)
      idcg += 1 / std::log2(r + 2.0);
    out.recall += hits / static_cast<double>(relevant.size());
    out.ndcg += dcg / idcg;
    out.hit += hits > 0 ? 1 : 0;
  }
  const double n = static_cast<double>(split.test_users.size());
  out.recall /= n;
  out.ndcg /= n;
  out.hit /= n;
  out.coverage = static_cast<double>(distinct.size()) / static_cast<double>(catalog.size());
  return out;
}

class AgainstBruteForceTest : public ::testing::TestWithParam<Protocol> {};

TEST_P(AgainstBruteForceTest, SameMetrics) {
  std::mt19937_64 rng(17);
  std::vector<Event> events;
  for (int e = 0; e < 3000; ++e) {
    const int user = static_cast<int>(rng() % 150);
    const int item = static_cast<int>((rng() % 90) * (rng() % 90) / 90);  // skewed
    events.push_back(Ev(StrCat("u", user), StrCat("i", item), static_cast<int64_t>(rng() % 500)));
  }
  Interactions all = Interactions::FromEvents(events);
  EvalSplit split = SplitForEval(all, GetParam());
  ASSERT_GT(split.test_users.size(), 50u);
  // Small integer factors: dot products are exact in float whatever the summation order, and
  // ties are frequent, so the tie-break is exercised too.
  const int dim = 3;
  std::vector<float> u(all.num_users() * dim), v(all.num_items() * dim);
  for (float& x : u) x = static_cast<float>(static_cast<int>(rng() % 5) - 2);
  for (float& x : v) x = static_cast<float>(static_cast<int>(rng() % 5) - 2);
  FactorModel model(u.data(), all.num_users(), v.data(), all.num_items(), dim);
  const std::vector<int> ks = {1, 5, 20};
  auto recs = RecommendForEval(split, model, 20, 3);
  auto metrics = ComputeMetrics(split, recs, ks);
  ASSERT_EQ(metrics.size(), 3u);
  for (const MetricsAtK& m : metrics) {
    BruteForce expected = BruteForceMetrics(all, split, u, v, dim, m.k);
    EXPECT_NEAR(m.recall, expected.recall, 1e-12) << "k=" << m.k;
    EXPECT_NEAR(m.ndcg, expected.ndcg, 1e-12) << "k=" << m.k;
    EXPECT_NEAR(m.hit_rate, expected.hit, 1e-12) << "k=" << m.k;
    EXPECT_NEAR(m.coverage, expected.coverage, 1e-12) << "k=" << m.k;
    EXPECT_EQ(m.users, split.test_users.size());
  }
  // Thread count does not change the lists.
  EXPECT_EQ(RecommendForEval(split, model, 20, 1), recs);
}

INSTANTIATE_TEST_SUITE_P(Protocols, AgainstBruteForceTest,
                         ::testing::Values(Protocol::kLeaveLastOut, Protocol::kTemporal));

TEST(RunOfflineEvalTest, ReportsBothModels) {
  std::mt19937_64 rng(3);
  std::vector<Event> events;
  for (int e = 0; e < 4000; ++e) {
    const int user = static_cast<int>(rng() % 200);
    const int cluster = user % 4;
    const int item = static_cast<int>(rng() % 25) * 4 + (rng() % 10 < 9 ? cluster : 0);
    events.push_back(Ev(StrCat("u", user), StrCat("i", item), static_cast<int64_t>(e)));
  }
  Interactions all = Interactions::FromEvents(events);
  TrainConfig config;
  config.factors = 8;
  config.iterations = 5;
  config.threads = 2;
  const std::vector<int> ks = {10, 20};
  auto report = RunOfflineEval(all, Protocol::kLeaveLastOut, ks, config);
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->models.size(), 2u);
  EXPECT_EQ(report->models[0].model, "popular");
  EXPECT_EQ(report->models[1].model, "als");
  EXPECT_EQ(report->test_users, 200u);
  EXPECT_EQ(report->train_pairs + report->test_pairs, all.nnz());
  for (const ModelReport& m : report->models) {
    ASSERT_EQ(m.metrics.size(), 2u);
    EXPECT_EQ(m.metrics[0].k, 10);
    EXPECT_LE(m.metrics[0].recall, m.metrics[1].recall);
  }
  EXPECT_GT(report->models[1].metrics[0].recall, report->models[0].metrics[0].recall);

  const std::vector<int> bad_k = {0};
  EXPECT_THAT(RunOfflineEval(all, Protocol::kLeaveLastOut, bad_k, config),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(RunOfflineEval(all, Protocol::kLeaveLastOut, {}, config),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(RunOfflineEvalTest, EmptyDataEvaluatesNobody) {
  const std::vector<int> ks = {10};
  auto report = RunOfflineEval(Interactions(), Protocol::kTemporal, ks, TrainConfig());
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->test_users, 0u);
  EXPECT_EQ(report->models[1].metrics[0].recall, 0.0);
}

}  // namespace
}  // namespace pulse::train
