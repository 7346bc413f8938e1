// Eigen must not start its own OpenMP team inside our worker threads.
#define EIGEN_DONT_PARALLELIZE

#include "train/ease.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "core/strings.h"

namespace pulse::train {

Result<EaseModel> EaseModel::Train(const Interactions& train, double lambda, size_t max_items) {
  if (!(lambda > 0) || !std::isfinite(lambda)) {
    return InvalidArgumentError(StrCat("EASE lambda must be a positive number, got ", lambda));
  }
  const size_t n = train.num_items();
  if (n > max_items) {
    return FailedPreconditionError(
        StrCat("EASE needs a dense items x items matrix and the catalog has ", n, " items (limit ",
               max_items, ", about 16 bytes x items^2 of memory)"));
  }
  const auto size = static_cast<Eigen::Index>(n);
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(size, size);
  for (size_t u = 0; u < train.num_users(); ++u) {
    std::span<const DenseId> items = train.UserItems(static_cast<DenseId>(u));
    for (DenseId a : items) {
      for (DenseId b : items) gram(a, b) += 1.0;
    }
  }
  gram.diagonal().array() += lambda;
  Eigen::LLT<Eigen::MatrixXd> llt(gram);
  if (llt.info() != Eigen::Success) return InternalError("EASE: the Gram matrix is not positive");
  gram.setIdentity();
  llt.solveInPlace(gram);  // gram now holds P = G⁻¹
  std::vector<float> weights(n * n);
  for (Eigen::Index i = 0; i < size; ++i) {
    for (Eigen::Index j = 0; j < size; ++j) {
      weights[static_cast<size_t>(i) * n + static_cast<size_t>(j)] =
          i == j ? 0.0f : static_cast<float>(-gram(i, j) / gram(j, j));
    }
  }
  return EaseModel(train, n, std::move(weights));
}

void EaseModel::Score(std::span<const DenseId> users, float* out) const {
  for (size_t r = 0; r < users.size(); ++r) {
    float* row = out + r * n_items_;
    std::fill(row, row + n_items_, 0.0f);
    if (users[r] >= train_->num_users()) continue;
    for (DenseId item : train_->UserItems(users[r])) {
      const float* b = weights_.data() + static_cast<size_t>(item) * n_items_;
      for (size_t j = 0; j < n_items_; ++j) row[j] += b[j];
    }
  }
}

}  // namespace pulse::train
