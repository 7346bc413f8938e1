// serving/feature_log.h — the served-feature log: for a configured sample of recommend requests
// (pipeline.feature_log_sample) the engine stores what it served and the feature vector it scored
// each item with (ranking/ranker_features.h), so `pulse train` can join them with the clicks
// that follow and train the learned ranker on exactly what serving saw.
//
// Sampling is by a hash of the request id (no shared RNG state, so it is lock-free and the same
// request is always in or out). Writing is best-effort: a failure is logged and counted, never
// fails the request. Thread-safety: pure functions.
#pragma once

#include <span>
#include <string_view>

#include "candidates/context.h"
#include "store/served_log.h"

namespace pulse::serving {

// True for about `rate` (0..1) of request ids.
bool SampledForFeatureLog(std::string_view request_id, double rate);

// The record for a response: `served` are the final candidates in response order.
store::ServedRequest MakeServedRequest(const candidates::RecommendContext& context,
                                       std::span<const candidates::Candidate> served,
                                       std::string_view request_id, std::string_view user_id);

}  // namespace pulse::serving
