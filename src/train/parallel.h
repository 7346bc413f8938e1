// train/parallel.h — a minimal parallel-for over index ranges for offline training and
// evaluation (not for serving: it starts threads per call).
//
// Work is handed out in chunks of `grain` indices from a shared counter, so uneven rows (a user
// with 5,000 items next to one with 3) balance across threads. Results never depend on the
// thread count as long as `fn` writes only to per-index outputs.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace pulse::train {

// 0 means "all hardware threads".
inline int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Calls fn(worker, begin, end) for disjoint ranges covering [0, n). `worker` is in
// [0, threads) and identifies the calling thread (for per-thread scratch space).
template <typename Fn>
void ParallelFor(size_t n, int threads, size_t grain, Fn&& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  const size_t chunks = (n + grain - 1) / grain;
  const int workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), chunks));
  std::atomic<size_t> next{0};
  auto run = [&](int worker) {
    for (;;) {
      const size_t chunk = next.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= chunks) return;
      const size_t begin = chunk * grain;
      fn(worker, begin, std::min(n, begin + grain));
    }
  };
  if (workers <= 1) {
    run(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(workers - 1));
  for (int w = 1; w < workers; ++w) pool.emplace_back(run, w);
  run(0);
  for (std::thread& t : pool) t.join();
}

}  // namespace pulse::train
