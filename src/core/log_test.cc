#include "core/log.h"

#include <unistd.h>

#include <cstdio>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace pulse {
namespace {

// Captures what Log writes to stderr during its lifetime.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = dup(2);
    file_ = std::tmpfile();
    dup2(fileno(file_), 2);
  }
  std::vector<nlohmann::json> Lines() {
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    std::rewind(file_);
    std::vector<nlohmann::json> lines;
    char buf[4096];
    while (std::fgets(buf, sizeof(buf), file_) != nullptr) {
      lines.push_back(nlohmann::json::parse(buf));
    }
    std::fclose(file_);
    return lines;
  }

 private:
  int saved_ = -1;
  FILE* file_ = nullptr;
};

TEST(LogTest, LinesAreJsonWithRequestContext) {
  StderrCapture capture;
  {
    ScopedLogContext context("req-1", "4bf92f3577b34da6a3ce929d0e0e4736");
    LOG_INFO("serving", "hello ", 42);
  }
  LOG_WARN("serving", "outside");
  LogWithFields(LogLevel::kInfo, "access", "request",
                {{"method", std::string_view("recommend")},
                 {"duration_ms", 1.5},
                 {"http_status", int64_t{200}}});
  auto lines = capture.Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["msg"], "hello 42");
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["component"], "serving");
  EXPECT_EQ(lines[0]["request_id"], "req-1");
  EXPECT_EQ(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(lines[0]["ts"].is_string());
  EXPECT_FALSE(lines[1].contains("request_id"));
  EXPECT_EQ(lines[2]["method"], "recommend");
  EXPECT_EQ(lines[2]["duration_ms"], 1.5);
  EXPECT_EQ(lines[2]["http_status"], 200);
}

TEST(LogTest, RepeatedErrorsAreRateLimitedWithASuppressedCount) {
  SetLogRateLimit(3, 3'600'000);  // an hour: the window cannot roll over during the test
  StderrCapture capture;
  int written = 0;
  for (int i = 0; i < 10; ++i) {
    written += LOG_RATE_LIMITED(LogLevel::kError, "store", "log_test_key", "redis down ", i);
  }
  // Another key has its own budget.
  written += LOG_RATE_LIMITED(LogLevel::kError, "store", "log_test_other", "other");
  auto lines = capture.Lines();
  EXPECT_EQ(written, 4);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2]["msg"], "redis down 2");
  EXPECT_EQ(lines[3]["msg"], "other");
  SetLogRateLimit(10, 60'000);
}

TEST(LogTest, SuppressedCountIsReportedWhenTheWindowReopens) {
  SetLogRateLimit(1, 1);  // 1 ms windows
  StderrCapture capture;
  LOG_RATE_LIMITED(LogLevel::kError, "store", "log_test_window", "a");
  // Suppressed until the clock moves past the window; then the next line reports them.
  int suppressed = 0;
  while (!LOG_RATE_LIMITED(LogLevel::kError, "store", "log_test_window", "b")) ++suppressed;
  auto lines = capture.Lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_FALSE(lines[0].contains("suppressed"));
  if (suppressed > 0) {
    EXPECT_EQ(lines[1]["suppressed"], suppressed);
  } else {
    EXPECT_FALSE(lines[1].contains("suppressed"));
  }
  SetLogRateLimit(10, 60'000);
}

}  // namespace
}  // namespace pulse
