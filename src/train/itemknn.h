// train/itemknn.h — the item-kNN baseline of offline evaluation: cosine item–item similarity
// over binary interactions (Sarwar et al. 2001; the "ItemKNN-CF" of Dacrema et al. 2019).
//
//   sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink)     for i != j (sim(i, i) = 0)
//   score(u, j) = sum over i in I_u of sim(i, j), counting only j among i's neighbours
//
// where U_i = the users with a training interaction on i and I_u = u's training items. Every
// interaction is a positive of weight 1 (weights and ratings are ignored). `neighbours` keeps the
// most similar items of each item (ties: smaller dense id first); 0 keeps all of them.
//
// Cost: building takes O(sum over users of |I_u|^2) time and one float + one id per stored
// neighbour (at most items^2; ~2.8 M pairs, 22 MiB, for MovieLens-100K); scoring a user
// O(sum over i in I_u of |N(i)|).
// Thread-safety: immutable after construction; Score may be called from several threads.
// Ownership: keeps a pointer to `train`, which must outlive the model.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "core/ids.h"
#include "train/eval.h"
#include "train/interactions.h"

namespace pulse::train {

struct ItemKnnOptions {
  int neighbours = 0;  // 0 = all
  double shrink = 0;
};

class ItemKnnModel final : public EvalModel {
 public:
  // Builds the neighbour lists with `threads` threads (0 = all cores); the result does not depend
  // on the thread count.
  ItemKnnModel(const Interactions& train, const ItemKnnOptions& options, int threads);
  size_t num_items() const override { return train_->num_items(); }
  void Score(std::span<const DenseId> users, float* out) const override;

  // i's neighbours with their similarities (parallel spans, by dense id).
  std::span<const DenseId> Neighbours(DenseId item) const;
  std::span<const float> Similarities(DenseId item) const;

 private:
  const Interactions* train_;
  std::vector<size_t> offsets_;
  std::vector<DenseId> neighbours_;
  std::vector<float> similarities_;
};

}  // namespace pulse::train
