// gbdt/ensemble.h — Pulse's own representation of a gradient-boosted tree ensemble, and the parser
// that reads it from an XGBoost JSON model (XGBoosterSaveModelToBuffer, format "json", 1.x).
//
// Semantics are XGBoost's (binary:logistic): a row walks each tree from the root; at an internal
// node it goes left when `x[feature] < threshold`, right otherwise, and when x[feature] is NaN
// (missing) it follows `default_left`. margin = base_margin + sum of the leaves reached (summed in
// float, tree by tree, as XGBoost does); probability = 1 / (1 + exp(-margin)).
// Thread-safety: plain values. Failure: ParseXgboostJson never throws or crashes on hostile input;
// it returns InvalidArgument naming what is wrong (and where).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace pulse::gbdt {

struct TreeNode {
  // Children are indices into Tree::nodes; both -1 for a leaf.
  int32_t left = -1;
  int32_t right = -1;
  uint32_t feature = 0;
  float threshold = 0;  // internal nodes
  bool default_left = false;
  float leaf_value = 0;  // leaves
  bool is_leaf() const { return left < 0; }
};

// Nodes reachable from node 0 (the root) form a binary tree; unreachable nodes (XGBoost keeps
// deleted ones) are dropped by the parser.
struct Tree {
  std::vector<TreeNode> nodes;
};

struct Ensemble {
  uint32_t num_features = 0;  // the model's feature count (rows must have at least this many)
  float base_score = 0.5f;    // in probability space, as XGBoost stores it
  float base_margin = 0.0f;   // logit(base_score), computed as XGBoost does (in float)
  std::vector<Tree> trees;
};

// Limits that keep a hostile model file from exhausting memory or time.
inline constexpr size_t kMaxModelBytes = size_t{256} << 20;
inline constexpr size_t kMaxTrees = 100000;
inline constexpr size_t kMaxNodesPerTree = size_t{1} << 20;
inline constexpr size_t kMaxTotalNodes = size_t{1} << 25;
inline constexpr uint32_t kMaxFeatures = uint32_t{1} << 20;
inline constexpr int kMaxTreeDepth = 64;

// Parses an XGBoost JSON model trained with objective binary:logistic (or reg:logistic) and the
// gbtree booster with numerical splits. InvalidArgument for malformed JSON, a missing or mistyped
// field, array lengths that disagree with num_nodes, child indices out of range or forming a
// cycle / shared subtree, a split feature >= num_feature, a NaN threshold, a non-finite leaf, a
// tree deeper than kMaxTreeDepth, categorical splits, multi-class/multi-target models, other
// boosters (dart, gblinear) or objectives, and anything over the limits above.
Result<Ensemble> ParseXgboostJson(std::string_view json);

// Reference evaluation: walks each tree node by node (no compilation). Slow; the definition the
// compiled evaluator is tested against. `row` has at least ensemble.num_features values.
float ReferenceMargin(const Ensemble& ensemble, const float* row);

// 1 / (1 + exp(-margin)) in float, as XGBoost's binary:logistic transform.
float Sigmoid(float margin);

// Depth of a tree (a single leaf has depth 0).
int TreeDepth(const Tree& tree);

}  // namespace pulse::gbdt
