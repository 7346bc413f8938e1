#include "train/itemknn.h"

#include <algorithm>
#include <cmath>

#include "train/parallel.h"

namespace pulse::train {

ItemKnnModel::ItemKnnModel(const Interactions& train, const ItemKnnOptions& options, int threads)
    : train_(&train) {
  const size_t n_items = train.num_items();
  // Each item's row is built independently into its own vector, then concatenated in item order,
  // so the result does not depend on the thread count.
  std::vector<std::vector<DenseId>> row_ids(n_items);
  std::vector<std::vector<float>> row_sims(n_items);
  const double shrink = std::max(0.0, options.shrink);
  const auto keep = static_cast<size_t>(std::max(0, options.neighbours));
  ParallelFor(n_items, ResolveThreads(threads), 16, [&](int, size_t begin, size_t end) {
    std::vector<uint32_t> co(n_items, 0);
    std::vector<DenseId> touched;
    std::vector<std::pair<float, DenseId>> row;
    for (size_t i = begin; i < end; ++i) {
      const auto item = static_cast<DenseId>(i);
      touched.clear();
      for (DenseId user : train.ItemUsers(item)) {
        for (DenseId other : train.UserItems(user)) {
          if (other == item) continue;
          if (co[other]++ == 0) touched.push_back(other);
        }
      }
      std::sort(touched.begin(), touched.end());
      const double n_i = static_cast<double>(train.ItemUsers(item).size());
      row.clear();
      for (DenseId other : touched) {
        const double n_j = static_cast<double>(train.ItemUsers(other).size());
        const double sim = static_cast<double>(co[other]) / (std::sqrt(n_i * n_j) + shrink);
        row.emplace_back(static_cast<float>(sim), other);
        co[other] = 0;
      }
      if (keep > 0 && row.size() > keep) {
        std::partial_sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(keep), row.end(),
                          [](const auto& a, const auto& b) {
                            return a.first > b.first || (a.first == b.first && a.second < b.second);
                          });
        row.resize(keep);
        std::sort(row.begin(), row.end(),
                  [](const auto& a, const auto& b) { return a.second < b.second; });
      }
      row_ids[i].reserve(row.size());
      row_sims[i].reserve(row.size());
      for (const auto& [sim, other] : row) {
        row_ids[i].push_back(other);
        row_sims[i].push_back(sim);
      }
    }
  });
  offsets_.assign(n_items + 1, 0);
  for (size_t i = 0; i < n_items; ++i) offsets_[i + 1] = offsets_[i] + row_ids[i].size();
  neighbours_.reserve(offsets_.back());
  similarities_.reserve(offsets_.back());
  for (size_t i = 0; i < n_items; ++i) {
    neighbours_.insert(neighbours_.end(), row_ids[i].begin(), row_ids[i].end());
    similarities_.insert(similarities_.end(), row_sims[i].begin(), row_sims[i].end());
    std::vector<DenseId>().swap(row_ids[i]);
    std::vector<float>().swap(row_sims[i]);
  }
}

std::span<const DenseId> ItemKnnModel::Neighbours(DenseId item) const {
  return {neighbours_.data() + offsets_[item], offsets_[item + 1] - offsets_[item]};
}

std::span<const float> ItemKnnModel::Similarities(DenseId item) const {
  return {similarities_.data() + offsets_[item], offsets_[item + 1] - offsets_[item]};
}

void ItemKnnModel::Score(std::span<const DenseId> users, float* out) const {
  const size_t n_items = num_items();
  for (size_t r = 0; r < users.size(); ++r) {
    float* row = out + r * n_items;
    std::fill(row, row + n_items, 0.0f);
    if (users[r] >= train_->num_users()) continue;
    for (DenseId item : train_->UserItems(users[r])) {
      std::span<const DenseId> ids = Neighbours(item);
      std::span<const float> sims = Similarities(item);
      for (size_t n = 0; n < ids.size(); ++n) row[ids[n]] += sims[n];
    }
  }
}

}  // namespace pulse::train
