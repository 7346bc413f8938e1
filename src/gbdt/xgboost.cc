#include "gbdt/xgboost.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <utility>

#include "core/strings.h"

namespace pulse::gbdt {
namespace {

// XGBGetLastError's text is "[hh:mm:ss] file:line: message\nStack trace: ..."; keep the message.
std::string LastError() {
  std::string text = XGBGetLastError();
  if (size_t pos = text.find("\nStack trace"); pos != std::string::npos) text.resize(pos);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

Status Check(int rc, std::string_view what, StatusCode code = StatusCode::kInternal) {
  if (rc == 0) return OkStatus();
  return Status(code, StrCat("XGBoost ", what, ": ", LastError()));
}

// RAII for a DMatrixHandle.
class Matrix {
 public:
  ~Matrix() {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
  }
  static Result<Matrix> Create(const DenseMatrix& x) {
    if (x.rows == 0 || x.cols == 0) return InvalidArgumentError("matrix is empty");
    if (x.values.size() != x.rows * x.cols) {
      return InvalidArgumentError(
          StrCat("matrix has ", x.values.size(), " values, expected ", x.rows, " × ", x.cols));
    }
    Matrix m;
    RETURN_IF_ERROR(
        Check(XGDMatrixCreateFromMat(x.values.data(), x.rows, x.cols, std::nanf(""), &m.handle_),
              "creating a DMatrix"));
    return m;
  }
  Matrix(Matrix&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Matrix& operator=(Matrix&&) = delete;
  DMatrixHandle get() const { return handle_; }

 private:
  Matrix() = default;
  DMatrixHandle handle_ = nullptr;
};

}  // namespace

Status ValidateTrainParams(const TrainParams& p) {
  if (p.trees < 1 || p.trees > 100000) return InvalidArgumentError("trees must be 1..100000");
  if (p.max_depth < 1 || p.max_depth > 64) return InvalidArgumentError("max_depth must be 1..64");
  if (!(p.eta > 0 && p.eta <= 1)) return InvalidArgumentError("eta must be in (0, 1]");
  if (!(p.min_child_weight >= 0) || !std::isfinite(p.min_child_weight)) {
    return InvalidArgumentError("min_child_weight must be >= 0");
  }
  if (!(p.subsample > 0 && p.subsample <= 1)) {
    return InvalidArgumentError("subsample must be in (0, 1]");
  }
  if (p.nthread < 1 || p.nthread > 1024) return InvalidArgumentError("nthread must be 1..1024");
  if (p.tree_method != "hist" && p.tree_method != "exact" && p.tree_method != "approx") {
    return InvalidArgumentError("tree_method must be hist, exact or approx");
  }
  return OkStatus();
}

Booster::Booster(Booster&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}

Booster& Booster::operator=(Booster&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) XGBoosterFree(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

Booster::~Booster() {
  if (handle_ != nullptr) XGBoosterFree(handle_);
}

Result<Booster> Booster::Train(const DenseMatrix& x, std::span<const float> labels,
                               const TrainParams& params) {
  RETURN_IF_ERROR(ValidateTrainParams(params));
  if (labels.size() != x.rows) {
    return InvalidArgumentError(StrCat("have ", labels.size(), " labels for ", x.rows, " rows"));
  }
  for (float y : labels) {
    if (y != 0.0f && y != 1.0f) return InvalidArgumentError("labels must be 0 or 1");
  }
  ASSIGN_OR_RETURN(Matrix m, Matrix::Create(x));
  RETURN_IF_ERROR(Check(
      XGDMatrixSetFloatInfo(m.get(), "label", labels.data(), static_cast<bst_ulong>(labels.size())),
      "setting labels"));
  BoosterHandle handle = nullptr;
  DMatrixHandle dmats[] = {m.get()};
  RETURN_IF_ERROR(Check(XGBoosterCreate(dmats, 1, &handle), "creating a booster"));
  Booster booster(handle);
  const std::pair<const char*, std::string> settings[] = {
      {"objective", "binary:logistic"},
      {"max_depth", StrCat(params.max_depth)},
      {"eta", StrCat(params.eta)},
      {"min_child_weight", StrCat(params.min_child_weight)},
      {"subsample", StrCat(params.subsample)},
      {"seed", StrCat(params.seed)},
      {"nthread", StrCat(params.nthread)},
      {"tree_method", params.tree_method},
      {"verbosity", "0"},
  };
  for (const auto& [key, value] : settings) {
    RETURN_IF_ERROR(Check(XGBoosterSetParam(handle, key, value.c_str()), StrCat("setting ", key),
                          StatusCode::kInvalidArgument));
  }
  for (int i = 0; i < params.trees; ++i) {
    RETURN_IF_ERROR(Check(XGBoosterUpdateOneIter(handle, i, m.get()), "training"));
  }
  return booster;
}

Result<Booster> Booster::LoadJson(std::string_view json) {
  BoosterHandle handle = nullptr;
  RETURN_IF_ERROR(Check(XGBoosterCreate(nullptr, 0, &handle), "creating a booster"));
  Booster booster(handle);
  RETURN_IF_ERROR(Check(XGBoosterLoadModelFromBuffer(handle, json.data(), json.size()),
                        "loading a model", StatusCode::kInvalidArgument));
  return booster;
}

Result<std::string> Booster::SaveJson() const {
  bst_ulong len = 0;
  const char* data = nullptr;
  RETURN_IF_ERROR(Check(XGBoosterSaveModelToBuffer(handle_, R"({"format": "json"})", &len, &data),
                        "saving the model"));
  return std::string(data, len);
}

Result<std::vector<float>> Booster::Predict(const DenseMatrix& x, bool output_margin) const {
  bst_ulong num_features = 0;
  RETURN_IF_ERROR(Check(XGBoosterGetNumFeature(handle_, &num_features), "reading num_feature"));
  if (x.cols < num_features) {
    return InvalidArgumentError(
        StrCat("rows have ", x.cols, " features, the model needs ", num_features));
  }
  ASSIGN_OR_RETURN(Matrix m, Matrix::Create(x));
  const std::string config = StrCat(
      R"({"type": )", output_margin ? 1 : 0,
      R"(, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})");
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* result = nullptr;
  RETURN_IF_ERROR(
      Check(XGBoosterPredictFromDMatrix(handle_, m.get(), config.c_str(), &shape, &dims, &result),
            "predicting"));
  return std::vector<float>(result, result + x.rows);
}

}  // namespace pulse::gbdt
