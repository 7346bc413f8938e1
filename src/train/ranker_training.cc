#include "train/ranker_training.h"

#include <algorithm>
#include <map>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/strings.h"
#include "gbdt/ensemble.h"
#include "gbdt/evaluator.h"
#include "gbdt/metrics.h"
#include "ranking/ranker_features.h"
#include "store/served_log.h"

namespace pulse::train {
namespace {

uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool IsHoldout(uint64_t request_hash) { return request_hash % 5 == 0; }

struct ServedRow {
  int64_t ts_ms;
  size_t row;
};

}  // namespace

Result<RankerDataset> BuildRankerDataset(const store::DataDir& data_dir, int64_t click_window_ms) {
  RankerDataset data;
  data.cols = ranking::kRankerFeatureCount;
  // request_id -> (item_id -> row); (user_id \0 item_id) -> rows with their request time.
  std::unordered_map<std::string, std::map<std::string, size_t, std::less<>>> by_request;
  std::unordered_map<std::string, std::vector<ServedRow>> by_user_item;
  RETURN_IF_ERROR(data_dir.ForEachServedRecord([&](std::string_view text) {
    auto record = store::DecodeServedRequest(text);
    if (!record.ok() || record->schema != ranking::kRankerFeatureSchema ||
        by_request.contains(record->request_id)) {
      ++data.skipped_records;
      return OkStatus();
    }
    auto& items = by_request[record->request_id];
    const uint64_t hash = Fnv1a(record->request_id);
    for (const store::ServedItem& item : record->items) {
      if (item.features.size() != data.cols || items.contains(item.item_id)) continue;
      const size_t row = data.y.size();
      items.emplace(item.item_id, row);
      by_user_item[StrCat(record->user_id, std::string_view("\0", 1), item.item_id)].push_back(
          {record->ts_ms, row});
      data.x.insert(data.x.end(), item.features.begin(), item.features.end());
      data.y.push_back(0.0f);
      data.request_hash.push_back(hash);
    }
    ++data.requests;
    return OkStatus();
  }));
  if (data.y.empty()) return data;
  RETURN_IF_ERROR(data_dir.ForEachEvent([&](const Event& event) {
    if (event.type != EventType::kClick && event.type != EventType::kPurchase) {
      return OkStatus();
    }
    if (!event.request_id.empty()) {
      if (auto request = by_request.find(event.request_id); request != by_request.end()) {
        if (auto item = request->second.find(event.item_id); item != request->second.end()) {
          data.y[item->second] = 1.0f;
        }
        return OkStatus();
      }
    }
    auto served =
        by_user_item.find(StrCat(event.user_id, std::string_view("\0", 1), event.item_id));
    if (served == by_user_item.end()) return OkStatus();
    for (const ServedRow& s : served->second) {
      if (event.ts_ms >= s.ts_ms && event.ts_ms <= s.ts_ms + click_window_ms) data.y[s.row] = 1.0f;
    }
    return OkStatus();
  }));
  return data;
}

gbdt::TrainParams RankerTrainParams(const TrainConfig& config) {
  gbdt::TrainParams params;
  params.trees = 100;
  params.max_depth = 6;
  params.eta = 0.1;
  params.min_child_weight = 1.0;
  params.subsample = 0.8;
  params.seed = config.seed;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  params.nthread = config.threads > 0 ? config.threads : static_cast<int>(cores);
  return params;
}

RankerOutcome TrainRanker(const RankerDataset& data, int min_rows,
                          const gbdt::TrainParams& params) {
  RankerOutcome out;
  out.rows = data.rows();
  out.requests = data.requests;
  out.positives = static_cast<size_t>(std::count(data.y.begin(), data.y.end(), 1.0f));
  auto not_trained = [&](std::string reason) {
    out.reason = std::move(reason);
    return out;
  };
  if (out.rows < static_cast<size_t>(min_rows)) {
    return not_trained(StrCat("not enough data: ", out.rows, " labelled rows from ", out.requests,
                              " logged requests, train.ranker_min_rows is ", min_rows,
                              " (log served features with pipeline.feature_log_sample)"));
  }
  RankerDataset train, holdout;
  for (RankerDataset* d : {&train, &holdout}) d->cols = data.cols;
  for (size_t r = 0; r < data.rows(); ++r) {
    RankerDataset& d = IsHoldout(data.request_hash[r]) ? holdout : train;
    d.x.insert(d.x.end(), data.x.begin() + static_cast<std::ptrdiff_t>(r * data.cols),
               data.x.begin() + static_cast<std::ptrdiff_t>((r + 1) * data.cols));
    d.y.push_back(data.y[r]);
  }
  out.train_rows = train.rows();
  out.holdout_rows = holdout.rows();
  for (const RankerDataset* d : {&train, &holdout}) {
    const auto pos = std::count(d->y.begin(), d->y.end(), 1.0f);
    if (pos == 0 || pos == static_cast<std::ptrdiff_t>(d->rows())) {
      return not_trained(StrCat("not enough data: the ", d == &train ? "training" : "held-out",
                                " split (", d->rows(), " rows, ", pos,
                                " clicked) needs both clicked and unclicked items"));
    }
  }
  auto booster = gbdt::Booster::Train({train.x, train.rows(), train.cols}, train.y, params);
  if (!booster.ok()) return not_trained(booster.status().message());
  auto json = booster->SaveJson();
  if (!json.ok()) return not_trained(json.status().message());
  auto ensemble = gbdt::ParseXgboostJson(*json);
  if (!ensemble.ok()) return not_trained(ensemble.status().message());
  auto compiled = gbdt::CompiledEnsemble::Compile(*ensemble);
  if (!compiled.ok()) return not_trained(compiled.status().message());
  std::vector<float> p(holdout.rows());
  if (Status s = compiled->PredictProbability(holdout.x, holdout.rows(), holdout.cols, p);
      !s.ok()) {
    return not_trained(s.message());
  }
  auto auc = gbdt::Auc(p, holdout.y);
  auto logloss = gbdt::LogLoss(p, holdout.y);
  if (!auc.ok() || !logloss.ok()) {
    return not_trained(!auc.ok() ? auc.status().message() : logloss.status().message());
  }
  out.trained = true;
  out.model_json = std::move(json).value();
  out.auc = *auc;
  out.logloss = *logloss;
  return out;
}

RankerOutcome TrainRankerFromDataDir(const store::DataDir& data_dir, const TrainConfig& config) {
  auto data = BuildRankerDataset(data_dir);
  if (!data.ok()) {
    RankerOutcome out;
    out.reason = StrCat("reading the served-feature log: ", data.status().message());
    return out;
  }
  return TrainRanker(*data, config.ranker_min_rows, RankerTrainParams(config));
}

nlohmann::json RankerOutcome::ManifestJson() const {
  nlohmann::json j = {{"trained", trained},
                      {"rows", rows},
                      {"positives", positives},
                      {"requests", requests},
                      {"feature_schema", ranking::kRankerFeatureSchema},
                      {"features", ranking::kRankerFeatureNames}};
  if (trained) {
    j["train_rows"] = train_rows;
    j["holdout_rows"] = holdout_rows;
    j["holdout_auc"] = auc;
    j["holdout_logloss"] = logloss;
  } else {
    j["reason"] = reason;
  }
  return j;
}

std::string RankerOutcome::Summary() const {
  if (!trained) return StrCat("ranker: none, linear scorer kept (", reason, ")");
  char metrics[96];
  std::snprintf(metrics, sizeof(metrics), "held-out AUC %.4f, logloss %.4f", auc, logloss);
  return StrCat("ranker: gradient-boosted trees on ", train_rows, " rows (", positives,
                " clicked of ", rows, " from ", requests, " requests); ", metrics, " on ",
                holdout_rows, " rows");
}

}  // namespace pulse::train
