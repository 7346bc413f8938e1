#include "evaluation/models.h"

#include <algorithm>
#include <utility>

#include "core/clock.h"
#include "core/strings.h"
#include "evaluation/pipeline_model.h"
#include "train/als.h"
#include "train/ease.h"
#include "train/eval.h"

namespace pulse::evaluation {
namespace {

// The ALS search grid (Rendle et al. 2021 tune the same four knobs).
constexpr int kFactorGrid[] = {32, 64, 128, 200};
constexpr double kRegularizationGrid[] = {0.05, 0.1, 0.2, 0.5, 1, 2, 5};
constexpr double kAlphaGrid[] = {1, 2, 5, 10, 20, 40};
constexpr int kIterationGrid[] = {10, 15, 25};
constexpr int kNeighbourGrid[] = {0, 50, 100, 200, 400};
constexpr double kShrinkGrid[] = {0, 10, 50, 100};
constexpr double kLambdaGrid[] = {50, 100, 200, 500, 1000, 2000};

uint64_t Next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

template <typename T, size_t N>
T Pick(const T (&grid)[N], uint64_t& state) {
  return grid[Next(state) % N];
}

bool KnownModel(std::string_view model) {
  return std::find(std::begin(kModelNames), std::end(kModelNames), model) != std::end(kModelNames);
}

}  // namespace

nlohmann::ordered_json ModelParams(std::string_view model, const ModelSettings& settings) {
  const TrainConfig& t = settings.config.train;
  if (model == "itemknn") {
    return {{"neighbours", settings.itemknn.neighbours}, {"shrink", settings.itemknn.shrink}};
  }
  if (model == "ease") return {{"lambda", settings.ease_lambda}};
  if (model == "als" || model == "pulse") {
    nlohmann::ordered_json params = {{"factors", t.factors},
                                     {"regularization", t.regularization},
                                     {"alpha", t.alpha},
                                     {"iterations", t.iterations}};
    if (model == "pulse") {
      nlohmann::ordered_json sources = nlohmann::ordered_json::array();
      for (const CandidateSourceConfig& s : settings.config.pipeline.sources) {
        sources.push_back(StrCat(s.name, ":", s.k));
      }
      params["sources"] = sources;
    }
    return params;
  }
  return nlohmann::ordered_json::object();
}

Result<ModelRun> RunModel(std::string_view model, const HoldoutData& data,
                          const ModelSettings& settings, int k) {
  if (!KnownModel(model)) {
    return InvalidArgumentError(
        StrCat("unknown model '", model, "' (expected popular, itemknn, ease, als or pulse)"));
  }
  if (k < 1) return InvalidArgumentError(StrCat("K must be positive, got ", k));
  ModelRun run;
  const train::EvalSplit& split = data.split;
  const int threads = settings.config.train.threads;
  if (model == "pulse") {
    PipelineTimes times;
    ASSIGN_OR_RETURN(run.recommended, RecommendWithPipeline(data, settings.config, k, &times));
    run.train_seconds = times.train_seconds;
    run.eval_seconds = times.eval_seconds;
    return run;
  }
  auto rank = [&](const train::EvalModel& scorer) {
    Stopwatch eval_time;
    run.recommended = train::RecommendForEval(split, scorer, k, threads);
    run.eval_seconds = eval_time.ElapsedSeconds();
  };
  Stopwatch train_time;
  if (model == "popular") {
    train::PopularityModel scorer(split.train);
    run.train_seconds = train_time.ElapsedSeconds();
    rank(scorer);
  } else if (model == "itemknn") {
    train::ItemKnnModel scorer(split.train, settings.itemknn, threads);
    run.train_seconds = train_time.ElapsedSeconds();
    rank(scorer);
  } else if (model == "ease") {
    ASSIGN_OR_RETURN(train::EaseModel scorer,
                     train::EaseModel::Train(split.train, settings.ease_lambda));
    run.train_seconds = train_time.ElapsedSeconds();
    rank(scorer);
  } else {
    ASSIGN_OR_RETURN(train::AlsModel als, train::TrainAls(split.train, settings.config.train));
    run.train_seconds = train_time.ElapsedSeconds();
    train::FactorModel scorer(als.user_factors.data(), als.num_users, als.item_factors.data(),
                              als.num_items, als.dim);
    rank(scorer);
  }
  return run;
}

Result<TuneResult> Tune(std::string_view model, const HoldoutData& data,
                        const ModelSettings& settings, int k, uint64_t seed) {
  if (!KnownModel(model)) {
    return InvalidArgumentError(StrCat("unknown model '", model, "'"));
  }
  std::vector<ModelSettings> candidates = {settings};
  if (model == "itemknn") {
    candidates.clear();
    for (int neighbours : kNeighbourGrid) {
      for (double shrink : kShrinkGrid) {
        ModelSettings c = settings;
        c.itemknn = {neighbours, shrink};
        candidates.push_back(c);
      }
    }
  } else if (model == "ease") {
    candidates.clear();
    for (double lambda : kLambdaGrid) {
      ModelSettings c = settings;
      c.ease_lambda = lambda;
      candidates.push_back(c);
    }
  } else if (model == "als" || model == "pulse") {
    uint64_t state = seed ^ 0x5A17A15ULL;
    for (int trial = 0; trial < kAlsTrials; ++trial) {
      ModelSettings c = settings;
      c.config.train.factors = Pick(kFactorGrid, state);
      c.config.train.regularization = Pick(kRegularizationGrid, state);
      c.config.train.alpha = Pick(kAlphaGrid, state);
      c.config.train.iterations = Pick(kIterationGrid, state);
      candidates.push_back(c);
    }
  }
  TuneResult result;
  result.best = settings;
  if (candidates.size() == 1 && model != "als" && model != "pulse") return result;  // popular

  const HoldoutData validation = SplitHoldout(data.train_events, kValidationFraction, seed + 1);
  const int ks[] = {k};
  // pulse is tuned through ALS: the search is the same and a pipeline per trial is slow.
  const std::string_view searched = model == "pulse" ? "als" : model;
  bool first = true;
  for (const ModelSettings& candidate : candidates) {
    ASSIGN_OR_RETURN(ModelRun run, RunModel(searched, validation, candidate, k));
    const double ndcg = ScoreHoldout(validation.split, run.recommended, ks)[0].ndcg;
    ++result.trials;
    if (first || ndcg > result.validation_ndcg) {
      result.best = candidate;
      result.validation_ndcg = ndcg;
      first = false;
    }
  }
  return result;
}

}  // namespace pulse::evaluation
