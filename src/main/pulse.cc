// The pulse binary: subcommand dispatch only. Each command lives in its component.
#include <cstdio>
#include <string>

#include "core/build_info.h"

int main(int argc, char** argv) {
  std::string command = argc > 1 ? argv[1] : "";
  if (command == "version") {
    std::printf("pulse %s (%s, git %s)\n", pulse::build_info::kVersion,
                pulse::build_info::kBuildType, pulse::build_info::kGitRevision);
    return 0;
  }
  std::fprintf(stderr, "usage: pulse <serve|demo|gen|import|train|eval|bench|version> ...\n");
  return 2;
}
