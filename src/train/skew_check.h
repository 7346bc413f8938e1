// train/skew_check.h — the training-serving skew check (`pulse check-skew`): for each served item
// in the served-feature log (store/served_log.h) recompute its ranker features offline and
// compare them with the vector serving scored.
//
// The offline path is independent of serving's state: it never reads the stored user histories,
// the feature store or the nearline processor. It replays the durable event log up to the
// request's log position (the record's events_seq; for older records without it, events with
// ts_ms <= the request time) into the user's history (newest engagement per item first, ties
// towards the later append, at most store.history_per_user entries), folds the newest
// pipeline.fold_in_items of them into the logged model version's space (train::FoldInUser with the
// bundle's recorded parameters; the trained user vector when none is in the model), and runs the
// serving definitions on it: ranking::CoreFeatureHydrator and ranking::RankerFeatures with the
// request's time. So a bug or a stale input on either side shows up as a mismatch.
//
// Limits (documented in docs/OBSERVABILITY.md): `retrieval_score` is the proposing source's own
// score and is not recomputed (reported with recomputed=false, never a mismatch); the catalog
// (item created_at) is read as it is now; when events of the same user are appended while a
// sampled request reads its state, the offline replay may see one event less than serving did.
//
// Rows that cannot be compared are counted, not guessed: records of another feature schema,
// records whose model version is no longer on disk, items unknown to that model. Malformed
// records (undecodable, wrong feature count) are counted with the first reason: the report is
// still produced and the command exits 2.
// Thread-safety: a function of its inputs; call from one thread. Users appear in the report only
// as hash buckets (obs::UserBucket), never as ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "nlohmann/json.hpp"
#include "store/data_dir.h"

namespace pulse::train {

struct SkewOptions {
  // A pair (served s, offline o) mismatches when |s - o| > abs_tolerance + rel_tolerance *
  // max(|s|, |o|); NaN matches only NaN.
  double abs_tolerance = 1e-5;
  double rel_tolerance = 1e-4;
  // The check passes when no feature's mismatches / compared exceeds this.
  double max_mismatch_rate = 0.01;
  // Stop after this many compared (request, item) rows; 0 = the whole log.
  size_t max_rows = 0;
  size_t examples_per_feature = 3;
};

struct SkewExample {
  std::string request_id;
  int64_t user_bucket = 0;  // obs::UserBucket of the user id
  std::string item_id;
  double served = 0;
  double offline = 0;
};

struct FeatureSkew {
  std::string name;
  bool recomputed = true;  // false: not recomputed offline (never counted as a mismatch)
  size_t compared = 0;
  size_t mismatches = 0;
  double sum_abs_diff = 0;  // over compared pairs with finite values
  size_t finite_pairs = 0;
  double max_abs_diff = 0;
  std::vector<SkewExample> examples;  // the first few mismatches
  double mismatch_rate() const {
    return compared == 0 ? 0.0 : static_cast<double>(mismatches) / static_cast<double>(compared);
  }
  double mean_abs_diff() const {
    return finite_pairs == 0 ? 0.0 : sum_abs_diff / static_cast<double>(finite_pairs);
  }
};

struct SkewReport {
  size_t records = 0;                 // served-feature records read
  size_t requests_compared = 0;       // records with at least one compared row
  size_t rows = 0;                    // (request, item) pairs compared
  size_t other_schema = 0;            // records of another feature schema (skipped)
  size_t model_missing = 0;           // records whose model version is not loadable (skipped)
  size_t unknown_items = 0;           // served items the logged model does not know (skipped)
  size_t malformed = 0;               // undecodable records or wrong feature counts
  std::string first_malformed;        // why the first one was refused
  bool truncated = false;             // stopped at max_rows
  double max_mismatch_rate = 0;       // the threshold the report was judged against
  std::vector<FeatureSkew> features;  // ranking::kRankerFeatureNames order

  // No recomputed feature's mismatch rate exceeds max_mismatch_rate.
  bool passed() const;
  // Features over the threshold, by name.
  std::vector<std::string> failing_features() const;
  // The --json document: counts, per-feature results and a flat `metrics` object
  // (pulse_skew_* names, one value per feature label) for a scraper or a CI gate.
  nlohmann::json Json() const;
  // The human-readable report (a table per feature plus examples).
  std::string Text() const;
};

// Runs the check over `data_dir` with the store/pipeline/train settings of `config`. Errors only
// for I/O failures reading the store (malformed records are counted in the report).
Result<SkewReport> CheckTrainingServingSkew(const store::DataDir& data_dir, const Config& config,
                                            const SkewOptions& options);

// `pulse check-skew --data-dir D [--config F] [--json] [--max-rows N] [--max-mismatch-rate R]
// [--abs-tolerance A] [--rel-tolerance R]`: exit 0 when the check passes, 1 when a feature's
// mismatch rate is over the threshold (or the store cannot be read), 2 on bad flags or malformed
// log records.
int RunCheckSkewCommand(const std::vector<std::string>& args);

}  // namespace pulse::train
