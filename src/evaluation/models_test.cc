#include "evaluation/models.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"
#include "tools/synthetic.h"

namespace pulse::evaluation {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

ModelSettings SmallSettings() {
  ModelSettings settings;
  settings.config.train.factors = 16;
  settings.config.train.iterations = 5;
  settings.config.train.threads = 2;
  return settings;
}

const HoldoutData& Synthetic() {
  static const HoldoutData* data = [] {
    tools::SyntheticParams params;
    params.users = 300;
    params.items = 200;
    params.events = 9000;
    params.seed = 3;
    return new HoldoutData(SplitHoldout(tools::GenerateSynthetic(params).events, 0.75, 42));
  }();
  return *data;
}

void ExpectValidLists(const HoldoutData& data, const ModelRun& run, int k, bool exact_length) {
  const train::EvalSplit& s = data.split;
  ASSERT_EQ(run.recommended.size(), s.test_users.size());
  for (size_t u = 0; u < run.recommended.size(); ++u) {
    const std::vector<DenseId>& list = run.recommended[u];
    if (exact_length) {
      EXPECT_EQ(list.size(), static_cast<size_t>(k));
    } else {
      EXPECT_LE(list.size(), static_cast<size_t>(k));
    }
    std::vector<DenseId> sorted = list;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "duplicates";
    std::span<const DenseId> trained = s.train.UserItems(s.test_users[u]);
    for (DenseId item : list) {
      EXPECT_FALSE(std::binary_search(trained.begin(), trained.end(), item))
          << "a training item was recommended";
    }
  }
}

TEST(RunModelTest, EveryModelRanksUnseenItemsAndBeatsOrMatchesPopularity) {
  const HoldoutData& data = Synthetic();
  const int ks[] = {10};
  double popular_ndcg = 0;
  for (std::string_view model : kModelNames) {
    auto run = RunModel(model, data, SmallSettings(), 10);
    ASSERT_THAT(run, IsOk()) << model;
    ExpectValidLists(data, *run, 10, model != "pulse");
    const double ndcg = ScoreHoldout(data.split, run->recommended, ks)[0].ndcg;
    if (model == "popular") {
      popular_ndcg = ndcg;
    } else {
      // Topic structure that popularity cannot see: every personalised model must find it.
      EXPECT_GT(ndcg, popular_ndcg) << model;
    }
  }
}

TEST(RunModelTest, Deterministic) {
  const HoldoutData& data = Synthetic();
  for (std::string_view model : kModelNames) {
    auto a = RunModel(model, data, SmallSettings(), 10);
    auto b = RunModel(model, data, SmallSettings(), 10);
    ASSERT_THAT(a, IsOk());
    ASSERT_THAT(b, IsOk());
    EXPECT_EQ(a->recommended, b->recommended) << model;
  }
}

TEST(RunModelTest, PopularBreaksTiesByItemIdNumerically) {
  // Every item has one training user; user "x" trained on none of 2, 10, 100.
  std::vector<Event> train;
  for (const char* item : {"100", "10", "2", "7"}) {
    Event e;
    e.user_id = StrCat("owner", item);
    e.item_id = item;
    e.ts_ms = 1;
    train.push_back(e);
  }
  Event x;
  x.user_id = "x";
  x.item_id = "7";
  x.ts_ms = 1;
  train.push_back(x);  // 7 now has 2 users: first
  Event test = x;
  test.item_id = "100";
  const HoldoutData data = MakeHoldout(train, {test});
  auto run = RunModel("popular", data, SmallSettings(), 3);
  ASSERT_THAT(run, IsOk());
  ASSERT_EQ(run->recommended.size(), 1u);
  std::vector<std::string> names;
  for (DenseId item : run->recommended[0]) names.push_back(data.split.train.items().Name(item));
  EXPECT_THAT(names, ::testing::ElementsAre("2", "10", "100"));  // 7 is x's own training item
}

TEST(RunModelTest, RefusesUnknownModelsAndHugeEaseCatalogs) {
  EXPECT_THAT(RunModel("bpr", Synthetic(), SmallSettings(), 10),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(RunModel("popular", Synthetic(), SmallSettings(), 0),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(TuneTest, ItemKnnSearchesTheGridDeterministically) {
  const HoldoutData& data = Synthetic();
  auto a = Tune("itemknn", data, SmallSettings(), 10, 7);
  auto b = Tune("itemknn", data, SmallSettings(), 10, 7);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->trials, 20);
  EXPECT_GT(a->validation_ndcg, 0);
  EXPECT_EQ(a->best.itemknn.neighbours, b->best.itemknn.neighbours);
  EXPECT_EQ(a->best.itemknn.shrink, b->best.itemknn.shrink);
  EXPECT_EQ(a->validation_ndcg, b->validation_ndcg);
}

TEST(TuneTest, EaseAndPopular) {
  const HoldoutData& data = Synthetic();
  auto ease = Tune("ease", data, SmallSettings(), 10, 7);
  ASSERT_THAT(ease, IsOk());
  EXPECT_EQ(ease->trials, 6);
  auto popular = Tune("popular", data, SmallSettings(), 10, 7);
  ASSERT_THAT(popular, IsOk());
  EXPECT_EQ(popular->trials, 0);
}

}  // namespace
}  // namespace pulse::evaluation
