// train/ranker_training.h — the learned ranker's training step of `pulse train` (issue 4).
//
// Data: the served-feature log (store/served_log.h: sampled recommend requests, each served item
// with the feature vector serving scored it with) joined with the event log. A served item is a
// positive when the same user clicked or purchased it afterwards — either an event carrying that
// request's request_id, or, for events without a logged request_id, within kClickWindowMs after
// the request — and a negative otherwise. Records of another feature schema are skipped.
// Split: requests are hashed into train (80%) and held-out (20%) sets, so a request's items never
// straddle both. The model: XGBoost gradient-boosted trees (gbdt/xgboost.h), evaluated on the
// held-out set with Pulse's own compiled evaluator (AUC, log loss).
// When there is not enough data (fewer than train.ranker_min_rows labelled rows, or a class or a
// split is empty) no ranker is trained and the bundle keeps the linear scorer; the outcome says
// why. Nothing here fails `pulse train`: a ranker problem is reported, the rest still ships.
// Thread-safety: a function of its inputs; call from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "gbdt/xgboost.h"
#include "nlohmann/json.hpp"
#include "store/data_dir.h"

namespace pulse::train {

inline constexpr int64_t kClickWindowMs = 30 * 60 * 1000;

struct RankerDataset {
  size_t cols = 0;
  std::vector<float> x;                // rows × cols
  std::vector<float> y;                // 0/1 per row
  std::vector<uint64_t> request_hash;  // per row, for the split
  size_t requests = 0;
  size_t skipped_records = 0;  // corrupt or another schema
  size_t rows() const { return y.size(); }
};

// Reads the served-feature log and the events of `data_dir` and labels every served item.
// Errors only for I/O failures scanning the store.
Result<RankerDataset> BuildRankerDataset(const store::DataDir& data_dir,
                                         int64_t click_window_ms = kClickWindowMs);

struct RankerOutcome {
  bool trained = false;
  std::string reason;      // why not, when !trained
  std::string model_json;  // XGBoost JSON when trained
  size_t rows = 0, positives = 0, requests = 0, train_rows = 0, holdout_rows = 0;
  double auc = 0, logloss = 0;
  // For the manifest's "ranker" entry, and one line for the `pulse train` report.
  nlohmann::json ManifestJson() const;
  std::string Summary() const;
};

// The training parameters `pulse train` uses (docs/design/ranker.md).
gbdt::TrainParams RankerTrainParams(const TrainConfig& config);

// Trains on `data` when it is big enough (min_rows) and evaluates on the held-out requests.
RankerOutcome TrainRanker(const RankerDataset& data, int min_rows, const gbdt::TrainParams& params);

// BuildRankerDataset + TrainRanker with the configured minimum: the whole step.
RankerOutcome TrainRankerFromDataDir(const store::DataDir& data_dir, const TrainConfig& config);

}  // namespace pulse::train
