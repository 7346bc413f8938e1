// index/top_k.h — exact top-k of a stream of (id, score) pairs, best first: score descending,
// ties by id ascending (ids must be unique in one stream, which makes the order total and the
// answer unique, whatever the arrival order).
//
// Why not a binary heap: with the ann source's k (~330) most of a query's few hundred scanned
// vectors enter the top k, so a heap pays a sift per candidate and a heapsort at the end. Here a
// candidate at or above the current threshold (the k-th best score once k are known) is appended
// to a buffer of 64-bit keys; when the buffer reaches 2k, nth_element keeps the k best and
// raises the threshold; the end is a radix sort of at most 2k + 16 integers.
// A key is (order-preserving bits of the score, inverted) << 32 | id, so ascending keys are the
// result order. -0.0 and +0.0 compare equal as floats, so both take +0.0's key (ties by id, as
// the float comparison had them); the few ids scored -0.0 are remembered so the output keeps the
// sign. NaN scores are not expected (vectors and queries are checked finite).
// Thread-safety: none; one per thread (a reused member of the caller's scratch, so a search
// allocates nothing once warm).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/ids.h"
#include "core/radix_sort.h"
#include "index/ann_index.h"

namespace pulse::index {

// Float to a uint32 whose unsigned order is the float order (-0.0 maps as +0.0).
inline uint32_t OrderedBits(float score) {
  const uint32_t bits = std::bit_cast<uint32_t>(score == 0.0f ? 0.0f : score);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

inline float FromOrderedBits(uint32_t ordered) {
  return std::bit_cast<float>((ordered & 0x80000000u) != 0 ? ordered & 0x7fffffffu : ~ordered);
}

// Sorting ascending puts the higher score first, then the lower id.
inline uint64_t RankKey(float score, uint32_t id) {
  return uint64_t{~OrderedBits(score)} << 32 | id;
}

class TopKCollector {
 public:
  // Starts a new stream keeping the best `k`.
  void Reset(size_t k) {
    k_ = k;
    keys_.clear();
    negative_zeros_.clear();
    threshold_ =
        k == 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  }

  // Scores below this cannot enter (a fast reject before Push).
  float threshold() const { return threshold_; }

  void Push(DenseId id, float score) {
    if (score < threshold_) return;
    if (score == 0.0f && std::signbit(score)) negative_zeros_.push_back(id);
    keys_.push_back(RankKey(score, id));
    if (keys_.size() >= 2 * k_ + 16) Compact();
  }

  // The best min(k, pushed) in result order into `out` (replaced).
  void Finish(std::vector<Neighbor>* out) {
    out->clear();
    SortKeys();
    if (keys_.size() > k_) keys_.resize(k_);
    out->reserve(keys_.size());
    for (uint64_t key : keys_) {
      const auto id = static_cast<DenseId>(key);
      float score = FromOrderedBits(~static_cast<uint32_t>(key >> 32));
      if (score == 0.0f && !negative_zeros_.empty() &&
          std::find(negative_zeros_.begin(), negative_zeros_.end(), id) != negative_zeros_.end()) {
        score = -0.0f;
      }
      out->push_back({id, score});
    }
  }

 private:
  // Radix, not a comparison sort: with a few hundred keys it does a third of the work of
  // nth_element + introsort (core/radix_sort.h). Keys are unique, so any correct sort gives this.
  void SortKeys() { RadixSortKeys(keys_, sorted_); }

  void Compact() {
    if (k_ == 0) {
      keys_.clear();
      return;
    }
    std::nth_element(keys_.begin(), keys_.begin() + static_cast<ptrdiff_t>(k_ - 1), keys_.end());
    threshold_ = FromOrderedBits(~static_cast<uint32_t>(keys_[k_ - 1] >> 32));
    keys_.resize(k_);
  }

  size_t k_ = 0;
  float threshold_ = -std::numeric_limits<float>::infinity();
  std::vector<uint64_t> keys_;
  std::vector<uint64_t> sorted_;  // the radix sort's other buffer
  std::vector<DenseId> negative_zeros_;
};

}  // namespace pulse::index
