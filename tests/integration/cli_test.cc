// The CLI contract: exit codes and messages for bad usage, version, and commands run against
// data that is not there.
#include "gtest/gtest.h"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

TEST(CliTest, VersionPrintsVersionBuildAndRevision) {
  auto result = RunPulse({"version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("pulse 0."), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("git "), std::string::npos) << result.out;
}

TEST(CliTest, UnknownCommandAndFlagsAreUsageErrors) {
  EXPECT_EQ(RunPulse({}).exit_code, 2);
  auto unknown = RunPulse({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("frobnicate"), std::string::npos);
  for (const char* command : {"serve", "gen", "import", "train", "eval"}) {
    auto result = RunPulse({command, "--bogus-flag", "1"});
    EXPECT_EQ(result.exit_code, 2) << command << ": " << result.err;
    EXPECT_NE(result.err.find("bogus-flag"), std::string::npos) << command << ": " << result.err;
  }
}

TEST(CliTest, HelpPrintsTheCommandsUsage) {
  for (const char* command : {"serve", "gen", "import", "train", "eval", "bench", "models"}) {
    auto result = RunPulse({command, "--help"});
    EXPECT_EQ(result.exit_code, 0) << command << ": " << result.err;
    EXPECT_EQ(result.out.rfind(std::string("usage: pulse ") + command + " ", 0), 0u)
        << command << ": " << result.out;
  }
  // Both eval forms, with their continuation lines.
  auto eval = RunPulse({"help", "eval"});
  EXPECT_EQ(eval.exit_code, 0);
  EXPECT_NE(eval.out.find("--protocol"), std::string::npos) << eval.out;
  EXPECT_NE(eval.out.find("--tune"), std::string::npos) << eval.out;
  EXPECT_EQ(eval.out.find("bench"), std::string::npos) << eval.out;
  auto bench = RunPulse({"bench", "-h"});
  EXPECT_NE(bench.out.find("--find-max"), std::string::npos) << bench.out;
  // Unknown commands stay usage errors.
  EXPECT_EQ(RunPulse({"help", "frobnicate"}).exit_code, 2);
}

TEST(CliTest, ServeRejectsBadConfigNamingTheKey) {
  testing::TempDir dir;
  testing::WriteFile(dir.Sub("bad.yaml"), "server:\n  http_adr: 127.0.0.1:1\n");
  auto result = RunPulse({"serve", "--config", dir.Sub("bad.yaml")});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("server.http_adr"), std::string::npos) << result.err;
  auto missing = RunPulse({"serve", "--config", dir.Sub("missing.yaml")});
  EXPECT_NE(missing.exit_code, 0);
}

TEST(CliTest, ServeFailsClearlyWhenThePortIsTaken) {
  testing::TempDir dir;
  std::string error;
  auto first = ServerProcess::Start({"serve", "--data-dir", dir.Sub("a")}, &error);
  ASSERT_NE(first, nullptr) << error;
  std::string busy = "127.0.0.1:" + std::to_string(first->http_port());
  auto second =
      RunPulse({"serve", "--data-dir", dir.Sub("b"), "--http", busy, "--grpc", "127.0.0.1:0"});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find(busy), std::string::npos) << second.err;
}

TEST(CliTest, ServeWithoutModelIsAliveButNotReady) {
  testing::TempDir dir;
  std::string error;
  auto server = ServerProcess::Start({"serve", "--data-dir", dir.Sub("empty")}, &error);
  ASSERT_NE(server, nullptr) << error;
  EXPECT_FALSE(WaitReady(server->http_port(), 1));
  EXPECT_TRUE(server->Running());
}

TEST(CliTest, TrainOnAnEmptyDataDirFails) {
  testing::TempDir dir;
  auto result = RunPulse({"train", "--data-dir", dir.Sub("nothing")});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_FALSE(result.err.empty());
}

}  // namespace
}  // namespace pulse::integration
