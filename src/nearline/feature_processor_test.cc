#include "nearline/feature_processor.h"

#include <limits>
#include <map>
#include <random>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::nearline {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::SizeIs;

// Day-aligned, so minute and hour bucket boundaries fall on round offsets from it.
constexpr int64_t kT0 = 20000 * kDayMs;

Event Ev(std::string user, std::string item, EventType type, int64_t ts, std::string id = "") {
  Event e;
  e.event_id = std::move(id);
  e.user_id = std::move(user);
  e.item_id = std::move(item);
  e.type = type;
  e.ts_ms = ts;
  return e;
}

ApplyStats ApplyAt(FeatureProcessor& p, std::vector<Event> events, int64_t now = -1) {
  int64_t latest = 0;
  for (const auto& e : events) latest = std::max(latest, e.ts_ms);
  return p.Apply(events, now < 0 ? latest : now);
}

int64_t Views(const UserFeatures& f, int window) {
  return f.counts[window][static_cast<int>(EventType::kView)];
}

TEST(SparseRingTest, BucketBoundariesAreExact) {
  SparseRing<1, kMinuteMs, 60> ring;
  ring.Add(kT0, 0, 1, kT0);                                  // first ms of a bucket
  ring.Add(kT0 + kMinuteMs - 1, 0, 1, kT0 + kMinuteMs - 1);  // last ms of the same bucket
  EXPECT_EQ(ring.Sum(kT0 + 60 * kMinuteMs - 1, 60, 0), 2);
  // Both expire together when the bucket leaves the ring: the first after exactly 60 minutes,
  // the second after 59 min 0.001 s (the documented one-bucket error).
  EXPECT_EQ(ring.Sum(kT0 + 60 * kMinuteMs, 60, 0), 0);
  EXPECT_EQ(ring.Sum(kT0 + 5 * kMinuteMs - 1, 5, 0), 2);
  EXPECT_EQ(ring.Sum(kT0 + 5 * kMinuteMs, 5, 0), 0);
  EXPECT_FALSE(ring.Empty(kT0 + 60 * kMinuteMs - 1));
  EXPECT_TRUE(ring.Empty(kT0 + 60 * kMinuteMs));
}

TEST(SparseRingTest, OutOfOrderInsertKeepsBucketsSortedAndDropsExpired) {
  SparseRing<2, kMinuteMs, 3> ring;
  ring.Add(kT0 + 2 * kMinuteMs, 0, 1, kT0 + 2 * kMinuteMs);
  ring.Add(kT0, 1, 1, kT0 + 2 * kMinuteMs);  // late, still inside
  ring.Add(kT0 + kMinuteMs, 0, 3, kT0 + 2 * kMinuteMs);
  ASSERT_THAT(ring.buckets(), SizeIs(3));
  EXPECT_LT(ring.buckets()[0].index, ring.buckets()[1].index);
  EXPECT_LT(ring.buckets()[1].index, ring.buckets()[2].index);
  EXPECT_EQ(ring.Sum(kT0 + 2 * kMinuteMs, 3, 0), 4);
  EXPECT_EQ(ring.Sum(kT0 + 2 * kMinuteMs, 3, 1), 1);
  ring.Add(kT0 - kMinuteMs, 0, 1, kT0 + 2 * kMinuteMs);  // outside the ring: ignored
  EXPECT_EQ(ring.Sum(kT0 + 2 * kMinuteMs, 3, 0), 4);
  ring.Add(kT0 + 3 * kMinuteMs, 0, 1, kT0 + 3 * kMinuteMs);  // slides: oldest bucket dropped
  EXPECT_THAT(ring.buckets(), SizeIs(3));
  EXPECT_EQ(ring.Sum(kT0 + 3 * kMinuteMs, 3, 1), 0);
}

TEST(FeatureProcessorTest, UserWindowsExpireExactlyAtBucketBoundaries) {
  FeatureProcessor p({}, nullptr);
  ApplyAt(p, {Ev("u", "a", EventType::kView, kT0)});
  p.AdvanceTo(kT0 + kHourMs - 1);
  EXPECT_EQ(Views(*p.User("u"), kUser1h), 1);
  p.AdvanceTo(kT0 + kHourMs);
  EXPECT_EQ(Views(*p.User("u"), kUser1h), 0);
  EXPECT_EQ(Views(*p.User("u"), kUser24h), 1);
  p.AdvanceTo(kT0 + kDayMs - 1);
  EXPECT_EQ(Views(*p.User("u"), kUser24h), 1);
  p.AdvanceTo(kT0 + kDayMs);
  EXPECT_EQ(Views(*p.User("u"), kUser24h), 0);
  EXPECT_EQ(Views(*p.User("u"), kUser7d), 1);
  p.AdvanceTo(kT0 + 7 * kDayMs - 1);
  EXPECT_EQ(Views(*p.User("u"), kUser7d), 1);
  p.AdvanceTo(kT0 + 7 * kDayMs);
  EXPECT_EQ(Views(*p.User("u"), kUser7d), 0);
  EXPECT_EQ(p.User("u")->as_of_ms, kT0 + 7 * kDayMs);
}

TEST(FeatureProcessorTest, ItemWindowsExpireExactlyAtBucketBoundaries) {
  FeatureProcessor p({}, nullptr);
  ApplyAt(p, {Ev("u", "a", EventType::kClick, kT0), Ev("u", "a", EventType::kView, kT0)});
  auto item = *p.Item("a");
  EXPECT_EQ(item.clicks[kItem5m], 1);
  EXPECT_EQ(item.views[kItem5m], 1);
  EXPECT_EQ(item.engagements[kItem5m], 2);
  p.AdvanceTo(kT0 + 5 * kMinuteMs - 1);
  EXPECT_EQ(p.Item("a")->clicks[kItem5m], 1);
  p.AdvanceTo(kT0 + 5 * kMinuteMs);
  item = *p.Item("a");
  EXPECT_EQ(item.clicks[kItem5m], 0);
  EXPECT_EQ(item.clicks[kItem1h], 1);
  p.AdvanceTo(kT0 + kHourMs);
  EXPECT_EQ(p.Item("a")->clicks[kItem1h], 0);
  EXPECT_EQ(p.Item("a")->clicks[kItem24h], 1);
  p.AdvanceTo(kT0 + kDayMs);
  EXPECT_EQ(p.Item("a")->clicks[kItem24h], 0);
}

// Windows slide correctly over a long irregular sequence: every count equals the bucket rule
// evaluated by brute force over all events.
TEST(FeatureProcessorTest, SlidingCountsMatchBruteForce) {
  FeatureProcessor p({}, nullptr);
  std::mt19937_64 rng(7);
  std::vector<int64_t> stamps;
  int64_t ts = kT0;
  for (int i = 0; i < 3000; ++i) {
    ts += static_cast<int64_t>(rng() % (9 * kMinuteMs));
    stamps.push_back(ts);
    ApplyAt(p, {Ev("u", StrCat("item", i % 5), EventType::kView, ts)});
    if (i % 97 != 0) continue;
    auto brute = [&](int64_t width, int64_t buckets) {
      int64_t current = FloorDiv(ts, width), n = 0;
      for (int64_t s : stamps) n += FloorDiv(s, width) > current - buckets ? 1 : 0;
      return n;
    };
    auto user = *p.User("u");
    ASSERT_EQ(Views(user, kUser1h), brute(kMinuteMs, 60)) << i;
    ASSERT_EQ(Views(user, kUser24h), brute(kHourMs, 24)) << i;
    ASSERT_EQ(Views(user, kUser7d), brute(kHourMs, 168)) << i;
  }
}

TEST(FeatureProcessorTest, LateEventsWithinLatenessApplyOlderOnesAreDropped) {
  ProcessorOptions options;
  options.allowed_lateness_ms = 60'000;
  FeatureProcessor p(options, nullptr);
  ApplyAt(p, {Ev("u", "a", EventType::kView, kT0 + 120'000)});
  EXPECT_EQ(p.watermark(), kT0 + 60'000);
  ApplyStats stats =
      p.Apply(std::vector<Event>{Ev("u", "a", EventType::kView, kT0 + 60'000),   // at the watermark
                                 Ev("u", "a", EventType::kView, kT0 + 59'999)},  // just behind it
              kT0 + 200'000);
  EXPECT_EQ(stats.applied, 1);
  EXPECT_EQ(stats.late_applied, 1);
  EXPECT_EQ(stats.too_late, 1);
  EXPECT_THAT(stats.freshness_seconds, ElementsAre(140.0));
  EXPECT_EQ(Views(*p.User("u"), kUser1h), 2);
  EXPECT_EQ(p.counters().too_late, 1);
  EXPECT_EQ(p.counters().applied, 2);
  EXPECT_EQ(p.max_event_ts(), kT0 + 120'000);
}

TEST(FeatureProcessorTest, FarFutureAndInvalidEventsAreCountedAndSkipped) {
  FeatureProcessor p({}, nullptr);
  ApplyStats stats = p.Apply(
      std::vector<Event>{Ev("u", "a", EventType::kView, kT0 + kDayMs),
                         Ev("", "a", EventType::kView, kT0), Ev("u", "", EventType::kView, kT0),
                         Ev("u", "a", EventType::kView, kT0),
                         Ev("u", "a", EventType::kView, std::numeric_limits<int64_t>::min()),
                         Ev("u", "a", EventType::kView, std::numeric_limits<int64_t>::max())},
      kT0);
  EXPECT_EQ(stats.too_future, 1);
  EXPECT_EQ(stats.invalid, 4);  // empty ids and timestamps no clock could hold
  EXPECT_EQ(stats.applied, 1);
  EXPECT_EQ(p.max_event_ts(), kT0);  // the future event did not drag the clock
}

TEST(FeatureProcessorTest, DuplicateEventIdsAreSkippedWithinTheRecentIdWindow) {
  ProcessorOptions options;
  options.dedup_capacity = 3;
  FeatureProcessor p(options, nullptr);
  ApplyStats stats = ApplyAt(
      p, {Ev("u", "a", EventType::kClick, kT0, "e1"), Ev("u", "a", EventType::kClick, kT0, "e1")});
  EXPECT_EQ(stats.applied, 1);
  EXPECT_EQ(stats.duplicates, 1);
  stats = ApplyAt(p, {Ev("u", "a", EventType::kClick, kT0, "e1")});  // a retried batch
  EXPECT_EQ(stats.duplicates, 1);
  EXPECT_EQ(p.Item("a")->clicks[kItem5m], 1);
  // Events without an id are never deduplicated.
  ApplyAt(p, {Ev("u", "a", EventType::kClick, kT0), Ev("u", "a", EventType::kClick, kT0)});
  EXPECT_EQ(p.Item("a")->clicks[kItem5m], 3);
  // The window is the last `dedup_capacity` ids: after three newer ids e1 is forgotten.
  ApplyAt(p, {Ev("u", "b", EventType::kView, kT0, "e2"), Ev("u", "b", EventType::kView, kT0, "e3"),
              Ev("u", "b", EventType::kView, kT0, "e4")});
  EXPECT_EQ(ApplyAt(p, {Ev("u", "a", EventType::kClick, kT0, "e1")}).applied, 1);
}

TEST(FeatureProcessorTest, CtrAndCategoryCounts) {
  std::map<std::string, std::string, std::less<>> catalog = {
      {"a", "news"}, {"b", "sport"}, {"c", "music"}};
  ProcessorOptions options;
  options.max_categories_per_user = 2;
  FeatureProcessor p(options, [&](std::string_view item) -> std::string_view {
    auto it = catalog.find(item);
    return it == catalog.end() ? std::string_view() : std::string_view(it->second);
  });
  ApplyAt(p, {Ev("u", "a", EventType::kImpression, kT0), Ev("u", "a", EventType::kImpression, kT0),
              Ev("u", "b", EventType::kImpression, kT0), Ev("u", "b", EventType::kImpression, kT0),
              Ev("u", "a", EventType::kClick, kT0 + 1), Ev("u", "a", EventType::kView, kT0 + 2),
              Ev("u", "b", EventType::kView, kT0 + 3), Ev("u", "zzz", EventType::kView, kT0 + 4)});
  auto user = *p.User("u");
  EXPECT_EQ(user.impressions_24h, 4);
  EXPECT_EQ(user.clicks_24h, 1);
  EXPECT_DOUBLE_EQ(user.ctr_24h, 0.25);
  ASSERT_THAT(user.categories, SizeIs(2));
  EXPECT_EQ(user.categories[0].category, "sport");  // most recent first
  EXPECT_EQ(user.categories[0].engagements[kUser1h], 1);
  EXPECT_EQ(user.categories[1].category, "news");
  EXPECT_EQ(user.categories[1].engagements[kUser7d], 2);  // impressions are not engagement
  // A third category replaces the least recently engaged one (news).
  ApplyAt(p, {Ev("u", "c", EventType::kView, kT0 + 5)});
  user = *p.User("u");
  ASSERT_THAT(user.categories, SizeIs(2));
  EXPECT_EQ(user.categories[0].category, "music");
  EXPECT_EQ(user.categories[1].category, "sport");
}

TEST(FeatureProcessorTest, RecentItemsNewestFirstDedupedAndCapped) {
  ProcessorOptions options;
  options.recent_items_per_user = 3;
  FeatureProcessor p(options, nullptr);
  ApplyAt(p,
          {Ev("u", "a", EventType::kView, kT0), Ev("u", "b", EventType::kView, kT0 + 1),
           Ev("u", "a", EventType::kView, kT0 + 2), Ev("u", "c", EventType::kView, kT0 + 3),
           Ev("u", "d", EventType::kImpression, kT0 + 4), Ev("u", "e", EventType::kView, kT0 + 5)});
  EXPECT_THAT(p.User("u")->recent, ElementsAre(Field(&RecentEngagement::item_id, "e"),
                                               Field(&RecentEngagement::item_id, "c"),
                                               Field(&RecentEngagement::item_id, "a")));
}

TEST(FeatureProcessorTest, CovisitationPairsConsecutiveEngagementsWithinSessionGap) {
  FeatureProcessor p({}, nullptr);
  ApplyAt(p, {Ev("u", "a", EventType::kView, kT0), Ev("u", "b", EventType::kClick, kT0 + 1000),
              // Beyond the 30-minute session gap: no pair b-c.
              Ev("u", "c", EventType::kView, kT0 + 1000 + 30 * kMinuteMs + 1),
              // Impressions are not engagements.
              Ev("u", "d", EventType::kImpression, kT0 + 31 * kMinuteMs + 2000),
              Ev("v", "a", EventType::kView, kT0 + 31 * kMinuteMs + 3000),
              Ev("v", "b", EventType::kView, kT0 + 31 * kMinuteMs + 4000)});
  auto a = p.Neighbors("a", 10);
  ASSERT_THAT(a, SizeIs(1));
  EXPECT_EQ(a[0].item_id, "b");
  EXPECT_NEAR(a[0].weight, 2.0, 1e-2);  // two users, the first pair decayed by 31 minutes
  EXPECT_THAT(p.Neighbors("b", 10), ElementsAre(Field(&Neighbor::item_id, "a")));
  EXPECT_THAT(p.Neighbors("c", 10), SizeIs(0));
  EXPECT_THAT(p.Neighbors("d", 10), SizeIs(0));
  EXPECT_THAT(p.Neighbors("unknown", 10), SizeIs(0));
}

TEST(FeatureProcessorTest, CovisitationKeepsBoundedTopNeighbours) {
  ProcessorOptions options;
  options.max_neighbors = 3;
  FeatureProcessor p(options, nullptr);
  std::vector<Event> events;
  int64_t ts = kT0;
  int user = 0;
  auto pair = [&](const std::string& x, const std::string& y) {
    std::string u = StrCat("u", user++);
    events.push_back(Ev(u, x, EventType::kView, ts++));
    events.push_back(Ev(u, y, EventType::kView, ts++));
  };
  for (int i = 0; i < 5; ++i) pair("hub", "heavy");
  for (int i = 0; i < 20; ++i) pair("hub", StrCat("n", i));
  for (int i = 0; i < 5; ++i) pair("hub", "heavy");
  ApplyAt(p, events);
  auto neighbors = p.Neighbors("hub", 100);
  ASSERT_THAT(neighbors, SizeIs(3));
  EXPECT_EQ(neighbors[0].item_id, "heavy");
  EXPECT_GE(neighbors[0].weight, 9.9);
  EXPECT_THAT(p.Neighbors("hub", 1), SizeIs(1));
}

// ResolvedNeighbors must equal Neighbors with each id looked up in the dictionary: same order,
// same weights, unknown ids kept in place — with the cache cold, warm, after space-saving hands
// a counter to another item, and under another dictionary (a model swap).
TEST(FeatureProcessorTest, ResolvedNeighborsEqualNeighborsMappedThroughTheDictionary) {
  ProcessorOptions options;
  options.max_neighbors = 4;  // small: counters change hands often
  FeatureProcessor p(options, nullptr);
  IdDictionary model_a, model_b;
  for (int i = 0; i < 30; i += 2) model_a.Intern(StrCat("i", i));  // even ids only
  for (int i = 29; i >= 0; --i) model_b.Intern(StrCat("i", i));    // all, other numbering
  std::mt19937_64 rng(7);
  int64_t ts = kT0;
  auto check = [&](const IdDictionary& dict, uint32_t generation) {
    const ItemIdResolver resolver{&dict, generation};
    std::vector<ResolvedNeighbor> resolved;
    int compared = 0;
    for (int i = 0; i < 30; ++i) {
      const std::string id = StrCat("i", i);
      for (size_t k : {size_t{2}, size_t{10}}) {
        std::vector<Neighbor> expected = p.Neighbors(id, k);
        p.ResolvedNeighbors(id, k, resolver, &resolved);
        ASSERT_EQ(resolved.size(), expected.size()) << id;
        for (size_t j = 0; j < expected.size(); ++j) {
          EXPECT_EQ(resolved[j].item, dict.Find(expected[j].item_id).value_or(kUnresolvedItem))
              << id << " " << j;
          EXPECT_EQ(resolved[j].weight, expected[j].weight) << id << " " << j;
          ++compared;
        }
      }
    }
    EXPECT_GT(compared, 100);
  };
  for (int round = 0; round < 6; ++round) {
    std::vector<Event> events;
    for (int e = 0; e < 300; ++e) {
      std::string u = StrCat("u", rng() % 20);
      events.push_back(Ev(u, StrCat("i", rng() % 30), EventType::kClick, ts++));
    }
    ApplyAt(p, events);
    check(model_a, 1);  // cold, then warm
    check(model_a, 1);
    check(model_b, 2);  // a swap: every cached id is of the other model
    check(model_a, 0);  // no caching
    check(model_a, 1);  // back (two snapshots serve at once during a swap)
  }
  // Unknown items have no neighbours.
  std::vector<ResolvedNeighbor> resolved = {{1, 1.0}};
  p.ResolvedNeighbors("unknown", 10, {&model_a, 1}, &resolved);
  EXPECT_TRUE(resolved.empty());
}

TEST(FeatureProcessorTest, TrendingItemsCacheTheirDenseIdPerGeneration) {
  IdDictionary model_a, model_b;
  model_a.Intern("x");
  model_a.Intern("y");
  model_b.Intern("y");
  TrendingItem item{"y", 1.0, 1};
  EXPECT_EQ(item.dense.Resolve(item.item_id, {&model_a, 1}), std::optional<DenseId>(1));
  EXPECT_EQ(item.dense.Resolve(item.item_id, {&model_a, 1}), std::optional<DenseId>(1));
  EXPECT_EQ(item.dense.Resolve(item.item_id, {&model_b, 2}), std::optional<DenseId>(0));
  TrendingItem copy = item;  // copies carry the cached word
  EXPECT_EQ(copy.dense.Resolve(copy.item_id, {&model_b, 2}), std::optional<DenseId>(0));
  TrendingItem ghost{"ghost", 1.0, 1};
  EXPECT_EQ(ghost.dense.Resolve(ghost.item_id, {&model_a, 1}), std::nullopt);
  EXPECT_EQ(ghost.dense.Resolve(ghost.item_id, {&model_a, 1}), std::nullopt);
  model_a.Intern("ghost");  // generation 0 never caches: a mutable dictionary is seen as it is
  EXPECT_EQ(ghost.dense.Resolve(ghost.item_id, {&model_a, 0}), std::optional<DenseId>(2));
}

TEST(FeatureProcessorTest, BurstItemOvertakesSteadyItemInTrending) {
  FeatureProcessor p({}, nullptr);
  std::vector<Event> events;
  int user = 0;
  // steady: 10 engagements per hour for 24 hours.
  for (int h = 0; h < 24; ++h) {
    for (int i = 0; i < 10; ++i) {
      events.push_back(Ev(StrCat("u", user++), "steady", EventType::kView,
                          kT0 + h * kHourMs + i * 6 * kMinuteMs));
    }
  }
  ApplyAt(p, events);
  ASSERT_THAT(*p.Trending(), SizeIs(1));
  EXPECT_EQ((*p.Trending())[0].item_id, "steady");
  double steady_velocity = (*p.Trending())[0].velocity;
  EXPECT_NEAR(steady_velocity, 10.0 / (10.0 + 5.0), 1e-9);
  // burst: 40 engagements over the next 20 minutes, nothing before.
  events.clear();
  for (int i = 0; i < 40; ++i) {
    events.push_back(
        Ev(StrCat("b", i), "burst", EventType::kClick, kT0 + 24 * kHourMs + i * 30'000));
  }
  ApplyAt(p, events);
  auto trending = p.Trending();
  ASSERT_THAT(*trending, SizeIs(2));
  EXPECT_EQ((*trending)[0].item_id, "burst");
  EXPECT_EQ((*trending)[0].engagements_1h, 40);
  EXPECT_EQ((*trending)[1].item_id, "steady");
  EXPECT_DOUBLE_EQ(p.Item("burst")->trending_velocity, (*trending)[0].velocity);
  // Once the burst slides out of the short window, it falls off the trending list.
  p.AdvanceTo(kT0 + 26 * kHourMs);
  trending = p.Trending();
  for (const auto& t : *trending) EXPECT_NE(t.item_id, "burst");
}

std::vector<Event> Generate(int n, uint64_t seed, int64_t start) {
  std::mt19937_64 rng(seed);
  std::vector<Event> events;
  int64_t ts = start;
  for (int i = 0; i < n; ++i) {
    ts += static_cast<int64_t>(rng() % 20'000);
    // Some out-of-order events (within and beyond the default lateness).
    int64_t jitter = (i % 13 == 0) ? static_cast<int64_t>(rng() % 90'000) : 0;
    events.push_back(Ev(StrCat("u", rng() % 50), StrCat("i", rng() % 40),
                        static_cast<EventType>(rng() % kNumEventTypes), ts - jitter,
                        StrCat("e", i)));
  }
  return events;
}

void ExpectSameState(const FeatureProcessor& a, const FeatureProcessor& b) {
  EXPECT_EQ(a.max_event_ts(), b.max_event_ts());
  ASSERT_EQ(a.num_users(), b.num_users());
  ASSERT_EQ(a.num_items(), b.num_items());
  for (int u = 0; u < 50; ++u) {
    auto fa = a.User(StrCat("u", u));
    auto fb = b.User(StrCat("u", u));
    ASSERT_EQ(fa.has_value(), fb.has_value());
    if (!fa) continue;
    EXPECT_EQ(fa->counts, fb->counts);
    EXPECT_EQ(fa->ctr_24h, fb->ctr_24h);
    ASSERT_EQ(fa->recent.size(), fb->recent.size());
    for (size_t i = 0; i < fa->recent.size(); ++i) {
      EXPECT_EQ(fa->recent[i].item_id, fb->recent[i].item_id);
    }
  }
  for (int i = 0; i < 40; ++i) {
    std::string id = StrCat("i", i);
    auto fa = a.Item(id);
    auto fb = b.Item(id);
    ASSERT_EQ(fa.has_value(), fb.has_value());
    if (!fa) continue;
    EXPECT_EQ(fa->views, fb->views);
    EXPECT_EQ(fa->clicks, fb->clicks);
    EXPECT_EQ(fa->trending_velocity, fb->trending_velocity);
    auto na = a.Neighbors(id, 100);
    auto nb = b.Neighbors(id, 100);
    ASSERT_EQ(na.size(), nb.size());
    for (size_t j = 0; j < na.size(); ++j) {
      EXPECT_EQ(na[j].item_id, nb[j].item_id);
      EXPECT_DOUBLE_EQ(na[j].weight, nb[j].weight);
    }
  }
  ASSERT_EQ(a.Trending()->size(), b.Trending()->size());
  for (size_t i = 0; i < a.Trending()->size(); ++i) {
    EXPECT_EQ((*a.Trending())[i].item_id, (*b.Trending())[i].item_id);
  }
  auto ca = a.counters(), cb = b.counters();
  EXPECT_EQ(ca.applied, cb.applied);
}

TEST(FeatureProcessorTest, SerializeRestoreContinuesIdentically) {
  ProcessorOptions options;
  options.max_neighbors = 4;  // exercise space-saving replacement across the checkpoint
  auto events = Generate(4000, 11, kT0);
  std::span<const Event> first(events.data(), 2000), second(events.data() + 2000, 2000);
  FeatureProcessor straight(options, nullptr);
  straight.Apply(first, kT0 + kDayMs * 30);
  auto restored_or = FeatureProcessor::Restore(straight.Serialize(), options, nullptr);
  ASSERT_THAT(restored_or.status(), testing::IsOk());
  FeatureProcessor& restored = **restored_or;
  ExpectSameState(straight, restored);
  // The owner replays from its stored log position, which may overlap what the checkpoint holds:
  // the overlap is recognised by event id and not counted twice.
  std::span<const Event> overlap(events.data() + 1900, 2100);
  ApplyStats stats = restored.Apply(overlap, kT0 + kDayMs * 30);
  EXPECT_GE(stats.duplicates, 1);
  straight.Apply(second, kT0 + kDayMs * 30);
  ExpectSameState(straight, restored);
}

TEST(FeatureProcessorTest, RestoreRejectsCorruptCheckpoints) {
  FeatureProcessor p({}, nullptr);
  auto events = Generate(200, 3, kT0);
  p.Apply(events, kT0 + kDayMs);
  std::string data = p.Serialize();
  for (size_t len = 0; len < data.size(); len += std::max<size_t>(1, len / 50)) {
    auto r = FeatureProcessor::Restore(std::string_view(data).substr(0, len), {}, nullptr);
    EXPECT_THAT(r.status(), testing::StatusIs(StatusCode::kDataLoss)) << len;
  }
  EXPECT_THAT(FeatureProcessor::Restore(data + "x", {}, nullptr).status(),
              testing::StatusIs(StatusCode::kDataLoss, "trailing"));
  std::string bad_version = data;
  bad_version[4] = 9;
  EXPECT_THAT(FeatureProcessor::Restore(bad_version, {}, nullptr).status(),
              testing::StatusIs(StatusCode::kFailedPrecondition));
  std::mt19937_64 rng(5);
  for (int i = 0; i < 300; ++i) {  // random byte flips: an error or a valid state, never a crash
    std::string mutated = data;
    mutated[8 + rng() % (mutated.size() - 8)] ^= static_cast<char>(1 + rng() % 255);
    auto r = FeatureProcessor::Restore(mutated, {}, nullptr);
    if (r.ok()) (*r)->Apply(events, kT0 + kDayMs);
  }
}

TEST(FeatureProcessorTest, MemoryIsBoundedByEntityCaps) {
  ProcessorOptions options;
  options.max_users = 128;
  options.max_items = 128;
  FeatureProcessor p(options, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 5000; ++i) {
    events.push_back(Ev(StrCat("u", i), StrCat("i", i), EventType::kView, kT0 + i));
  }
  p.Apply(events, kT0 + 5000);
  EXPECT_LE(p.num_users(), 128u);
  EXPECT_LE(p.num_items(), 128u);
  EXPECT_GT(p.counters().evicted_users, 0);
  // The newest entities survive eviction.
  EXPECT_TRUE(p.User("u4999").has_value());
  EXPECT_TRUE(p.Item("i4999").has_value());
}

TEST(FeatureProcessorTest, ConcurrentReadersDuringApply) {
  FeatureProcessor p({}, nullptr);
  auto events = Generate(20000, 17, kT0);
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  std::atomic<int64_t> reads{0};
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(static_cast<uint64_t>(r));
      while (!done.load(std::memory_order_acquire)) {
        auto user = p.User(StrCat("u", rng() % 50));
        auto item = p.Item(StrCat("i", rng() % 40));
        auto neighbors = p.Neighbors(StrCat("i", rng() % 40), 10);
        auto trending = p.Trending();
        if (user) {
          EXPECT_GE(user->counts[kUser7d][0], user->counts[kUser1h][0]);
        }
        if (item) {
          EXPECT_GE(item->views[kItem24h], 0);
        }
        EXPECT_LE(neighbors.size(), 10u);
        EXPECT_NE(trending, nullptr);
        p.counters();
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (size_t i = 0; i < events.size(); i += 100) {
    p.Apply(std::span<const Event>(events.data() + i, 100), kT0 + kDayMs * 30);
  }
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(p.counters().applied + p.counters().too_late, 20000);
}

}  // namespace
}  // namespace pulse::nearline
