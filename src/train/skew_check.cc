#include "train/skew_check.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "candidates/context.h"
#include "core/flags.h"
#include "core/strings.h"
#include "obs/trace.h"
#include "ranking/feature_hydrator.h"
#include "ranking/ranker_features.h"
#include "rollout/model_bundle.h"
#include "store/served_log.h"
#include "train/als.h"
#include "train/fold_in_params.h"
#include "train/interactions.h"

namespace pulse::train {
namespace {

// Ranker features that are an input of the pipeline rather than a function of the user's events
// and the model: not recomputed offline (see the header).
constexpr std::string_view kNotRecomputed = "retrieval_score";
constexpr size_t kRetrievalScore = 3;
static_assert(ranking::kRankerFeatureNames[kRetrievalScore] == kNotRecomputed);

// One engagement of a user in the log.
struct LoggedEngagement {
  uint64_t seq;
  int64_t ts_ms;
  std::string item_id;
  EventType type;
};

// What the offline path needs of one model version, built once.
struct OfflineModel {
  std::shared_ptr<const rollout::ModelBundle> bundle;
  std::unique_ptr<candidates::ItemTable> items;
  std::vector<bool> item_loaded;  // created_at read from the catalog
  std::vector<float> gramian;
  TrainConfig fold_in;
  DenseId most_popular = 0;
};

bool Mismatch(double served, double offline, const SkewOptions& options) {
  const bool served_nan = std::isnan(served), offline_nan = std::isnan(offline);
  if (served_nan || offline_nan) return served_nan != offline_nan;
  const double diff = std::fabs(served - offline);
  if (!std::isfinite(diff)) return served != offline;
  return diff > options.abs_tolerance +
                    options.rel_tolerance * std::max(std::fabs(served), std::fabs(offline));
}

// The user's history as of `record` from their logged engagements (append order): newest event
// time first, ties towards the later append, the latest engagement per item, at most `cap`.
std::vector<const LoggedEngagement*> HistoryAsOf(const std::vector<LoggedEngagement>& events,
                                                 const store::ServedRequest& record, size_t cap) {
  std::vector<const LoggedEngagement*> visible;
  for (const LoggedEngagement& e : events) {
    const bool seen = record.events_seq > 0 ? e.seq <= record.events_seq : e.ts_ms <= record.ts_ms;
    if (seen) visible.push_back(&e);
  }
  std::sort(visible.begin(), visible.end(),
            [](const LoggedEngagement* a, const LoggedEngagement* b) {
              return a->ts_ms != b->ts_ms ? a->ts_ms > b->ts_ms : a->seq > b->seq;
            });
  std::unordered_set<std::string_view> items;
  std::vector<const LoggedEngagement*> history;
  for (const LoggedEngagement* e : visible) {
    if (history.size() >= cap) break;
    if (items.insert(e->item_id).second) history.push_back(e);
  }
  return history;
}

class SkewChecker {
 public:
  SkewChecker(const store::DataDir& data_dir, const Config& config, const SkewOptions& options)
      : data_dir_(data_dir), config_(config), options_(options) {}

  Result<SkewReport> Run() {
    report_.max_mismatch_rate = options_.max_mismatch_rate;
    for (std::string_view name : ranking::kRankerFeatureNames) {
      FeatureSkew f;
      f.name = std::string(name);
      f.recomputed = name != kNotRecomputed;
      report_.features.push_back(std::move(f));
    }
    RETURN_IF_ERROR(ReadRecords());
    RETURN_IF_ERROR(ReadEvents());
    for (const store::ServedRequest& record : records_) RETURN_IF_ERROR(Compare(record));
    return std::move(report_);
  }

 private:
  void Malformed(size_t index, std::string_view request_id, std::string_view why) {
    if (report_.malformed++ == 0) {
      report_.first_malformed = StrCat(
          "record #", index + 1,
          request_id.empty() ? std::string() : StrCat(" (request ", request_id, ")"), ": ", why);
    }
  }

  // Pass 1: the records to compare, up to max_rows served items.
  Status ReadRecords() {
    size_t index = 0, rows = 0;
    return data_dir_.ForEachServedRecord([&](std::string_view text) -> Status {
      const size_t i = index++;
      if (report_.truncated) return OkStatus();
      ++report_.records;
      auto record = store::DecodeServedRequest(text);
      if (!record.ok()) {
        Malformed(i, {}, record.status().message());
        return OkStatus();
      }
      if (record->schema != ranking::kRankerFeatureSchema) {
        ++report_.other_schema;
        return OkStatus();
      }
      for (const store::ServedItem& item : record->items) {
        if (item.features.size() != ranking::kRankerFeatureCount) {
          Malformed(i, record->request_id,
                    StrCat("item has ", item.features.size(), " features, schema ",
                           ranking::kRankerFeatureSchema, " has ", ranking::kRankerFeatureCount));
          return OkStatus();
        }
      }
      if (options_.max_rows > 0 && rows + record->items.size() >= options_.max_rows) {
        record->items.resize(options_.max_rows - rows);
        report_.truncated = true;
      }
      rows += record->items.size();
      users_.try_emplace(record->user_id);
      records_.push_back(*std::move(record));
      return OkStatus();
    });
  }

  // Pass 2: the engagements of the users those records served, in append order.
  Status ReadEvents() {
    if (users_.empty()) return OkStatus();
    return data_dir_.ForEachEventAfter(0, [&](uint64_t seq, const Event& event) {
      if (!IsEngagement(event.type)) return OkStatus();
      auto user = users_.find(event.user_id);
      if (user != users_.end())
        user->second.push_back({seq, event.ts_ms, event.item_id, event.type});
      return OkStatus();
    });
  }

  // The model a record was served by, loaded once; null when it is gone or unreadable.
  OfflineModel* Model(const std::string& version) {
    auto [it, inserted] = models_.try_emplace(version);
    if (!inserted) return it->second.get();
    if (!rollout::IsModelVersionName(version)) return nullptr;
    auto bundle = rollout::LoadModelBundle(data_dir_.models_dir() + "/" + version, config_.index);
    if (!bundle.ok()) return nullptr;
    auto model = std::make_unique<OfflineModel>();
    const rollout::ModelBundle& b = **bundle;
    const size_t n = b.items.size();
    model->items = std::make_unique<candidates::ItemTable>(n);
    model->item_loaded.assign(n, false);
    model->gramian = ComputeGramian(b.item_factors.data(), n, b.dim);
    model->fold_in = FoldInParameters(b, config_.train);
    // The hydrator normalises by the most popular item's popularity (popular_items.front()).
    for (DenseId i = 1; i < n; ++i) {
      if (b.item_popularity[i] > b.item_popularity[model->most_popular]) model->most_popular = i;
    }
    model->bundle = *std::move(bundle);
    it->second = std::move(model);
    return it->second.get();
  }

  Status Compare(const store::ServedRequest& record) {
    OfflineModel* model = Model(record.model_version);
    if (model == nullptr) {
      ++report_.model_missing;
      return OkStatus();
    }
    const rollout::ModelBundle& bundle = *model->bundle;

    // The user as serving saw them (serving/engine.cc PrepareUser), from the log.
    candidates::RecommendContext context;
    context.model = &bundle;
    context.items = model->items.get();
    context.now_ms = record.ts_ms;
    if (bundle.items.size() > 0) context.popular_items = std::span(&model->most_popular, 1);
    const size_t cap = static_cast<size_t>(std::max(1, config_.store.history_per_user));
    const size_t fold_in_limit = static_cast<size_t>(std::max(0, config_.pipeline.fold_in_items));
    std::vector<float> weights;
    for (const LoggedEngagement* e : HistoryAsOf(users_[record.user_id], record, cap)) {
      if (context.recent_items.size() >= fold_in_limit) break;
      std::optional<DenseId> item = bundle.items.Find(e->item_id);
      if (!item) continue;
      context.recent_items.push_back(*item);
      weights.push_back(InteractionWeight(e->type, 0));
    }
    context.user_vector.assign(static_cast<size_t>(bundle.dim), 0.0f);
    if (!context.recent_items.empty()) {
      FoldInUser(bundle.item_factors.data(), bundle.dim, model->gramian.data(),
                 context.recent_items, weights, model->fold_in, context.user_vector.data());
      context.vector_kind = candidates::UserVectorKind::kRecentItems;
    } else if (std::optional<DenseId> user = bundle.users.Find(record.user_id)) {
      std::copy_n(bundle.UserVector(*user), bundle.dim, context.user_vector.begin());
      context.vector_kind = candidates::UserVectorKind::kTrained;
    }

    std::vector<candidates::Candidate> candidates;
    std::vector<const store::ServedItem*> served;
    for (const store::ServedItem& item : record.items) {
      std::optional<DenseId> id = bundle.items.Find(item.item_id);
      if (!id) {
        ++report_.unknown_items;
        continue;
      }
      RETURN_IF_ERROR(LoadItem(*model, *id));
      candidates::Candidate c;
      c.item = *id;
      c.retrieval_score = item.features[kRetrievalScore];  // an input, not recomputed
      candidates.push_back(c);
      served.push_back(&item);
    }
    ranking::CoreFeatureHydrator().Hydrate(context, candidates);

    const int64_t bucket = obs::UserBucket(record.user_id);
    std::array<float, ranking::kRankerFeatureCount> offline;
    for (size_t r = 0; r < candidates.size(); ++r) {
      ranking::RankerFeatures(context, candidates[r], offline);
      for (size_t f = 0; f < offline.size(); ++f) {
        FeatureSkew& feature = report_.features[f];
        if (!feature.recomputed) continue;
        const double s = served[r]->features[f], o = offline[f];
        ++feature.compared;
        const double diff = std::fabs(s - o);
        if (std::isfinite(diff)) {
          feature.sum_abs_diff += diff;
          ++feature.finite_pairs;
          feature.max_abs_diff = std::max(feature.max_abs_diff, diff);
        }
        if (Mismatch(s, o, options_)) {
          ++feature.mismatches;
          if (feature.examples.size() < options_.examples_per_feature) {
            feature.examples.push_back({record.request_id, bucket, served[r]->item_id, s, o});
          }
        }
      }
    }
    report_.rows += candidates.size();
    if (!candidates.empty()) ++report_.requests_compared;
    return OkStatus();
  }

  // The item's catalog metadata the hydrator reads (created_at), read once per model.
  Status LoadItem(OfflineModel& model, DenseId id) {
    if (model.item_loaded[id]) return OkStatus();
    model.item_loaded[id] = true;
    ASSIGN_OR_RETURN(std::optional<Item> item, data_dir_.GetItem(model.bundle->items.Name(id)));
    if (item) model.items->set_created_at_ms(id, item->created_at_ms);
    return OkStatus();
  }

  const store::DataDir& data_dir_;
  const Config& config_;
  const SkewOptions& options_;
  SkewReport report_;
  std::vector<store::ServedRequest> records_;
  std::unordered_map<std::string, std::vector<LoggedEngagement>, StringHash, std::equal_to<>>
      users_;
  std::map<std::string, std::unique_ptr<OfflineModel>> models_;
};

std::string FormatDouble(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  return buffer;
}

nlohmann::json JsonNumber(double value) {
  if (std::isfinite(value)) return value;
  return nullptr;  // JSON has no NaN
}

}  // namespace

bool SkewReport::passed() const { return failing_features().empty(); }

std::vector<std::string> SkewReport::failing_features() const {
  std::vector<std::string> out;
  for (const FeatureSkew& f : features) {
    if (f.recomputed && f.mismatch_rate() > max_mismatch_rate) out.push_back(f.name);
  }
  return out;
}

nlohmann::json SkewReport::Json() const {
  nlohmann::json features_json = nlohmann::json::array();
  nlohmann::json compared = nlohmann::json::object(), mismatches = nlohmann::json::object(),
                 rate = nlohmann::json::object(), mean = nlohmann::json::object(),
                 max = nlohmann::json::object();
  for (const FeatureSkew& f : features) {
    nlohmann::json examples = nlohmann::json::array();
    for (const SkewExample& e : f.examples) {
      examples.push_back({{"request_id", e.request_id},
                          {"user_bucket", e.user_bucket},
                          {"item_id", e.item_id},
                          {"served", JsonNumber(e.served)},
                          {"offline", JsonNumber(e.offline)}});
    }
    features_json.push_back({{"feature", f.name},
                             {"recomputed", f.recomputed},
                             {"compared", f.compared},
                             {"mismatches", f.mismatches},
                             {"mismatch_rate", f.mismatch_rate()},
                             {"mean_abs_diff", f.mean_abs_diff()},
                             {"max_abs_diff", f.max_abs_diff},
                             {"examples", std::move(examples)}});
    if (!f.recomputed) continue;
    compared[f.name] = f.compared;
    mismatches[f.name] = f.mismatches;
    rate[f.name] = f.mismatch_rate();
    mean[f.name] = f.mean_abs_diff();
    max[f.name] = f.max_abs_diff;
  }
  nlohmann::json out = {
      {"passed", passed()},
      {"max_mismatch_rate", max_mismatch_rate},
      {"failing_features", failing_features()},
      {"records", records},
      {"requests_compared", requests_compared},
      {"rows", rows},
      {"truncated", truncated},
      {"skipped",
       {{"other_schema", other_schema},
        {"model_missing", model_missing},
        {"unknown_items", unknown_items}}},
      {"malformed", malformed},
      {"features", std::move(features_json)},
      // One value per feature label, named as a Prometheus family would be (e.g. for a textfile
      // collector or a CI gate): pulse_skew_mismatch_ratio{feature="popularity"}.
      {"metrics",
       {{"pulse_skew_rows_compared", rows},
        {"pulse_skew_malformed_records", malformed},
        {"pulse_skew_passed", passed() ? 1 : 0},
        {"pulse_skew_compared_total", std::move(compared)},
        {"pulse_skew_mismatches_total", std::move(mismatches)},
        {"pulse_skew_mismatch_ratio", std::move(rate)},
        {"pulse_skew_mean_abs_diff", std::move(mean)},
        {"pulse_skew_max_abs_diff", std::move(max)}}}};
  if (malformed > 0) out["first_malformed"] = first_malformed;
  return out;
}

std::string SkewReport::Text() const {
  std::string out = StrCat("training-serving skew: ", rows, " (request, item) rows from ",
                           requests_compared, " of ", records, " logged requests",
                           truncated ? " (stopped at --max-rows)" : "", "\n");
  if (other_schema + model_missing + unknown_items > 0) {
    StrAppend(out, "  skipped: ", other_schema, " records of another feature schema, ",
              model_missing, " records whose model version is gone, ", unknown_items,
              " items unknown to their model\n");
  }
  if (malformed > 0) {
    StrAppend(out, "  malformed: ", malformed, " records (first: ", first_malformed, ")\n");
  }
  char line[160];
  std::snprintf(line, sizeof(line), "  %-16s %9s %10s %9s %12s %12s\n", "feature", "compared",
                "mismatches", "rate", "mean|diff|", "max|diff|");
  out += line;
  for (const FeatureSkew& f : features) {
    if (!f.recomputed) {
      std::snprintf(line, sizeof(line),
                    "  %-16s (not recomputed offline: the source's own score)\n", f.name.c_str());
      out += line;
      continue;
    }
    std::snprintf(line, sizeof(line), "  %-16s %9zu %10zu %8.4f%% %12s %12s%s\n", f.name.c_str(),
                  f.compared, f.mismatches, 100.0 * f.mismatch_rate(),
                  FormatDouble(f.mean_abs_diff()).c_str(), FormatDouble(f.max_abs_diff).c_str(),
                  f.mismatch_rate() > max_mismatch_rate ? "  OVER" : "");
    out += line;
    for (const SkewExample& e : f.examples) {
      StrAppend(out, "      request ", e.request_id, " user bucket ", e.user_bucket, " item ",
                e.item_id, ": served ", FormatDouble(e.served), ", offline ",
                FormatDouble(e.offline), "\n");
    }
  }
  const std::vector<std::string> failing = failing_features();
  if (failing.empty()) {
    StrAppend(out, "PASS: no feature's mismatch rate is over ", FormatDouble(max_mismatch_rate),
              "\n");
  } else {
    StrAppend(out, "FAIL: mismatch rate over ", FormatDouble(max_mismatch_rate), " for");
    for (const std::string& name : failing) StrAppend(out, " ", name);
    out += "\n";
  }
  return out;
}

Result<SkewReport> CheckTrainingServingSkew(const store::DataDir& data_dir, const Config& config,
                                            const SkewOptions& options) {
  return SkewChecker(data_dir, config, options).Run();
}

namespace {

constexpr const char* kCheckSkewUsage =
    "usage: pulse check-skew --data-dir DIR [--config FILE] [--json] [--max-rows N]\n"
    "                        [--max-mismatch-rate R] [--abs-tolerance A] [--rel-tolerance R]\n"
    "Recomputes the ranker features of every sampled, logged recommend request\n"
    "(pipeline.feature_log_sample) offline from the event log and compares them with what\n"
    "serving scored. A pair mismatches when |served - offline| > A + R * max(|served|,\n"
    "|offline|) (defaults A=1e-5, R=1e-4). Exit 0 when no feature's mismatch rate is over\n"
    "--max-mismatch-rate (default 0.01), 1 when one is, 2 on bad flags or malformed records.\n";

}  // namespace

int RunCheckSkewCommand(const std::vector<std::string>& args) {
  const std::string command = "check-skew";
  auto usage_error = [&](const Status& status) {
    std::fprintf(stderr, "pulse %s: %s\n%s", command.c_str(), status.message().c_str(),
                 kCheckSkewUsage);
    return 2;
  };
  auto flags = Flags::Parse(
      args,
      {"data-dir", "config", "max-rows", "max-mismatch-rate", "abs-tolerance", "rel-tolerance"},
      {"json", "help"});
  if (!flags.ok()) return usage_error(flags.status());
  if (flags->GetBool("help")) {
    std::fputs(kCheckSkewUsage, stdout);
    return 0;
  }
  if (!flags->positional().empty()) {
    return usage_error(
        InvalidArgumentError(StrCat("unexpected argument '", flags->positional()[0], "'")));
  }
  Config config;
  if (flags->Has("config")) {
    auto loaded = LoadConfigFile(flags->GetString("config"));
    if (!loaded.ok()) return usage_error(loaded.status());
    config = *std::move(loaded);
  }
  SkewOptions options;
  auto max_rows = flags->GetInt("max-rows", 0);
  auto rate = flags->GetDouble("max-mismatch-rate", options.max_mismatch_rate);
  auto abs_tolerance = flags->GetDouble("abs-tolerance", options.abs_tolerance);
  auto rel_tolerance = flags->GetDouble("rel-tolerance", options.rel_tolerance);
  for (const Status& s :
       {max_rows.status(), rate.status(), abs_tolerance.status(), rel_tolerance.status()}) {
    if (!s.ok()) return usage_error(s);
  }
  if (*max_rows < 0) return usage_error(InvalidArgumentError("--max-rows must be >= 0"));
  if (!(*rate >= 0 && *rate <= 1)) {
    return usage_error(InvalidArgumentError("--max-mismatch-rate must be in [0, 1]"));
  }
  if (!(*abs_tolerance >= 0) || !(*rel_tolerance >= 0) || !std::isfinite(*abs_tolerance) ||
      !std::isfinite(*rel_tolerance)) {
    return usage_error(InvalidArgumentError("tolerances must be finite and >= 0"));
  }
  options.max_rows = static_cast<size_t>(*max_rows);
  options.max_mismatch_rate = *rate;
  options.abs_tolerance = *abs_tolerance;
  options.rel_tolerance = *rel_tolerance;

  const std::string dir = flags->GetString("data-dir", config.data_dir);
  if (dir.empty()) return usage_error(InvalidArgumentError("--data-dir is required"));
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return usage_error(InvalidArgumentError(StrCat("data directory ", dir, " does not exist")));
  }
  auto data_dir = store::DataDir::Open(dir, config.store);
  if (!data_dir.ok()) {
    std::fprintf(stderr, "pulse %s: opening data dir: %s\n", command.c_str(),
                 data_dir.status().message().c_str());
    return 1;
  }
  auto report = CheckTrainingServingSkew(**data_dir, config, options);
  if (!report.ok()) {
    std::fprintf(stderr, "pulse %s: %s\n", command.c_str(), report.status().message().c_str());
    return 1;
  }
  if (flags->GetBool("json")) {
    std::printf("%s\n", report->Json().dump(2).c_str());
  } else {
    std::fputs(report->Text().c_str(), stdout);
  }
  if (report->malformed > 0) {
    std::fprintf(stderr, "pulse %s: %zu malformed served-feature records (first: %s)\n",
                 command.c_str(), report->malformed, report->first_malformed.c_str());
    return 2;
  }
  if (report->records == 0) {
    std::fprintf(stderr,
                 "pulse %s: the served-feature log is empty (set pipeline.feature_log_sample)\n",
                 command.c_str());
  }
  return report->passed() ? 0 : 1;
}

}  // namespace pulse::train
