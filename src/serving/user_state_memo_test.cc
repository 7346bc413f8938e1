#include "serving/user_state_memo.h"

#include "core/strings.h"
#include "gtest/gtest.h"

namespace pulse::serving {
namespace {

std::vector<store::HistoryEntry> History(std::initializer_list<const char*> ids,
                                         EventType type = EventType::kClick) {
  std::vector<store::HistoryEntry> out;
  int64_t ts = 100;
  for (const char* id : ids) out.push_back({id, type, ts--});
  return out;
}

TEST(UserStateMemoTest, AnswersOnlyForExactlyTheSameInputs) {
  UserStateMemo memo;
  const auto history = History({"a", "b", "c"});
  const std::vector<DenseId> seen = {1, 2, 3}, recent = {3, 1};
  const std::vector<float> vector = {0.5f, -1.0f};
  EXPECT_EQ(memo.Find("u", 7, 200, history), nullptr);
  memo.Store("u", 7, 200, history, seen, recent, vector);

  const DerivedUserState* hit = memo.Find("u", 7, 200, history);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->seen_items, seen);
  EXPECT_EQ(hit->recent_items, recent);
  EXPECT_EQ(hit->user_vector, vector);
  // Timestamps do not enter the derived state.
  auto later = history;
  for (auto& entry : later) entry.ts_ms += 1000;
  EXPECT_NE(memo.Find("u", 7, 200, later), nullptr);

  EXPECT_EQ(memo.Find("u", 8, 200, history), nullptr);  // another model snapshot
  EXPECT_EQ(memo.Find("u", 7, 50, history), nullptr);   // another fold-in limit
  EXPECT_EQ(memo.Find("v", 7, 200, history), nullptr);  // another user
  EXPECT_EQ(memo.Find("u", 7, 200, History({"x", "a", "b", "c"})), nullptr);  // a new event
  EXPECT_EQ(memo.Find("u", 7, 200, History({"b", "a", "c"})), nullptr);       // reordered
  EXPECT_EQ(memo.Find("u", 7, 200, History({"a", "b"})), nullptr);            // shorter
  EXPECT_EQ(memo.Find("u", 7, 200, History({"a", "b", "c"}, EventType::kView)), nullptr);
  auto one_type = history;
  one_type[1].type = EventType::kPurchase;
  EXPECT_EQ(memo.Find("u", 7, 200, one_type), nullptr);

  // A store for the same inputs replaces the state; generation 0 is never remembered.
  memo.Store("u", 7, 200, history, seen, recent, std::vector<float>{2.0f});
  EXPECT_EQ(memo.Find("u", 7, 200, history)->user_vector, std::vector<float>{2.0f});
  memo.Store("w", 0, 200, history, seen, recent, vector);
  EXPECT_EQ(memo.Find("w", 0, 200, history), nullptr);
}

TEST(UserStateMemoTest, ACollidingUserReplacesTheSlot) {
  UserStateMemo memo;
  const auto history = History({"a"});
  const std::vector<DenseId> ids = {1};
  const std::vector<float> vector = {1.0f};
  memo.Store("u0", 1, 10, history, ids, ids, vector);
  // Users are stored until one lands in u0's slot: u0 is then forgotten, the newcomer kept.
  size_t i = 1;
  for (; i < 100 * UserStateMemo::kSlots; ++i) {
    memo.Store(StrCat("u", i), 1, 10, history, ids, ids, vector);
    if (memo.Find("u0", 1, 10, history) == nullptr) break;
  }
  EXPECT_EQ(memo.Find("u0", 1, 10, history), nullptr);
  EXPECT_NE(memo.Find(StrCat("u", i), 1, 10, history), nullptr);
}

}  // namespace
}  // namespace pulse::serving
