// train/ease.h — EASE, the closed-form linear item–item baseline of Steck (2019), "Embarrassingly
// Shallow Autoencoders for Sparse Data":
//
//   G = XᵀX + lambda I     (X = the binary user × item training matrix)
//   P = G⁻¹,  B_ij = -P_ij / P_jj for i != j,  B_jj = 0
//   score(u, j) = sum over i in I_u of B_ij
//
// Every interaction is a positive of weight 1. The model is a dense items × items matrix, so it
// is only built for catalogs up to kEaseMaxItems items (FailedPrecondition beyond, naming the
// size): peak memory is about 16 bytes × items² while inverting in double precision, then
// 4 bytes × items² for B (MovieLens-100K: 1,682 items, 45 MiB peak; MovieLens-1M: 3,706 items).
// Building costs O(sum over users of |I_u|^2 + items³).
// Thread-safety: immutable after construction; Score may be called from several threads.
// Ownership: keeps a pointer to `train`, which must outlive the model.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "train/eval.h"
#include "train/interactions.h"

namespace pulse::train {

inline constexpr size_t kEaseMaxItems = 8000;
inline constexpr double kEaseDefaultLambda = 500;

class EaseModel final : public EvalModel {
 public:
  // InvalidArgument for lambda <= 0; FailedPrecondition when the catalog exceeds `max_items`.
  static Result<EaseModel> Train(const Interactions& train, double lambda,
                                 size_t max_items = kEaseMaxItems);

  size_t num_items() const override { return n_items_; }
  void Score(std::span<const DenseId> users, float* out) const override;
  // B_ij.
  float Weight(DenseId i, DenseId j) const {
    return weights_[static_cast<size_t>(i) * n_items_ + j];
  }

 private:
  EaseModel(const Interactions& train, size_t n_items, std::vector<float> weights)
      : train_(&train), n_items_(n_items), weights_(std::move(weights)) {}

  const Interactions* train_;
  size_t n_items_;
  std::vector<float> weights_;  // B, row-major
};

}  // namespace pulse::train
