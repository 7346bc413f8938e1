// ingest/json_codec.h — the JSON form of events and items (CONTRACT.md), shared by the HTTP API,
// `pulse import` (items.jsonl / events.jsonl) and `pulse gen`.
//
// Parsing is schema validation: required fields present with the right JSON types, ids 1..256
// bytes, a known event type, ts > 0, dwell_ms >= 0. Unknown fields are ignored (forward
// compatible). Errors are InvalidArgument with a reason naming the field, fit to show a client.
// Time-dependent checks (clock skew, lateness) belong to the ingest validator, not here.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"
#include "nlohmann/json_fwd.hpp"

namespace pulse::ingest {

Result<Event> EventFromJson(const nlohmann::json& object);
Result<Item> ItemFromJson(const nlohmann::json& object);

nlohmann::json EventToJson(const Event& event);
nlohmann::json ItemToJson(const Item& item);

// Parses one line of JSON text into an event/item; the reason says whether the JSON itself or
// its content is bad. Never throws.
Result<Event> ParseEventLine(std::string_view line);
Result<Item> ParseItemLine(std::string_view line);

// Checks an id (user, item, event, request) against the id rules; `field` names it in the error.
Status ValidateId(std::string_view id, std::string_view field);
// Checks an item built from any wire format (ItemFromJson applies it; gRPC callers must).
Status ValidateItem(const Item& item);

}  // namespace pulse::ingest
