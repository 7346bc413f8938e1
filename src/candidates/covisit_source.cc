#include "candidates/covisit_source.h"

#include <algorithm>
#include <bit>
#include <utility>
#include <vector>

#include "nearline/feature_view.h"

namespace pulse::candidates {

namespace {

// Per-item sums in first-appearance order (seed order; float sums depend on the order), in an
// open-addressed table of positions into `sums`, one per thread: no sort of the (item, score)
// pairs and no hash node per neighbour. Entries are cleared by the next request through the
// positions they recorded, so an early return leaves nothing behind.
class ItemSums {
 public:
  struct Sum {
    DenseId item;
    uint32_t slot;  // its cell in table_
    double score;
  };

  void Clear() {
    for (const Sum& sum : sums_) table_[sum.slot] = Cell{};
    sums_.clear();
  }
  // Makes room for `more` new items at a load of at most 1/2.
  void Reserve(size_t more) {
    const size_t need = 2 * (sums_.size() + more);
    if (need <= table_.size()) return;
    size_t size = std::max<size_t>(table_.size(), 256);
    while (size < need) size *= 2;
    table_.assign(size, Cell{});
    shift_ = 64 - std::countr_zero(size);
    for (uint32_t i = 0; i < sums_.size(); ++i) Place(i);
  }
  // Call Reserve first.
  void Add(DenseId item, double score) {
    const size_t mask = table_.size() - 1;
    for (size_t cell = Hash(item);; cell = (cell + 1) & mask) {
      const Cell entry = table_[cell];
      if (entry.index == 0) {
        table_[cell] = Cell{item, static_cast<uint32_t>(sums_.size() + 1)};
        sums_.push_back({item, static_cast<uint32_t>(cell), score});
        return;
      }
      if (entry.item == item) {
        sums_[entry.index - 1].score += score;
        return;
      }
    }
  }
  std::vector<Sum>& sums() { return sums_; }

 private:
  // Fibonacci hashing: the top bits of the product, so neighbouring ids spread out.
  size_t Hash(DenseId item) const { return (uint64_t{item} * 0x9E3779B97F4A7C15ull) >> shift_; }
  void Place(uint32_t i) {
    const size_t mask = table_.size() - 1;
    size_t cell = Hash(sums_[i].item);
    while (table_[cell].index != 0) cell = (cell + 1) & mask;
    table_[cell] = Cell{sums_[i].item, i + 1};
    sums_[i].slot = static_cast<uint32_t>(cell);
  }

  // The item beside its position, so a probe compares ids without reading sums_.
  struct Cell {
    DenseId item = 0;
    uint32_t index = 0;  // 0 = empty, else 1 + index into sums_
  };
  std::vector<Cell> table_;
  int shift_ = 64;
  std::vector<Sum> sums_;
};

}  // namespace

Status CovisitCandidateSource::Fetch(const RecommendContext& context, int k, uint8_t source_index,
                                     std::vector<Candidate>* out) const {
  if (context.features == nullptr || context.model == nullptr || k <= 0 ||
      context.recent_items.empty()) {
    return OkStatus();
  }
  const IdDictionary& items = context.model->items;
  const nearline::ItemIdResolver resolver{&items, context.model_generation};
  const size_t want = static_cast<size_t>(WithSeenHeadroom(k, context));
  const size_t seeds = std::min(context.recent_items.size(), kMaxSeedItems);
  thread_local ItemSums sums;
  thread_local std::vector<nearline::ResolvedNeighbor> neighbors;
  sums.Clear();
  for (size_t rank = 0; rank < seeds; ++rank) {
    // Its budget (serving/pipeline.h): one neighbour list per seed is the unit of work.
    if (context.SourceDeadlinePassed()) return DeadlineExceededError("covisit: past its deadline");
    DenseId seed = context.recent_items[rank];
    if (seed >= items.size()) continue;
    double seed_weight = 1.0 / static_cast<double>(1 + rank);
    // Neighbour ids arrive as dense ids of this model (mapped once per snapshot, not per
    // request); ids the model does not know still take their place in the top `want`.
    context.features->ResolvedNeighbors(items.Name(seed), want, resolver, &neighbors);
    sums.Reserve(neighbors.size());
    for (const nearline::ResolvedNeighbor& neighbor : neighbors) {
      if (neighbor.item == nearline::kUnresolvedItem || neighbor.item == seed) continue;
      sums.Add(neighbor.item, neighbor.weight * seed_weight);
    }
  }
  std::vector<ItemSums::Sum>& ranked = sums.sums();
  auto order = [](const ItemSums::Sum& a, const ItemSums::Sum& b) {
    return a.score != b.score ? a.score > b.score : a.item < b.item;
  };
  // Items are unique here, so the order is total: selecting the top `keep` then sorting them is
  // exactly partial_sort's answer, without its heap (keep is often most of the list). Reordering
  // leaves each entry's table cell recorded, so Clear still finds them.
  size_t keep = std::min(want, ranked.size());
  if (keep < ranked.size()) {
    std::nth_element(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), ranked.end(),
                     order);
  }
  std::sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), order);
  for (size_t i = 0; i < keep; ++i) {
    Candidate& candidate = out->emplace_back();  // in place, as ann_source.cc says why
    candidate.item = ranked[i].item;
    candidate.source = source_index;
    candidate.explanation = kExplainCoEngagedWithRecent;
    candidate.retrieval_score = static_cast<float>(ranked[i].score);
  }
  return OkStatus();
}

}  // namespace pulse::candidates
