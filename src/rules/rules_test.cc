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

// The seen and exclude filters answer membership through a hashed bitmap before searching the
// sorted list; they must keep and remove exactly what a binary search alone does, in the same
// order, for lists from empty to far beyond the bitmap's size, with clustered and extreme ids.
TEST(FilterTest, SeenAndExcludeFiltersAgreeWithBinarySearch) {
  std::mt19937 rng(9);
  for (size_t seen_size : {size_t{1}, size_t{2}, size_t{7}, size_t{64}, size_t{200}, size_t{1000},
                           size_t{5000}, size_t{50000}}) {
    for (const bool clustered : {false, true}) {
      SCOPED_TRACE(testing::Message() << seen_size << (clustered ? " clustered" : " spread"));
      std::vector<DenseId> seen;
      for (size_t i = 0; i < seen_size; ++i) {
        seen.push_back(clustered ? static_cast<DenseId>(rng() % (seen_size * 2))
                                 : static_cast<DenseId>(rng()));
      }
      seen.push_back(0xFFFFFFFFu);
      seen.push_back(0);
      std::sort(seen.begin(), seen.end());
      seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
      std::vector<Candidate> input;
      for (int i = 0; i < 2000; ++i) {
        Candidate c;
        // Half from the seen list, half anything (near the seen ids when clustered).
        c.item = i % 2 == 0 ? seen[rng() % seen.size()]
                            : (clustered ? static_cast<DenseId>(rng() % (seen_size * 3))
                                         : static_cast<DenseId>(rng()));
        c.score = static_cast<float>(i);
        input.push_back(c);
      }
      std::vector<DenseId> want_kept, want_removed;
      for (const Candidate& c : input) {
        (std::binary_search(seen.begin(), seen.end(), c.item) ? want_removed : want_kept)
            .push_back(c.item);
      }
      ASSERT_FALSE(want_kept.empty());
      ASSERT_FALSE(want_removed.empty());
      for (const bool exclude : {false, true}) {
        RecommendContext context;
        (exclude ? context.excluded_items : context.seen_items) = seen;
        std::vector<Candidate> candidates = input;
        if (exclude) {
          RequestExcludeFilter().Apply(context, candidates);
        } else {
          SeenItemsFilter().Apply(context, candidates);
        }
        EXPECT_EQ(Ids(candidates), want_kept);
        std::vector<DenseId> removed;
        for (const auto& r : context.removed) {
          EXPECT_EQ(r.filter, exclude ? "request_exclude" : "seen");
          removed.push_back(r.item);
        }
        EXPECT_EQ(removed, want_removed);
      }
    }
  }
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
