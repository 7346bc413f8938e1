#include "core/ids.h"

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
