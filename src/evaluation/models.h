// evaluation/models.h — the models `pulse eval` compares on a holdout, and --tune's search.
//
//   popular  an item's number of training pairs, the same list for everyone
//   itemknn  cosine item–item over all neighbours (train/itemknn.h); params neighbours, shrink
//   ease     Steck's EASE (train/ease.h); param lambda; refused for catalogs over kEaseMaxItems
//   als      implicit ALS (train/als.h) with config.train; params factors, regularization, alpha,
//            iterations
//   pulse    the whole serving pipeline (evaluation/pipeline_model.h) with the config's pipeline
//            and config.train for its ALS
//
// Every model ranks all catalog items except the user's training items, best first, ties by item
// id ascending (the pulse model returns what the engine returns: its own order, possibly fewer
// than K items).
//
// Tuning (Tune): a validation holdout is carved from the training part (SplitHoldout of the
// training events, kValidationFraction, seed + 1); every candidate setting is trained on its
// training part and scored by NDCG@k on its test part; the best (ties: the earlier candidate, the
// defaults being first) wins. Candidates: itemknn the full grid below; ease the lambda list; als
// the defaults plus kAlsTrials settings drawn from the grid with a seeded generator; popular has
// nothing to tune; pulse takes the ALS parameters tuned for als (one search serves both).
//
// Thread-safety: reentrant. Determinism: results depend only on the holdout, settings and seed
// (config.train.threads changes speed, not results).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "evaluation/holdout.h"
#include "nlohmann/json.hpp"
#include "train/itemknn.h"

namespace pulse::evaluation {

inline constexpr double kValidationFraction = 0.8;
inline constexpr int kAlsTrials = 12;

// The accepted --models names, in report order.
inline constexpr std::string_view kModelNames[] = {"popular", "itemknn", "ease", "als", "pulse"};

struct ModelSettings {
  Config config;  // .train for als and pulse, the rest for pulse
  train::ItemKnnOptions itemknn;
  double ease_lambda = 500;
};

// The parameters of `model` in `settings`, for reports.
nlohmann::ordered_json ModelParams(std::string_view model, const ModelSettings& settings);

struct ModelRun {
  std::vector<std::vector<DenseId>> recommended;  // parallel to split.test_users
  double train_seconds = 0;
  double eval_seconds = 0;
};

// Trains `model` on data.split.train and recommends `k` items to every test user.
// InvalidArgument for an unknown model or bad parameters; FailedPrecondition when the model
// cannot handle the data (EASE on a large catalog); other failures from the pulse model's store.
Result<ModelRun> RunModel(std::string_view model, const HoldoutData& data,
                          const ModelSettings& settings, int k);

struct TuneResult {
  ModelSettings best;
  int trials = 0;
  double validation_ndcg = 0;
};

// Tunes `model` (see above) starting from `settings`; `seed` seeds the validation split and the
// ALS draws.
Result<TuneResult> Tune(std::string_view model, const HoldoutData& data,
                        const ModelSettings& settings, int k, uint64_t seed);

}  // namespace pulse::evaluation
