// The pulse binary: subcommand dispatch only. Each command lives in its component.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

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
           [--timeout-ms T] [--seed S] [--find-max [--p99-ms B] [--step F] [--max-steps K]]
  version
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
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
