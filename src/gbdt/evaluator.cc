#include "gbdt/evaluator.h"

// GCC 12's AVX-512 intrinsic headers use a deliberately undefined register as a gather's
// pass-through operand, which -Wuninitialized reports once inlined here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "core/strings.h"

namespace pulse::gbdt {
namespace {

constexpr uint32_t kDefaultRight = 0x80000000u;
constexpr uint32_t kOffsetMask = 0x7fffffffu;
// First slot of each level in a ShallowTree's threshold/offset tables.
constexpr int kLevelBase[CompiledEnsemble::kShallowDepth] = {0, 1, 3, 7, 16, 32};

// x >= t goes right; NaN goes right only when the node's default is right. For a non-NaN x,
// !(x < t) == (x >= t), so `ge | (default_right & !lt)` is XGBoost's rule without a branch.
inline uint32_t GoesRight(float x, float t, uint32_t offset) {
  const uint32_t ge = x >= t;
  const uint32_t nlt = !(x < t);
  return ge | ((offset >> 31) & nlt);
}

bool CpuHasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

bool CpuHasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}

// One level of an 8-row AVX2 walk given each lane's feature value `x`, the node's threshold `t`
// and packed offset `o`: the same rule as GoesRight, lane-wise. `right` is all-ones per lane, so
// 2p + right == 2p - mask.
__attribute__((target("avx2"), always_inline)) inline __m256i Avx2Descend(__m256i p, __m256 x,
                                                                          __m256 t, __m256i o) {
  const __m256 ge = _mm256_cmp_ps(x, t, _CMP_GE_OQ);
  const __m256 nlt = _mm256_cmp_ps(x, t, _CMP_NLT_UQ);
  const __m256 default_right = _mm256_castsi256_ps(_mm256_srai_epi32(o, 31));
  const __m256i right = _mm256_castps_si256(_mm256_or_ps(ge, _mm256_and_ps(nlt, default_right)));
  return _mm256_sub_epi32(_mm256_add_epi32(p, p), right);
}

// Per-lane pick from a 16-entry table held as two 8-lane halves, by `index` (0..15): two
// register permutes and a blend on bit 3, cheaper than a gather.
__attribute__((target("avx2"), always_inline)) inline __m256 Avx2Pick16(__m256 lo, __m256 hi,
                                                                        __m256i index) {
  const __m256 upper = _mm256_castsi256_ps(_mm256_slli_epi32(index, 28));
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, index), _mm256_permutevar8x32_ps(hi, index),
                          upper);
}

// As Avx2Descend, picking the feature value with a gather and the node from 16-entry tables.
__attribute__((target("avx2"), always_inline)) inline __m256i Avx2Step16(
    __m256i p, __m256i slot, __m256i lanes, const float* xt, __m256 thr_lo, __m256 thr_hi,
    __m256 off_lo, __m256 off_hi) {
  const __m256 t = Avx2Pick16(thr_lo, thr_hi, slot);
  const __m256i o = _mm256_castps_si256(Avx2Pick16(off_lo, off_hi, slot));
  const __m256i index = _mm256_add_epi32(
      _mm256_and_si256(o, _mm256_set1_epi32(static_cast<int>(kOffsetMask))), lanes);
  return Avx2Descend(p, _mm256_i32gather_ps(xt, index, 4), t, o);
}

// One level of a 16-row walk given each lane's feature value `x`: compare, descend.
__attribute__((target("avx512f"), always_inline)) inline __m512i SimdDescend(__m512i p, __m512 x,
                                                                             __m512 t, __m512i o) {
  const __mmask16 ge = _mm512_cmp_ps_mask(x, t, _CMP_GE_OQ);
  const __mmask16 nlt = _mm512_cmp_ps_mask(x, t, _CMP_NLT_UQ);
  const __mmask16 default_right =
      _mm512_test_epi32_mask(o, _mm512_set1_epi32(static_cast<int>(kDefaultRight)));
  const __mmask16 right = ge | (nlt & default_right);
  const __m512i twice = _mm512_add_epi32(p, p);
  return _mm512_mask_add_epi32(twice, right, twice, _mm512_set1_epi32(1));
}

// As SimdDescend, picking each lane's feature value with a gather.
__attribute__((target("avx512f"), always_inline)) inline __m512i SimdStep(__m512i p, __m512i lanes,
                                                                          const float* xt, __m512 t,
                                                                          __m512i o) {
  const __m512i index = _mm512_add_epi32(
      _mm512_and_si512(o, _mm512_set1_epi32(static_cast<int>(kOffsetMask))), lanes);
  return SimdDescend(p, _mm512_i32gather_ps(index, xt, 4), t, o);
}

}  // namespace

Result<CompiledEnsemble> CompiledEnsemble::Compile(const Ensemble& ensemble) {
  CompiledEnsemble out;
  out.num_features_ = ensemble.num_features;
  out.base_margin_ = ensemble.base_margin;

  // Compact the features the model splits on, so a block transposes only those.
  std::vector<int32_t> compact(ensemble.num_features, -1);
  for (const Tree& tree : ensemble.trees) {
    if (tree.nodes.empty()) return InvalidArgumentError("a tree has no nodes");
    for (size_t i = 0; i < tree.nodes.size(); ++i) {
      const TreeNode& node = tree.nodes[i];
      if (node.is_leaf()) continue;
      if (node.feature >= ensemble.num_features) {
        return InvalidArgumentError("split feature out of range");
      }
      for (int32_t child : {node.left, node.right}) {
        if (child <= static_cast<int32_t>(i) || static_cast<size_t>(child) >= tree.nodes.size()) {
          return InvalidArgumentError("tree nodes are not in parent-before-child order");
        }
      }
      if (compact[node.feature] < 0) {
        compact[node.feature] = static_cast<int32_t>(out.used_features_.size());
        out.used_features_.push_back(node.feature);
      }
    }
  }
  auto offset_of = [&](const TreeNode& node) {
    return static_cast<uint32_t>(compact[node.feature]) * static_cast<uint32_t>(kBlockRows) |
           (node.default_left ? 0u : kDefaultRight);
  };

  for (const Tree& tree : ensemble.trees) {
    if (TreeDepth(tree) <= kShallowDepth) {
      ShallowTree& flat = out.shallow_.emplace_back();
      // Padding nodes: threshold NaN, default left, so every row goes left (x >= NaN is false).
      std::fill(std::begin(flat.threshold), std::end(flat.threshold),
                std::numeric_limits<float>::quiet_NaN());
      std::fill(std::begin(flat.offset), std::end(flat.offset), 0u);
      std::fill(std::begin(flat.leaf), std::end(flat.leaf), 0.0f);
      struct Item {
        int32_t node;
        int level;
        uint32_t pos;
      };
      std::vector<Item> stack = {{0, 0, 0}};
      while (!stack.empty()) {
        const Item item = stack.back();
        stack.pop_back();
        const TreeNode& node = tree.nodes[static_cast<size_t>(item.node)];
        if (node.is_leaf()) {
          // A leaf above level 6 owns every padded leaf under it.
          const uint32_t span = 1u << (kShallowDepth - item.level);
          std::fill_n(flat.leaf + item.pos * span, span, node.leaf_value);
          continue;
        }
        const int slot = kLevelBase[item.level] + static_cast<int>(item.pos);
        flat.threshold[slot] = node.threshold;
        flat.offset[slot] = offset_of(node);
        stack.push_back({node.left, item.level + 1, item.pos * 2});
        stack.push_back({node.right, item.level + 1, item.pos * 2 + 1});
      }
      out.order_.push_back({false, static_cast<uint32_t>(out.shallow_.size() - 1)});
      continue;
    }
    // Breadth-first so that siblings are adjacent: right = left + 1.
    const uint32_t root = static_cast<uint32_t>(out.deep_nodes_.size());
    std::vector<int32_t> queue = {0};
    out.deep_nodes_.push_back({});
    for (size_t q = 0; q < queue.size(); ++q) {
      const TreeNode& node = tree.nodes[static_cast<size_t>(queue[q])];
      DeepNode& flat = out.deep_nodes_[root + q];
      if (node.is_leaf()) {
        flat = {node.leaf_value, 0, -1};
        continue;
      }
      const int32_t left = static_cast<int32_t>(queue.size());
      flat = {node.threshold, offset_of(node), left};
      queue.push_back(node.left);
      queue.push_back(node.right);
      out.deep_nodes_.resize(root + queue.size());
    }
    out.deep_roots_.push_back(root);
    out.order_.push_back({true, static_cast<uint32_t>(out.deep_roots_.size() - 1)});
  }
  return out;
}

bool CompiledEnsemble::CpuSupports(Path path) {
  switch (path) {
    case Path::kAvx512:
      return CpuHasAvx512();
    case Path::kAvx2:
      return CpuHasAvx2();
    case Path::kScalar:
      return true;
  }
  return false;
}

CompiledEnsemble::Path CompiledEnsemble::path() const {
  if (path_forced_) return forced_path_;
  if (simd_disabled_) return Path::kScalar;
  if (CpuHasAvx512()) return Path::kAvx512;
  if (CpuHasAvx2()) return Path::kAvx2;
  return Path::kScalar;
}

bool CompiledEnsemble::ForcePathForTest(Path path) {
  if (!CpuSupports(path)) return false;
  path_forced_ = true;
  forced_path_ = path;
  return true;
}

bool CompiledEnsemble::uses_simd() const { return path() == Path::kAvx512; }

void CompiledEnsemble::ShallowTreeScalar(const ShallowTree& tree, const float* xt,
                                         float* acc) const {
  // Eight rows walk together: their chains are independent, so their loads overlap.
  constexpr size_t kLanes = 8;
  for (size_t r = 0; r < kBlockRows; r += kLanes) {
    uint32_t p[kLanes] = {};
    for (int level = 0; level < kShallowDepth; ++level) {
      for (size_t k = 0; k < kLanes; ++k) {
        const int slot = kLevelBase[level] + static_cast<int>(p[k]);
        const uint32_t offset = tree.offset[slot];
        const float x = xt[(offset & kOffsetMask) + r + k];
        p[k] = 2 * p[k] + GoesRight(x, tree.threshold[slot], offset);
      }
    }
    for (size_t k = 0; k < kLanes; ++k) acc[r + k] += tree.leaf[p[k]];
  }
}

__attribute__((target("avx512f"))) void CompiledEnsemble::ShallowTreeSimd(const ShallowTree& tree,
                                                                          const float* xt,
                                                                          float* acc) const {
  constexpr int kChunks = kBlockRows / 16;
  const __m512 thr_top = _mm512_load_ps(tree.threshold);  // levels 0-3
  const __m512 thr_l4 = _mm512_load_ps(tree.threshold + 16);
  const __m512 thr_l5a = _mm512_load_ps(tree.threshold + 32);
  const __m512 thr_l5b = _mm512_load_ps(tree.threshold + 48);
  const __m512i off_top = _mm512_load_si512(tree.offset);
  const __m512i off_l4 = _mm512_load_si512(tree.offset + 16);
  const __m512i off_l5a = _mm512_load_si512(tree.offset + 32);
  const __m512i off_l5b = _mm512_load_si512(tree.offset + 48);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i lanes[kChunks];
  for (int c = 0; c < kChunks; ++c) lanes[c] = _mm512_add_epi32(iota, _mm512_set1_epi32(c * 16));

  // Level 0 is the same node for every row: a contiguous load of the feature's column.
  const float t0 = tree.threshold[0];
  const uint32_t o0 = tree.offset[0];
  const __m512 t0v = _mm512_set1_ps(t0);
  __m512i p[kChunks];
#pragma GCC unroll 4
  for (int c = 0; c < kChunks; ++c) {
    const __m512 x = _mm512_loadu_ps(xt + (o0 & kOffsetMask) + c * 16);
    __mmask16 right = _mm512_cmp_ps_mask(x, t0v, _CMP_GE_OQ);
    if (o0 & kDefaultRight) right |= _mm512_cmp_ps_mask(x, t0v, _CMP_NLT_UQ);
    p[c] = _mm512_maskz_mov_epi32(right, one);
  }
  // Levels 1 and 2 have 2 and 4 candidate nodes: load each one's feature column (contiguous)
  // and blend per lane, cheaper than a gather.
  auto column = [&](int slot, int c) { return xt + (tree.offset[slot] & kOffsetMask) + c * 16; };
  const __m512i two = _mm512_set1_epi32(2);
#pragma GCC unroll 4
  for (int c = 0; c < kChunks; ++c) {
    const __mmask16 bit0 = _mm512_test_epi32_mask(p[c], one);
    const __m512 x =
        _mm512_mask_blend_ps(bit0, _mm512_loadu_ps(column(1, c)), _mm512_loadu_ps(column(2, c)));
    const __m512i slot = _mm512_add_epi32(p[c], one);
    p[c] = SimdDescend(p[c], x, _mm512_permutexvar_ps(slot, thr_top),
                       _mm512_permutexvar_epi32(slot, off_top));
  }
#pragma GCC unroll 4
  for (int c = 0; c < kChunks; ++c) {
    const __mmask16 bit0 = _mm512_test_epi32_mask(p[c], one);
    const __mmask16 bit1 = _mm512_test_epi32_mask(p[c], two);
    const __m512 lo =
        _mm512_mask_blend_ps(bit0, _mm512_loadu_ps(column(3, c)), _mm512_loadu_ps(column(4, c)));
    const __m512 hi =
        _mm512_mask_blend_ps(bit0, _mm512_loadu_ps(column(5, c)), _mm512_loadu_ps(column(6, c)));
    const __m512i slot = _mm512_add_epi32(p[c], _mm512_set1_epi32(3));
    p[c] =
        SimdDescend(p[c], _mm512_mask_blend_ps(bit1, lo, hi), _mm512_permutexvar_ps(slot, thr_top),
                    _mm512_permutexvar_epi32(slot, off_top));
  }
  const __m512i four = _mm512_set1_epi32(4);
#pragma GCC unroll 4
  for (int c = 0; c < kChunks; ++c) {
    const __mmask16 bit0 = _mm512_test_epi32_mask(p[c], one);
    const __mmask16 bit1 = _mm512_test_epi32_mask(p[c], two);
    const __mmask16 bit2 = _mm512_test_epi32_mask(p[c], four);
    __m512 pair[4];
    for (int k = 0; k < 4; ++k) {
      pair[k] = _mm512_mask_blend_ps(bit0, _mm512_loadu_ps(column(7 + 2 * k, c)),
                                     _mm512_loadu_ps(column(8 + 2 * k, c)));
    }
    const __m512 lo = _mm512_mask_blend_ps(bit1, pair[0], pair[1]);
    const __m512 hi = _mm512_mask_blend_ps(bit1, pair[2], pair[3]);
    const __m512i slot = _mm512_add_epi32(p[c], _mm512_set1_epi32(7));
    p[c] =
        SimdDescend(p[c], _mm512_mask_blend_ps(bit2, lo, hi), _mm512_permutexvar_ps(slot, thr_top),
                    _mm512_permutexvar_epi32(slot, off_top));
  }
#pragma GCC unroll 4
  for (int c = 0; c < kChunks; ++c) {
    p[c] = SimdStep(p[c], lanes[c], xt, _mm512_permutexvar_ps(p[c], thr_l4),
                    _mm512_permutexvar_epi32(p[c], off_l4));
  }
#pragma GCC unroll 4
  for (int c = 0; c < kChunks; ++c) {
    p[c] = SimdStep(p[c], lanes[c], xt, _mm512_permutex2var_ps(thr_l5a, p[c], thr_l5b),
                    _mm512_permutex2var_epi32(off_l5a, p[c], off_l5b));
  }
  const __m512 leaf_a = _mm512_load_ps(tree.leaf);
  const __m512 leaf_b = _mm512_load_ps(tree.leaf + 16);
  const __m512 leaf_c = _mm512_load_ps(tree.leaf + 32);
  const __m512 leaf_d = _mm512_load_ps(tree.leaf + 48);
  const __m512i upper = _mm512_set1_epi32(32);
#pragma GCC unroll 4
  for (int c = 0; c < kChunks; ++c) {
    const __m512 lo = _mm512_permutex2var_ps(leaf_a, p[c], leaf_b);
    const __m512 hi = _mm512_permutex2var_ps(leaf_c, p[c], leaf_d);
    const __m512 leaf = _mm512_mask_blend_ps(_mm512_test_epi32_mask(p[c], upper), lo, hi);
    _mm512_store_ps(acc + c * 16, _mm512_add_ps(_mm512_load_ps(acc + c * 16), leaf));
  }
}

__attribute__((target("avx2"))) void CompiledEnsemble::ShallowTreeAvx2(const ShallowTree& tree,
                                                                       const float* xt, float* acc,
                                                                       size_t rows) const {
  // Only the chunks of 8 that hold a block's rows: a partial last block (200 rows = 3 blocks and
  // 8 rows) skips the padding rows' work.
  constexpr int kChunks = kBlockRows / 8;
  const int chunks = static_cast<int>((rows + 7) / 8);
  // Levels 0-3 (slots 0..15) and level 4 (16..31) as 8-lane halves for Avx2Pick16; offsets are
  // carried in float registers only to be permuted, never computed on as floats.
  const __m256 thr_top_lo = _mm256_load_ps(tree.threshold);
  const __m256 thr_top_hi = _mm256_load_ps(tree.threshold + 8);
  const __m256 thr_l4_lo = _mm256_load_ps(tree.threshold + 16);
  const __m256 thr_l4_hi = _mm256_load_ps(tree.threshold + 24);
  const float* off = reinterpret_cast<const float*>(tree.offset);
  const __m256 off_top_lo = _mm256_load_ps(off);
  const __m256 off_top_hi = _mm256_load_ps(off + 8);
  const __m256 off_l4_lo = _mm256_load_ps(off + 16);
  const __m256 off_l4_hi = _mm256_load_ps(off + 24);
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i offset_mask = _mm256_set1_epi32(static_cast<int>(kOffsetMask));

  // Level 0 is the same node for every row: a contiguous load of the feature's column.
  const __m256 t0 = _mm256_set1_ps(tree.threshold[0]);
  const __m256i o0 = _mm256_set1_epi32(static_cast<int>(tree.offset[0]));
  const float* col0 = xt + (tree.offset[0] & kOffsetMask);
  __m256i p[kChunks] = {};  // zeroed: only the first `chunks` are used
#pragma GCC unroll 8
  for (int c = 0; c < chunks; ++c) {
    p[c] = Avx2Descend(_mm256_setzero_si256(), _mm256_loadu_ps(col0 + c * 8), t0, o0);
  }
  // Level 1 has 2 candidate nodes: load both feature columns (contiguous) and blend per lane.
  const float* col1 = xt + (tree.offset[1] & kOffsetMask);
  const float* col2 = xt + (tree.offset[2] & kOffsetMask);
#pragma GCC unroll 8
  for (int c = 0; c < chunks; ++c) {
    const __m256 bit0 = _mm256_castsi256_ps(_mm256_slli_epi32(p[c], 31));
    const __m256 x =
        _mm256_blendv_ps(_mm256_loadu_ps(col1 + c * 8), _mm256_loadu_ps(col2 + c * 8), bit0);
    const __m256i slot = _mm256_add_epi32(p[c], one);
    p[c] = Avx2Descend(p[c], x, Avx2Pick16(thr_top_lo, thr_top_hi, slot),
                       _mm256_castps_si256(Avx2Pick16(off_top_lo, off_top_hi, slot)));
  }
  // Level 2 has 4 candidate nodes: four column loads and three blends beat a gather.
  const float* col3 = xt + (tree.offset[3] & kOffsetMask);
  const float* col4 = xt + (tree.offset[4] & kOffsetMask);
  const float* col5 = xt + (tree.offset[5] & kOffsetMask);
  const float* col6 = xt + (tree.offset[6] & kOffsetMask);
  const __m256i three = _mm256_set1_epi32(3);
#pragma GCC unroll 8
  for (int c = 0; c < chunks; ++c) {
    const __m256 bit0 = _mm256_castsi256_ps(_mm256_slli_epi32(p[c], 31));
    const __m256 bit1 = _mm256_castsi256_ps(_mm256_slli_epi32(p[c], 30));
    const __m256 lo =
        _mm256_blendv_ps(_mm256_loadu_ps(col3 + c * 8), _mm256_loadu_ps(col4 + c * 8), bit0);
    const __m256 hi =
        _mm256_blendv_ps(_mm256_loadu_ps(col5 + c * 8), _mm256_loadu_ps(col6 + c * 8), bit0);
    const __m256i slot = _mm256_add_epi32(p[c], three);
    p[c] =
        Avx2Descend(p[c], _mm256_blendv_ps(lo, hi, bit1), Avx2Pick16(thr_top_lo, thr_top_hi, slot),
                    _mm256_castps_si256(Avx2Pick16(off_top_lo, off_top_hi, slot)));
  }
  // Level 3: gather the feature value; the node comes from the level 0-3 table.
  const __m256i seven = _mm256_set1_epi32(7);
#pragma GCC unroll 8
  for (int c = 0; c < chunks; ++c) {
    const __m256i lanes = _mm256_add_epi32(iota, _mm256_set1_epi32(c * 8));
    p[c] = Avx2Step16(p[c], _mm256_add_epi32(p[c], seven), lanes, xt, thr_top_lo, thr_top_hi,
                      off_top_lo, off_top_hi);
  }
#pragma GCC unroll 8
  for (int c = 0; c < chunks; ++c) {
    const __m256i lanes = _mm256_add_epi32(iota, _mm256_set1_epi32(c * 8));
    p[c] = Avx2Step16(p[c], p[c], lanes, xt, thr_l4_lo, thr_l4_hi, off_l4_lo, off_l4_hi);
  }
  // Level 5 (32 nodes) and the leaves (64): 16-entry picks, blended on bits 4 and 5.
  __m256 thr_l5[4], off_l5[4], leaf[8];
  for (int k = 0; k < 4; ++k) {
    thr_l5[k] = _mm256_load_ps(tree.threshold + 32 + 8 * k);
    off_l5[k] = _mm256_load_ps(off + 32 + 8 * k);
  }
  for (int k = 0; k < 8; ++k) leaf[k] = _mm256_load_ps(tree.leaf + 8 * k);
#pragma GCC unroll 8
  for (int c = 0; c < chunks; ++c) {
    const __m256i lanes = _mm256_add_epi32(iota, _mm256_set1_epi32(c * 8));
    const __m256 bit4 = _mm256_castsi256_ps(_mm256_slli_epi32(p[c], 27));
    const __m256 t = _mm256_blendv_ps(Avx2Pick16(thr_l5[0], thr_l5[1], p[c]),
                                      Avx2Pick16(thr_l5[2], thr_l5[3], p[c]), bit4);
    const __m256i o = _mm256_castps_si256(_mm256_blendv_ps(
        Avx2Pick16(off_l5[0], off_l5[1], p[c]), Avx2Pick16(off_l5[2], off_l5[3], p[c]), bit4));
    const __m256i index = _mm256_add_epi32(_mm256_and_si256(o, offset_mask), lanes);
    p[c] = Avx2Descend(p[c], _mm256_i32gather_ps(xt, index, 4), t, o);
  }
#pragma GCC unroll 8
  for (int c = 0; c < chunks; ++c) {
    const __m256 bit4 = _mm256_castsi256_ps(_mm256_slli_epi32(p[c], 27));
    const __m256 bit5 = _mm256_castsi256_ps(_mm256_slli_epi32(p[c], 26));
    const __m256 lo = _mm256_blendv_ps(Avx2Pick16(leaf[0], leaf[1], p[c]),
                                       Avx2Pick16(leaf[2], leaf[3], p[c]), bit4);
    const __m256 hi = _mm256_blendv_ps(Avx2Pick16(leaf[4], leaf[5], p[c]),
                                       Avx2Pick16(leaf[6], leaf[7], p[c]), bit4);
    const __m256 value = _mm256_blendv_ps(lo, hi, bit5);
    _mm256_store_ps(acc + c * 8, _mm256_add_ps(_mm256_load_ps(acc + c * 8), value));
  }
}

void CompiledEnsemble::DeepTree(uint32_t root, const float* xt, float* acc) const {
  const DeepNode* nodes = deep_nodes_.data() + root;
  for (size_t r = 0; r < kBlockRows; ++r) {
    const DeepNode* node = nodes;
    while (node->left >= 0) {
      const float x = xt[(node->offset & kOffsetMask) + r];
      node = nodes + node->left + GoesRight(x, node->value, node->offset);
    }
    acc[r] += node->value;
  }
}

void CompiledEnsemble::PredictBlock(const float* xt, float* acc, size_t rows) const {
  const Path shallow_path = path();
  for (const TreeRef& ref : order_) {
    if (ref.deep) {
      DeepTree(deep_roots_[ref.index], xt, acc);
      continue;
    }
    const ShallowTree& tree = shallow_[ref.index];
    switch (shallow_path) {
      case Path::kAvx512:
        ShallowTreeSimd(tree, xt, acc);
        break;
      case Path::kAvx2:
        ShallowTreeAvx2(tree, xt, acc, rows);
        break;
      case Path::kScalar:
        ShallowTreeScalar(tree, xt, acc);
        break;
    }
  }
}

Status CompiledEnsemble::PredictMargin(std::span<const float> rows, size_t n, size_t cols,
                                       std::span<float> out) const {
  if (cols < num_features_) {
    return InvalidArgumentError(
        StrCat("rows have ", cols, " features, the model needs ", num_features_));
  }
  if (rows.size() != n * cols || out.size() != n) {
    return InvalidArgumentError(StrCat("got ", rows.size(), " values and ", out.size(),
                                       " outputs for ", n, " rows of ", cols));
  }
  // Feature-major block (at least one feature row: padding nodes read compact feature 0) and
  // the block's accumulators; thread-local so steady-state scoring does not allocate.
  const size_t used = std::max<size_t>(used_features_.size(), 1);
  struct Scratch {
    std::vector<float, std::allocator<float>> xt;
    alignas(64) float acc[kBlockRows];
  };
  thread_local Scratch scratch;
  if (scratch.xt.size() < used * kBlockRows) scratch.xt.assign(used * kBlockRows, 0.0f);
  float* xt = scratch.xt.data();
  float* acc = scratch.acc;
  for (size_t start = 0; start < n; start += kBlockRows) {
    const size_t count = std::min(kBlockRows, n - start);
    for (size_t r = 0; r < count; ++r) {
      const float* row = rows.data() + (start + r) * cols;
      for (size_t u = 0; u < used_features_.size(); ++u) {
        xt[u * kBlockRows + r] = row[used_features_[u]];
      }
    }
    if (count < kBlockRows) {
      for (size_t u = 0; u < used; ++u) {
        std::fill(xt + u * kBlockRows + count, xt + (u + 1) * kBlockRows, 0.0f);
      }
    }
    std::fill(acc, acc + kBlockRows, base_margin_);
    PredictBlock(xt, acc, count);
    std::copy(acc, acc + count, out.data() + start);
  }
  return OkStatus();
}

Status CompiledEnsemble::PredictProbability(std::span<const float> rows, size_t n, size_t cols,
                                            std::span<float> out) const {
  RETURN_IF_ERROR(PredictMargin(rows, n, cols, out));
  for (float& v : out) v = Sigmoid(v);
  return OkStatus();
}

}  // namespace pulse::gbdt
