// index/heap_top_k.h — the ivf search's top-k before TopKCollector (index/top_k.h), kept as the
// reference that TopKCollector must equal exactly (top_k_test) and as the "before" of its
// benchmark (bench/request_stages_bench): a binary heap of the k best, worst on top, heap-sorted
// at the end. Best first: score descending, ties by id ascending.
// Thread-safety: a pure function. Not for serving: TopKCollector is faster for the same answer.
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "index/ann_index.h"

namespace pulse::index {

// The best min(k, stream size) of `stream` (ids unique), k >= 1.
inline std::vector<Neighbor> HeapTopK(const std::vector<Neighbor>& stream, size_t k) {
  auto better = [](const Neighbor& a, const Neighbor& b) {
    return a.score > b.score || (a.score == b.score && a.id < b.id);
  };
  std::vector<Neighbor> heap;
  float worst = -std::numeric_limits<float>::infinity();
  for (const Neighbor& candidate : stream) {
    if (heap.size() == k && candidate.score < worst) continue;
    if (heap.size() < k) {
      heap.push_back(candidate);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(candidate, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = candidate;
      std::push_heap(heap.begin(), heap.end(), better);
    } else {
      continue;
    }
    if (heap.size() == k) worst = heap.front().score;
  }
  std::sort_heap(heap.begin(), heap.end(), better);
  return heap;
}

}  // namespace pulse::index
