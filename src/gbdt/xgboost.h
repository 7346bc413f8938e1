// gbdt/xgboost.h — a thin adapter over the XGBoost C API (Debian libxgboost-dev 1.7): train a
// binary:logistic tree ensemble on a dense float matrix and hand back the model as JSON; load a
// JSON model and predict with XGBoost's own predictor (the reference the compiled evaluator is
// tested and benchmarked against).
//
// Matrices are row-major `rows × cols` floats; NaN marks a missing value. Every XGBoost error
// code becomes a Status carrying XGBGetLastError()'s text (its stack trace trimmed); nothing
// throws. Thread-safety: a Booster is not safe for concurrent use; distinct Boosters are.
// Ownership: Booster owns its XGBoost handle (RAII, move-only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace pulse::gbdt {

struct TrainParams {
  int trees = 100;  // boosting rounds
  int max_depth = 6;
  double eta = 0.3;               // learning rate
  double min_child_weight = 1.0;  // minimum hessian sum in a child
  double subsample = 1.0;         // row sampling per tree, (0, 1]
  uint64_t seed = 0;              // for subsampling
  int nthread = 1;
  std::string tree_method = "hist";  // hist | exact | approx
};

// InvalidArgument for out-of-range parameters (trees < 1, depth < 1 or > 64, eta <= 0,
// subsample outside (0, 1], nthread < 1, unknown tree_method).
Status ValidateTrainParams(const TrainParams& params);

// A dense matrix view: rows × cols floats, row-major; labels (0/1) when training.
struct DenseMatrix {
  std::span<const float> values;
  size_t rows = 0;
  size_t cols = 0;
};

class Booster {
 public:
  Booster(Booster&& other) noexcept;
  Booster& operator=(Booster&& other) noexcept;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster();

  // Trains on `x` with `labels` (one 0/1 value per row). InvalidArgument for shape mismatches,
  // an empty matrix, labels other than 0/1 or bad params; Internal for XGBoost failures.
  static Result<Booster> Train(const DenseMatrix& x, std::span<const float> labels,
                               const TrainParams& params);
  // Loads a model saved by SaveJson (or any XGBoost JSON model). InvalidArgument when XGBoost
  // rejects it.
  static Result<Booster> LoadJson(std::string_view json);

  // The model as XGBoost JSON (XGBoosterSaveModelToBuffer, format "json").
  Result<std::string> SaveJson() const;

  // XGBoost's own predictor, one value per row: probabilities, or raw margins when
  // `output_margin`. InvalidArgument when x.cols is smaller than the model's feature count.
  Result<std::vector<float>> Predict(const DenseMatrix& x, bool output_margin) const;

 private:
  explicit Booster(void* handle) : handle_(handle) {}
  void* handle_ = nullptr;  // BoosterHandle
};

}  // namespace pulse::gbdt
