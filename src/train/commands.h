// train/commands.h — the `pulse train` and `pulse eval` subcommands.
//
//   pulse train [--data-dir DIR] [--config FILE]
//       Reads every event of the data directory, trains ALS embeddings (progress on stderr when it
//       is a terminal), computes "popular now" (engagement weight decayed with a 7-day half-life
//       relative to the newest event), builds the ANN index over the item vectors and writes the
//       next model bundle version under DIR/models. Prints the version, counts and timings.
//       --data-dir overrides the config file's data_dir.
//   pulse eval --format jsonl|movielens FILE --protocol leave-last-out|temporal [--k 10,20]
//              [--json] [--config FILE]
//       Offline quality of ALS (config.train) and the popularity baseline (see eval.h): a table,
//       or with --json one object per model and K per line:
//       {"model":"als","protocol":"leave-last-out","k":10,"recall":…,"ndcg":…,"hit_rate":…,
//        "coverage":…,"users":…}
//       Malformed lines are skipped and counted on stderr. `pulse eval` reaches this form through
//       evaluation/commands.h, which handles the holdout form (--train/--test, --input --split).
//
// `args` exclude the program name and the subcommand. Exit codes: 0 success, 2 bad usage or
// config (the message names the problem), 1 any other failure (missing file, no events, I/O).
// Thread-safety: meant to be called once from main.
#pragma once

#include <string>
#include <vector>

namespace pulse::train {

int RunTrainCommand(const std::vector<std::string>& args);
int RunEvalCommand(const std::vector<std::string>& args);

}  // namespace pulse::train
