#include "core/strings.h"

#include <limits>

#include "gtest/gtest.h"

namespace pulse {
namespace {

TEST(StrCatTest, ConcatenatesMixedPieces) {
  std::string_view view = "view";
  EXPECT_EQ(StrCat("a", std::string("b"), view, 'c', 42, -7, 1.5, true), "abviewc42-71.5true");
  EXPECT_EQ(StrCat(std::numeric_limits<int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(StrCat(uint64_t{18446744073709551615u}), "18446744073709551615");
  std::string out = "x";
  StrAppend(out, "y", 1);
  EXPECT_EQ(out, "xy1");
}

TEST(SplitTest, KeepsEmptyFields) {
  EXPECT_EQ(Split("a,,b", ','), (std::vector<std::string_view>{"a", "", "b"}));
  EXPECT_EQ(Split("", ','), (std::vector<std::string_view>{""}));
  EXPECT_EQ(Split("1::2::", "::"), (std::vector<std::string_view>{"1", "2", ""}));
  EXPECT_EQ(Split("abc", ""), (std::vector<std::string_view>{"abc"}));
  EXPECT_EQ(Trim(" \t x y \r\n"), "x y");
  EXPECT_EQ(Trim("   "), "");
}

TEST(ParseNumberTest, WholeFieldOnly) {
  int64_t i = 0;
  EXPECT_TRUE(ParseInt64("-12", &i));
  EXPECT_EQ(i, -12);
  EXPECT_FALSE(ParseInt64("12x", &i));
  EXPECT_FALSE(ParseInt64("", &i));
  EXPECT_FALSE(ParseInt64(" 1", &i));
  EXPECT_FALSE(ParseInt64("99999999999999999999", &i));
  double d = 0;
  EXPECT_TRUE(ParseDouble("3.5", &d));
  EXPECT_DOUBLE_EQ(d, 3.5);
  EXPECT_FALSE(ParseDouble("3.5.1", &d));
  EXPECT_FALSE(ParseDouble("", &d));
}

}  // namespace
}  // namespace pulse
