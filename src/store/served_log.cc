#include "store/served_log.h"

#include <cmath>
#include <exception>
#include <limits>

#include "core/strings.h"
#include "nlohmann/json.hpp"

namespace pulse::store {

using nlohmann::json;

std::string EncodeServedRequest(const ServedRequest& request) {
  json items = json::array();
  for (const ServedItem& item : request.items) {
    json features = json::array();
    for (float f : item.features) {
      if (std::isfinite(f)) {
        features.push_back(f);
      } else {
        features.push_back(nullptr);
      }
    }
    items.push_back({{"item_id", item.item_id},
                     {"position", item.position},
                     {"features", std::move(features)}});
  }
  json record = {{"v", 1},
                 {"request_id", request.request_id},
                 {"user_id", request.user_id},
                 {"ts", request.ts_ms},
                 {"model_version", request.model_version},
                 {"schema", request.schema},
                 {"items", std::move(items)}};
  if (request.events_seq > 0) record["events_seq"] = request.events_seq;
  return record.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ServedRequest> DecodeServedRequest(std::string_view record) {
  auto bad = [](std::string_view why) {
    return DataLossError(StrCat("served-feature record is invalid: ", why));
  };
  if (record.size() > kMaxServedRecordBytes) return bad("too large");
  json j = json::parse(record, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  try {
    if (j.value("v", 0) != 1) return bad("unknown record version");
    ServedRequest out;
    out.request_id = j.at("request_id").get<std::string>();
    out.user_id = j.at("user_id").get<std::string>();
    out.ts_ms = j.at("ts").get<int64_t>();
    out.model_version = j.at("model_version").get<std::string>();
    out.schema = j.at("schema").get<int>();
    if (auto seq = j.find("events_seq"); seq != j.end()) {
      if (!seq->is_number_unsigned()) return bad("events_seq");
      out.events_seq = seq->get<uint64_t>();
    }
    const json& items = j.at("items");
    if (!items.is_array() || items.size() > kMaxServedItems) return bad("items");
    for (const json& item : items) {
      ServedItem served;
      served.item_id = item.at("item_id").get<std::string>();
      served.position = item.at("position").get<int>();
      const json& features = item.at("features");
      if (!features.is_array() || features.size() > kMaxServedFeatures) return bad("features");
      for (const json& f : features) {
        if (f.is_null()) {
          served.features.push_back(std::numeric_limits<float>::quiet_NaN());
        } else if (f.is_number()) {
          served.features.push_back(f.get<float>());
        } else {
          return bad("a feature is not a number");
        }
      }
      out.items.push_back(std::move(served));
    }
    return out;
  } catch (const std::exception& e) {
    return bad(e.what());
  }
}

}  // namespace pulse::store
