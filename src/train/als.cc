// Eigen must not start its own OpenMP team inside our worker threads.
#define EIGEN_DONT_PARALLELIZE

#include "train/als.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "core/clock.h"
#include "train/parallel.h"

namespace pulse::train {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix>;
using ConstVecMap = Eigen::Map<const Eigen::VectorXf>;
using VecMap = Eigen::Map<Eigen::VectorXf>;

// nu of the frequency-scaled regularisation lambda (n + nu): keeps rows with no observations
// (n = 0) well-posed. Measured insensitive between 0 and 10.
constexpr double kRegularizationOffset = 1.0;

// Per-thread buffers, reused across rows so the solve loop does not allocate.
struct RowScratch {
  explicit RowScratch(int dim) : a(dim, dim), b(dim), x(dim), r(dim), p(dim), ap(dim) {}
  Eigen::MatrixXf a;
  RowMatrix ys;
  Eigen::VectorXf b, x, r, p, ap;
  Eigen::VectorXf weight, proj;  // CG: per-entry c - 1, and Y v
  Eigen::LLT<Eigen::MatrixXf, Eigen::Lower> llt;
  std::vector<float> conf;
};

// Exact solve of (G + sum_k (c_k - 1) y_k y_k^T + reg I) x = sum_k c_k y_k.
void SolveRowExact(const float* factors, int dim, const float* gramian,
                   std::span<const DenseId> ids, const float* conf, float reg, RowScratch& s,
                   float* out) {
  const auto n = static_cast<Eigen::Index>(ids.size());
  s.a = ConstRowMap(gramian, dim, dim);
  s.b.setZero();
  if (n > 0) {
    // The buffer only grows: resizing it to each row's (or each served user's) n reallocated
    // n x dim floats per call, blocks large enough to make glibc consolidate its fast bins.
    // The first n rows of a row-major matrix have the layout of an n-row one: same product.
    if (s.ys.rows() < n || s.ys.cols() != dim) s.ys.resize(std::max(n, s.ys.rows()), dim);
    auto ys = s.ys.topRows(n);
    for (Eigen::Index k = 0; k < n; ++k) {
      ConstVecMap y(factors + static_cast<size_t>(ids[static_cast<size_t>(k)]) * dim, dim);
      ys.row(k) = std::sqrt(conf[k] - 1.0f) * y.transpose();
      s.b.noalias() += conf[k] * y;
    }
    s.a.selfadjointView<Eigen::Lower>().rankUpdate(ys.transpose());
  }
  s.a.diagonal().array() += reg;
  s.llt.compute(s.a);
  if (s.llt.info() != Eigen::Success) {
    // Only reachable with regularization 0 and a rank-deficient Gramian: add a tiny ridge.
    const float ridge = 1e-6f * (s.a.diagonal().cwiseAbs().maxCoeff() + 1e-12f);
    s.a.diagonal().array() += ridge;
    s.llt.compute(s.a);
  }
  VecMap(out, dim) = s.llt.solve(s.b);
}

// A few conjugate-gradient steps on the same system, warm-started from `x_inout` (Takacs,
// Pilaszy & Tikk 2011): O(steps * (dim^2 + n dim)) instead of O(n dim^2 + dim^3).
void SolveRowCg(const float* factors, int dim, const float* gramian, std::span<const DenseId> ids,
                const float* conf, float reg, int steps, RowScratch& s, float* x_inout) {
  const auto n = static_cast<Eigen::Index>(ids.size());
  ConstRowMap g(gramian, dim, dim);
  VecMap x(x_inout, dim);
  // Gathered once, the row's vectors make every product below a contiguous matrix-vector one.
  s.ys.resize(n, dim);
  s.weight.resize(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    s.ys.row(k) = ConstVecMap(factors + static_cast<size_t>(ids[static_cast<size_t>(k)]) * dim, dim)
                      .transpose();
    s.weight[k] = conf[k] - 1.0f;
  }
  auto apply = [&](const Eigen::VectorXf& v, Eigen::VectorXf& result) {
    result.noalias() = g * v;
    result += reg * v;
    if (n > 0) {
      s.proj.noalias() = s.ys * v;
      s.proj.array() *= s.weight.array();
      result.noalias() += s.ys.transpose() * s.proj;
    }
  };
  s.x = x;
  apply(s.x, s.ap);
  s.r = -s.ap;
  if (n > 0) {
    // sum_k c_k y_k = Y^T (weight + 1)
    s.proj = s.weight.array() + 1.0f;
    s.r.noalias() += s.ys.transpose() * s.proj;
  }
  s.p = s.r;
  float rs_old = s.r.squaredNorm();
  for (int step = 0; step < steps && rs_old > 1e-20f; ++step) {
    apply(s.p, s.ap);
    const float denom = s.p.dot(s.ap);
    if (!(denom > 0)) break;
    const float step_size = rs_old / denom;
    s.x += step_size * s.p;
    s.r -= step_size * s.ap;
    const float rs_new = s.r.squaredNorm();
    s.p = s.r + (rs_new / rs_old) * s.p;
    rs_old = rs_new;
  }
  x = s.x;
}

// splitmix64: initial values as a pure function of (seed, row, column).
uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void InitFactors(std::vector<float>& factors, size_t rows, int dim, uint64_t seed, uint64_t salt) {
  // Uniform with standard deviation 0.1 / sqrt(dim), as in Rendle et al. (2021).
  const double half_width = std::sqrt(3.0) * 0.1 / std::sqrt(static_cast<double>(dim));
  factors.resize(rows * static_cast<size_t>(dim));
  const uint64_t base = Mix(seed ^ Mix(salt));
  for (size_t i = 0; i < factors.size(); ++i) {
    const double unit = static_cast<double>(Mix(base + i) >> 11) * 0x1.0p-53;  // [0, 1)
    factors[i] = static_cast<float>((2.0 * unit - 1.0) * half_width);
  }
}

enum class Side { kItems, kUsers };

// Solves every row of one side against the fixed other side.
void HalfStep(const Interactions& data, Side side, const TrainConfig& config, int threads,
              bool exact, const std::vector<float>& fixed, std::vector<float>& solved) {
  const int dim = config.factors;
  const size_t n_fixed = side == Side::kItems ? data.num_users() : data.num_items();
  const size_t n_rows = side == Side::kItems ? data.num_items() : data.num_users();
  const std::vector<float> gramian = ComputeGramian(fixed.data(), n_fixed, dim);
  // Created by the worker that uses it: a generous thread count costs nothing when the rows
  // run out first.
  std::vector<std::unique_ptr<RowScratch>> scratch(static_cast<size_t>(threads));
  ParallelFor(n_rows, threads, 64, [&](int worker, size_t begin, size_t end) {
    std::unique_ptr<RowScratch>& slot = scratch[static_cast<size_t>(worker)];
    if (!slot) slot = std::make_unique<RowScratch>(dim);
    RowScratch& s = *slot;
    for (size_t row = begin; row < end; ++row) {
      const auto id = static_cast<DenseId>(row);
      std::span<const DenseId> ids = side == Side::kItems ? data.ItemUsers(id) : data.UserItems(id);
      std::span<const float> weights =
          side == Side::kItems ? data.ItemWeights(id) : data.UserWeights(id);
      s.conf.resize(weights.size());
      for (size_t k = 0; k < weights.size(); ++k) s.conf[k] = Confidence(weights[k], config);
      const float reg = RowRegularization(ids.size(), config);
      float* out = solved.data() + row * static_cast<size_t>(dim);
      if (exact) {
        SolveRowExact(fixed.data(), dim, gramian.data(), ids, s.conf.data(), reg, s, out);
      } else {
        SolveRowCg(fixed.data(), dim, gramian.data(), ids, s.conf.data(), reg, config.cg_steps, s,
                   out);
      }
    }
  });
}

}  // namespace

float Confidence(float weight, const TrainConfig& config) {
  return static_cast<float>(1.0 + config.alpha * std::log1p(static_cast<double>(weight)));
}

float RowRegularization(size_t n, const TrainConfig& config) {
  return static_cast<float>(config.regularization *
                            (static_cast<double>(n) + kRegularizationOffset));
}

Status ValidateTrainConfig(const TrainConfig& config) {
  if (config.factors < 1 || config.factors > 1024) {
    return InvalidArgumentError("train.factors: must be in 1..1024");
  }
  if (config.iterations < 1) return InvalidArgumentError("train.iterations: must be >= 1");
  if (!(config.regularization >= 0) || !std::isfinite(config.regularization)) {
    return InvalidArgumentError("train.regularization: must be a finite number >= 0");
  }
  if (!(config.alpha >= 0) || !std::isfinite(config.alpha)) {
    return InvalidArgumentError("train.alpha: must be a finite number >= 0");
  }
  if (config.threads < 0) return InvalidArgumentError("train.threads: must be >= 0");
  if (config.solver != "cg" && config.solver != "cholesky") {
    return InvalidArgumentError("train.solver: expected cg or cholesky");
  }
  if (config.cg_steps < 1 || config.cg_steps > 100) {
    return InvalidArgumentError("train.cg_steps: must be in 1..100");
  }
  return OkStatus();
}

std::vector<float> ComputeGramian(const float* item_factors, size_t n_items, int dim) {
  std::vector<float> out(static_cast<size_t>(dim) * static_cast<size_t>(dim), 0.0f);
  if (n_items == 0) return out;
  ConstRowMap y(item_factors, static_cast<Eigen::Index>(n_items), dim);
  Eigen::Map<RowMatrix> g(out.data(), dim, dim);
  g.noalias() = y.transpose() * y;
  return out;
}

void FoldInUser(const float* item_factors, int dim, const float* gramian,
                std::span<const DenseId> items, std::span<const float> weights,
                const TrainConfig& config, float* out) {
  // Serving folds in on every uncached request: the buffers are reused per thread (and per
  // dimension) instead of a dozen heap blocks per call. Every one is fully rewritten per call.
  thread_local std::vector<DenseId> ids;
  thread_local std::vector<float> conf;
  thread_local std::unique_ptr<RowScratch> scratch;
  ids.clear();
  conf.clear();
  const size_t n = std::min(items.size(), weights.size());
  for (size_t k = 0; k < n; ++k) {
    if (!(weights[k] > 0) || !std::isfinite(weights[k])) continue;
    ids.push_back(items[k]);
    conf.push_back(Confidence(weights[k], config));
  }
  if (ids.empty()) {
    std::fill(out, out + dim, 0.0f);
    return;
  }
  if (scratch == nullptr || scratch->b.size() != dim) scratch = std::make_unique<RowScratch>(dim);
  SolveRowExact(item_factors, dim, gramian, ids, conf.data(), RowRegularization(ids.size(), config),
                *scratch, out);
}

double AlsLoss(const Interactions& data, const float* user_factors, const float* item_factors,
               int dim, const TrainConfig& config) {
  using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto n_users = static_cast<Eigen::Index>(data.num_users());
  const auto n_items = static_cast<Eigen::Index>(data.num_items());
  const RowMatrixD x = ConstRowMap(user_factors, n_users, dim).cast<double>();
  const RowMatrixD y = ConstRowMap(item_factors, n_items, dim).cast<double>();
  const Eigen::MatrixXd g = y.transpose() * y;
  double loss = 0;
  for (Eigen::Index u = 0; u < n_users; ++u) {
    const auto xu = x.row(u);
    // Every pair as if unobserved, then corrected for the observed ones.
    loss += xu * g * xu.transpose();
    std::span<const DenseId> items = data.UserItems(static_cast<DenseId>(u));
    std::span<const float> weights = data.UserWeights(static_cast<DenseId>(u));
    for (size_t k = 0; k < items.size(); ++k) {
      const double s = xu.dot(y.row(items[k]));
      const double c = Confidence(weights[k], config);
      loss += c * (1 - s) * (1 - s) - s * s;
    }
    loss += RowRegularization(items.size(), config) * xu.squaredNorm();
  }
  for (Eigen::Index i = 0; i < n_items; ++i) {
    loss += RowRegularization(data.ItemUsers(static_cast<DenseId>(i)).size(), config) *
            y.row(i).squaredNorm();
  }
  return loss;
}

Result<AlsModel> TrainAls(const Interactions& data, const TrainConfig& config,
                          const AlsOptions& options) {
  RETURN_IF_ERROR(ValidateTrainConfig(config));
  Stopwatch stopwatch;
  const int threads = ResolveThreads(config.threads);
  AlsModel model;
  model.dim = config.factors;
  model.num_users = data.num_users();
  model.num_items = data.num_items();
  InitFactors(model.user_factors, model.num_users, model.dim, config.seed, 1);
  InitFactors(model.item_factors, model.num_items, model.dim, config.seed, 2);
  const bool cg = config.solver == "cg";
  for (int iteration = 1; iteration <= config.iterations; ++iteration) {
    const bool last = iteration == config.iterations;
    HalfStep(data, Side::kItems, config, threads, !cg, model.user_factors, model.item_factors);
    HalfStep(data, Side::kUsers, config, threads, !cg || last, model.item_factors,
             model.user_factors);
    AlsProgress progress;
    progress.iteration = iteration;
    progress.iterations = config.iterations;
    progress.loss = std::numeric_limits<double>::quiet_NaN();
    if (options.compute_loss) {
      progress.loss =
          AlsLoss(data, model.user_factors.data(), model.item_factors.data(), model.dim, config);
      model.loss.push_back(progress.loss);
    }
    progress.elapsed_seconds = stopwatch.ElapsedSeconds();
    if (options.on_iteration) options.on_iteration(progress);
    if (options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed)) {
      return CancelledError(StrCat("ALS training cancelled after iteration ", iteration));
    }
  }
  return model;
}

}  // namespace pulse::train
