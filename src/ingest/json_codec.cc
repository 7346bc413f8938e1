#include "ingest/json_codec.h"

#include <cmath>
#include <cstdint>

#include "nlohmann/json.hpp"

namespace pulse::ingest {
namespace {

using nlohmann::json;

Status GetString(const json& object, const char* field, bool required, std::string* out) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) {
    if (required) return InvalidArgumentError(StrCat(field, " is required"));
    return OkStatus();
  }
  if (!it->is_string()) return InvalidArgumentError(StrCat(field, " must be a string"));
  *out = it->get<std::string>();
  return OkStatus();
}

Status GetInt(const json& object, const char* field, bool required, int64_t* out) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) {
    if (required) return InvalidArgumentError(StrCat(field, " is required"));
    return OkStatus();
  }
  // Unsigned values above INT64_MAX would wrap negative in get<int64_t>(): out of range instead.
  if (it->is_number_unsigned()) {
    uint64_t value = it->get<uint64_t>();
    if (value <= static_cast<uint64_t>(INT64_MAX)) {
      *out = static_cast<int64_t>(value);
      return OkStatus();
    }
    return InvalidArgumentError(StrCat(field, " is out of range"));
  }
  if (it->is_number_integer()) {
    *out = it->get<int64_t>();
    return OkStatus();
  }
  if (it->is_number_float()) {
    double value = it->get<double>();
    // Whole numbers written as 1.7e12 are accepted; fractions and out-of-range values are not.
    // The range check comes first: converting an out-of-range double to int64_t is undefined.
    if (value > -9.2e18 && value < 9.2e18 &&
        value == static_cast<double>(static_cast<int64_t>(value))) {
      *out = static_cast<int64_t>(value);
      return OkStatus();
    }
  }
  return InvalidArgumentError(StrCat(field, " must be an integer"));
}

}  // namespace

Status ValidateId(std::string_view id, std::string_view field) {
  if (id.empty()) return InvalidArgumentError(StrCat(field, " must not be empty"));
  if (id.size() > kMaxIdBytes) {
    return InvalidArgumentError(StrCat(field, " is longer than ", kMaxIdBytes, " bytes"));
  }
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgumentError(StrCat(field, " contains a control character"));
    }
  }
  return OkStatus();
}

Result<Event> EventFromJson(const json& object) {
  if (!object.is_object()) return InvalidArgumentError("event must be a JSON object");
  Event event;
  RETURN_IF_ERROR(GetString(object, "user_id", true, &event.user_id));
  RETURN_IF_ERROR(ValidateId(event.user_id, "user_id"));
  RETURN_IF_ERROR(GetString(object, "item_id", true, &event.item_id));
  RETURN_IF_ERROR(ValidateId(event.item_id, "item_id"));
  RETURN_IF_ERROR(GetString(object, "event_id", false, &event.event_id));
  if (!event.event_id.empty()) RETURN_IF_ERROR(ValidateId(event.event_id, "event_id"));
  RETURN_IF_ERROR(GetString(object, "request_id", false, &event.request_id));
  if (!event.request_id.empty()) RETURN_IF_ERROR(ValidateId(event.request_id, "request_id"));
  std::string type;
  RETURN_IF_ERROR(GetString(object, "type", true, &type));
  auto parsed_type = ParseEventType(type);
  if (!parsed_type) {
    return InvalidArgumentError("type must be one of view, click, dwell, purchase, impression");
  }
  event.type = *parsed_type;
  RETURN_IF_ERROR(GetInt(object, "ts", true, &event.ts_ms));
  if (event.ts_ms <= 0) return InvalidArgumentError("ts must be a positive epoch-millisecond time");
  RETURN_IF_ERROR(GetInt(object, "dwell_ms", false, &event.dwell_ms));
  if (event.dwell_ms < 0) return InvalidArgumentError("dwell_ms must be >= 0");
  if (auto it = object.find("rating"); it != object.end() && !it->is_null()) {
    // Bounded so the narrowing to float is defined (1e300 would be undefined behaviour).
    if (!it->is_number() || !(std::fabs(it->get<double>()) <= 1e6)) {
      return InvalidArgumentError("rating must be a number between -1e6 and 1e6");
    }
    event.rating = static_cast<float>(it->get<double>());
  }
  return event;
}

Status ValidateItem(const Item& item) {
  RETURN_IF_ERROR(ValidateId(item.item_id, "item_id"));
  if (item.title.size() > 4096) return InvalidArgumentError("title is longer than 4096 bytes");
  if (item.category.size() > kMaxIdBytes) {
    return InvalidArgumentError(StrCat("category is longer than ", kMaxIdBytes, " bytes"));
  }
  if (item.tags.size() > 256) return InvalidArgumentError("tags has more than 256 entries");
  for (const std::string& tag : item.tags) {
    if (tag.size() > kMaxIdBytes) {
      return InvalidArgumentError(StrCat("a tag is longer than ", kMaxIdBytes, " bytes"));
    }
  }
  if (item.created_at_ms < 0) return InvalidArgumentError("created_at must be >= 0");
  return OkStatus();
}

Result<Item> ItemFromJson(const json& object) {
  if (!object.is_object()) return InvalidArgumentError("item must be a JSON object");
  Item item;
  RETURN_IF_ERROR(GetString(object, "item_id", true, &item.item_id));
  RETURN_IF_ERROR(GetString(object, "title", false, &item.title));
  RETURN_IF_ERROR(GetString(object, "category", false, &item.category));
  if (auto it = object.find("tags"); it != object.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgumentError("tags must be an array of strings");
    if (it->size() > 256) return InvalidArgumentError("tags has more than 256 entries");
    for (const auto& tag : *it) {
      if (!tag.is_string()) return InvalidArgumentError("tags must be an array of strings");
      item.tags.push_back(tag.get<std::string>());
    }
  }
  RETURN_IF_ERROR(GetInt(object, "created_at", false, &item.created_at_ms));
  if (auto it = object.find("available"); it != object.end() && !it->is_null()) {
    if (!it->is_boolean()) return InvalidArgumentError("available must be true or false");
    item.available = it->get<bool>();
  }
  RETURN_IF_ERROR(ValidateItem(item));
  return item;
}

json EventToJson(const Event& event) {
  json out = {{"user_id", event.user_id},
              {"item_id", event.item_id},
              {"type", std::string(EventTypeName(event.type))},
              {"ts", event.ts_ms}};
  if (!event.event_id.empty()) out["event_id"] = event.event_id;
  if (event.dwell_ms != 0) out["dwell_ms"] = event.dwell_ms;
  if (!event.request_id.empty()) out["request_id"] = event.request_id;
  if (event.rating != 0) out["rating"] = event.rating;
  return out;
}

json ItemToJson(const Item& item) {
  return json{{"item_id", item.item_id},          {"title", item.title},
              {"category", item.category},        {"tags", item.tags},
              {"created_at", item.created_at_ms}, {"available", item.available}};
}

Result<Event> ParseEventLine(std::string_view line) {
  json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return InvalidArgumentError("not valid JSON");
  return EventFromJson(object);
}

Result<Item> ParseItemLine(std::string_view line) {
  json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return InvalidArgumentError("not valid JSON");
  return ItemFromJson(object);
}

}  // namespace pulse::ingest
