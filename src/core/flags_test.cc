#include "core/flags.h"

#include "gtest/gtest.h"

namespace pulse {
namespace {

TEST(FlagsTest, ParsesBothFormsBooleansAndPositionals) {
  auto flags =
      Flags::Parse({"--k", "10,20", "--users=5", "--json", "file.txt"}, {"k", "users"}, {"json"});
  ASSERT_TRUE(flags.ok()) << flags.status().ToString();
  EXPECT_EQ(flags->GetString("k"), "10,20");
  EXPECT_EQ(*flags->GetInt("users", 0), 5);
  EXPECT_TRUE(flags->GetBool("json"));
  EXPECT_EQ(flags->positional(), std::vector<std::string>{"file.txt"});
  EXPECT_EQ(*flags->GetInt("missing", 7), 7);
  EXPECT_EQ(flags->GetString("missing", "d"), "d");
}

TEST(FlagsTest, ErrorsNameTheFlag) {
  auto unknown = Flags::Parse({"--nope", "1"}, {"k"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--nope"), std::string::npos);
  auto missing_value = Flags::Parse({"--k"}, {"k"});
  ASSERT_FALSE(missing_value.ok());
  EXPECT_NE(missing_value.status().message().find("--k needs a value"), std::string::npos);
  auto bool_with_value = Flags::Parse({"--json=1"}, {}, {"json"});
  EXPECT_FALSE(bool_with_value.ok());
  auto flags = Flags::Parse({"--users", "many"}, {"users"});
  ASSERT_TRUE(flags.ok());
  auto users = flags->GetInt("users", 0);
  ASSERT_FALSE(users.ok());
  EXPECT_NE(users.status().message().find("--users"), std::string::npos);
  EXPECT_FALSE(flags->Require("out").ok());
}

TEST(FlagsTest, ExitCodesFollowTheContract) {
  EXPECT_EQ(ExitWithError("x", InvalidArgumentError("bad")), 2);
  EXPECT_EQ(ExitWithError("x", InternalError("boom")), 1);
}

}  // namespace
}  // namespace pulse
