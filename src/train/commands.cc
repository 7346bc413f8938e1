#include "train/commands.h"

#include <unistd.h>

#include <algorithm>
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

// "\r" progress line for interactive runs; nothing when stderr is a file or pipe.
AlsOptions ProgressOptions(bool enabled) {
  AlsOptions options;
  if (!enabled) return options;
  options.on_iteration = [](const AlsProgress& p) {
    std::fprintf(stderr, "\rALS iteration %d/%d  %.1f s", p.iteration, p.iterations,
                 p.elapsed_seconds);
    if (p.iteration == p.iterations) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
  return options;
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

  // One pass over the event log feeds both the matrix and the decayed popularity.
  Stopwatch read_time;
  InteractionsBuilder builder;
  DecayedPopularity popularity;
  uint64_t events = 0;
  Status read = (*data_dir)->ForEachEvent([&](const Event& event) {
    ++events;
    if (auto added = builder.Add(event)) popularity.Add(added->item, added->weight, event.ts_ms);
    return OkStatus();
  });
  if (!read.ok()) return Fail(command, WithContext(read, "reading events"));
  const uint64_t engagement_events = builder.events_added();
  Interactions data = builder.Build();
  const double read_seconds = read_time.ElapsedSeconds();
  if (data.nnz() == 0) {
    return Fail(command, FailedPreconditionError(StrCat(
                             "no engagement events in ", dir, " (", events,
                             " events read; impressions do not count): nothing to train on")));
  }

  Stopwatch als_time;
  auto model = TrainAls(data, config->train, ProgressOptions(isatty(STDERR_FILENO) == 1));
  if (!model.ok()) return Fail(command, WithContext(model.status(), "training ALS"));
  const double als_seconds = als_time.ElapsedSeconds();

  Stopwatch index_time;
  auto index = index::AnnIndex::Build(model->item_factors.data(), model->num_items, model->dim,
                                      config->index);
  if (!index.ok()) return Fail(command, WithContext(index.status(), "building the ANN index"));
  const double index_seconds = index_time.ElapsedSeconds();

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
      {"training", TrainParametersJson(config->train)},
      {"counts",
       {{"events", events},
        {"engagement_events", engagement_events},
        {"users", n_users},
        {"items", n_items},
        {"interactions", nnz}}},
      {"data", {{"min_event_ts_ms", min_ts}, {"max_event_ts_ms", max_ts}}},
      {"popularity_half_life_ms", kPopularityHalfLifeMs},
      {"training_seconds", als_seconds},
  };
  // The learned ranker (train/ranker_training.h): trained when the served-feature log has enough
  // labelled rows; otherwise the bundle keeps the linear scorer.
  const RankerOutcome ranker = TrainRankerFromDataDir(**data_dir, config->train);
  if (ranker.trained) bundle.ranker_json = ranker.model_json;
  extra["ranker"] = ranker.ManifestJson();
  bundle.manifest_extra_json = extra.dump();

  Stopwatch write_time;
  auto version = rollout::WriteModelBundle((*data_dir)->models_dir(), bundle);
  if (!version.ok()) return Fail(command, WithContext(version.status(), "writing model bundle"));
  const double write_seconds = write_time.ElapsedSeconds();

  std::printf("model %s: %zu users, %zu items, %zu interactions from %llu events, dim %d\n",
              version->c_str(), n_users, n_items, nnz, static_cast<unsigned long long>(events),
              bundle.dim);
  std::printf(
      "  open %.2f s, read %.2f s, ALS %.2f s (%d iterations), index %.2f s (%s), "
      "write %.2f s, total %.2f s\n",
      open_seconds, read_seconds, als_seconds, config->train.iterations, index_seconds,
      config->index.type.c_str(), write_seconds, total.ElapsedSeconds());
  std::printf("  %s\n", ranker.Summary().c_str());
  std::printf("  %s\n", bundle.dir.c_str());
  return 0;
}

namespace {

Result<std::vector<int>> ParseKs(const std::string& text) {
  std::set<int> ks;
  for (std::string_view piece : Split(text, ',')) {
    int64_t k = 0;
    if (!ParseInt64(Trim(piece), &k) || k < 1 || k > 10000) {
      return InvalidArgumentError(
          StrCat("--k: expected comma-separated integers in 1..10000, got '", text, "'"));
    }
    ks.insert(static_cast<int>(k));
  }
  return std::vector<int>(ks.begin(), ks.end());
}

}  // namespace

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
  auto ks = ParseKs(flags->GetString("k", "10,20"));
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
