// The pulse binary: subcommand dispatch only. Each command lives in its component.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/build_info.h"
#include "evaluation/commands.h"
#include "loadgen/bench.h"
#include "main/commands.h"
#include "rollout/commands.h"
#include "tools/commands.h"
#include "train/commands.h"
#include "train/skew_check.h"

namespace {

constexpr const char* kUsage = R"(usage: pulse <command> [flags]

commands:
  serve    [--config FILE] [--data-dir DIR] [--http ADDR] [--grpc ADDR] [--role all|api|nearline]
  demo     [--data-dir DIR] [--http ADDR] [--grpc ADDR]
  gen      --users N --items M --events E --out DIR [--seed S]
  import   --data-dir DIR [--items FILE] [--events FILE] [--format jsonl|movielens]
  train    --data-dir DIR [--config FILE]
  check-skew --data-dir DIR [--config FILE] [--json] [--max-rows N] [--max-mismatch-rate R]
           [--abs-tolerance A] [--rel-tolerance R]
  models   list [--data-dir DIR] [--json] | show VERSION [--json] | activate VERSION|latest [--unpin]
  eval     --train FILE --test FILE | --input FILE [--split 0.75 --seed S]
           [--format movielens|jsonl] [--k 10] [--models popular,itemknn,ease,als,pulse] [--tune] [--json]
  eval     --format movielens|jsonl FILE --protocol leave-last-out|temporal [--k 10,20] [--json]
  bench    --target ADDR --rps R --duration S [--shape flat|diurnal|spike] [--proto grpc|http]
           [--json] [--users N] [--zipf S] [--unknown-share F] [--n N] [--connections C]
           [--api-key K] [--timeout-ms T] [--batch-us U] [--seed S] [--find-max [--p99-ms B] [--step F] [--max-steps K]]
  version
)";

// The lines of kUsage that describe `command` (its line and the indented ones continuing it);
// empty when kUsage has no such command.
std::string CommandUsage(const std::string& command) {
  std::string out;
  bool in_command = false;
  const std::string_view usage(kUsage);
  size_t start = 0;
  while (start < usage.size()) {
    size_t end = usage.find('\n', start);
    if (end == std::string_view::npos) end = usage.size();
    const std::string_view line = usage.substr(start, end - start);
    start = end + 1;
    const bool continuation = line.size() > 3 && line.substr(0, 3) == "   ";
    if (!continuation) {
      const std::string prefix = "  " + command + " ";
      in_command = line.size() > prefix.size() && line.substr(0, prefix.size()) == prefix;
    }
    if (in_command) {
      // "usage: pulse " before a command's line, as many spaces before a continuation.
      if (continuation) {
        out.append(13, ' ');
      } else {
        out.append(out.empty() ? "usage: pulse " : "       pulse ");
      }
      out.append(line.substr(2));
      out.push_back('\n');
    }
  }
  return out;
}

bool AsksForHelp(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // gRPC's absl::Mutex tracks lock-order graphs for deadlock reports in Debian's absl build
  // (GraphCycles::GetId was 0.8% of the server's CPU in a recommend profile); Pulse's own
  // locks are std::mutex, and tsan covers lock-order bugs in tests.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  // `pulse <command> --help` and `pulse help <command>`: that command's usage, exit 0.
  if (command == "help" && !args.empty()) {
    command = args[0];
    args = {"--help"};
  }
  if (AsksForHelp(args) && command != "check-skew") {  // check-skew prints a longer text itself
    const std::string usage = CommandUsage(command);
    if (!usage.empty()) {
      std::fputs(usage.c_str(), stdout);
      return 0;
    }
  }
  if (command == "serve") return pulse::RunServeCommand(args);
  if (command == "demo") return pulse::RunDemoCommand(args);
  if (command == "gen") return pulse::tools::RunGenCommand(args);
  if (command == "import") return pulse::tools::RunImportCommand(args);
  if (command == "train") return pulse::train::RunTrainCommand(args);
  if (command == "check-skew") return pulse::train::RunCheckSkewCommand(args);
  if (command == "models") return pulse::rollout::RunModelsCommand(args);
  if (command == "eval") return pulse::evaluation::RunEvalCommand(args);
  if (command == "bench") return pulse::loadgen::RunBenchCommand(args);
  if (command == "version" || command == "--version") {
    std::printf("pulse %s (%s build, git %s)\n", pulse::build_info::kVersion,
                pulse::build_info::kBuildType, pulse::build_info::kGitRevision);
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "pulse: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
