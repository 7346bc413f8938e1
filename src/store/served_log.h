// store/served_log.h — what serving logs about a sampled recommend request so the learned ranker
// trains on exactly the feature vectors serving scored (ranking/ranker_features.h), and its
// record encoding (stored by DataDir::PutServedRecord).
//
// Record: one JSON object, {"v":1,"request_id","user_id","ts","model_version","schema",
// "items":[{"item_id","position","features":[...]}]}; a NaN feature is written as null.
// Optional "events_seq" (absent in older records): the event-log sequence number the user's state
// was read at, so `pulse check-skew` replays exactly the events serving could have seen.
// Decoding refuses anything else with DataLoss (a corrupt record never crashes a reader).
// Thread-safety: pure functions. Records hold user ids: never log them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace pulse::store {

struct ServedItem {
  std::string item_id;
  int position = 0;             // 0-based rank in the response
  std::vector<float> features;  // the vector the scorer saw
};

struct ServedRequest {
  std::string request_id;
  std::string user_id;
  int64_t ts_ms = 0;
  std::string model_version;
  int schema = 0;           // ranking::kRankerFeatureSchema at serving time
  uint64_t events_seq = 0;  // DataDir::EventCount() before the user's state was read; 0 = unknown
  std::vector<ServedItem> items;
};

inline constexpr size_t kMaxServedRecordBytes = size_t{1} << 20;
inline constexpr size_t kMaxServedItems = 1000;
inline constexpr size_t kMaxServedFeatures = 256;

std::string EncodeServedRequest(const ServedRequest& request);
Result<ServedRequest> DecodeServedRequest(std::string_view record);

}  // namespace pulse::store
