#include "serving/user_state_memo.h"

#include <atomic>
#include <thread>

#include "core/strings.h"
#include "gtest/gtest.h"

namespace pulse::serving {
namespace {

store::UserHistory History(std::initializer_list<const char*> ids,
                           EventType type = EventType::kClick, uint64_t version = 0) {
  store::UserHistory out;
  int64_t ts = 100;
  for (const char* id : ids) out.recent.push_back({id, type, ts--});
  out.events_total = out.recent.size();
  out.version = version;
  return out;
}

// The remembered state for (key, history), or nullopt.
std::optional<DerivedUserState> Lookup(const UserStateMemo& memo, const UserStateKey& key,
                                       const store::UserHistory& history) {
  std::optional<DerivedUserState> out;
  memo.Find(key, history, [&](const DerivedUserState& state) { out = state; });
  return out;
}

TEST(UserStateMemoTest, AnUnversionedHistoryAnswersOnlyForTheSameEntries) {
  UserStateMemo memo(64);
  const auto history = History({"a", "b", "c"});
  const std::vector<DenseId> seen = {1, 2, 3}, recent = {3, 1};
  const std::vector<float> vector = {0.5f, -1.0f};
  const UserStateKey key{"u", 7, 200};
  EXPECT_FALSE(Lookup(memo, key, history));
  memo.Store(key, history, seen, recent, vector);
  EXPECT_EQ(memo.KnownVersion(key), 0u);  // nothing to skip a read with

  std::optional<DerivedUserState> hit = Lookup(memo, key, history);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->seen_items, seen);
  EXPECT_EQ(hit->recent_items, recent);
  EXPECT_EQ(hit->user_vector, vector);
  EXPECT_EQ(hit->history_items, 3u);
  EXPECT_EQ(hit->newest_event_ms, 100);
  // Timestamps do not enter the derived state.
  auto later = history;
  for (auto& entry : later.recent) entry.ts_ms += 1000;
  EXPECT_TRUE(Lookup(memo, key, later));

  EXPECT_FALSE(Lookup(memo, {"u", 8, 200}, history));              // another model snapshot
  EXPECT_FALSE(Lookup(memo, {"u", 7, 50}, history));               // another fold-in limit
  EXPECT_FALSE(Lookup(memo, {"v", 7, 200}, history));              // another user
  EXPECT_FALSE(Lookup(memo, key, History({"x", "a", "b", "c"})));  // a new event
  EXPECT_FALSE(Lookup(memo, key, History({"b", "a", "c"})));       // reordered
  EXPECT_FALSE(Lookup(memo, key, History({"a", "b"})));            // shorter
  EXPECT_FALSE(Lookup(memo, key, History({"a", "b", "c"}, EventType::kView)));
  auto one_type = history;
  one_type.recent[1].type = EventType::kPurchase;
  EXPECT_FALSE(Lookup(memo, key, one_type));
  // The same entries from a versioned read are another history as far as the memo knows.
  EXPECT_FALSE(Lookup(memo, key, History({"a", "b", "c"}, EventType::kClick, 5)));

  // A store for the same inputs replaces the state; generation 0 is never remembered.
  memo.Store(key, history, seen, recent, std::vector<float>{2.0f});
  EXPECT_EQ(Lookup(memo, key, history)->user_vector, std::vector<float>{2.0f});
  memo.Store({"w", 0, 200}, history, seen, recent, vector);
  EXPECT_FALSE(Lookup(memo, {"w", 0, 200}, history));
}

TEST(UserStateMemoTest, AVersionedHistoryAnswersByItsVersionAlone) {
  UserStateMemo memo(64);
  const UserStateKey key{"u", 3, 200};
  const std::vector<DenseId> ids = {4, 9};
  const std::vector<float> vector = {1.5f};
  memo.Store(key, History({"a", "b"}, EventType::kClick, 41), ids, ids, vector);
  EXPECT_EQ(memo.KnownVersion(key), 41u);
  EXPECT_EQ(memo.KnownVersion({"u", 4, 200}), 0u);
  EXPECT_EQ(memo.KnownVersion({"v", 3, 200}), 0u);

  // A read that left the unchanged history out carries its version and scalars only.
  store::UserHistory unchanged;
  unchanged.version = 41;
  std::optional<DerivedUserState> hit = Lookup(memo, key, unchanged);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->recent_items, ids);
  EXPECT_EQ(hit->history_items, 2u);  // of the history it came from, not of the short read
  EXPECT_EQ(hit->newest_event_ms, 100);

  unchanged.version = 42;  // the history changed since
  EXPECT_FALSE(Lookup(memo, key, unchanged));
  EXPECT_FALSE(Lookup(memo, key, History({"a", "b"})));  // unversioned: no entries kept to compare
}

TEST(UserStateMemoTest, ACollidingUserReplacesTheSlot) {
  constexpr size_t kSlots = 16;
  UserStateMemo memo(kSlots);
  const auto history = History({"a"});
  const std::vector<DenseId> ids = {1};
  const std::vector<float> vector = {1.0f};
  memo.Store({"u0", 1, 10}, history, ids, ids, vector);
  // Users are stored until one lands in u0's slot: u0 is then forgotten, the newcomer kept.
  size_t i = 1;
  for (; i < 100 * kSlots; ++i) {
    memo.Store({StrCat("u", i), 1, 10}, history, ids, ids, vector);
    if (!Lookup(memo, {"u0", 1, 10}, history)) break;
  }
  EXPECT_FALSE(Lookup(memo, {"u0", 1, 10}, history));
  const std::string newcomer = StrCat("u", i);
  EXPECT_TRUE(Lookup(memo, {newcomer, 1, 10}, history));

  memo.Clear();
  EXPECT_FALSE(Lookup(memo, {newcomer, 1, 10}, history));
}

TEST(UserStateMemoTest, NoSlotsRemembersNothing) {
  UserStateMemo memo(0);
  const auto history = History({"a"}, EventType::kClick, 7);
  const std::vector<DenseId> ids = {1};
  memo.Store({"u", 1, 10}, history, ids, ids, std::vector<float>{1.0f});
  EXPECT_EQ(memo.KnownVersion({"u", 1, 10}), 0u);
  EXPECT_FALSE(Lookup(memo, {"u", 1, 10}, history));
  memo.Clear();
}

// Threads storing and finding overlapping users never see another user's state or a torn one:
// every user's state is a function of the user, checked on each hit.
TEST(UserStateMemoTest, ConcurrentStoresAndFindsStayConsistent) {
  UserStateMemo memo(32);  // few slots: many collisions
  constexpr int kUsers = 200;
  auto state_of = [](int user) {
    return std::vector<DenseId>(static_cast<size_t>(1 + user % 37), static_cast<DenseId>(user));
  };
  std::atomic<int> hits{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2000; ++round) {
        const int user = (round * 7 + t * 13) % kUsers;
        const std::string id = StrCat("u", user);
        const auto history = History({"a"}, EventType::kClick, static_cast<uint64_t>(user + 1));
        const UserStateKey key{id, 1, 10};
        const bool found = memo.Find(key, history, [&](const DerivedUserState& state) {
          if (state.seen_items != state_of(user) || state.user_vector.size() != 1 ||
              state.user_vector[0] != static_cast<float>(user)) {
            ++wrong;
          }
        });
        if (found) {
          ++hits;
        } else {
          const auto ids = state_of(user);
          memo.Store(key, history, ids, ids, std::vector<float>{static_cast<float>(user)});
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(hits.load(), 0);
}

}  // namespace
}  // namespace pulse::serving
