#include "core/ids.h"

#include <random>
#include <string>
#include <unordered_map>

#include "core/strings.h"
#include "core/types.h"
#include "gtest/gtest.h"

namespace pulse {
namespace {

TEST(IdDictionaryTest, InternsDenselyInInsertionOrder) {
  IdDictionary dict;
  EXPECT_EQ(dict.Intern("b"), 0u);
  EXPECT_EQ(dict.Intern("a"), 1u);
  EXPECT_EQ(dict.Intern("b"), 0u);
  EXPECT_EQ(dict.size(), 2u);
  EXPECT_EQ(dict.Name(1), "a");
  EXPECT_EQ(dict.Find("a"), 1u);
  EXPECT_FALSE(dict.Find("zzz").has_value());
}

// Against a node-based map through several table growths, with absent ids looked up (the
// empty string, prefixes, near-misses), after Reserve and in a copy.
TEST(IdDictionaryTest, FindEqualsAMapThroughGrowth) {
  std::mt19937_64 rng(41);
  for (size_t reserve : {size_t{0}, size_t{5000}}) {
    IdDictionary dict;
    dict.Reserve(reserve);
    std::unordered_map<std::string, DenseId> reference;
    for (int i = 0; i < 20000; ++i) {
      const std::string id = i % 3 == 0 ? StrCat("item-with-a-long-prefix-", rng() % 30000)
                                        : StrCat("i", rng() % 30000);
      const DenseId got = dict.Intern(id);
      const DenseId want =
          reference.emplace(id, static_cast<DenseId>(reference.size())).first->second;
      ASSERT_EQ(got, want) << id;
    }
    ASSERT_EQ(dict.size(), reference.size());
    const IdDictionary copy = dict;
    for (int i = 0; i < 60000; ++i) {
      const std::string id =
          i % 2 == 0 ? StrCat("i", rng() % 40000) : StrCat("i", rng() % 40000, "x");
      auto it = reference.find(id);
      const std::optional<DenseId> want =
          it == reference.end() ? std::nullopt : std::optional<DenseId>(it->second);
      ASSERT_EQ(dict.Find(id), want) << id;
      ASSERT_EQ(copy.Find(id), want) << id;
    }
    EXPECT_FALSE(dict.Find("").has_value());
    EXPECT_EQ(dict.Intern(""), static_cast<DenseId>(reference.size()));
    EXPECT_EQ(dict.Find(""), static_cast<DenseId>(reference.size()));
    EXPECT_FALSE(IdDictionary().Find("i1").has_value());
  }
}

TEST(EventTypeTest, RoundTripsNames) {
  for (int i = 0; i < kNumEventTypes; ++i) {
    auto type = static_cast<EventType>(i);
    EXPECT_EQ(ParseEventType(EventTypeName(type)), type);
  }
  EXPECT_FALSE(ParseEventType("View").has_value());
  EXPECT_FALSE(ParseEventType("").has_value());
}

}  // namespace
}  // namespace pulse
