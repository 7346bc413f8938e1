#include "gbdt/ensemble.h"

#include <cmath>
#include <exception>
#include <utility>

#include "core/json_nesting.h"
#include "core/strings.h"
#include "nlohmann/json.hpp"

namespace pulse::gbdt {
namespace {

using nlohmann::json;

// XGBoost's model nests 6 levels deep; a hostile file nested far deeper is rejected before
// nlohmann builds it (bounding the work and the recursion its destructor and accessors do).
constexpr int kMaxJsonNesting = 32;

Result<const json*> Field(const json& object, std::string_view key, std::string_view where) {
  if (!object.is_object()) return InvalidArgumentError(StrCat(where, " is not a JSON object"));
  auto it = object.find(key);
  if (it == object.end()) return InvalidArgumentError(StrCat(where, " has no \"", key, "\""));
  return &*it;
}

// XGBoost writes most scalar parameters as strings ("5E-1", "30"); accept numbers too.
Result<double> NumberOrString(const json& value, std::string_view what) {
  double out = 0;
  if (value.is_number()) {
    out = value.get<double>();
  } else if (!value.is_string() || !ParseDouble(value.get_ref<const std::string&>(), &out)) {
    return InvalidArgumentError(StrCat(what, " is not a number"));
  }
  if (!std::isfinite(out)) return InvalidArgumentError(StrCat(what, " is not finite"));
  return out;
}

Result<int64_t> IntegerOrString(const json& value, std::string_view what) {
  int64_t out = 0;
  if (value.is_number_integer()) {
    out = value.get<int64_t>();
  } else if (!value.is_string() || !ParseInt64(value.get_ref<const std::string&>(), &out)) {
    return InvalidArgumentError(StrCat(what, " is not an integer"));
  }
  return out;
}

Result<const json*> Array(const json& tree, std::string_view key, size_t size,
                          std::string_view where) {
  ASSIGN_OR_RETURN(const json* array, Field(tree, key, where));
  if (!array->is_array()) return InvalidArgumentError(StrCat(where, ".", key, " is not an array"));
  if (array->size() != size) {
    return InvalidArgumentError(
        StrCat(where, ".", key, " has ", array->size(), " entries, num_nodes is ", size));
  }
  return array;
}

Result<Tree> ParseTree(const json& tree, uint32_t num_features, std::string_view where) {
  ASSIGN_OR_RETURN(const json* param, Field(tree, "tree_param", where));
  ASSIGN_OR_RETURN(const json* num_nodes_json, Field(*param, "num_nodes", where));
  ASSIGN_OR_RETURN(int64_t num_nodes,
                   IntegerOrString(*num_nodes_json, StrCat(where, ".num_nodes")));
  if (num_nodes < 1 || static_cast<size_t>(num_nodes) > kMaxNodesPerTree) {
    return InvalidArgumentError(
        StrCat(where, ".num_nodes is ", num_nodes, " (must be 1..", kMaxNodesPerTree, ")"));
  }
  const size_t n = static_cast<size_t>(num_nodes);
  ASSIGN_OR_RETURN(const json* left, Array(tree, "left_children", n, where));
  ASSIGN_OR_RETURN(const json* right, Array(tree, "right_children", n, where));
  ASSIGN_OR_RETURN(const json* indices, Array(tree, "split_indices", n, where));
  ASSIGN_OR_RETURN(const json* conditions, Array(tree, "split_conditions", n, where));
  ASSIGN_OR_RETURN(const json* default_left, Array(tree, "default_left", n, where));
  if (auto it = tree.find("split_type"); it != tree.end()) {
    if (!it->is_array()) return InvalidArgumentError(StrCat(where, ".split_type is not an array"));
    for (const json& t : *it) {
      if (!t.is_number_integer() || t.get<int64_t>() != 0) {
        return InvalidArgumentError(StrCat(where, " has a categorical split (unsupported)"));
      }
    }
  }

  std::vector<TreeNode> raw(n);
  for (size_t i = 0; i < n; ++i) {
    const json& l = (*left)[i];
    const json& r = (*right)[i];
    if (!l.is_number_integer() || !r.is_number_integer()) {
      return InvalidArgumentError(StrCat(where, " node ", i, ": children are not integers"));
    }
    const int64_t li = l.get<int64_t>();
    const int64_t ri = r.get<int64_t>();
    const bool leaf = li == -1;
    if (leaf != (ri == -1)) {
      return InvalidArgumentError(StrCat(where, " node ", i, " has exactly one child"));
    }
    if (!leaf && (li < 0 || ri < 0 || li >= num_nodes || ri >= num_nodes)) {
      return InvalidArgumentError(StrCat(where, " node ", i, ": child index out of range"));
    }
    const json& c = (*conditions)[i];
    if (!c.is_number()) {
      return InvalidArgumentError(StrCat(where, " node ", i, ": split_condition is not a number"));
    }
    const float value = static_cast<float>(c.get<double>());
    TreeNode& node = raw[i];
    if (leaf) {
      if (!std::isfinite(value)) {
        return InvalidArgumentError(StrCat(where, " node ", i, ": leaf value is not finite"));
      }
      node.leaf_value = value;
      continue;
    }
    if (std::isnan(value)) {
      return InvalidArgumentError(StrCat(where, " node ", i, ": threshold is NaN"));
    }
    const json& f = (*indices)[i];
    if (!f.is_number_integer() || f.get<int64_t>() < 0 ||
        f.get<int64_t>() >= static_cast<int64_t>(num_features)) {
      return InvalidArgumentError(
          StrCat(where, " node ", i, ": split feature is not in 0..", num_features - 1));
    }
    const json& d = (*default_left)[i];
    if (d.is_boolean()) {
      node.default_left = d.get<bool>();
    } else if (d.is_number_integer() && (d.get<int64_t>() == 0 || d.get<int64_t>() == 1)) {
      node.default_left = d.get<int64_t>() == 1;
    } else {
      return InvalidArgumentError(StrCat(where, " node ", i, ": default_left is not 0/1"));
    }
    node.left = static_cast<int32_t>(li);
    node.right = static_cast<int32_t>(ri);
    node.feature = static_cast<uint32_t>(f.get<int64_t>());
    node.threshold = value;
  }

  // Copy the nodes reachable from the root in depth-first order, refusing cycles, shared
  // subtrees (a node reached twice) and excessive depth. Iterative: depth is bounded anyway, but
  // the walk must not trust the file.
  Tree out;
  std::vector<int32_t> new_index(n, -1);
  struct Pending {
    int32_t old_index;
    int depth;
  };
  std::vector<Pending> stack = {{0, 0}};
  new_index[0] = 0;
  out.nodes.push_back(raw[0]);
  while (!stack.empty()) {
    const Pending p = stack.back();
    stack.pop_back();
    const TreeNode& node = raw[static_cast<size_t>(p.old_index)];
    if (node.is_leaf()) continue;
    if (p.depth + 1 > kMaxTreeDepth) {
      return InvalidArgumentError(StrCat(where, " is deeper than ", kMaxTreeDepth, " levels"));
    }
    const int32_t me = new_index[static_cast<size_t>(p.old_index)];
    for (int side = 0; side < 2; ++side) {
      const int32_t child = side == 0 ? node.left : node.right;
      if (new_index[static_cast<size_t>(child)] != -1) {
        return InvalidArgumentError(
            StrCat(where, " node ", child, " is reached twice (not a tree)"));
      }
      new_index[static_cast<size_t>(child)] = static_cast<int32_t>(out.nodes.size());
      (side == 0 ? out.nodes[static_cast<size_t>(me)].left
                 : out.nodes[static_cast<size_t>(me)].right) =
          static_cast<int32_t>(out.nodes.size());
      out.nodes.push_back(raw[static_cast<size_t>(child)]);
      stack.push_back({child, p.depth + 1});
    }
  }
  return out;
}

Result<Ensemble> ParseModel(const json& root) {
  ASSIGN_OR_RETURN(const json* learner, Field(root, "learner", "model"));
  ASSIGN_OR_RETURN(const json* objective, Field(*learner, "objective", "learner"));
  ASSIGN_OR_RETURN(const json* objective_name, Field(*objective, "name", "learner.objective"));
  if (!objective_name->is_string() ||
      (*objective_name != "binary:logistic" && *objective_name != "reg:logistic")) {
    return InvalidArgumentError("learner.objective.name must be binary:logistic or reg:logistic");
  }
  ASSIGN_OR_RETURN(const json* param, Field(*learner, "learner_model_param", "learner"));
  ASSIGN_OR_RETURN(const json* base_json, Field(*param, "base_score", "learner_model_param"));
  ASSIGN_OR_RETURN(double base_score, NumberOrString(*base_json, "base_score"));
  if (!(base_score > 0.0 && base_score < 1.0)) {
    return InvalidArgumentError("base_score must be in (0, 1) for a logistic objective");
  }
  ASSIGN_OR_RETURN(const json* nf_json, Field(*param, "num_feature", "learner_model_param"));
  ASSIGN_OR_RETURN(int64_t num_features, IntegerOrString(*nf_json, "num_feature"));
  if (num_features < 1 || num_features > static_cast<int64_t>(kMaxFeatures)) {
    return InvalidArgumentError(
        StrCat("num_feature is ", num_features, " (must be 1..", kMaxFeatures, ")"));
  }
  for (const char* key : {"num_class", "num_target"}) {
    if (auto it = param->find(key); it != param->end()) {
      ASSIGN_OR_RETURN(int64_t v, IntegerOrString(*it, key));
      if (v > 1) return InvalidArgumentError(StrCat(key, " is ", v, " (only one output)"));
    }
  }

  ASSIGN_OR_RETURN(const json* booster, Field(*learner, "gradient_booster", "learner"));
  ASSIGN_OR_RETURN(const json* booster_name, Field(*booster, "name", "gradient_booster"));
  if (!booster_name->is_string() || *booster_name != "gbtree") {
    return InvalidArgumentError("gradient_booster.name must be gbtree (dart/gblinear unsupported)");
  }
  ASSIGN_OR_RETURN(const json* model, Field(*booster, "model", "gradient_booster"));
  ASSIGN_OR_RETURN(const json* trees, Field(*model, "trees", "gradient_booster.model"));
  if (!trees->is_array())
    return InvalidArgumentError("gradient_booster.model.trees is not an array");
  if (trees->size() > kMaxTrees) {
    return InvalidArgumentError(
        StrCat("model has ", trees->size(), " trees (limit ", kMaxTrees, ")"));
  }
  if (auto it = model->find("tree_info"); it != model->end()) {
    if (!it->is_array() || it->size() != trees->size()) {
      return InvalidArgumentError("tree_info does not match trees");
    }
    for (const json& group : *it) {
      if (!group.is_number_integer() || group.get<int64_t>() != 0) {
        return InvalidArgumentError("tree_info names an output group other than 0");
      }
    }
  }

  Ensemble ensemble;
  ensemble.num_features = static_cast<uint32_t>(num_features);
  ensemble.base_score = static_cast<float>(base_score);
  // XGBoost's LogisticRegression::ProbToMargin, in float.
  ensemble.base_margin = -std::log(1.0f / ensemble.base_score - 1.0f);
  ensemble.trees.reserve(trees->size());
  size_t total_nodes = 0;
  for (size_t t = 0; t < trees->size(); ++t) {
    ASSIGN_OR_RETURN(Tree tree, ParseTree((*trees)[t], ensemble.num_features, StrCat("tree ", t)));
    total_nodes += tree.nodes.size();
    if (total_nodes > kMaxTotalNodes) {
      return InvalidArgumentError(StrCat("model has more than ", kMaxTotalNodes, " nodes"));
    }
    ensemble.trees.push_back(std::move(tree));
  }
  return ensemble;
}

}  // namespace

Result<Ensemble> ParseXgboostJson(std::string_view text) {
  if (text.size() > kMaxModelBytes) {
    return InvalidArgumentError(
        StrCat("model JSON is ", text.size(), " bytes (limit ", kMaxModelBytes, ")"));
  }
  if (JsonNestsDeeperThan(text, kMaxJsonNesting)) {
    return InvalidArgumentError(
        StrCat("model JSON nests deeper than ", kMaxJsonNesting, " levels"));
  }
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return InvalidArgumentError("model is not valid JSON");
  try {
    auto parsed = ParseModel(root);
    if (!parsed.ok()) return WithContext(parsed.status(), "XGBoost model");
    return parsed;
  } catch (const std::exception& e) {
    // Only nlohmann's accessors can throw here (a type mismatch the checks above missed).
    return InvalidArgumentError(StrCat("XGBoost model: ", e.what()));
  }
}

float ReferenceMargin(const Ensemble& ensemble, const float* row) {
  float margin = ensemble.base_margin;
  for (const Tree& tree : ensemble.trees) {
    const TreeNode* node = &tree.nodes[0];
    while (!node->is_leaf()) {
      const float x = row[node->feature];
      const bool left = std::isnan(x) ? node->default_left : x < node->threshold;
      node = &tree.nodes[static_cast<size_t>(left ? node->left : node->right)];
    }
    margin += node->leaf_value;
  }
  return margin;
}

float Sigmoid(float margin) { return 1.0f / (1.0f + std::exp(-margin)); }

int TreeDepth(const Tree& tree) {
  // Parsed trees list every child after its parent, so one forward pass computes depths.
  std::vector<int> depth(tree.nodes.size(), 0);
  int max_depth = 0;
  for (size_t i = 0; i < tree.nodes.size(); ++i) {
    const TreeNode& node = tree.nodes[i];
    if (node.is_leaf()) continue;
    for (int32_t child : {node.left, node.right}) {
      depth[static_cast<size_t>(child)] = depth[i] + 1;
      if (depth[i] + 1 > max_depth) max_depth = depth[i] + 1;
    }
  }
  return max_depth;
}

}  // namespace pulse::gbdt
