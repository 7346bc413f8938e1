#include "core/status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace pulse {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError(StrCat(x, " is odd"));
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int half, Half(x));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x).status());
  return OkStatus();
}

TEST(StatusTest, CodesNamesAndToString) {
  EXPECT_TRUE(OkStatus().ok());
  EXPECT_EQ(OkStatus().ToString(), "OK");
  Status s = InvalidArgumentError("n must be between 1 and 200");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.ToString(), "INVALID_ARGUMENT: n must be between 1 and 200");
  EXPECT_EQ(StatusCodeName(StatusCode::kResourceExhausted), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(static_cast<int>(StatusCode::kUnavailable), 14);  // gRPC's number
  EXPECT_EQ(Status(StatusCode::kOk, "ignored").message(), "");
}

TEST(StatusTest, WithContextPrefixesErrorsOnly) {
  EXPECT_TRUE(WithContext(OkStatus(), "x").ok());
  Status s = WithContext(NotFoundError("no file"), "loading bundle");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "loading bundle: no file");
}

TEST(StatusTest, ErrnoMapsToCodes) {
  EXPECT_EQ(ErrnoToStatus(ENOENT, "open x").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToStatus(EACCES, "open x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "write x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(EIO, "read x").code(), StatusCode::kInternal);
  EXPECT_EQ(ErrnoToStatus(ENOENT, "open x").message().rfind("open x: ", 0), 0u);
}

TEST(ResultTest, ValueOrStatusAndMacros) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> odd = Quarter(6);
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().message(), "3 is odd");
  EXPECT_EQ(odd.value_or(-1), -1);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).code(), StatusCode::kInvalidArgument);
  Result<std::string> text = std::string("abc");
  EXPECT_EQ(text->size(), 3u);
  std::string moved = std::move(text).value();
  EXPECT_EQ(moved, "abc");
}

TEST(ResultDeathTest, ValueOfAnErrorIsABug) {
  Result<int> error = InternalError("x");
  EXPECT_DEATH((void)error.value(), "PULSE_CHECK");
}

}  // namespace
}  // namespace pulse
