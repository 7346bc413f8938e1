// core/radix_sort.h — ascending sort of 64-bit keys by least-significant-digit radix (bytes).
//
// For the request path's few hundred packed keys ((score, id) or (item, position)): one counting
// pass, then one scatter pass per byte that varies among the keys (bytes every key shares, such
// as the high bytes of small ids, are skipped). No data-dependent branches, where a comparison
// sort of random keys mispredicts about every other comparison. Stable, so the result is exactly
// std::sort's for any keys. Below 64 keys it calls std::sort (the passes' fixed cost dominates).
// Thread-safety: none needed (the caller owns both buffers); `scratch` is the second buffer,
// reused by the caller so that a warm sort allocates nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace pulse {

inline void RadixSortKeys(std::vector<uint64_t>& keys, std::vector<uint64_t>& scratch) {
  const size_t n = keys.size();
  if (n < 64) {
    std::sort(keys.begin(), keys.end());
    return;
  }
  uint32_t counts[8][256] = {};
  for (uint64_t key : keys) {
    for (int b = 0; b < 8; ++b) ++counts[b][(key >> (8 * b)) & 0xff];
  }
  scratch.resize(n);
  uint64_t* src = keys.data();
  uint64_t* dst = scratch.data();
  for (int b = 0; b < 8; ++b) {
    uint32_t* count = counts[b];
    if (count[(src[0] >> (8 * b)) & 0xff] == n) continue;
    uint32_t sum = 0;
    for (int i = 0; i < 256; ++i) {
      const uint32_t c = count[i];
      count[i] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint64_t key = src[i];
      dst[count[(key >> (8 * b)) & 0xff]++] = key;
    }
    std::swap(src, dst);
  }
  if (src != keys.data()) keys.swap(scratch);
}

}  // namespace pulse
