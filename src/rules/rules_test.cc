#include <algorithm>
#include <random>

#include "gtest/gtest.h"
#include "rules/filter.h"
#include "rules/selector.h"

namespace pulse::rules {
namespace {

using candidates::Candidate;
using candidates::ItemTable;
using candidates::RecommendContext;

std::vector<Candidate> Make(std::initializer_list<DenseId> items) {
  std::vector<Candidate> out;
  for (DenseId item : items) {
    Candidate c;
    c.item = item;
    c.score = -static_cast<float>(item);
    out.push_back(c);
  }
  return out;
}

std::vector<DenseId> Ids(const std::vector<Candidate>& candidates) {
  std::vector<DenseId> out;
  for (const auto& c : candidates) out.push_back(c.item);
  return out;
}

TEST(FilterTest, SeenFilterRemovesSeenAndRecordsWhy) {
  RecommendContext context;
  context.seen_items = {2, 5};
  auto candidates = Make({1, 2, 3, 5, 7});
  SeenItemsFilter().Apply(context, candidates);
  EXPECT_EQ(Ids(candidates), (std::vector<DenseId>{1, 3, 7}));
  ASSERT_EQ(context.removed.size(), 2u);
  EXPECT_EQ(context.removed[0].item, 2u);
  EXPECT_EQ(context.removed[0].filter, "seen");
  EXPECT_FALSE(context.removed[0].reason.empty());
}

TEST(FilterTest, ExcludeFilterUsesRequestIds) {
  RecommendContext context;
  context.excluded_items = {7};
  auto candidates = Make({7, 1});
  RequestExcludeFilter().Apply(context, candidates);
  EXPECT_EQ(Ids(candidates), (std::vector<DenseId>{1}));
  EXPECT_EQ(context.removed.at(0).filter, "request_exclude");
}

TEST(FilterTest, UnavailableFilterReadsLiveFlags) {
  ItemTable table(4);
  RecommendContext context;
  context.items = &table;
  auto candidates = Make({0, 1, 2, 3});
  table.set_available(2, false);
  UnavailableItemsFilter().Apply(context, candidates);
  EXPECT_EQ(Ids(candidates), (std::vector<DenseId>{0, 1, 3}));
  table.set_available(2, true);
  candidates = Make({0, 1, 2, 3});
  UnavailableItemsFilter().Apply(context, candidates);
  EXPECT_EQ(candidates.size(), 4u);
}

TEST(FilterTest, RegistryKnowsNamesAndRejectsOthers) {
  EXPECT_TRUE(MakeFilter("seen").ok());
  EXPECT_TRUE(MakeFilter("unavailable").ok());
  EXPECT_TRUE(MakeFilter("request_exclude").ok());
  auto bad = MakeFilter("nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nope"), std::string::npos);
}

TEST(SelectorTest, RankByScoreBreaksTiesByItem) {
  RecommendContext context;
  std::vector<Candidate> candidates = Make({3, 1, 2});
  for (auto& c : candidates) c.score = 1.0f;
  candidates[0].score = 2.0f;
  RankByScore().Apply(context, candidates);
  EXPECT_EQ(Ids(candidates), (std::vector<DenseId>{3, 1, 2}));
}

// The top-n mode must give the full sort's first n, in order: random scores with many ties.
TEST(SelectorTest, RankByScoreTopNEqualsTheFullSortsHead) {
  std::mt19937 rng(3);
  for (int round = 0; round < 200; ++round) {
    RecommendContext context;
    context.n = static_cast<int>(rng() % 40);
    std::vector<DenseId> ids(rng() % 60);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<DenseId>(i * 7 % 61);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<Candidate> full(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) full[i].item = ids[i];
    for (auto& c : full) c.score = static_cast<float>(rng() % 5);
    std::vector<Candidate> top = full;
    RankByScore().Apply(context, full);
    RankByScore(/*only_top_n=*/true).Apply(context, top);
    ASSERT_EQ(top.size(), full.size());
    TruncateTopN().Apply(context, full);
    TruncateTopN().Apply(context, top);
    EXPECT_EQ(Ids(top), Ids(full)) << "round " << round;
  }
}

TEST(SelectorTest, CapPerCategoryDefersOverflowAndBackfills) {
  RecommendContext context;
  context.n = 3;
  auto candidates = Make({1, 2, 3, 4});
  candidates[0].category = 10;
  candidates[1].category = 10;
  candidates[2].category = 10;
  candidates[3].category = 20;
  CapPerCategory(2).Apply(context, candidates);
  EXPECT_EQ(Ids(candidates), (std::vector<DenseId>{1, 2, 4, 3}));
  TruncateTopN().Apply(context, candidates);
  EXPECT_EQ(Ids(candidates), (std::vector<DenseId>{1, 2, 4}));

  // Not enough other categories: capped items still fill the list.
  context.n = 3;
  candidates = Make({1, 2, 3});
  for (auto& c : candidates) c.category = 10;
  CapPerCategory(1).Apply(context, candidates);
  TruncateTopN().Apply(context, candidates);
  EXPECT_EQ(candidates.size(), 3u);
}

TEST(SelectorTest, UnknownCategoryIsNeverCapped) {
  RecommendContext context;
  context.n = 3;
  auto candidates = Make({1, 2, 3});
  CapPerCategory(1).Apply(context, candidates);
  EXPECT_EQ(Ids(candidates), (std::vector<DenseId>{1, 2, 3}));
}

}  // namespace
}  // namespace pulse::rules
