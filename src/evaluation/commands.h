// evaluation/commands.h — `pulse eval`.
//
//   pulse eval --train FILE --test FILE [--format movielens|jsonl] [--k 10] [--models LIST]
//              [--tune] [--json] [--config FILE]
//   pulse eval --input FILE [--split 0.75] [--seed 42] [--format ...] [--k 10] [--models LIST]
//              [--tune] [--json] [--config FILE]
//       The holdout protocol of docs/design/eval.md (evaluation/holdout.h, models.h): every model
//       of LIST (default popular,itemknn,als,pulse; also ease) ranks the whole catalog for each
//       user with test items; prints Precision/Recall/NDCG/HR/MAP@K, coverage and mean popularity
//       rank per model and K, or with --json one object per model per line:
//       {"model":"als","params":{...},"tuned":false,"train_seconds":…,"eval_seconds":…,
//        "metrics":[{"k":10,"users":…,"precision":…,"recall":…,"ndcg":…,"hit_rate":…,"map":…,
//                    "map_min":…,"coverage":…,"mean_popularity_rank":…}]}
//       --format defaults per file: jsonl for *.jsonl / *.json, else movielens. --k takes a
//       comma-separated list (--tune selects by NDCG at the smallest). --config supplies the ALS
//       defaults (train:) and the pulse model's pipeline, index and store settings.
//   Any other form (--format F FILE --protocol P) is the older protocol of train/commands.h.
//
// Exit codes: 0 success; 2 bad usage: an unknown or malformed flag, a missing, unreadable or
// empty input file, a bad --config, a model that cannot handle the data (EASE on a big catalog);
// 1 any other failure. Malformed input lines are skipped and counted on stderr.
// Thread-safety: meant to be called once from main.
#pragma once

#include <string>
#include <vector>

namespace pulse::evaluation {

int RunEvalCommand(const std::vector<std::string>& args);

}  // namespace pulse::evaluation
