#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "candidates/candidate_source.h"
#include "candidates/covisit_source.h"
#include "candidates/trending_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nearline/feature_processor.h"
#include "testing/test_util.h"

namespace pulse::candidates {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

constexpr int64_t kT0 = 20000 * nearline::kDayMs;

Event Ev(std::string user, std::string item, int64_t ts, EventType type = EventType::kView) {
  Event e;
  e.user_id = std::move(user);
  e.item_id = std::move(item);
  e.type = type;
  e.ts_ms = ts;
  return e;
}

class NearlineSourcesTest : public ::testing::Test {
 protected:
  NearlineSourcesTest() : processor_({}, nullptr) {
    // The model knows a..e; "ghost" exists only in the event stream.
    for (const char* id : {"a", "b", "c", "d", "e"}) model_.items.Intern(id);
    context_.model = &model_;
    context_.features = &processor_;
  }

  DenseId Dense(std::string_view id) { return *model_.items.Find(id); }
  void Apply(std::vector<Event> events) {
    int64_t now = 0;
    for (const auto& e : events) now = std::max(now, e.ts_ms);
    processor_.Apply(events, now);
  }

  rollout::ModelBundle model_;
  nearline::FeatureProcessor processor_;
  RecommendContext context_;
};

TEST_F(NearlineSourcesTest, RegisteredByName) {
  auto trending = MakeCandidateSource("trending");
  ASSERT_THAT(trending.status(), testing::IsOk());
  EXPECT_EQ((*trending)->name(), "trending");
  auto covisit = MakeCandidateSource("covisit");
  ASSERT_THAT(covisit.status(), testing::IsOk());
  EXPECT_EQ((*covisit)->name(), "covisit");
}

TEST_F(NearlineSourcesTest, NothingWithoutFeatures) {
  Apply({Ev("u", "a", kT0), Ev("u", "b", kT0 + 1)});
  context_.features = nullptr;
  context_.recent_items = {Dense("a")};
  std::vector<Candidate> out;
  ASSERT_THAT(TrendingCandidateSource().Fetch(context_, 10, 0, &out), testing::IsOk());
  ASSERT_THAT(CovisitCandidateSource().Fetch(context_, 10, 0, &out), testing::IsOk());
  EXPECT_THAT(out, IsEmpty());
}

TEST_F(NearlineSourcesTest, TrendingFollowsVelocityAndSkipsItemsUnknownToTheModel) {
  std::vector<Event> events;
  int user = 0;
  auto burst = [&](const std::string& item, int n) {
    for (int i = 0; i < n; ++i) events.push_back(Ev(StrCat("u", user++), item, kT0 + i));
  };
  burst("ghost", 50);
  burst("c", 30);
  burst("a", 10);
  burst("e", 2);
  Apply(events);
  std::vector<Candidate> out;
  ASSERT_THAT(TrendingCandidateSource().Fetch(context_, 10, 3, &out), testing::IsOk());
  EXPECT_THAT(out,
              ElementsAre(Field(&Candidate::item, Dense("c")), Field(&Candidate::item, Dense("a")),
                          Field(&Candidate::item, Dense("e"))));
  for (const Candidate& c : out) {
    EXPECT_EQ(c.source, 3);
    EXPECT_EQ(c.explanation, "trending_now");
    EXPECT_GT(c.retrieval_score, 0);
  }
  EXPECT_GT(out[0].retrieval_score, out[1].retrieval_score);
  out.clear();
  ASSERT_THAT(TrendingCandidateSource().Fetch(context_, 1, 0, &out), testing::IsOk());
  EXPECT_THAT(out, ElementsAre(Field(&Candidate::item, Dense("c"))));
}

TEST_F(NearlineSourcesTest, CovisitReturnsNeighboursOfRecentItemsNewestSeedWeighsMost) {
  std::vector<Event> events;
  int64_t ts = kT0;
  int user = 0;
  auto pair = [&](const std::string& x, const std::string& y) {
    std::string u = StrCat("u", user++);
    events.push_back(Ev(u, x, ts++));
    events.push_back(Ev(u, y, ts++));
  };
  pair("a", "b");  // a-b once
  pair("d", "c");  // d-c three times
  pair("d", "c");
  pair("d", "c");
  pair("a", "ghost");  // unknown to the model: skipped
  pair("a", "ghost");
  pair("a", "ghost");
  Apply(events);
  // Recent items newest first: a, then d. Scores: b = 1 (via a, seed weight 1); c = 3 * 1/2 = 1.5
  // (via d, seed weight 1/2).
  context_.recent_items = {Dense("a"), Dense("d")};
  std::vector<Candidate> out;
  ASSERT_THAT(CovisitCandidateSource().Fetch(context_, 10, 2, &out), testing::IsOk());
  ASSERT_THAT(
      out, ElementsAre(Field(&Candidate::item, Dense("c")), Field(&Candidate::item, Dense("b"))));
  for (const Candidate& c : out) {
    EXPECT_EQ(c.source, 2);
    EXPECT_EQ(c.explanation, "co_engaged_with_recent");
  }
  EXPECT_NEAR(out[0].retrieval_score, 1.5, 1e-3);
  EXPECT_NEAR(out[1].retrieval_score, 1.0, 1e-3);
  out.clear();
  context_.recent_items = {Dense("d")};
  ASSERT_THAT(CovisitCandidateSource().Fetch(context_, 10, 0, &out), testing::IsOk());
  ASSERT_THAT(out, ElementsAre(Field(&Candidate::item, Dense("c"))));
  EXPECT_NEAR(out[0].retrieval_score, 3.0, 1e-3);
  out.clear();
  context_.recent_items = {Dense("e")};  // no co-visitation yet
  ASSERT_THAT(CovisitCandidateSource().Fetch(context_, 10, 0, &out), testing::IsOk());
  EXPECT_THAT(out, IsEmpty());
}

// With a model generation set, the sources map ids through the processor's per-snapshot cache:
// the answers must be those of the uncached path, request after request, and after a swap to a
// model that numbers the items differently (and knows "ghost").
TEST_F(NearlineSourcesTest, CachedIdMappingAnswersAsTheDictionaryAcrossModelSwaps) {
  std::vector<Event> events;
  int64_t ts = kT0;
  int user = 0;
  auto pair = [&](const std::string& x, const std::string& y, int times) {
    for (int i = 0; i < times; ++i) {
      std::string u = StrCat("u", user++);
      events.push_back(Ev(u, x, ts++));
      events.push_back(Ev(u, y, ts++));
    }
  };
  pair("a", "b", 1);
  pair("d", "c", 3);
  pair("a", "ghost", 3);
  pair("e", "c", 2);
  Apply(events);
  rollout::ModelBundle swapped;  // other numbering, and it knows ghost
  for (const char* id : {"ghost", "e", "d", "c", "b", "a"}) swapped.items.Intern(id);

  auto run = [&](const rollout::ModelBundle& model, uint32_t generation) {
    RecommendContext context;
    context.model = &model;
    context.features = &processor_;
    context.model_generation = generation;
    for (const char* id : {"a", "d", "e"}) context.recent_items.push_back(*model.items.Find(id));
    std::vector<Candidate> out;
    EXPECT_THAT(CovisitCandidateSource().Fetch(context, 10, 0, &out), testing::IsOk());
    EXPECT_THAT(TrendingCandidateSource().Fetch(context, 10, 1, &out), testing::IsOk());
    std::vector<std::pair<std::string, float>> named;
    for (const Candidate& c : out) named.emplace_back(model.items.Name(c.item), c.retrieval_score);
    return named;
  };
  const auto expected = run(model_, 0);
  const auto expected_swapped = run(swapped, 0);
  ASSERT_FALSE(expected.empty());
  // The swapped model knows ghost: it appears there and not in the first model's answer.
  auto has_ghost = [](const auto& named) {
    return std::any_of(named.begin(), named.end(),
                       [](const auto& p) { return p.first == "ghost"; });
  };
  EXPECT_FALSE(has_ghost(expected));
  EXPECT_TRUE(has_ghost(expected_swapped));
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(run(model_, 1), expected);
    EXPECT_EQ(run(swapped, 2), expected_swapped);
  }
}

// Covisit against a reference written the obvious way (string neighbours, dictionary lookups,
// per-item sums in seed order, then score order with ties by item), on random co-visitation.
// `events_per_ms` > 1 puts events on one timestamp, so many weights and sums tie exactly.
// Returns how many adjacent results tied on score (a tie test that saw none proves nothing).
// `items` and `max_k` large make the per-item sum table grow (rehash) within one request.
int ExpectCovisitEqualsTheReference(int events_per_ms, uint64_t rng_seed, int items = 60,
                                    int max_k = 40, int event_count = 4000) {
  int ties = 0;
  rollout::ModelBundle model;
  for (int i = 0; i < items; i += 1) {
    if (i % 7 != 3) model.items.Intern(StrCat("r", i));  // some items unknown to the model
  }
  nearline::FeatureProcessor processor({}, nullptr);
  std::mt19937_64 rng(rng_seed);
  std::vector<Event> events;
  for (int e = 0; e < event_count; ++e) {
    events.push_back(Ev(StrCat("u", rng() % 30), StrCat("r", static_cast<int>(rng() % items)),
                        kT0 + e / events_per_ms));
  }
  processor.Apply(events, kT0 + event_count);
  for (int round = 0; round < 50; ++round) {
    RecommendContext context;
    context.model = &model;
    context.features = &processor;
    context.model_generation = 1 + round % 2;  // generation 2 is the same dictionary: still exact
    for (size_t i = 0, n = 1 + rng() % 12; i < n; ++i) {
      context.recent_items.push_back(static_cast<DenseId>(rng() % model.items.size()));
    }
    const int k = 1 + static_cast<int>(rng() % static_cast<uint64_t>(max_k));
    // Fetch appends: a candidate already there stays first and unchanged.
    Candidate sentinel;
    sentinel.item = 12345;
    sentinel.source = 7;
    sentinel.score = 0.5f;
    std::vector<Candidate> out = {sentinel};
    EXPECT_THAT(CovisitCandidateSource().Fetch(context, k, 0, &out), testing::IsOk());
    EXPECT_EQ(out.front().item, 12345u);
    EXPECT_EQ(out.front().source, 7);
    EXPECT_EQ(out.front().score, 0.5f);
    out.erase(out.begin());

    const size_t want = static_cast<size_t>(WithSeenHeadroom(k, context));
    std::map<DenseId, double> sums;  // per item, summed in seed order
    for (size_t rank = 0; rank < std::min<size_t>(context.recent_items.size(), 10); ++rank) {
      const DenseId seed = context.recent_items[rank];
      for (const nearline::Neighbor& n : processor.Neighbors(model.items.Name(seed), want)) {
        std::optional<DenseId> dense = model.items.Find(n.item_id);
        if (!dense || *dense == seed) continue;
        sums[*dense] += n.weight * (1.0 / static_cast<double>(1 + rank));
      }
    }
    std::vector<std::pair<DenseId, double>> expected(sums.begin(), sums.end());
    std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    expected.resize(std::min(expected.size(), want));
    EXPECT_EQ(out.size(), expected.size()) << "round " << round;
    if (out.size() != expected.size()) return ties;
    for (size_t i = 0; i < out.size(); ++i) {
      if (i > 0 && expected[i].second == expected[i - 1].second) ++ties;
      EXPECT_EQ(out[i].item, expected[i].first) << "round " << round << " rank " << i;
      EXPECT_EQ(out[i].retrieval_score, static_cast<float>(expected[i].second));
      EXPECT_EQ(out[i].source, 0);
      EXPECT_EQ(out[i].explanation, kExplainCoEngagedWithRecent);
      EXPECT_EQ(out[i].score, 0.0f);  // not the source's to fill
    }
  }
  return ties;
}

TEST_F(NearlineSourcesTest, CovisitEqualsTheReferenceOnRandomCoVisitation) {
  ExpectCovisitEqualsTheReference(1, 5);
}

TEST_F(NearlineSourcesTest, CovisitEqualsTheReferenceWithTiedWeights) {
  int ties = 0;
  for (uint64_t seed : {6, 7, 8}) ties += ExpectCovisitEqualsTheReference(1000, seed);
  EXPECT_GT(ties, 0);
}

TEST_F(NearlineSourcesTest, CovisitEqualsTheReferenceWithHundredsOfSummedItems) {
  ExpectCovisitEqualsTheReference(1, 9, /*items=*/2000, /*max_k=*/1000, /*event_count=*/60000);
  ExpectCovisitEqualsTheReference(1000, 10, /*items=*/2000, /*max_k=*/1000,
                                  /*event_count=*/60000);
}

TEST_F(NearlineSourcesTest, CovisitStopsAtItsDeadline) {
  std::vector<Event> events = {Ev("u0", "a", kT0), Ev("u0", "b", kT0 + 1)};
  Apply(events);
  context_.recent_items = {Dense("a")};
  std::vector<Candidate> out;
  context_.source_deadline_us = SteadyNowMicros() - 1;  // its budget is already spent
  EXPECT_THAT(CovisitCandidateSource().Fetch(context_, 10, 0, &out),
              testing::StatusIs(StatusCode::kDeadlineExceeded));
  EXPECT_THAT(out, IsEmpty());
  context_.source_deadline_us = SteadyNowMicros() + 60'000'000;
  ASSERT_THAT(CovisitCandidateSource().Fetch(context_, 10, 0, &out), testing::IsOk());
  EXPECT_THAT(out, ElementsAre(Field(&Candidate::item, Dense("b"))));
}

}  // namespace
}  // namespace pulse::candidates
