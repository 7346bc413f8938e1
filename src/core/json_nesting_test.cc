#include "core/json_nesting.h"

#include <string>

#include "gtest/gtest.h"

namespace pulse {
namespace {

TEST(JsonNestingTest, JsonNestsDeeperThan) {
  EXPECT_FALSE(JsonNestsDeeperThan("", 1));
  EXPECT_FALSE(JsonNestsDeeperThan(R"({"a":[1,2]})", 2));
  EXPECT_TRUE(JsonNestsDeeperThan(R"({"a":[1,2]})", 1));
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_FALSE(JsonNestsDeeperThan(R"(["[[[{{{", "\"[[["])", 1));
  EXPECT_TRUE(JsonNestsDeeperThan(std::string(100000, '['), 64));
  EXPECT_FALSE(JsonNestsDeeperThan(std::string(64, '[') + std::string(64, ']'), 64));
  // Depth is the running maximum, not the total: siblings do not add up.
  EXPECT_FALSE(JsonNestsDeeperThan("[[],[],[]]", 2));
}

}  // namespace
}  // namespace pulse
