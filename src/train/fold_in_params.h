// train/fold_in_params.h — the fold-in parameters of a model bundle: the training parameters
// recorded in its manifest (extra.training: alpha, regularization) over the configured ones.
// Serving folds a user's recent items into the model's space with them, and `pulse check-skew`
// recomputes the same user vector offline, so both read them here.
// Thread-safety: a pure function.
#pragma once

#include "core/config.h"
#include "rollout/model_bundle.h"

namespace pulse::train {

// `fallback` with the bundle's recorded alpha and regularization, when the manifest has them.
TrainConfig FoldInParameters(const rollout::ModelBundle& model, const TrainConfig& fallback);

}  // namespace pulse::train
