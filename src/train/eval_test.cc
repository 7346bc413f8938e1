#include "train/eval.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
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

TEST(RankingMetricsTest, ByHandAtThree) {
  // T = {1, 3, 9}; top 3 = 5 (miss), 1 (hit at rank 2), 7 (miss).
  const std::vector<DenseId> ranked = {5, 1, 7, 3};
  const std::vector<DenseId> relevant = {1, 3, 9};
  const RankingMetrics m = EvaluateRanking(ranked, relevant, 3);
  EXPECT_DOUBLE_EQ(m.precision, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.recall, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.hit_rate, 1.0);
  // DCG = 1/log2(3) = 0.6309298; IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.1309298.
  EXPECT_NEAR(m.ndcg, 0.6309298 / 2.1309298, 1e-7);
  EXPECT_NEAR(m.ndcg, 0.2960819, 1e-6);
  // Precision at the hit's rank = 1/2; AP = 0.5 / 3 and 0.5 / min(3, 3).
  EXPECT_DOUBLE_EQ(m.ap, 0.5 / 3.0);
  EXPECT_DOUBLE_EQ(m.ap_min, 0.5 / 3.0);
}

TEST(RankingMetricsTest, ByHandAtFour) {
  const std::vector<DenseId> ranked = {5, 1, 7, 3};
  const std::vector<DenseId> relevant = {1, 3, 9};
  const RankingMetrics m = EvaluateRanking(ranked, relevant, 4);
  EXPECT_DOUBLE_EQ(m.precision, 0.5);  // 2 hits / 4
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3.0);
  // DCG = 1/log2(3) + 1/log2(5) = 0.6309298 + 0.4306766; IDCG over min(3, 4) = 3 ranks.
  EXPECT_NEAR(m.ndcg, (0.6309298 + 0.4306766) / 2.1309298, 1e-7);
  EXPECT_NEAR(m.ndcg, 0.4981893, 1e-6);
  // Precisions at the hit ranks: 1/2 and 2/4; sum 1.
  EXPECT_DOUBLE_EQ(m.ap, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.ap_min, 1.0 / 3.0);
}

TEST(RankingMetricsTest, ApNormalisationsDifferWhenTIsLargerThanK) {
  // T = {5, 6}, K = 1, the first item is a hit.
  const std::vector<DenseId> ranked = {5, 2};
  const std::vector<DenseId> relevant = {5, 6};
  const RankingMetrics m = EvaluateRanking(ranked, relevant, 1);
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);
  EXPECT_DOUBLE_EQ(m.ndcg, 1.0);    // IDCG over min(2, 1) = 1 rank
  EXPECT_DOUBLE_EQ(m.ap, 0.5);      // 1 / |T|
  EXPECT_DOUBLE_EQ(m.ap_min, 1.0);  // 1 / min(|T|, K)
}

TEST(RankingMetricsTest, ShortListsPerfectListsAndEmptyTests) {
  // A list shorter than K: precision still divides by K.
  const std::vector<DenseId> one = {2};
  const std::vector<DenseId> two = {2};
  RankingMetrics m = EvaluateRanking(one, two, 10);
  EXPECT_DOUBLE_EQ(m.precision, 0.1);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  EXPECT_DOUBLE_EQ(m.ndcg, 1.0);
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  EXPECT_DOUBLE_EQ(m.ap_min, 1.0);
  const std::vector<DenseId> perfect = {3, 1};
  const std::vector<DenseId> relevant = {1, 3};
  m = EvaluateRanking(perfect, relevant, 2);
  EXPECT_DOUBLE_EQ(m.ndcg, 1.0);
  EXPECT_DOUBLE_EQ(m.ap_min, 1.0);
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  m = EvaluateRanking(perfect, {}, 2);
  EXPECT_DOUBLE_EQ(m.recall, 0.0);
  EXPECT_DOUBLE_EQ(m.ndcg, 0.0);
  // Misses only.
  const std::vector<DenseId> misses = {7, 8};
  m = EvaluateRanking(misses, relevant, 2);
  EXPECT_DOUBLE_EQ(m.hit_rate, 0.0);
  EXPECT_DOUBLE_EQ(m.ap, 0.0);
}

TEST(RankingMetricsTest, AgreesWithTheSingleMetricFunctions) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<DenseId> ranked(20);
    std::iota(ranked.begin(), ranked.end(), 0);
    std::shuffle(ranked.begin(), ranked.end(), rng);
    std::vector<DenseId> relevant;
    for (DenseId i = 0; i < 30; ++i) {
      if (rng() % 4 == 0) relevant.push_back(i);
    }
    if (relevant.empty()) relevant.push_back(3);
    const int k = 1 + static_cast<int>(rng() % 25);
    const RankingMetrics m = EvaluateRanking(ranked, relevant, k);
    EXPECT_DOUBLE_EQ(m.recall, RecallAtK(ranked, relevant, k));
    EXPECT_NEAR(m.ndcg, NdcgAtK(ranked, relevant, k), 1e-12);
    EXPECT_DOUBLE_EQ(m.hit_rate, HitAtK(ranked, relevant, k));
    EXPECT_LE(m.ap_min, 1.0 + 1e-12);
    EXPECT_GE(m.ap_min, m.ap);
  }
}

// Scores drawn from a few values, so ties are everywhere.
class TiedScores final : public EvalModel {
 public:
  TiedScores(size_t n_users, size_t n_items, uint32_t seed) : n_items_(n_items) {
    std::mt19937 rng(seed);
    scores_.resize(n_users * n_items);
    for (float& s : scores_) s = static_cast<float>(rng() % 4);
  }
  size_t num_items() const override { return n_items_; }
  void Score(std::span<const DenseId> users, float* out) const override {
    for (size_t r = 0; r < users.size(); ++r) {
      std::copy_n(scores_.data() + users[r] * n_items_, n_items_, out + r * n_items_);
    }
  }
  float At(DenseId user, DenseId item) const { return scores_[user * n_items_ + item]; }

 private:
  size_t n_items_;
  std::vector<float> scores_;
};

TEST(RecommendForEvalTest, TopKEqualsAFullSortWithTiesByIdAscending) {
  std::mt19937 rng(5);
  std::vector<Event> events;
  for (int u = 0; u < 40; ++u) {
    for (int i = 0; i < 60; ++i) {
      if (rng() % 5 == 0) events.push_back(Ev(StrCat("u", u), StrCat("i", i), 1));
    }
  }
  EvalSplit split;
  // Items 0-4 lose their training pairs: with rank_all_items they are ranked all the same.
  split.train =
      Interactions::FromEvents(events).Filter([](const Interaction& e) { return e.item >= 5; });
  split.rank_all_items = true;
  for (size_t u = 0; u < split.train.num_users(); ++u) {
    split.test_users.push_back(static_cast<DenseId>(u));
    split.test_items.push_back({0});
  }
  const TiedScores model(split.train.num_users(), split.train.num_items(), 9);
  for (int k : {1, 7, 25, 1000}) {
    const auto recs = RecommendForEval(split, model, k, 3);
    for (size_t u = 0; u < split.test_users.size(); ++u) {
      const auto user = static_cast<DenseId>(u);
      std::vector<DenseId> all;
      for (DenseId i = 0; i < split.train.num_items(); ++i) {
        std::span<const DenseId> seen = split.train.UserItems(user);
        if (!std::binary_search(seen.begin(), seen.end(), i)) all.push_back(i);
      }
      std::sort(all.begin(), all.end(), [&](DenseId a, DenseId b) {
        const float sa = model.At(user, a);
        const float sb = model.At(user, b);
        return sa > sb || (sa == sb && a < b);
      });
      all.resize(std::min(all.size(), static_cast<size_t>(k)));
      ASSERT_EQ(recs[u], all) << "user " << u << " k " << k;
    }
  }
}

TEST(CutoffsTest, Parse) {
  auto ks = ParseCutoffs("20, 10,10");
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_EQ(*ks, (std::vector<int>{10, 20}));
  EXPECT_FALSE(ParseCutoffs("").ok());
  EXPECT_FALSE(ParseCutoffs("0").ok());
  EXPECT_FALSE(ParseCutoffs("10001").ok());
  EXPECT_FALSE(ParseCutoffs("10,x").ok());
  EXPECT_FALSE(ParseCutoffs("10,").ok());
}

}  // namespace
}  // namespace pulse::train
