// Eigen must not start its own OpenMP team inside our worker threads.
#define EIGEN_DONT_PARALLELIZE

#include "train/eval.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_set>

#include "core/clock.h"
#include "core/strings.h"
#include "train/als.h"
#include "train/parallel.h"

namespace pulse::train {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

bool Contains(std::span<const DenseId> sorted, DenseId id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

struct Scored {
  float score;
  DenseId id;
};

// Heap order: the worst candidate (lowest score, then highest id) on top.
bool Better(const Scored& a, const Scored& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

// Top k of `scores` best first, skipping `excluded` (sorted) and non-eligible items.
void TopK(const float* scores, size_t n, std::span<const DenseId> excluded,
          const std::vector<char>& eligible, int k, std::vector<Scored>& heap,
          std::vector<DenseId>& out) {
  heap.clear();
  const auto cap = static_cast<size_t>(k);
  size_t next_excluded = 0;
  for (size_t i = 0; i < n; ++i) {
    if (next_excluded < excluded.size() && excluded[next_excluded] == i) {
      ++next_excluded;
      continue;
    }
    const float score = scores[i];
    if (!eligible[i] || std::isnan(score)) continue;
    const Scored candidate{score, static_cast<DenseId>(i)};
    if (heap.size() < cap) {
      heap.push_back(candidate);
      std::push_heap(heap.begin(), heap.end(), Better);
    } else if (Better(candidate, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), Better);
      heap.back() = candidate;
      std::push_heap(heap.begin(), heap.end(), Better);
    }
  }
  std::sort(heap.begin(), heap.end(), Better);
  out.clear();
  for (const Scored& s : heap) out.push_back(s.id);
}

}  // namespace

Result<std::vector<int>> ParseCutoffs(std::string_view text) {
  std::set<int> ks;
  for (std::string_view piece : Split(text, ',')) {
    int64_t k = 0;
    if (!ParseInt64(Trim(piece), &k) || k < 1 || k > 10000) {
      return InvalidArgumentError(
          StrCat("--k: expected comma-separated integers in 1..10000, got '", text, "'"));
    }
    ks.insert(static_cast<int>(k));
  }
  if (ks.empty()) return InvalidArgumentError("--k is empty");
  return std::vector<int>(ks.begin(), ks.end());
}

Result<Protocol> ParseProtocol(std::string_view name) {
  if (name == "leave-last-out") return Protocol::kLeaveLastOut;
  if (name == "temporal") return Protocol::kTemporal;
  return InvalidArgumentError(
      StrCat("unknown protocol '", name, "' (expected leave-last-out or temporal)"));
}

std::string_view ProtocolName(Protocol protocol) {
  return protocol == Protocol::kLeaveLastOut ? "leave-last-out" : "temporal";
}

EvalSplit SplitForEval(const Interactions& all, Protocol protocol) {
  EvalSplit split;
  const size_t n_users = all.num_users();
  if (protocol == Protocol::kLeaveLastOut) {
    // held_out[u] = the newest item of u, or none.
    std::vector<int64_t> held_out(n_users, -1);
    for (size_t u = 0; u < n_users; ++u) {
      std::span<const DenseId> items = all.UserItems(static_cast<DenseId>(u));
      std::span<const int64_t> times = all.UserTimes(static_cast<DenseId>(u));
      if (items.size() < 2) continue;
      size_t best = 0;
      for (size_t k = 1; k < items.size(); ++k) {
        // Items are ascending, so >= picks the larger id on a tie.
        if (times[k] >= times[best]) best = k;
      }
      held_out[u] = items[best];
      split.test_users.push_back(static_cast<DenseId>(u));
      split.test_items.push_back({items[best]});
    }
    split.train = all.Filter(
        [&](const Interaction& e) { return held_out[e.user] != static_cast<int64_t>(e.item); });
  } else {
    std::vector<int64_t> times;
    times.reserve(all.nnz());
    all.ForEach([&](const Interaction& e) { times.push_back(e.ts_ms); });
    int64_t cut = std::numeric_limits<int64_t>::max();
    if (!times.empty()) {
      const size_t at = times.size() * 8 / 10;
      std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(at), times.end());
      cut = times[at];
    }
    split.train = all.Filter([&](const Interaction& e) { return e.ts_ms < cut; });
    for (size_t u = 0; u < n_users; ++u) {
      const auto user = static_cast<DenseId>(u);
      if (split.train.UserItems(user).empty()) continue;
      std::vector<DenseId> test;
      std::span<const DenseId> items = all.UserItems(user);
      std::span<const int64_t> item_times = all.UserTimes(user);
      for (size_t k = 0; k < items.size(); ++k) {
        if (item_times[k] >= cut) test.push_back(items[k]);
      }
      if (test.empty()) continue;
      split.test_users.push_back(user);
      split.test_items.push_back(std::move(test));
    }
  }
  for (const auto& items : split.test_items) split.test_pairs += items.size();
  return split;
}

double RecallAtK(std::span<const DenseId> ranked, std::span<const DenseId> relevant, int k) {
  if (relevant.empty()) return 0;
  const size_t n = std::min(ranked.size(), static_cast<size_t>(std::max(k, 0)));
  size_t hits = 0;
  for (size_t r = 0; r < n; ++r) hits += Contains(relevant, ranked[r]) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(relevant.size());
}

double NdcgAtK(std::span<const DenseId> ranked, std::span<const DenseId> relevant, int k) {
  if (relevant.empty() || k <= 0) return 0;
  const size_t n = std::min(ranked.size(), static_cast<size_t>(k));
  double dcg = 0;
  for (size_t r = 0; r < n; ++r) {
    if (Contains(relevant, ranked[r])) dcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
  }
  double idcg = 0;
  const size_t ideal = std::min(relevant.size(), static_cast<size_t>(k));
  for (size_t r = 0; r < ideal; ++r) idcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
  return dcg / idcg;
}

double HitAtK(std::span<const DenseId> ranked, std::span<const DenseId> relevant, int k) {
  const size_t n = std::min(ranked.size(), static_cast<size_t>(std::max(k, 0)));
  for (size_t r = 0; r < n; ++r) {
    if (Contains(relevant, ranked[r])) return 1;
  }
  return 0;
}

RankingMetrics EvaluateRanking(std::span<const DenseId> ranked, std::span<const DenseId> relevant,
                               int k) {
  RankingMetrics m;
  if (relevant.empty() || k <= 0) return m;
  const size_t n = std::min(ranked.size(), static_cast<size_t>(k));
  size_t hits = 0;
  double dcg = 0;
  double precision_sum = 0;
  for (size_t r = 0; r < n; ++r) {
    if (!Contains(relevant, ranked[r])) continue;
    ++hits;
    dcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
    precision_sum += static_cast<double>(hits) / static_cast<double>(r + 1);
  }
  const size_t ideal = std::min(relevant.size(), static_cast<size_t>(k));
  double idcg = 0;
  for (size_t r = 0; r < ideal; ++r) idcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
  m.precision = static_cast<double>(hits) / static_cast<double>(k);
  m.recall = static_cast<double>(hits) / static_cast<double>(relevant.size());
  m.ndcg = dcg / idcg;
  m.hit_rate = hits > 0 ? 1 : 0;
  m.ap = precision_sum / static_cast<double>(relevant.size());
  m.ap_min = precision_sum / static_cast<double>(ideal);
  return m;
}

PopularityModel::PopularityModel(const Interactions& train) : counts_(train.num_items()) {
  for (size_t i = 0; i < counts_.size(); ++i) {
    counts_[i] = static_cast<float>(train.ItemUsers(static_cast<DenseId>(i)).size());
  }
}

void PopularityModel::Score(std::span<const DenseId> users, float* out) const {
  for (size_t r = 0; r < users.size(); ++r) {
    std::copy(counts_.begin(), counts_.end(), out + r * counts_.size());
  }
}

FactorModel::FactorModel(const float* user_factors, size_t n_users, const float* item_factors,
                         size_t n_items, int dim)
    : user_factors_(user_factors),
      n_users_(n_users),
      item_factors_(item_factors),
      n_items_(n_items),
      dim_(dim) {}

void FactorModel::Score(std::span<const DenseId> users, float* out) const {
  const auto rows = static_cast<Eigen::Index>(users.size());
  RowMatrix block(rows, dim_);
  for (Eigen::Index r = 0; r < rows; ++r) {
    const DenseId user = users[static_cast<size_t>(r)];
    PULSE_CHECK(user < n_users_);
    block.row(r) = Eigen::Map<const Eigen::RowVectorXf>(
        user_factors_ + static_cast<size_t>(user) * static_cast<size_t>(dim_), dim_);
  }
  Eigen::Map<const RowMatrix> items(item_factors_, static_cast<Eigen::Index>(n_items_), dim_);
  Eigen::Map<RowMatrix> scores(out, rows, static_cast<Eigen::Index>(n_items_));
  scores.noalias() = block * items.transpose();
}

std::vector<std::vector<DenseId>> RecommendForEval(const EvalSplit& split, const EvalModel& model,
                                                   int k, int threads) {
  const size_t n_items = model.num_items();
  const size_t n_users = split.test_users.size();
  std::vector<std::vector<DenseId>> out(n_users);
  if (k <= 0 || n_items == 0) return out;
  std::vector<char> eligible(n_items, 0);
  for (size_t i = 0; i < n_items && i < split.train.num_items(); ++i) {
    eligible[i] =
        split.rank_all_items || !split.train.ItemUsers(static_cast<DenseId>(i)).empty() ? 1 : 0;
  }
  // A block's scores stay under 16 MiB: big enough for efficient products, small enough for large
  // catalogs. The block size must not depend on the thread count: a user's scores could round
  // differently in a different product shape.
  const size_t block = std::clamp<size_t>((4u << 20) / n_items, 8, 256);
  ParallelFor(n_users, ResolveThreads(threads), block, [&](int, size_t begin, size_t end) {
    std::vector<float> scores((end - begin) * n_items);
    std::span<const DenseId> users(split.test_users.data() + begin, end - begin);
    model.Score(users, scores.data());
    std::vector<Scored> heap;
    heap.reserve(static_cast<size_t>(k));
    for (size_t r = 0; r < users.size(); ++r) {
      TopK(scores.data() + r * n_items, n_items, split.train.UserItems(users[r]), eligible, k, heap,
           out[begin + r]);
    }
  });
  return out;
}

std::vector<MetricsAtK> ComputeMetrics(const EvalSplit& split,
                                       const std::vector<std::vector<DenseId>>& recommended,
                                       std::span<const int> ks) {
  size_t catalog = 0;
  for (size_t i = 0; i < split.train.num_items(); ++i) {
    catalog += split.train.ItemUsers(static_cast<DenseId>(i)).empty() ? 0 : 1;
  }
  std::vector<MetricsAtK> out;
  for (int k : ks) {
    MetricsAtK m;
    m.k = k;
    m.users = split.test_users.size();
    std::unordered_set<DenseId> distinct;
    for (size_t u = 0; u < split.test_users.size(); ++u) {
      const std::vector<DenseId>& ranked = recommended[u];
      m.recall += RecallAtK(ranked, split.test_items[u], k);
      m.ndcg += NdcgAtK(ranked, split.test_items[u], k);
      m.hit_rate += HitAtK(ranked, split.test_items[u], k);
      const size_t n = std::min(ranked.size(), static_cast<size_t>(k));
      distinct.insert(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n));
    }
    if (m.users > 0) {
      const auto users = static_cast<double>(m.users);
      m.recall /= users;
      m.ndcg /= users;
      m.hit_rate /= users;
    }
    m.coverage =
        catalog == 0 ? 0 : static_cast<double>(distinct.size()) / static_cast<double>(catalog);
    out.push_back(m);
  }
  return out;
}

Result<EvalReport> RunOfflineEval(const Interactions& all, Protocol protocol,
                                  std::span<const int> ks, const TrainConfig& config) {
  if (ks.empty()) return InvalidArgumentError("at least one K is required");
  for (int k : ks) {
    if (k < 1 || k > 10000) return InvalidArgumentError(StrCat("K must be in 1..10000, got ", k));
  }
  RETURN_IF_ERROR(ValidateTrainConfig(config));
  const int max_k = *std::max_element(ks.begin(), ks.end());

  EvalReport report;
  report.protocol = protocol;
  EvalSplit split = SplitForEval(all, protocol);
  report.train_pairs = split.train.nnz();
  report.test_pairs = split.test_pairs;
  report.test_users = split.test_users.size();
  for (size_t i = 0; i < split.train.num_items(); ++i) {
    report.catalog_items += split.train.ItemUsers(static_cast<DenseId>(i)).empty() ? 0 : 1;
  }

  {
    ModelReport popular;
    popular.model = "popular";
    Stopwatch train_time;
    PopularityModel model(split.train);
    popular.train_seconds = train_time.ElapsedSeconds();
    Stopwatch eval_time;
    auto recs = RecommendForEval(split, model, max_k, config.threads);
    popular.metrics = ComputeMetrics(split, recs, ks);
    popular.eval_seconds = eval_time.ElapsedSeconds();
    report.models.push_back(std::move(popular));
  }
  {
    ModelReport als;
    als.model = "als";
    Stopwatch train_time;
    ASSIGN_OR_RETURN(AlsModel trained, TrainAls(split.train, config));
    als.train_seconds = train_time.ElapsedSeconds();
    Stopwatch eval_time;
    FactorModel model(trained.user_factors.data(), trained.num_users, trained.item_factors.data(),
                      trained.num_items, trained.dim);
    auto recs = RecommendForEval(split, model, max_k, config.threads);
    als.metrics = ComputeMetrics(split, recs, ks);
    als.eval_seconds = eval_time.ElapsedSeconds();
    report.models.push_back(std::move(als));
  }
  return report;
}

}  // namespace pulse::train
