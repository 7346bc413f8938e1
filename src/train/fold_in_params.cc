#include "train/fold_in_params.h"

#include "nlohmann/json.hpp"

namespace pulse::train {

TrainConfig FoldInParameters(const rollout::ModelBundle& model, const TrainConfig& fallback) {
  TrainConfig config = fallback;
  nlohmann::json extra = nlohmann::json::parse(model.manifest_extra_json, nullptr, false);
  if (!extra.is_object()) return config;
  auto training = extra.find("training");
  if (training == extra.end() || !training->is_object()) return config;
  if (auto alpha = training->find("alpha"); alpha != training->end() && alpha->is_number()) {
    config.alpha = alpha->get<double>();
  }
  if (auto reg = training->find("regularization"); reg != training->end() && reg->is_number()) {
    config.regularization = reg->get<double>();
  }
  return config;
}

}  // namespace pulse::train
