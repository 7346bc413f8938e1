// evaluation/pipeline_model.h — the `pulse` model of `pulse eval`: what users of a server trained
// on the training data actually get.
//
// In a temporary data directory (removed afterwards) it appends the training events in time
// order, trains a model bundle the way `pulse train` does (ALS with config.train, decayed
// popularity, ANN index with config.index), starts a serving Engine on it (embedded store, a
// clock frozen one second after the newest training event, so "trending" and "popular now" look
// as they did then) and calls Recommend(user, n = k) for every test user. The whole pipeline runs:
// every configured candidate source, the filters (the seen filter removes training items) and the
// scorer. The store keeps every training item of a user (history_per_user is raised to the
// largest training history) so the seen filter is exact.
//
// Thread-safety: reentrant (each call has its own directory). Failure: the store's, training's or
// the engine's status.
#pragma once

#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "evaluation/holdout.h"

namespace pulse::evaluation {

struct PipelineTimes {
  double train_seconds = 0;  // import + bundle
  double eval_seconds = 0;   // engine start + requests
};

Result<std::vector<std::vector<DenseId>>> RecommendWithPipeline(const HoldoutData& data,
                                                                const Config& config, int k,
                                                                PipelineTimes* times);

}  // namespace pulse::evaluation
