// train/commands.h — the `pulse train` and `pulse eval` subcommands.
//
//   pulse train [--data-dir DIR] [--config FILE]
//       Reads every event of the data directory, trains ALS embeddings, computes "popular now"
//       (engagement weight decayed with a 7-day half-life relative to the newest event), builds
//       the ANN index over the item vectors, runs a held-out check (train.eval_users) and writes
//       the next model bundle version under DIR/models; the manifest records the data range,
//       parameters, metrics and feature schema (docs/design/model-bundle.md). Progress lines
//       (events read, ALS iterations, index build, held-out check, write) go to stderr only when
//       it is a terminal. Prints the version, counts and timings. --data-dir overrides the config
//       file's data_dir.
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

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace pulse::store {
class DataDir;
}

namespace pulse::train {

int RunTrainCommand(const std::vector<std::string>& args);

// One training run, as `pulse train` does it and as a scheduled retrain inside `pulse serve`
// does it (one code path): read every event of `data_dir`, train ALS (config.train), build the
// ANN index (config.index), run the held-out check (config.train.eval_users), write the next
// bundle under data_dir.models_dir(). Thread-safety: may run while the data dir takes writes;
// the run sees the log up to the moment its read pass reaches the end.
struct TrainRunOptions {
  bool progress = false;                      // "\r" progress lines on stderr (a terminal)
  const std::atomic<bool>* cancel = nullptr;  // checked between steps and ALS iterations
};
struct TrainRunSummary {
  std::string version;  // the bundle written
  std::string dir;
  uint64_t events = 0;          // events read
  uint64_t last_event_seq = 0;  // log sequence of the last event read (0: empty log)
  size_t users = 0;
  size_t items = 0;
  size_t interactions = 0;
  int dim = 0;
  double open_seconds = 0;  // set by the caller that opened the data dir
  double read_seconds = 0;
  double als_seconds = 0;
  double index_seconds = 0;
  double eval_seconds = 0;
  double write_seconds = 0;
  std::string ranker;  // one line: the learned ranker's outcome (trained + metrics, or why not)
};
// FailedPrecondition when there is nothing to train on; Cancelled when *options.cancel turned
// true; otherwise the failing step's status with context. Writes nothing on failure.
Result<TrainRunSummary> TrainAndWriteBundle(const store::DataDir& data_dir, const Config& config,
                                            const TrainRunOptions& options);
int RunEvalCommand(const std::vector<std::string>& args);

}  // namespace pulse::train
