// train/eval.h — offline evaluation of recommenders on held-out interactions.
//
// Protocols (on the aggregated (user, item) pairs of interactions.h, each dated by its newest
// event):
//   leave-last-out  every user with >= 2 pairs holds out the newest one (ties: the larger item
//                   dense id, i.e. the item first seen later); the rest is training data.
//   temporal        one global cut at the 80th percentile of pair times: pairs older than the cut
//                   train, the others test; only users with pairs on both sides are evaluated.
// For every evaluated user a model scores ALL items; the user's training items and items without
// any training interaction (nothing any model could have learnt about them) are excluded, ties
// are broken by item dense id ascending, and the top K are compared with the held-out items T:
//   Recall@K = hits / |T|          HR@K = 1 if any hit
//   NDCG@K   = DCG / IDCG, DCG = sum over hits at 1-based rank r of 1 / log2(r + 1),
//              IDCG = the same sum over ranks 1..min(|T|, K) (binary gains)
//   Coverage@K = distinct items recommended to anyone / items with a training interaction.
// Metrics are averaged over evaluated users. Everything is deterministic (sums run in user order)
// whatever the thread count.
//
// Thread-safety: functions are reentrant; models are immutable after construction and Score may
// be called from several threads at once.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/ids.h"
#include "core/status.h"
#include "train/interactions.h"

namespace pulse::train {

enum class Protocol { kLeaveLastOut, kTemporal };

// "leave-last-out" | "temporal"; InvalidArgument naming the accepted values otherwise.
Result<Protocol> ParseProtocol(std::string_view name);

// The --k flag of the eval commands: comma-separated cutoffs in 1..10000, returned ascending and
// distinct; InvalidArgument naming the flag otherwise (or when empty).
Result<std::vector<int>> ParseCutoffs(std::string_view text);
std::string_view ProtocolName(Protocol protocol);

struct EvalSplit {
  Interactions train;                            // same dictionaries as the full data
  std::vector<DenseId> test_users;               // ascending
  std::vector<std::vector<DenseId>> test_items;  // parallel to test_users; each ascending
  size_t test_pairs = 0;
  // Rank every item of the dictionary, including items nobody trained on (the holdout protocol of
  // evaluation/holdout.h ranks the whole catalog); false keeps the rule above.
  bool rank_all_items = false;
};

EvalSplit SplitForEval(const Interactions& all, Protocol protocol);

// Metric definitions for one user: `ranked` best first (only its first k entries count),
// `relevant` sorted ascending and non-empty.
double RecallAtK(std::span<const DenseId> ranked, std::span<const DenseId> relevant, int k);
double NdcgAtK(std::span<const DenseId> ranked, std::span<const DenseId> relevant, int k);
double HitAtK(std::span<const DenseId> ranked, std::span<const DenseId> relevant, int k);

// Every metric of one user's top-K list at once (`ranked` best first, only its first k entries
// count; `relevant` = the test items T, sorted ascending and non-empty; hits = ranked items in T):
//   precision = hits / k            recall = hits / |T|          hit_rate = 1 if hits > 0
//   ndcg      = DCG / IDCG, binary gains, IDCG over min(|T|, k) ranks
//   ap        = sum over hit ranks r of (hits within the first r) / r, divided by |T|
//   ap_min    = the same sum divided by min(|T|, k) (1 for a perfect list)
struct RankingMetrics {
  double precision = 0;
  double recall = 0;
  double ndcg = 0;
  double hit_rate = 0;
  double ap = 0;
  double ap_min = 0;
};
RankingMetrics EvaluateRanking(std::span<const DenseId> ranked, std::span<const DenseId> relevant,
                               int k);

// Something that scores every item for a user.
class EvalModel {
 public:
  virtual ~EvalModel() = default;
  virtual size_t num_items() const = 0;
  // Writes users.size() rows of num_items() scores (row-major) to `out`.
  virtual void Score(std::span<const DenseId> users, float* out) const = 0;
};

// The popularity baseline: an item's score is its number of training pairs, for every user.
class PopularityModel final : public EvalModel {
 public:
  explicit PopularityModel(const Interactions& train);
  size_t num_items() const override { return counts_.size(); }
  void Score(std::span<const DenseId> users, float* out) const override;

 private:
  std::vector<float> counts_;
};

// Dot products of user and item factors (row-major, `dim` wide); does not own the factors.
class FactorModel final : public EvalModel {
 public:
  FactorModel(const float* user_factors, size_t n_users, const float* item_factors, size_t n_items,
              int dim);
  size_t num_items() const override { return n_items_; }
  void Score(std::span<const DenseId> users, float* out) const override;

 private:
  const float* user_factors_;
  size_t n_users_;
  const float* item_factors_;
  size_t n_items_;
  int dim_;
};

// Top-k items for every test user of `split` (parallel to split.test_users, best first; shorter
// when fewer items are eligible). Users are scored in blocks with one matrix product per block.
std::vector<std::vector<DenseId>> RecommendForEval(const EvalSplit& split, const EvalModel& model,
                                                   int k, int threads);

struct MetricsAtK {
  int k = 0;
  double recall = 0;
  double ndcg = 0;
  double hit_rate = 0;
  double coverage = 0;
  size_t users = 0;
};

// Metrics for each of `ks` from top lists at least max(ks) long.
std::vector<MetricsAtK> ComputeMetrics(const EvalSplit& split,
                                       const std::vector<std::vector<DenseId>>& recommended,
                                       std::span<const int> ks);

struct ModelReport {
  std::string model;  // "popular" | "als"
  std::vector<MetricsAtK> metrics;
  double train_seconds = 0;
  double eval_seconds = 0;
};

struct EvalReport {
  Protocol protocol = Protocol::kLeaveLastOut;
  size_t train_pairs = 0;
  size_t test_pairs = 0;
  size_t test_users = 0;
  size_t catalog_items = 0;  // items with a training interaction
  std::vector<ModelReport> models;
};

// Splits `all`, then evaluates the popularity baseline and ALS (trained on the training split
// with `config`). InvalidArgument for an empty or non-positive k or a bad config.
Result<EvalReport> RunOfflineEval(const Interactions& all, Protocol protocol,
                                  std::span<const int> ks, const TrainConfig& config);

}  // namespace pulse::train
