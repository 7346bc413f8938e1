#include "evaluation/commands.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "core/clock.h"
#include "core/config.h"
#include "core/flags.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"
#include "evaluation/holdout.h"
#include "evaluation/models.h"
#include "ingest/file_readers.h"
#include "nlohmann/json.hpp"
#include "train/commands.h"
#include "train/eval.h"

namespace pulse::evaluation {
namespace {

const std::string kCommand = "eval";

bool IsHoldoutForm(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    for (std::string_view flag : {"--train", "--test", "--input"}) {
      if (arg == flag || arg.starts_with(StrCat(flag, "="))) return true;
    }
  }
  return false;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

Result<ingest::FileFormat> FormatFor(const Flags& flags, const std::string& path) {
  if (flags.Has("format")) return ingest::ParseFileFormat(flags.GetString("format"));
  return EndsWith(path, ".jsonl") || EndsWith(path, ".json") ? ingest::FileFormat::kJsonl
                                                             : ingest::FileFormat::kMovieLens;
}

// Reads every event of `path`; malformed lines are counted on stderr. Any failure to read is the
// user's file being wrong (InvalidArgument → exit 2).
Result<std::vector<Event>> ReadEvents(const Flags& flags, const std::string& path) {
  ASSIGN_OR_RETURN(ingest::FileFormat format, FormatFor(flags, path));
  std::vector<Event> events;
  uint64_t bad_lines = 0;
  std::string first_bad;
  Status read = ingest::ReadEventsFile(
      path, format,
      [&](Event&& event) {
        events.push_back(std::move(event));
        return OkStatus();
      },
      [&](const ingest::LineError& error) {
        if (bad_lines++ == 0) first_bad = StrCat("line ", error.line, ": ", error.reason);
      });
  if (!read.ok()) return InvalidArgumentError(StrCat("reading ", path, ": ", read.message()));
  if (bad_lines > 0) {
    std::fprintf(stderr, "pulse eval: skipped %llu malformed line(s) in %s (first: %s)\n",
                 static_cast<unsigned long long>(bad_lines), path.c_str(), first_bad.c_str());
  }
  if (events.empty()) {
    return InvalidArgumentError(StrCat(path, " holds no events (", bad_lines, " malformed lines)"));
  }
  return events;
}

Result<std::vector<std::string>> ParseModels(const std::string& text) {
  std::vector<std::string> models;
  for (std::string_view piece : Split(text, ',')) {
    const std::string name(Trim(piece));
    if (std::find(std::begin(kModelNames), std::end(kModelNames), name) == std::end(kModelNames)) {
      return InvalidArgumentError(StrCat("--models: unknown model '", name,
                                         "' (expected popular, itemknn, ease, als, pulse)"));
    }
    if (std::find(models.begin(), models.end(), name) == models.end()) models.push_back(name);
  }
  if (models.empty()) return InvalidArgumentError("--models is empty");
  return models;
}

struct Report {
  std::string model;
  nlohmann::ordered_json params;
  bool tuned = false;
  int trials = 0;
  double validation_ndcg = 0;
  double tune_seconds = 0;
  double train_seconds = 0;
  double eval_seconds = 0;
  std::vector<HoldoutMetrics> metrics;
};

nlohmann::ordered_json ReportJson(const Report& r) {
  nlohmann::ordered_json metrics = nlohmann::ordered_json::array();
  for (const HoldoutMetrics& m : r.metrics) {
    metrics.push_back({{"k", m.k},
                       {"users", m.users},
                       {"precision", m.precision},
                       {"recall", m.recall},
                       {"ndcg", m.ndcg},
                       {"hit_rate", m.hit_rate},
                       {"map", m.map},
                       {"map_min", m.map_min},
                       {"coverage", m.coverage},
                       {"mean_popularity_rank", m.mean_popularity_rank}});
  }
  nlohmann::ordered_json out = {{"model", r.model}, {"params", r.params}, {"tuned", r.tuned}};
  if (r.tuned) {
    out["tune_trials"] = r.trials;
    out["validation_ndcg"] = r.validation_ndcg;
    out["tune_seconds"] = r.tune_seconds;
  }
  out["train_seconds"] = r.train_seconds;
  out["eval_seconds"] = r.eval_seconds;
  out["metrics"] = metrics;
  return out;
}

// A failure from a model: its own limits (EASE on a big catalog, a bad --config value) are
// usage errors; anything else is exit 1.
int ModelFailure(const std::string& model, const Status& status) {
  const Status wrapped = WithContext(status, StrCat("model ", model));
  if (status.code() == StatusCode::kFailedPrecondition ||
      status.code() == StatusCode::kInvalidArgument) {
    return ExitWithError(kCommand, InvalidArgumentError(wrapped.message()));
  }
  return ExitWithError(kCommand, wrapped);
}

int RunHoldout(const std::vector<std::string>& args) {
  // The in-process engine's start-up lines would only clutter the report.
  SetMinLogLevel(LogLevel::kWarn);
  auto flags = Flags::Parse(
      args, {"train", "test", "input", "split", "seed", "format", "k", "models", "config"},
      {"json", "tune"});
  if (!flags.ok()) return ExitWithError(kCommand, flags.status());
  if (!flags->positional().empty()) {
    return ExitWithError(kCommand, InvalidArgumentError(StrCat("unexpected argument '",
                                                               flags->positional()[0], "'")));
  }
  const bool two_files = flags->Has("train") || flags->Has("test");
  if (two_files == flags->Has("input")) {
    return ExitWithError(kCommand,
                         InvalidArgumentError("give either --train FILE --test FILE or --input "
                                              "FILE [--split 0.75 --seed S], not both"));
  }
  if (two_files && !(flags->Has("train") && flags->Has("test"))) {
    return ExitWithError(kCommand, InvalidArgumentError("--train and --test go together"));
  }
  if (two_files && (flags->Has("split") || flags->Has("seed"))) {
    return ExitWithError(kCommand, InvalidArgumentError("--split and --seed need --input"));
  }
  auto split = flags->GetDouble("split", 0.75);
  if (!split.ok()) return ExitWithError(kCommand, split.status());
  if (!(*split > 0 && *split < 1)) {
    return ExitWithError(kCommand, InvalidArgumentError(StrCat(
                                       "--split must be a fraction in (0, 1), got ", *split)));
  }
  auto seed = flags->GetInt("seed", 42);
  if (!seed.ok()) return ExitWithError(kCommand, seed.status());
  if (*seed < 0) return ExitWithError(kCommand, InvalidArgumentError("--seed must be >= 0"));
  if (flags->Has("format")) {
    auto format = ingest::ParseFileFormat(flags->GetString("format"));
    if (!format.ok()) return ExitWithError(kCommand, format.status());
  }
  auto ks = train::ParseCutoffs(flags->GetString("k", "10"));
  if (!ks.ok()) return ExitWithError(kCommand, ks.status());
  auto models = ParseModels(flags->GetString("models", "popular,itemknn,als,pulse"));
  if (!models.ok()) return ExitWithError(kCommand, models.status());
  ModelSettings settings;
  if (flags->Has("config")) {
    auto config = LoadConfigFile(flags->GetString("config"));
    if (!config.ok())
      return ExitWithError(kCommand, InvalidArgumentError(config.status().message()));
    settings.config = std::move(config).value();
  }
  const bool json = flags->GetBool("json");
  const bool tune = flags->GetBool("tune");

  Stopwatch read_time;
  HoldoutData data;
  std::string source;
  if (two_files) {
    const std::string train_path = flags->GetString("train");
    const std::string test_path = flags->GetString("test");
    auto train_events = ReadEvents(*flags, train_path);
    if (!train_events.ok()) return ExitWithError(kCommand, train_events.status());
    auto test_events = ReadEvents(*flags, test_path);
    if (!test_events.ok()) return ExitWithError(kCommand, test_events.status());
    data = MakeHoldout(std::move(train_events).value(), std::move(test_events).value());
    source = StrCat("train ", train_path, ", test ", test_path);
  } else {
    const std::string path = flags->GetString("input");
    auto events = ReadEvents(*flags, path);
    if (!events.ok()) return ExitWithError(kCommand, events.status());
    data = SplitHoldout(std::move(events).value(), *split, static_cast<uint64_t>(*seed));
    source = StrCat(path, ", per-user random split ", *split, " seed ", *seed);
  }
  const double read_seconds = read_time.ElapsedSeconds();
  const train::EvalSplit& holdout = data.split;
  if (holdout.train.nnz() == 0 || holdout.test_users.empty()) {
    return ExitWithError(kCommand,
                         InvalidArgumentError(StrCat("nothing to evaluate: ", holdout.train.nnz(),
                                                     " training pairs, ", holdout.test_users.size(),
                                                     " users with test items")));
  }
  if (!json) {
    std::printf("%s (read and split in %.2f s)\n", source.c_str(), read_seconds);
    std::printf(
        "%zu users, %zu catalog items, %zu train pairs, %zu test pairs, %zu users with test "
        "items",
        holdout.train.num_users(), holdout.train.num_items(), holdout.train.nnz(),
        holdout.test_pairs, holdout.test_users.size());
    if (data.test_pairs_in_train > 0) {
      std::printf(", %zu test pairs also in train (dropped)", data.test_pairs_in_train);
    }
    std::printf("\n\n");
  }

  const int max_k = ks->back();
  const int tune_k = ks->front();
  std::optional<TuneResult> als_tuned;  // shared by als and pulse
  bool printed_header = false;
  for (const std::string& model : *models) {
    Report report;
    report.model = model;
    ModelSettings chosen = settings;
    if (tune && model != "popular") {
      Stopwatch tune_time;
      const bool via_als = model == "als" || model == "pulse";
      if (!via_als || !als_tuned) {
        auto tuned = Tune(model, data, settings, tune_k, static_cast<uint64_t>(*seed));
        if (!tuned.ok()) return ModelFailure(model, tuned.status());
        if (via_als) als_tuned = *tuned;
        chosen = tuned->best;
        report.trials = tuned->trials;
        report.validation_ndcg = tuned->validation_ndcg;
      } else {
        chosen = als_tuned->best;
        report.trials = als_tuned->trials;
        report.validation_ndcg = als_tuned->validation_ndcg;
      }
      report.tuned = true;
      report.tune_seconds = tune_time.ElapsedSeconds();
    }
    auto run = RunModel(model, data, chosen, max_k);
    if (!run.ok()) return ModelFailure(model, run.status());
    report.params = ModelParams(model, chosen);
    report.train_seconds = run->train_seconds;
    report.eval_seconds = run->eval_seconds;
    report.metrics = ScoreHoldout(holdout, run->recommended, *ks);
    if (json) {
      std::printf("%s\n", ReportJson(report).dump().c_str());
      std::fflush(stdout);
      continue;
    }
    if (!printed_header) {
      std::printf("%-8s %4s %7s %7s %7s %7s %7s %7s %7s %8s %7s %7s\n", "model", "K", "P", "R",
                  "NDCG", "HR", "MAP", "MAPmin", "Cov", "PopRank", "train_s", "eval_s");
      printed_header = true;
    }
    for (const HoldoutMetrics& m : report.metrics) {
      std::printf("%-8s %4d %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %8.1f %7.2f %7.2f\n",
                  model.c_str(), m.k, m.precision, m.recall, m.ndcg, m.hit_rate, m.map, m.map_min,
                  m.coverage, m.mean_popularity_rank, report.train_seconds, report.eval_seconds);
    }
    std::printf("         params %s", report.params.dump().c_str());
    if (report.tuned) {
      std::printf("  (tuned: %d trials, validation NDCG@%d %.4f, %.1f s)", report.trials, tune_k,
                  report.validation_ndcg, report.tune_seconds);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int RunEvalCommand(const std::vector<std::string>& args) {
  if (!IsHoldoutForm(args)) return train::RunEvalCommand(args);
  return RunHoldout(args);
}

}  // namespace pulse::evaluation
