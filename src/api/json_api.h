// api/json_api.h — the HTTP/JSON wire format of Pulse (CONTRACT.md "HTTP/JSON"): request bodies
// in, response and error bodies out, status-code mapping and W3C trace-context parsing.
//
// Pure functions, no I/O; thread-safe. Nothing here throws: nlohmann::json is used with
// exceptions caught inside this adapter and converted to Status. Hostile input (truncated JSON,
// wrong types, deep nesting, invalid UTF-8, huge numbers) yields InvalidArgument with a reason
// naming the field, fit to show the client. Body-size limits are enforced by the server before
// these parsers run; nesting deeper than kMaxJsonDepth is refused before any DOM is built, so a
// 1 MiB "[[[[..." costs one linear scan.
//
// Conventions: unknown fields are ignored (forward compatible); an optional field sent as JSON
// null counts as absent (as in ingest/json_codec.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "serving/service.h"

namespace pulse::api {

inline constexpr int kMaxJsonDepth = 64;

// POST /v1/recommend body → request. Checks JSON types ("exclude must be an array of strings"),
// `n` (any value that is not an integer in 1..200, including floats, strings and huge numbers,
// gets "n must be between 1 and 200"), then serving::ValidateRecommendRequest (the one validation
// both front ends and the service share). trace_id is left empty: it comes from the traceparent
// header.
Result<serving::RecommendRequest> ParseRecommendRequest(std::string_view body);

// The 200 body of POST /v1/recommend, field order as in CONTRACT.md:
// {"request_id","model_version","degraded","items":[{"item_id","score","explanation_id",
// "source"}]} plus "debug" only when the response carries it. Scores print in their shortest
// float form (0.83, not 0.8299999833106995); invalid UTF-8 in strings is replaced by U+FFFD.
std::string RecommendResponseToJson(const serving::RecommendResponse& response);

// {"error":{"code":"INVALID_ARGUMENT","message":"…"}}; code is pulse::StatusCodeName.
std::string ErrorToJson(const Status& status);
std::string ErrorToJson(StatusCode code, std::string_view message);

// HTTP status for a non-OK Status: InvalidArgument/OutOfRange 400, NotFound 404,
// AlreadyExists 409, PermissionDenied 403, Unauthenticated 401, ResourceExhausted 429,
// FailedPrecondition 503, Unavailable 503, DeadlineExceeded 504, Unimplemented 501, else 500.
// OK maps to 200.
int HttpStatusFor(StatusCode code);

// The 32-hex trace id of a W3C traceparent header ("00-<trace-id>-<parent-id>-<flags>"): version
// 00 only, lowercase hex, trace id and parent id not all zeros. nullopt for anything else.
std::optional<std::string> TraceIdFromTraceparent(std::string_view header);

// POST /v1/items body: a JSON array of item objects, or a single item object. Items that fail
// ingest::ItemFromJson are listed in `rejected` with their index in the body; the others go to
// `items`, with `indices[i]` the body index of items[i] (to report the service's rejections).
// A body that is not JSON, or neither an array nor an object, is an InvalidArgument error.
struct ParsedItems {
  std::vector<Item> items;
  std::vector<int> indices;
  std::vector<std::pair<int, std::string>> rejected;
};
Result<ParsedItems> ParseItemsBody(std::string_view body);

// POST /v1/events body: a JSON array of event objects, or JSON lines (one event object per line,
// blank lines skipped), told apart by the first non-space character ('[' or '{'). Every element
// becomes one EventInput, in body order (index = position in the array / among non-blank
// lines): `event` set when ingest::EventFromJson accepts it, else `parse_error` with its reason;
// `raw` is the element's JSON text, cut to kMaxRawEventBytes. A bad JSON line is one rejected
// element, not a bad body. InvalidArgument when the body is empty, is not valid JSON as an
// array, or starts with anything else.
inline constexpr size_t kMaxRawEventBytes = 64 << 10;
Result<std::vector<serving::EventInput>> ParseEventsBody(std::string_view body);

// An event as a non-JSON front end (gRPC) received it. proto3 cannot tell an empty string or a
// zero from an absent field, so those count as absent.
struct WireEventFields {
  std::string_view event_id;
  std::string_view user_id;
  std::string_view item_id;
  std::string_view type;
  int64_t ts_ms = 0;
  int64_t dwell_ms = 0;
  std::string_view request_id;
};
// Renders the present fields as a compact JSON object (the EventInput's `raw`, cut to
// kMaxRawEventBytes) and parses it exactly as an element of POST /v1/events, so both front ends
// reject the same event with the same reason.
serving::EventInput EventInputFromWire(const WireEventFields& fields);

// {"accepted":N,"duplicates":D,"rejected":[{"index":i,"reason":"…"}]}
std::string PublishResultToJson(const serving::PublishResult& result);
// {"dead_letters":[{"received_at","source","reason_code","reason","raw"}]}
std::string DeadLettersToJson(const std::vector<serving::DeadLetterView>& letters);

// {"status":"ready","model_version":"…"} (GET /readyz when ready).
std::string ReadinessToJson(const serving::Readiness& readiness);
// {"upserted":N,"rejected":[{"index":i,"reason":"…"}]}
std::string UpsertResultToJson(const serving::UpsertResult& result);
// {"item_id","title","category","tags":[],"created_at","available"}
std::string ItemToJsonText(const Item& item);
// {"user_id","events_total","recent_items":[{"item_id","type","ts"}],"windows":{},
// "updated_at"}. `windows` stays empty until nearline windows exist.
std::string UserFeaturesToJson(const serving::UserFeatures& features);

}  // namespace pulse::api
