// gbdt/evaluator.h — the compiled, branch-free evaluator for a tree ensemble (the online
// ranker's hot path).
//
// Layout. Every tree of depth <= 6 is padded to a complete depth-6 tree and flattened into
// fixed-size tables (63 thresholds, 63 packed feature offsets with the missing-value direction in
// the top bit, 64 leaves); a row's walk is six steps `p = 2p + right` with no data-dependent
// branch. Rows are scored in blocks of 64, transposed feature-major (only the features the model
// splits on), so that on CPUs with AVX-512 sixteen rows walk a tree at once: a tree's node values
// are picked per lane with register permutes (levels 1-5 and the leaves), the feature values with
// one gather per level. CPUs with AVX2 but not AVX-512 walk eight rows at once the same way
// (nodes and leaves picked by 8-entry register permutes, feature values by blending candidate
// columns at levels 1-2 and by gathers below).
// Trees deeper than 6 (and CPUs with neither) take a scalar path over the same semantics. The
// path is picked at run time (avx512f, then avx2, then scalar) with __builtin_cpu_supports. Why not
// QuickScorer: with ~100 trees of 64 leaves a row visits about half of all split nodes in
// QuickScorer (thousands per row) against 6 steps per tree here; QuickScorer wins for thousands of
// trees, not for this model size.
//
// Semantics: XGBoost's, exactly (see ensemble.h): `x < threshold` goes left, NaN follows
// default_left, leaves are summed in float in tree order onto base_margin, so results equal
// ReferenceMargin bit for bit on every path.
// Thread-safety: immutable after Compile; Predict* is const and may run concurrently (its scratch
// space is thread-local). Failure: InvalidArgument for mis-shaped input; never crashes on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "gbdt/ensemble.h"

namespace pulse::gbdt {

class CompiledEnsemble {
 public:
  static constexpr int kShallowDepth = 6;
  static constexpr size_t kBlockRows = 64;

  // Compiles `ensemble` (as parsed; always succeeds for a parsed ensemble, InvalidArgument for a
  // hand-built one whose nodes are not a tree in parent-before-child order).
  static Result<CompiledEnsemble> Compile(const Ensemble& ensemble);

  // Margins for `n` rows of `cols` floats each (row-major, NaN = missing) into `out` (n values).
  // InvalidArgument when cols < num_features(), rows.size() != n * cols or out.size() != n.
  Status PredictMargin(std::span<const float> rows, size_t n, size_t cols,
                       std::span<float> out) const;
  // As PredictMargin, then the logistic transform: probabilities.
  Status PredictProbability(std::span<const float> rows, size_t n, size_t cols,
                            std::span<float> out) const;

  uint32_t num_features() const { return num_features_; }
  size_t num_trees() const { return order_.size(); }
  size_t num_deep_trees() const { return deep_roots_.size(); }
  // True when this CPU runs the AVX-512 path (and it has not been disabled).
  bool uses_simd() const;
  // Forces the scalar path (tests compare both paths; the benchmark reports both).
  void DisableSimdForTest() { simd_disabled_ = true; }

  // The code paths for depth-<=6 trees, fastest last.
  enum class Path { kScalar, kAvx2, kAvx512 };
  // Whether this CPU can run `path` (kScalar: always).
  static bool CpuSupports(Path path);
  // The path Predict* takes: the forced one, else the fastest the CPU supports (scalar after
  // DisableSimdForTest).
  Path path() const;
  // Forces `path` so tests can compare every path and the benchmark can time each. Returns false
  // (and changes nothing) when the CPU cannot run it.
  bool ForcePathForTest(Path path);

 private:
  // One complete depth-6 tree. Slots: 0..14 levels 0-3 in heap order (15 unused), 16..31 level 4,
  // 32..63 level 5. off = compact_feature * kBlockRows | (default_right << 31).
  struct alignas(64) ShallowTree {
    float threshold[64];
    uint32_t offset[64];
    float leaf[64];
  };
  // Deep trees: breadth-first, the right child right after the left one.
  struct DeepNode {
    float value;  // threshold, or the leaf value when left < 0
    uint32_t offset;
    int32_t left;
  };
  struct TreeRef {
    bool deep;
    uint32_t index;  // into shallow_ or deep_roots_
  };

  // `rows` (1..kBlockRows) of the block are real; the rest is zero padding.
  void PredictBlock(const float* xt, float* acc, size_t rows) const;
  void ShallowTreeScalar(const ShallowTree& tree, const float* xt, float* acc) const;
  void ShallowTreeSimd(const ShallowTree& tree, const float* xt, float* acc) const;
  void ShallowTreeAvx2(const ShallowTree& tree, const float* xt, float* acc, size_t rows) const;
  void DeepTree(uint32_t root, const float* xt, float* acc) const;

  uint32_t num_features_ = 0;
  float base_margin_ = 0;
  std::vector<uint32_t> used_features_;  // compact feature -> model feature
  std::vector<TreeRef> order_;
  std::vector<ShallowTree> shallow_;
  std::vector<DeepNode> deep_nodes_;
  std::vector<uint32_t> deep_roots_;
  bool simd_disabled_ = false;
  bool path_forced_ = false;
  Path forced_path_ = Path::kScalar;
};

}  // namespace pulse::gbdt
