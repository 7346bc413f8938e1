// evaluation/holdout.h — the data side of `pulse eval --train/--test` and `--input --split`:
// held-out test sets, the item order ties are broken by, and the metrics of docs/design/eval.md.
//
// Every usable training event is a positive (ratings are not thresholded; impressions and
// unusable ids are skipped exactly as interactions.h skips them). Events aggregate into
// (user, item) pairs. The catalog is every item of the training or test data; users and items
// get dense ids in external-id order (ExternalIdLess), so "ties broken by dense id" anywhere in
// train/eval.h means "ties broken by item id ascending".
//
//   MakeHoldout   train file + test file: a test pair that is also a training pair is dropped
//                 (it could never be recommended) and counted.
//   SplitHoldout  one file: each user's distinct items, in external-id order, are shuffled with
//                 a generator seeded by (seed, user id) and the first ceil(fraction × n) train,
//                 the rest test. Deterministic for (input set, fraction, seed): neither the line
//                 order nor the other users change a user's split.
//
// Thread-safety: pure functions. Failure: none (empty input gives an empty holdout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/types.h"
#include "train/eval.h"

namespace pulse::evaluation {

// Numeric ids (an optional '-' and digits that fit an int64) compare numerically and come before
// other ids, which compare bytewise; equal numbers compare by text ("01" < "1").
bool ExternalIdLess(std::string_view a, std::string_view b);

struct HoldoutData {
  // split.train: the training pairs over the full catalog's dictionaries; split.test_*: the users
  // with test items and those items (ascending); split.rank_all_items is set.
  train::EvalSplit split;
  // The usable events of the training pairs, in input order (what the pulse model imports).
  std::vector<Event> train_events;
  size_t test_pairs_in_train = 0;  // MakeHoldout: test pairs dropped because they also train
};

HoldoutData MakeHoldout(std::vector<Event> train_events, std::vector<Event> test_events);
// `train_fraction` in (0, 1].
HoldoutData SplitHoldout(std::vector<Event> events, double train_fraction, uint64_t seed);

struct HoldoutMetrics {
  int k = 0;
  size_t users = 0;  // users with test items
  double precision = 0;
  double recall = 0;
  double ndcg = 0;
  double hit_rate = 0;
  double map = 0;      // AP@K / |T|, averaged
  double map_min = 0;  // AP@K / min(|T|, K), averaged
  // Distinct items in anyone's top K / catalog items.
  double coverage = 0;
  // Mean over every recommended slot of the item's popularity rank: 1 = the item with the most
  // training pairs (ties by item id), catalog size = the least popular.
  double mean_popularity_rank = 0;
};

// Metrics of `recommended` (parallel to split.test_users, best first) for each of `ks`.
std::vector<HoldoutMetrics> ScoreHoldout(const train::EvalSplit& split,
                                         const std::vector<std::vector<DenseId>>& recommended,
                                         std::span<const int> ks);

}  // namespace pulse::evaluation
