#include "train/commands.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "core/clock.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/status.h"
#include "core/strings.h"
#include "index/ann_index.h"
#include "ingest/file_readers.h"
#include "nlohmann/json.hpp"
#include "rollout/model_bundle.h"
#include "store/data_dir.h"
#include "train/als.h"
#include "train/eval.h"
#include "train/interactions.h"
#include "train/popularity.h"
#include "train/ranker_training.h"

namespace pulse::train {
namespace {

// A failure after the arguments were accepted: exit 1 whatever the status code (an
// InvalidArgument from deep inside is not the user's command line being wrong).
int Fail(const std::string& command, const Status& status) {
  std::fprintf(stderr, "pulse %s: %s\n", command.c_str(), status.message().c_str());
  return 1;
}

// Loads --config when given; any problem with it is bad usage (exit 2).
Result<Config> LoadConfig(const Flags& flags) {
  if (!flags.Has("config")) return Config();
  auto config = LoadConfigFile(flags.GetString("config"));
  if (!config.ok()) return InvalidArgumentError(config.status().message());
  return config;
}

// "\r" progress lines for interactive runs; nothing when stderr is a file or pipe (or for a
// scheduled retrain inside the server).
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }
  // Rewrites the current line.
  void Update(const std::string& line) {
    if (!enabled_) return;
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
    std::fflush(stderr);
  }
  // Rewrites the current line and ends it.
  void Done(const std::string& line) {
    if (!enabled_) return;
    std::fprintf(stderr, "\r%s\033[K\n", line.c_str());
    std::fflush(stderr);
  }

 private:
  const bool enabled_;
};

// `value` with `digits` decimals, for progress lines.
std::string Fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, value);
  return buf;
}

constexpr uint64_t kProgressEveryEvents = (uint64_t{1} << 18) - 1;  // a mask: every 262,144

AlsOptions AlsProgressOptions(Progress& progress, std::string label,
                              const std::atomic<bool>* cancel) {
  AlsOptions options;
  options.cancel = cancel;
  if (!progress.enabled()) return options;
  options.on_iteration = [&progress, label = std::move(label)](const AlsProgress& p) {
    const std::string line = StrCat(label, " iteration ", p.iteration, "/", p.iterations, "  ",
                                    Fixed(p.elapsed_seconds, 1), " s");
    if (p.iteration == p.iterations) {
      progress.Done(line);
    } else {
      progress.Update(line);
    }
  };
  return options;
}

// What the bundle's data covers, in log order.
struct DataRange {
  uint64_t events = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  int64_t first_ts_ms = 0;  // oldest / newest event time of every event read
  int64_t last_ts_ms = 0;
  void Add(uint64_t seq, int64_t ts_ms) {
    if (events++ == 0) {
      first_seq = seq;
      first_ts_ms = last_ts_ms = ts_ms;
    }
    last_seq = seq;
    first_ts_ms = std::min(first_ts_ms, ts_ms);
    last_ts_ms = std::max(last_ts_ms, ts_ms);
  }
};

nlohmann::json IndexParametersJson(const IndexConfig& c, const index::AnnIndex& built) {
  if (c.type == "ivf") {
    const index::IvfParams p = built.ivf_params();
    return {{"type", c.type},
            {"ivf_nlist", p.nlist},
            {"ivf_nprobe", p.tuned_nprobe},
            {"tuned_recall", p.tuned_recall},
            {"recall_k", p.recall_k},
            {"tuning_queries", p.tuning_queries}};
  }
  return {{"type", c.type}, {"hnsw_m", c.hnsw_m}, {"hnsw_ef_construction", c.hnsw_ef_construction}};
}

// What serving computes from the bundle and from events (for a reader of the manifest and a
// ranker trained against these features): vector spaces, and how events weigh.
nlohmann::json FeatureSchemaJson(int dim) {
  nlohmann::json weights = nlohmann::json::object();
  for (EventType type :
       {EventType::kView, EventType::kClick, EventType::kPurchase, EventType::kImpression}) {
    weights[std::string(EventTypeName(type))] = InteractionWeight(type, 0);
  }
  weights["dwell"] = "1 + min(dwell_ms / 30000, 3)";
  return {{"version", 1},
          {"user_vector", {{"dim", dim}, {"space", "als"}, {"cold_start", "fold_in_recent"}}},
          {"item_vector", {{"dim", dim}, {"space", "als"}, {"similarity", "inner_product"}}},
          {"item_popularity", {{"half_life_ms", kPopularityHalfLifeMs}}},
          {"interaction_weights", std::move(weights)}};
}

// The held-out check: leave-last-out over at most config.eval_users evaluated users (every
// k-th, deterministic), ALS with the same config trained without their newest interaction,
// scored against the popularity baseline. {"skipped": reason} when it cannot run.
Result<nlohmann::json> HeldOutMetrics(const Interactions& data, const TrainConfig& config,
                                      Progress& progress, const std::atomic<bool>* cancel) {
  constexpr int kK = 10;
  if (config.eval_users <= 0) return nlohmann::json{{"skipped", "train.eval_users is 0"}};
  EvalSplit split = SplitForEval(data, Protocol::kLeaveLastOut);
  if (split.test_users.empty()) {
    return nlohmann::json{{"skipped", "no user has two interactions"}};
  }
  const size_t max_users = static_cast<size_t>(config.eval_users);
  if (split.test_users.size() > max_users) {
    const size_t stride = (split.test_users.size() + max_users - 1) / max_users;
    size_t kept = 0;
    split.test_pairs = 0;
    for (size_t i = 0; i < split.test_users.size(); i += stride, ++kept) {
      split.test_users[kept] = split.test_users[i];
      split.test_items[kept] = std::move(split.test_items[i]);
      split.test_pairs += split.test_items[kept].size();
    }
    split.test_users.resize(kept);
    split.test_items.resize(kept);
  }
  auto model = TrainAls(split.train, config, AlsProgressOptions(progress, "held-out ALS", cancel));
  if (!model.ok()) return WithContext(model.status(), "training the held-out model");
  const int threads = config.threads;
  const int ks[] = {kK};
  FactorModel als(model->user_factors.data(), model->num_users, model->item_factors.data(),
                  model->num_items, model->dim);
  std::vector<MetricsAtK> als_metrics =
      ComputeMetrics(split, RecommendForEval(split, als, kK, threads), ks);
  PopularityModel popular(split.train);
  std::vector<MetricsAtK> popular_metrics =
      ComputeMetrics(split, RecommendForEval(split, popular, kK, threads), ks);
  if (als_metrics.empty() || popular_metrics.empty()) {
    return nlohmann::json{{"skipped", "no metrics"}};
  }
  const MetricsAtK& m = als_metrics[0];
  progress.Done(StrCat("held-out check: Recall@10 ", Fixed(m.recall, 4), ", NDCG@10 ",
                       Fixed(m.ndcg, 4), " over ", m.users, " users"));
  return nlohmann::json{{"protocol", "leave-last-out"},
                        {"k", kK},
                        {"users", m.users},
                        {"recall@10", m.recall},
                        {"ndcg@10", m.ndcg},
                        {"hit_rate@10", m.hit_rate},
                        {"coverage@10", m.coverage},
                        {"popular_recall@10", popular_metrics[0].recall},
                        {"popular_ndcg@10", popular_metrics[0].ndcg}};
}

nlohmann::json TrainParametersJson(const TrainConfig& c) {
  return {{"algorithm", "ials"},        {"factors", c.factors},
          {"iterations", c.iterations}, {"regularization", c.regularization},
          {"alpha", c.alpha},           {"solver", c.solver},
          {"cg_steps", c.cg_steps},     {"seed", c.seed}};
}

}  // namespace

int RunTrainCommand(const std::vector<std::string>& args) {
  const std::string command = "train";
  auto flags = Flags::Parse(args, {"data-dir", "config"});
  if (!flags.ok()) return ExitWithError(command, flags.status());
  if (!flags->positional().empty()) {
    return ExitWithError(command, InvalidArgumentError(StrCat("unexpected argument '",
                                                              flags->positional()[0], "'")));
  }
  auto config = LoadConfig(*flags);
  if (!config.ok()) return ExitWithError(command, config.status());
  const std::string dir = flags->GetString("data-dir", config->data_dir);
  if (dir.empty()) return ExitWithError(command, InvalidArgumentError("--data-dir is empty"));
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Fail(command, NotFoundError(StrCat("data directory ", dir,
                                              " does not exist (import or ingest events first)")));
  }

  Stopwatch total;
  auto data_dir = store::DataDir::Open(dir, config->store);
  if (!data_dir.ok()) return Fail(command, WithContext(data_dir.status(), "opening data dir"));
  const double open_seconds = total.ElapsedSeconds();

  TrainRunOptions options;
  options.progress = isatty(STDERR_FILENO) == 1;
  auto run = TrainAndWriteBundle(**data_dir, *config, options);
  if (!run.ok()) return Fail(command, run.status());
  run->open_seconds = open_seconds;

  std::printf("model %s: %zu users, %zu items, %zu interactions from %llu events, dim %d\n",
              run->version.c_str(), run->users, run->items, run->interactions,
              static_cast<unsigned long long>(run->events), run->dim);
  std::printf(
      "  open %.2f s, read %.2f s, ALS %.2f s (%d iterations), index %.2f s (%s), "
      "held-out check %.2f s, write %.2f s, total %.2f s\n",
      run->open_seconds, run->read_seconds, run->als_seconds, config->train.iterations,
      run->index_seconds, config->index.type.c_str(), run->eval_seconds, run->write_seconds,
      total.ElapsedSeconds());
  std::printf("  %s\n", run->ranker.c_str());
  std::printf("  %s\n", run->dir.c_str());
  return 0;
}

Result<TrainRunSummary> TrainAndWriteBundle(const store::DataDir& data_dir, const Config& config,
                                            const TrainRunOptions& options) {
  TrainRunSummary summary;
  Progress progress(options.progress);
  auto cancelled = [&] {
    return options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed);
  };

  // One pass over the event log feeds both the matrix and the decayed popularity.
  Stopwatch read_time;
  InteractionsBuilder builder;
  DecayedPopularity popularity;
  DataRange range;
  Status read = data_dir.ForEachEventAfter(0, [&](uint64_t seq, const Event& event) {
    range.Add(seq, event.ts_ms);
    if (auto added = builder.Add(event)) popularity.Add(added->item, added->weight, event.ts_ms);
    if ((range.events & kProgressEveryEvents) == 0) {
      progress.Update(StrCat("reading events: ", range.events));
      if (cancelled()) return CancelledError("training cancelled while reading events");
    }
    return OkStatus();
  });
  if (!read.ok()) return WithContext(read, "reading events");
  progress.Done(StrCat("read ", range.events, " events"));
  const uint64_t events = range.events;
  const uint64_t engagement_events = builder.events_added();
  Interactions data = builder.Build();
  summary.read_seconds = read_time.ElapsedSeconds();
  if (data.nnz() == 0) {
    return FailedPreconditionError(StrCat("no engagement events in ", data_dir.path(), " (", events,
                                          " events read; impressions do not count): nothing to "
                                          "train on"));
  }

  Stopwatch als_time;
  auto model = TrainAls(data, config.train, AlsProgressOptions(progress, "ALS", options.cancel));
  if (!model.ok()) return WithContext(model.status(), "training ALS");
  summary.als_seconds = als_time.ElapsedSeconds();

  Stopwatch index_time;
  progress.Update(
      StrCat("building the ", config.index.type, " index over ", model->num_items, " items"));
  // ivf tunes its probe count on the users it will serve (a sample of their vectors).
  auto index = index::AnnIndex::Build(model->item_factors.data(), model->num_items, model->dim,
                                      config.index, model->user_factors);
  if (!index.ok()) return WithContext(index.status(), "building the ANN index");
  summary.index_seconds = index_time.ElapsedSeconds();
  std::string index_detail;
  if (const index::IvfParams ivf = (*index)->ivf_params(); ivf.nlist > 0) {
    index_detail = StrCat(" (", ivf.nlist, " lists, nprobe ", ivf.nprobe, ": recall@", ivf.recall_k,
                          " ", Fixed(ivf.tuned_recall, 3), " on ", ivf.tuning_queries, " users)");
  }
  progress.Done(StrCat("built the ", config.index.type, " index over ", model->num_items,
                       " items in ", Fixed(summary.index_seconds, 2), " s", index_detail));
  if (cancelled()) return CancelledError("training cancelled after building the index");

  Stopwatch eval_time;
  ASSIGN_OR_RETURN(nlohmann::json metrics,
                   HeldOutMetrics(data, config.train, progress, options.cancel));
  summary.eval_seconds = eval_time.ElapsedSeconds();

  rollout::ModelBundle bundle;
  bundle.created_at_ms = SystemClock::Get().NowMillis();
  bundle.dim = model->dim;
  const size_t n_users = data.num_users();
  const size_t n_items = data.num_items();
  const size_t nnz = data.nnz();
  const int64_t min_ts = data.min_ts_ms();
  const int64_t max_ts = data.max_ts_ms();
  bundle.item_popularity = popularity.Finish(n_items);
  bundle.users = data.TakeUsers();
  bundle.items = data.TakeItems();
  bundle.user_factors = std::move(model->user_factors);
  bundle.item_factors = std::move(model->item_factors);
  bundle.index = std::move(index).value();
  nlohmann::json extra = {
      {"training", TrainParametersJson(config.train)},
      {"counts",
       {{"events", events},
        {"engagement_events", engagement_events},
        {"users", n_users},
        {"items", n_items},
        {"interactions", nnz}}},
      {"data",
       {{"min_event_ts_ms", min_ts},
        {"max_event_ts_ms", max_ts},
        {"first_event_ts_ms", range.first_ts_ms},
        {"last_event_ts_ms", range.last_ts_ms},
        {"event_count", events},
        {"first_seq", range.first_seq},
        {"last_seq", range.last_seq}}},
      {"metrics", std::move(metrics)},
      {"feature_schema", FeatureSchemaJson(bundle.dim)},
      {"index", IndexParametersJson(config.index, *bundle.index)},
      {"popularity_half_life_ms", kPopularityHalfLifeMs},
      {"training_seconds", summary.als_seconds},
  };
  // The learned ranker (train/ranker_training.h): trained when the served-feature log has enough
  // labelled rows; otherwise the bundle keeps the linear scorer.
  const RankerOutcome ranker = TrainRankerFromDataDir(data_dir, config.train);
  if (ranker.trained) bundle.ranker_json = ranker.model_json;
  extra["ranker"] = ranker.ManifestJson();
  bundle.manifest_extra_json = extra.dump();

  Stopwatch write_time;
  progress.Update("writing the bundle");
  auto version = rollout::WriteModelBundle(data_dir.models_dir(), bundle);
  if (!version.ok()) return WithContext(version.status(), "writing model bundle");
  summary.write_seconds = write_time.ElapsedSeconds();
  progress.Done(StrCat("wrote ", *version));

  summary.version = *version;
  summary.dir = bundle.dir;
  summary.events = events;
  summary.last_event_seq = range.last_seq;
  summary.users = n_users;
  summary.items = n_items;
  summary.interactions = nnz;
  summary.dim = bundle.dim;
  summary.ranker = ranker.Summary();
  return summary;
}

int RunEvalCommand(const std::vector<std::string>& args) {
  const std::string command = "eval";
  auto flags = Flags::Parse(args, {"format", "protocol", "k", "config"}, {"json"});
  if (!flags.ok()) return ExitWithError(command, flags.status());
  if (flags->positional().size() != 1) {
    return ExitWithError(
        command, InvalidArgumentError(
                     flags->positional().empty()
                         ? "expected one events FILE (usage: pulse eval --format jsonl|movielens "
                           "FILE --protocol leave-last-out|temporal [--k 10,20] [--json])"
                         : "expected exactly one events FILE"));
  }
  const std::string path = flags->positional()[0];
  auto format_name = flags->Require("format");
  if (!format_name.ok()) {
    return ExitWithError(command,
                         InvalidArgumentError("--format is required (jsonl or movielens)"));
  }
  auto format = ingest::ParseFileFormat(*format_name);
  if (!format.ok()) return ExitWithError(command, format.status());
  auto protocol_name = flags->Require("protocol");
  if (!protocol_name.ok()) {
    return ExitWithError(
        command, InvalidArgumentError("--protocol is required (leave-last-out or temporal)"));
  }
  auto protocol = ParseProtocol(*protocol_name);
  if (!protocol.ok()) return ExitWithError(command, protocol.status());
  auto ks = ParseCutoffs(flags->GetString("k", "10,20"));
  if (!ks.ok()) return ExitWithError(command, ks.status());
  auto config = LoadConfig(*flags);
  if (!config.ok()) return ExitWithError(command, config.status());
  const bool json = flags->GetBool("json");

  Stopwatch read_time;
  InteractionsBuilder builder;
  uint64_t events = 0;
  uint64_t bad_lines = 0;
  std::string first_bad;
  Status read = ingest::ReadEventsFile(
      path, *format,
      [&](Event&& event) {
        ++events;
        builder.Add(event);
        return OkStatus();
      },
      [&](const ingest::LineError& error) {
        if (bad_lines++ == 0) first_bad = StrCat("line ", error.line, ": ", error.reason);
      });
  if (!read.ok()) return Fail(command, WithContext(read, StrCat("reading ", path)));
  if (bad_lines > 0) {
    std::fprintf(stderr, "pulse eval: skipped %llu malformed line(s) in %s (first: %s)\n",
                 static_cast<unsigned long long>(bad_lines), path.c_str(), first_bad.c_str());
  }
  Interactions data = builder.Build();
  const double read_seconds = read_time.ElapsedSeconds();
  if (data.nnz() == 0) {
    return Fail(command, FailedPreconditionError(
                             StrCat("no usable events in ", path, " (", events, " read)")));
  }

  auto report = RunOfflineEval(data, *protocol, *ks, config->train);
  if (!report.ok()) return Fail(command, report.status());

  if (json) {
    for (const ModelReport& model : report->models) {
      for (const MetricsAtK& m : model.metrics) {
        nlohmann::ordered_json line = {{"model", model.model},
                                       {"protocol", std::string(ProtocolName(*protocol))},
                                       {"k", m.k},
                                       {"recall", m.recall},
                                       {"ndcg", m.ndcg},
                                       {"hit_rate", m.hit_rate},
                                       {"coverage", m.coverage},
                                       {"users", m.users}};
        std::printf("%s\n", line.dump().c_str());
      }
    }
    return 0;
  }
  std::printf("%s: %llu events, %zu users, %zu items, %zu interactions (read in %.2f s)\n",
              path.c_str(), static_cast<unsigned long long>(events), data.num_users(),
              data.num_items(), data.nnz(), read_seconds);
  std::printf(
      "protocol %s: %zu train / %zu test interactions, %zu users evaluated, "
      "%zu catalog items\n\n",
      std::string(ProtocolName(*protocol)).c_str(), report->train_pairs, report->test_pairs,
      report->test_users, report->catalog_items);
  std::printf("%-8s %5s %9s %9s %9s %9s %8s %8s\n", "model", "K", "Recall", "NDCG", "HR",
              "Coverage", "train_s", "eval_s");
  for (const ModelReport& model : report->models) {
    for (const MetricsAtK& m : model.metrics) {
      std::printf("%-8s %5d %9.4f %9.4f %9.4f %9.4f %8.2f %8.2f\n", model.model.c_str(), m.k,
                  m.recall, m.ndcg, m.hit_rate, m.coverage, model.train_seconds,
                  model.eval_seconds);
    }
  }
  return 0;
}

}  // namespace pulse::train
