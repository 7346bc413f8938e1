#include "store/data_dir.h"

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "testing/test_util.h"

namespace pulse::store {
namespace {

using ::pulse::testing::FakeClock;
using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::pulse::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Event Ev(std::string user, std::string item, int64_t ts, EventType type = EventType::kView,
         std::string event_id = "") {
  Event e;
  e.event_id = std::move(event_id);
  e.user_id = std::move(user);
  e.item_id = std::move(item);
  e.type = type;
  e.ts_ms = ts;
  return e;
}

Item It(std::string id, std::string category = "c") {
  Item item;
  item.item_id = std::move(id);
  item.title = StrCat("Title of ", item.item_id);
  item.category = std::move(category);
  item.tags = {"t1", "t2"};
  item.created_at_ms = 1700000000000;
  return item;
}

std::vector<std::string> RecentItems(const UserHistory& h) {
  std::vector<std::string> out;
  for (const auto& e : h.recent) out.push_back(e.item_id);
  return out;
}

class DataDirTest : public ::testing::Test {
 protected:
  std::unique_ptr<DataDir> OpenDir(int history_per_user = 1000) {
    StoreConfig config;
    config.history_per_user = history_per_user;
    auto dir = DataDir::Open(tmp_.Sub("data"), config, clock_);
    EXPECT_THAT(dir, IsOk());
    return dir.ok() ? std::move(dir).value() : nullptr;
  }

  std::vector<Event> AllEvents(const DataDir& dir) {
    std::vector<Event> out;
    EXPECT_THAT(dir.ForEachEvent([&](const Event& e) {
      out.push_back(e);
      return OkStatus();
    }),
                IsOk());
    return out;
  }

  TempDir tmp_;
  FakeClock clock_{1'767'000'000'000'000};
};

TEST_F(DataDirTest, CreatesLayout) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->path(), tmp_.Sub("data"));
  EXPECT_EQ(dir->models_dir(), tmp_.Sub("data") + "/models");
  EXPECT_TRUE(std::filesystem::is_directory(dir->models_dir()));
  EXPECT_TRUE(std::filesystem::is_directory(tmp_.Sub("data") + "/db"));
  EXPECT_EQ(dir->ItemCount(), 0u);
  EXPECT_EQ(dir->EventCount(), 0u);
  EXPECT_EQ(dir->UserCount(), 0u);
}

TEST_F(DataDirTest, ItemsCrud) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  ASSERT_THAT(dir->PutItems({It("i1"), It("i2"), It("i3")}), IsOk());
  EXPECT_EQ(dir->ItemCount(), 3u);
  auto got = dir->GetItem("i2");
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->title, "Title of i2");
  EXPECT_THAT((*got)->tags, ElementsAre("t1", "t2"));
  EXPECT_EQ((*got)->created_at_ms, 1700000000000);
  EXPECT_TRUE((*got)->available);

  Item replaced = It("i2", "other");
  replaced.available = false;
  replaced.tags.clear();
  ASSERT_THAT(dir->PutItems({replaced, It("i4"), It("i4")}), IsOk());
  EXPECT_EQ(dir->ItemCount(), 4u);
  got = dir->GetItem("i2");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->category, "other");
  EXPECT_FALSE((*got)->available);
  EXPECT_THAT((*got)->tags, IsEmpty());

  EXPECT_THAT(dir->DeleteItem("i1"), IsOk());
  EXPECT_THAT(dir->DeleteItem("i1"), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(dir->DeleteItem("never"), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(dir->ItemCount(), 3u);
  auto missing = dir->GetItem("i1");
  ASSERT_THAT(missing, IsOk());
  EXPECT_FALSE(missing->has_value());

  std::set<std::string> seen;
  ASSERT_THAT(dir->ForEachItem([&](const Item& item) {
    seen.insert(item.item_id);
    return OkStatus();
  }),
              IsOk());
  EXPECT_THAT(seen, ElementsAre("i2", "i3", "i4"));
  EXPECT_THAT(dir->PutItems({It("")}), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(DataDirTest, PersistsAcrossReopen) {
  {
    auto dir = OpenDir();
    ASSERT_NE(dir, nullptr);
    ASSERT_THAT(dir->PutItems({It("i1"), It("i2")}), IsOk());
    Event rated = Ev("u1", "i1", 100, EventType::kDwell, "e1");
    rated.dwell_ms = 2500;
    rated.request_id = "r1";
    rated.rating = 4.5f;
    ASSERT_THAT(dir->AppendEvents({rated, Ev("u2", "i2", 200)}, /*sync=*/true), IsOk());
    ASSERT_THAT(dir->AppendEvents({Ev("u1", "i2", 300)}, /*sync=*/false), IsOk());
    ASSERT_THAT(dir->Sync(), IsOk());
  }
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->ItemCount(), 2u);
  EXPECT_EQ(dir->EventCount(), 3u);
  EXPECT_EQ(dir->UserCount(), 2u);
  auto events = AllEvents(*dir);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event_id, "e1");
  EXPECT_EQ(events[0].type, EventType::kDwell);
  EXPECT_EQ(events[0].dwell_ms, 2500);
  EXPECT_EQ(events[0].request_id, "r1");
  EXPECT_FLOAT_EQ(events[0].rating, 4.5f);
  EXPECT_EQ(events[2].item_id, "i2");
  auto h = dir->GetUserHistory("u1");
  ASSERT_THAT(h, IsOk());
  EXPECT_THAT(RecentItems(*h), ElementsAre("i2", "i1"));
  EXPECT_EQ(h->events_total, 2u);
  EXPECT_EQ(h->updated_at_ms, clock_.NowMillis());

  // The sequence continues after reopen, and event ids stay known.
  auto r =
      dir->AppendEvents({Ev("u3", "i1", 400), Ev("u1", "i1", 500, EventType::kView, "e1")}, true);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->appended, 1u);
  EXPECT_EQ(r->duplicates, 1u);
  events = AllEvents(*dir);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3].user_id, "u3");
  EXPECT_EQ(dir->EventCount(), 4u);
}

// A history's version names its content: unchanged reads repeat it (and a read given it leaves
// the entries out), every change takes a new one, and a reopened dir never reuses one.
TEST_F(DataDirTest, HistoryVersionsNameTheirContent) {
  uint64_t before_reopen = 0;
  {
    auto dir = OpenDir();
    ASSERT_NE(dir, nullptr);
    ASSERT_THAT(dir->AppendEvents({Ev("u", "i1", 100, EventType::kClick)}, true), IsOk());
    auto first = dir->GetUserHistory("u");
    ASSERT_THAT(first, IsOk());
    EXPECT_NE(first->version, 0u);
    EXPECT_EQ(dir->GetUserHistory("u")->version, first->version);

    auto unchanged = dir->GetUserHistory("u", first->version);
    ASSERT_THAT(unchanged, IsOk());
    EXPECT_EQ(unchanged->version, first->version);
    EXPECT_THAT(unchanged->recent, IsEmpty());  // the caller holds it
    EXPECT_EQ(unchanged->events_total, 1u);
    EXPECT_EQ(unchanged->updated_at_ms, first->updated_at_ms);
    // Another version (or none) reads it whole.
    EXPECT_THAT(RecentItems(*dir->GetUserHistory("u", first->version + 1000)), ElementsAre("i1"));
    EXPECT_THAT(RecentItems(*dir->GetUserHistory("u", 0)), ElementsAre("i1"));

    ASSERT_THAT(dir->AppendEvents({Ev("u", "i2", 200, EventType::kClick)}, true), IsOk());
    auto changed = dir->GetUserHistory("u", first->version);
    ASSERT_THAT(changed, IsOk());
    EXPECT_NE(changed->version, first->version);
    EXPECT_THAT(RecentItems(*changed), ElementsAre("i2", "i1"));
    // An impression changes events_total only: still a change, still a new version.
    ASSERT_THAT(dir->AppendEvents({Ev("u", "i3", 300, EventType::kImpression)}, true), IsOk());
    auto impressed = dir->GetUserHistory("u", changed->version);
    ASSERT_THAT(impressed, IsOk());
    EXPECT_NE(impressed->version, changed->version);
    EXPECT_EQ(impressed->events_total, 3u);
    // Unknown users are versioned too (their empty history can become non-empty).
    EXPECT_NE(dir->GetUserHistory("nobody")->version, 0u);
    before_reopen = impressed->version;
  }
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  auto reread = dir->GetUserHistory("u", before_reopen);
  ASSERT_THAT(reread, IsOk());
  EXPECT_NE(reread->version, before_reopen);
  EXPECT_THAT(RecentItems(*reread), ElementsAre("i2", "i1"));
}

TEST_F(DataDirTest, AppendOrderIsPreserved) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  std::vector<Event> batch;
  // More than 255 events, so big-endian keys must order numerically, not by the low byte.
  for (int i = 0; i < 600; ++i) batch.push_back(Ev(StrCat("u", i % 7), "i", 1000 - i));
  ASSERT_THAT(dir->AppendEvents(batch, false), IsOk());
  ASSERT_THAT(dir->AppendEvents({Ev("last", "i", 1)}, false), IsOk());
  auto events = AllEvents(*dir);
  ASSERT_EQ(events.size(), 601u);
  for (int i = 0; i < 600; ++i) EXPECT_EQ(events[i].ts_ms, 1000 - i) << i;
  EXPECT_EQ(events[600].user_id, "last");
  EXPECT_EQ(dir->EventCount(), 601u);
}

TEST_F(DataDirTest, ForEachEventAfterStartsAfterASequence) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  std::vector<Event> batch;
  for (int i = 0; i < 300; ++i) batch.push_back(Ev("u", StrCat("i", i), 1000 + i));
  ASSERT_THAT(dir->AppendEvents(batch, false), IsOk());
  std::vector<uint64_t> seqs;
  ASSERT_THAT(dir->ForEachEventAfter(257,
                                     [&](uint64_t seq, const Event& e) {
                                       EXPECT_EQ(e.item_id, StrCat("i", seq - 1));
                                       seqs.push_back(seq);
                                       return OkStatus();
                                     }),
              IsOk());
  ASSERT_EQ(seqs.size(), 43u);
  EXPECT_EQ(seqs.front(), 258u);
  EXPECT_EQ(seqs.back(), dir->EventCount());
  int visited = 0;
  ASSERT_THAT(dir->ForEachEventAfter(300,
                                     [&](uint64_t, const Event&) {
                                       ++visited;
                                       return OkStatus();
                                     }),
              IsOk());
  ASSERT_THAT(dir->ForEachEventAfter(UINT64_MAX,
                                     [&](uint64_t, const Event&) {
                                       ++visited;
                                       return OkStatus();
                                     }),
              IsOk());
  EXPECT_EQ(visited, 0);
}

TEST_F(DataDirTest, BlobsPersistAndDoNotCollideWithLayout) {
  {
    auto dir = OpenDir();
    ASSERT_NE(dir, nullptr);
    auto missing = dir->GetBlob("nearline");
    ASSERT_THAT(missing, IsOk());
    EXPECT_FALSE(missing->has_value());
    ASSERT_THAT(dir->PutBlob("nearline", std::string("a\0b", 3)), IsOk());
    ASSERT_THAT(dir->PutBlob("layout_version", "x"), IsOk());
  }
  auto dir = OpenDir();  // reopens: layout intact, blob kept
  ASSERT_NE(dir, nullptr);
  auto blob = dir->GetBlob("nearline");
  ASSERT_THAT(blob, IsOk());
  EXPECT_EQ(**blob, std::string("a\0b", 3));
}

TEST_F(DataDirTest, DedupWithinAndAcrossBatches) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  auto r1 = dir->AppendEvents(
      {Ev("u1", "i1", 1, EventType::kView, "a"), Ev("u1", "i2", 2, EventType::kView, "b"),
       Ev("u2", "i3", 3, EventType::kView, "a"),  // dup in batch
       Ev("u1", "i4", 4), Ev("u1", "i4", 4)},     // no id: both kept
      true);
  ASSERT_THAT(r1, IsOk());
  EXPECT_EQ(r1->appended, 4u);
  EXPECT_EQ(r1->duplicates, 1u);
  auto r2 = dir->AppendEvents({Ev("u9", "i9", 9, EventType::kView, "b"),  // dup of stored
                               Ev("u1", "i5", 5, EventType::kView, "c")},
                              true);
  ASSERT_THAT(r2, IsOk());
  EXPECT_EQ(r2->appended, 1u);
  EXPECT_EQ(r2->duplicates, 1u);
  auto all_dup = dir->AppendEvents({Ev("u9", "i9", 9, EventType::kView, "c")}, true);
  ASSERT_THAT(all_dup, IsOk());
  EXPECT_EQ(all_dup->appended, 0u);
  EXPECT_EQ(all_dup->duplicates, 1u);
  EXPECT_EQ(dir->EventCount(), 5u);
  // Duplicates do not count for the user, and u2/u9 never got an accepted event.
  EXPECT_EQ(dir->GetUserHistory("u1")->events_total, 5u);
  EXPECT_EQ(dir->GetUserHistory("u2")->events_total, 0u);
  EXPECT_EQ(dir->UserCount(), 1u);
  auto empty = dir->AppendEvents({}, true);
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->appended, 0u);
}

TEST_F(DataDirTest, HistoryOrderCapAndImpressions) {
  auto dir = OpenDir(/*history_per_user=*/3);
  ASSERT_NE(dir, nullptr);
  ASSERT_THAT(dir->AppendEvents({Ev("u", "a", 10), Ev("u", "b", 20, EventType::kClick),
                                 Ev("u", "imp", 25, EventType::kImpression)},
                                true),
              IsOk());
  auto h = dir->GetUserHistory("u");
  ASSERT_THAT(h, IsOk());
  EXPECT_THAT(RecentItems(*h), ElementsAre("b", "a"));
  EXPECT_EQ(h->recent[0].type, EventType::kClick);
  EXPECT_EQ(h->recent[0].ts_ms, 20);
  EXPECT_EQ(h->events_total, 3u);

  // Re-engaging with `a` moves it to the front (one entry per item, its latest engagement).
  ASSERT_THAT(dir->AppendEvents({Ev("u", "a", 30, EventType::kPurchase)}, true), IsOk());
  h = dir->GetUserHistory("u");
  EXPECT_THAT(RecentItems(*h), ElementsAre("a", "b"));
  EXPECT_EQ(h->recent[0].type, EventType::kPurchase);

  // The cap keeps the most recent three.
  ASSERT_THAT(dir->AppendEvents({Ev("u", "c", 40), Ev("u", "d", 50)}, true), IsOk());
  h = dir->GetUserHistory("u");
  EXPECT_THAT(RecentItems(*h), ElementsAre("d", "c", "a"));
  EXPECT_EQ(h->events_total, 6u);
  // An impression of an item in history changes nothing but the count.
  ASSERT_THAT(dir->AppendEvents({Ev("u", "a", 60, EventType::kImpression)}, true), IsOk());
  h = dir->GetUserHistory("u");
  EXPECT_THAT(RecentItems(*h), ElementsAre("d", "c", "a"));
  EXPECT_EQ(h->recent[2].ts_ms, 30);
  EXPECT_EQ(h->events_total, 7u);
  // Only impressions: a user with a count but nothing recent.
  ASSERT_THAT(dir->AppendEvents({Ev("v", "x", 1, EventType::kImpression)}, true), IsOk());
  auto v = dir->GetUserHistory("v");
  EXPECT_THAT(v->recent, IsEmpty());
  EXPECT_EQ(v->events_total, 1u);
  EXPECT_EQ(dir->UserCount(), 2u);
  auto unknown = dir->GetUserHistory("nobody");
  ASSERT_THAT(unknown, IsOk());
  EXPECT_EQ(unknown->events_total, 0u);
  EXPECT_THAT(unknown->recent, IsEmpty());
}

TEST_F(DataDirTest, OutOfOrderTimestamps) {
  auto dir = OpenDir(/*history_per_user=*/3);
  ASSERT_NE(dir, nullptr);
  ASSERT_THAT(dir->AppendEvents({Ev("u", "b", 200), Ev("u", "a", 100), Ev("u", "c", 300)}, true),
              IsOk());
  EXPECT_THAT(RecentItems(*dir->GetUserHistory("u")), ElementsAre("c", "b", "a"));
  // A late event for an item already held with a newer time does not move it back.
  ASSERT_THAT(dir->AppendEvents({Ev("u", "c", 50, EventType::kClick)}, true), IsOk());
  auto h = dir->GetUserHistory("u");
  EXPECT_THAT(RecentItems(*h), ElementsAre("c", "b", "a"));
  EXPECT_EQ(h->recent[0].ts_ms, 300);
  EXPECT_EQ(h->recent[0].type, EventType::kView);
  // A late event older than everything in a full history falls off; a late one in the middle
  // lands in its place.
  ASSERT_THAT(dir->AppendEvents({Ev("u", "old", 10), Ev("u", "mid", 150)}, true), IsOk());
  EXPECT_THAT(RecentItems(*dir->GetUserHistory("u")), ElementsAre("c", "b", "mid"));
  // Equal timestamps: the later append counts as more recent.
  ASSERT_THAT(dir->AppendEvents({Ev("w", "x", 5), Ev("w", "y", 5)}, true), IsOk());
  ASSERT_THAT(dir->AppendEvents({Ev("w", "z", 5)}, true), IsOk());
  EXPECT_THAT(RecentItems(*dir->GetUserHistory("w")), ElementsAre("z", "y", "x"));
  // The event log keeps append order regardless of event time.
  auto events = AllEvents(*dir);
  ASSERT_EQ(events.size(), 9u);
  EXPECT_EQ(events[3].ts_ms, 50);
}

TEST_F(DataDirTest, HistorySurvivesReopenAndMatchesForEachUser) {
  {
    auto dir = OpenDir(3);
    ASSERT_NE(dir, nullptr);
    ASSERT_THAT(dir->AppendEvents({Ev("u", "a", 1), Ev("u", "b", 2), Ev("v", "c", 3)}, true),
                IsOk());
  }
  auto dir = OpenDir(3);
  ASSERT_NE(dir, nullptr);
  ASSERT_THAT(dir->AppendEvents({Ev("u", "c", 3)}, true), IsOk());
  EXPECT_THAT(RecentItems(*dir->GetUserHistory("u")), ElementsAre("c", "b", "a"));
  std::map<std::string, std::vector<std::string>> users;
  ASSERT_THAT(dir->ForEachUser([&](std::string_view id, const UserHistory& h) {
    users[std::string(id)] = RecentItems(h);
    return OkStatus();
  }),
              IsOk());
  ASSERT_EQ(users.size(), 2u);
  EXPECT_THAT(users["u"], ElementsAre("c", "b", "a"));
  EXPECT_THAT(users["v"], ElementsAre("c"));
  EXPECT_EQ(dir->UserCount(), 2u);
}

TEST_F(DataDirTest, RefusesNewerLayoutNamingBothVersions) {
  { ASSERT_NE(OpenDir(), nullptr); }
  {
    // Rewrite the layout version as a future Pulse would.
    rocksdb::DBOptions options;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(options, tmp_.Sub("data") + "/db", &names).ok());
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    cfs.emplace_back("from_the_future", rocksdb::ColumnFamilyOptions());
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, tmp_.Sub("data") + "/db", cfs, &handles, &db).ok());
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "meta") {
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], "layout_version", "7").ok());
      }
    }
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
  }
  auto dir = DataDir::Open(tmp_.Sub("data"), StoreConfig());
  EXPECT_THAT(dir, StatusIs(StatusCode::kFailedPrecondition, "layout version 7"));
  EXPECT_THAT(dir.status().message(),
              HasSubstr(StrCat("layout version ", DataDir::kLayoutVersion)));
}

TEST_F(DataDirTest, SecondOpenOfSameDirFails) {
  auto first = OpenDir();
  ASSERT_NE(first, nullptr);
  auto second = DataDir::Open(tmp_.Sub("data"), StoreConfig());
  EXPECT_THAT(second, StatusIs(StatusCode::kFailedPrecondition, "in use"));
}

TEST_F(DataDirTest, UnusablePathFails) {
  pulse::testing::WriteFile(tmp_.Sub("file"), "x");
  EXPECT_FALSE(DataDir::Open(tmp_.Sub("file"), StoreConfig()).ok());
  EXPECT_THAT(DataDir::Open("", StoreConfig()), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(DataDirTest, ForEachStopsEarly) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  ASSERT_THAT(dir->PutItems({It("a"), It("b"), It("c")}), IsOk());
  ASSERT_THAT(dir->AppendEvents({Ev("u1", "a", 1), Ev("u2", "b", 2), Ev("u3", "c", 3)}, true),
              IsOk());
  int calls = 0;
  auto stop = [&](auto&&...) {
    ++calls;
    return calls == 2 ? CancelledError("enough") : OkStatus();
  };
  EXPECT_THAT(dir->ForEachEvent([&](const Event& e) { return stop(e); }),
              StatusIs(StatusCode::kCancelled, "enough"));
  EXPECT_EQ(calls, 2);
  calls = 0;
  EXPECT_THAT(dir->ForEachItem([&](const Item& i) { return stop(i); }),
              StatusIs(StatusCode::kCancelled));
  EXPECT_EQ(calls, 2);
  calls = 0;
  EXPECT_THAT(
      dir->ForEachUser([&](std::string_view u, const UserHistory& h) { return stop(u, h); }),
      StatusIs(StatusCode::kCancelled));
  EXPECT_EQ(calls, 2);
}

TEST_F(DataDirTest, ConcurrentAppendsDifferentUsers) {
  auto dir = OpenDir();
  ASSERT_NE(dir, nullptr);
  constexpr int kThreads = 4, kBatches = 50, kPerBatch = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Event> batch;
        for (int k = 0; k < kPerBatch; ++k) {
          int n = b * kPerBatch + k;
          batch.push_back(Ev(StrCat("t", t, "-u", n % 10), StrCat("i", n), n, EventType::kView,
                             StrCat("e", t, "-", n)));
        }
        auto r = dir->AppendEvents(batch, false);
        EXPECT_TRUE(r.ok() && r->appended == kPerBatch);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(dir->EventCount(), uint64_t{kThreads * kBatches * kPerBatch});
  EXPECT_EQ(AllEvents(*dir).size(), size_t{kThreads * kBatches * kPerBatch});
  EXPECT_EQ(dir->UserCount(), uint64_t{kThreads * 10});
  for (int t = 0; t < kThreads; ++t) {
    auto h = dir->GetUserHistory(StrCat("t", t, "-u3"));
    ASSERT_THAT(h, IsOk());
    EXPECT_EQ(h->events_total, uint64_t{kBatches * kPerBatch / 10});
    EXPECT_EQ(h->recent.size(), size_t{kBatches * kPerBatch / 10});
  }
}

TEST_F(DataDirTest, ConcurrentAppendsSameUsersAndIds) {
  auto dir = OpenDir(/*history_per_user=*/50);
  ASSERT_NE(dir, nullptr);
  constexpr int kThreads = 4, kEvents = 400;
  std::atomic<uint64_t> appended{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every thread sends the same 400 ids (in a different order and batching): each id must be
      // stored exactly once overall.
      for (int k = 0; k < kEvents; k += 8) {
        std::vector<Event> batch;
        for (int m = 0; m < 8; ++m) {
          int n = (t % 2 == 0) ? k + m : kEvents - 1 - (k + m);
          batch.push_back(
              Ev(StrCat("shared", n % 3), StrCat("i", n), n, EventType::kClick, StrCat("id", n)));
        }
        auto r = dir->AppendEvents(batch, false);
        ASSERT_TRUE(r.ok());
        appended += r->appended;
        duplicates += r->duplicates;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(appended.load(), uint64_t{kEvents});
  EXPECT_EQ(duplicates.load(), uint64_t{(kThreads - 1) * kEvents});
  EXPECT_EQ(dir->EventCount(), uint64_t{kEvents});
  uint64_t total = 0;
  for (int u = 0; u < 3; ++u) {
    auto h = dir->GetUserHistory(StrCat("shared", u));
    ASSERT_THAT(h, IsOk());
    total += h->events_total;
    ASSERT_EQ(h->recent.size(), 50u);
    for (size_t i = 1; i < h->recent.size(); ++i) {
      EXPECT_GT(h->recent[i - 1].ts_ms, h->recent[i].ts_ms);
    }
  }
  EXPECT_EQ(total, uint64_t{kEvents});
  EXPECT_EQ(dir->UserCount(), 3u);
}

}  // namespace
}  // namespace pulse::store
