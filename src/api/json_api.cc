#include "api/json_api.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <new>

#include "core/json_nesting.h"
#include "ingest/json_codec.h"
#include "nlohmann/json.hpp"

namespace pulse::api {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Strings from the catalog may hold invalid UTF-8 (imported datasets); dump() would throw.
template <typename Json>
std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
}

Status ParseJson(std::string_view body, json* out) {
  if (Trim(body).empty()) return InvalidArgumentError("request body is empty");
  if (JsonNestsDeeperThan(body, kMaxJsonDepth)) {
    return InvalidArgumentError(
        StrCat("request body is nested deeper than ", kMaxJsonDepth, " levels"));
  }
  try {
    *out = json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    return InvalidArgumentError(StrCat("request body is not valid JSON (at byte ", e.byte, ")"));
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("request body is too large to parse");
  } catch (const std::exception&) {
    return InvalidArgumentError("request body is not valid JSON");
  }
  return OkStatus();
}

Status NRangeError() {
  return InvalidArgumentError(StrCat("n must be between 1 and ", serving::kMaxRecommendN));
}

Status ParseN(const json& value, std::optional<int>* out) {
  // Only JSON integers: 10.0, 1e1 and "10" are refused like out-of-range values, so a client
  // never has its n silently rounded.
  if (value.is_number_unsigned()) {
    auto n = value.get<uint64_t>();
    if (n < 1 || n > static_cast<uint64_t>(serving::kMaxRecommendN)) return NRangeError();
    *out = static_cast<int>(n);
    return OkStatus();
  }
  if (value.is_number_integer()) {
    auto n = value.get<int64_t>();
    if (n < 1 || n > serving::kMaxRecommendN) return NRangeError();
    *out = static_cast<int>(n);
    return OkStatus();
  }
  return NRangeError();
}

Result<serving::RecommendRequest> RecommendRequestFromJson(const json& body) {
  if (!body.is_object()) return InvalidArgumentError("request body must be a JSON object");
  serving::RecommendRequest request;

  auto user_id = body.find("user_id");
  if (user_id == body.end() || user_id->is_null()) {
    return InvalidArgumentError("user_id is required");
  }
  if (!user_id->is_string()) return InvalidArgumentError("user_id must be a string");
  request.user_id = user_id->get<std::string>();

  if (auto n = body.find("n"); n != body.end() && !n->is_null()) {
    RETURN_IF_ERROR(ParseN(*n, &request.n));
  }

  if (auto exclude = body.find("exclude"); exclude != body.end() && !exclude->is_null()) {
    if (!exclude->is_array()) return InvalidArgumentError("exclude must be an array of strings");
    // Bound the copy before ValidateRecommendRequest sees the size.
    if (exclude->size() > serving::kMaxExcludeItems) {
      return InvalidArgumentError(
          StrCat("exclude has more than ", serving::kMaxExcludeItems, " items"));
    }
    request.exclude.reserve(exclude->size());
    for (const auto& id : *exclude) {
      if (!id.is_string()) return InvalidArgumentError("exclude must be an array of strings");
      request.exclude.push_back(id.get<std::string>());
    }
  }

  if (auto context = body.find("context"); context != body.end() && !context->is_null()) {
    if (!context->is_object()) {
      return InvalidArgumentError("context must be an object of string values");
    }
    if (context->size() > serving::kMaxContextEntries) {
      return InvalidArgumentError(
          StrCat("context has more than ", serving::kMaxContextEntries, " entries"));
    }
    for (const auto& [key, value] : context->items()) {
      if (!value.is_string()) {
        return InvalidArgumentError("context must be an object of string values");
      }
      request.context.emplace_back(key, value.get<std::string>());
    }
  }

  if (auto debug = body.find("debug"); debug != body.end() && !debug->is_null()) {
    if (!debug->is_boolean()) return InvalidArgumentError("debug must be true or false");
    request.debug = debug->get<bool>();
  }

  RETURN_IF_ERROR(serving::ValidateRecommendRequest(request));
  return request;
}

// The shortest decimal that reads back as the same float, widened to the double that prints as
// that decimal.
ordered_json ScoreJson(float score) {
  if (!std::isfinite(score)) return nullptr;  // JSON has no NaN; a non-finite score is a bug
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), score);
  double widened = score;
  if (ec == std::errc()) std::from_chars(buf, end, widened);
  return widened;
}

ordered_json DebugJson(const serving::RecommendDebug& debug) {
  ordered_json stages = ordered_json::array();
  for (const auto& stage : debug.stages) {
    stages.push_back(ordered_json{{"name", stage.name},
                                  {"duration_us", stage.duration_us},
                                  {"candidates", stage.candidates}});
    if (!stage.outcome.empty()) stages.back()["outcome"] = stage.outcome;
  }
  ordered_json removed = ordered_json::array();
  for (const auto& r : debug.removed) {
    removed.push_back(
        ordered_json{{"item_id", r.item_id}, {"filter", r.filter}, {"reason", r.reason}});
  }
  ordered_json out{{"trace_id", debug.trace_id},
                   {"stages", std::move(stages)},
                   {"removed", std::move(removed)},
                   {"model_version", debug.model_version},
                   {"index_version", debug.index_version}};
  // Feature values with their ages (age_ms null: not applicable), and candidates per source.
  auto values_json = [](const std::vector<serving::FeatureValueDebug>& values) {
    ordered_json array = ordered_json::array();
    for (const auto& v : values) {
      array.push_back(
          ordered_json{{"name", v.name},
                       {"value", std::isfinite(v.value) ? ordered_json(v.value) : nullptr},
                       {"age_ms", v.age_ms >= 0 ? ordered_json(v.age_ms) : nullptr}});
    }
    return array;
  };
  if (!debug.candidates_by_source.empty()) {
    ordered_json sources = ordered_json::object();
    for (const auto& [source, count] : debug.candidates_by_source) sources[source] = count;
    out["candidates_by_source"] = std::move(sources);
  }
  if (!debug.user_features.empty()) out["user_features"] = values_json(debug.user_features);
  if (!debug.item_features.empty()) {
    ordered_json items = ordered_json::array();
    for (const auto& item : debug.item_features) {
      items.push_back(
          ordered_json{{"item_id", item.item_id}, {"features", values_json(item.values)}});
    }
    out["item_features"] = std::move(items);
  }
  return out;
}

bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZeros(std::string_view text) { return text.find_first_not_of('0') == std::string::npos; }

}  // namespace

Result<serving::RecommendRequest> ParseRecommendRequest(std::string_view body) {
  try {
    json parsed;
    RETURN_IF_ERROR(ParseJson(body, &parsed));
    return RecommendRequestFromJson(parsed);
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("request body is too large to parse");
  } catch (const std::exception&) {
    // Every access above is type-checked first; this only keeps the no-throw promise.
    return InvalidArgumentError("request body could not be read");
  }
}

std::string RecommendResponseToJson(const serving::RecommendResponse& response) {
  ordered_json items = ordered_json::array();
  for (const auto& item : response.items) {
    items.push_back(ordered_json{{"item_id", item.item_id},
                                 {"score", ScoreJson(item.score)},
                                 {"explanation_id", item.explanation_id},
                                 {"source", item.source}});
  }
  ordered_json out{{"request_id", response.request_id},
                   {"model_version", response.model_version},
                   {"degraded", response.degraded},
                   {"items", std::move(items)}};
  if (!response.fallback.empty()) out["fallback"] = response.fallback;
  if (response.debug.has_value()) out["debug"] = DebugJson(*response.debug);
  return Dump(out);
}

std::string ErrorToJson(StatusCode code, std::string_view message) {
  ordered_json error{{"code", std::string(StatusCodeName(code))}, {"message", message}};
  return Dump(ordered_json{{"error", std::move(error)}});
}

std::string ErrorToJson(const Status& status) {
  return ErrorToJson(status.code(), status.message());
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

std::optional<std::string> TraceIdFromTraceparent(std::string_view header) {
  // 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
  constexpr size_t kLength = 2 + 1 + 32 + 1 + 16 + 1 + 2;
  if (header.size() != kLength) return std::nullopt;
  if (header.substr(0, 3) != "00-" || header[35] != '-' || header[52] != '-') return std::nullopt;
  std::string_view trace_id = header.substr(3, 32);
  std::string_view parent_id = header.substr(36, 16);
  std::string_view flags = header.substr(53, 2);
  if (!IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags)) return std::nullopt;
  if (AllZeros(trace_id) || AllZeros(parent_id)) return std::nullopt;
  return std::string(trace_id);
}

Result<ParsedItems> ParseItemsBody(std::string_view body) {
  try {
    json parsed;
    RETURN_IF_ERROR(ParseJson(body, &parsed));
    ParsedItems out;
    auto add = [&out](const json& object, int index) {
      auto item = ingest::ItemFromJson(object);
      if (item.ok()) {
        out.items.push_back(std::move(item).value());
        out.indices.push_back(index);
      } else {
        out.rejected.emplace_back(index, item.status().message());
      }
    };
    if (parsed.is_array()) {
      int index = 0;
      for (const auto& object : parsed) add(object, index++);
    } else if (parsed.is_object()) {
      add(parsed, 0);
    } else {
      return InvalidArgumentError("request body must be a JSON array of items or one item object");
    }
    return out;
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("request body is too large to parse");
  } catch (const std::exception&) {
    return InvalidArgumentError("request body could not be read");
  }
}

namespace {

std::string BoundedRaw(std::string_view text) {
  return std::string(text.substr(0, std::min(text.size(), kMaxRawEventBytes)));
}

serving::EventInput EventInputFromJson(const json& object, std::string raw) {
  serving::EventInput input;
  input.raw = std::move(raw);
  auto event = ingest::EventFromJson(object);
  if (event.ok()) {
    input.event = std::move(event).value();
  } else {
    input.parse_error = std::string(event.status().message());
  }
  return input;
}

// The text of each top-level element of `array`, which must be valid JSON (already parsed):
// commas at depth 1 outside strings separate elements.
std::vector<std::string_view> ArrayElementTexts(std::string_view array) {
  std::vector<std::string_view> out;
  int depth = 0;
  JsonStringState strings;
  size_t start = 0;
  for (size_t i = 0; i < array.size(); ++i) {
    const char c = array[i];
    if (strings.InString(c)) continue;
    if (c == '[' || c == '{') {
      if (++depth == 1) start = i + 1;
    } else if (c == ']' || c == '}') {
      if (depth-- == 1) out.push_back(Trim(array.substr(start, i - start)));
    } else if (c == ',' && depth == 1) {
      out.push_back(Trim(array.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (out.size() == 1 && out[0].empty()) out.clear();  // "[]"
  return out;
}

Result<std::vector<serving::EventInput>> ParseEventsArray(std::string_view body) {
  json parsed;
  RETURN_IF_ERROR(ParseJson(body, &parsed));
  if (!parsed.is_array()) {
    return InvalidArgumentError("request body must be a JSON array of events or JSON lines");
  }
  // Dead letters keep the element as the client sent it; re-rendering is the fallback.
  const std::vector<std::string_view> texts = ArrayElementTexts(body);
  const bool have_texts = texts.size() == parsed.size();
  std::vector<serving::EventInput> out;
  out.reserve(parsed.size());
  for (size_t i = 0; i < parsed.size(); ++i) {
    const json& element = parsed[i];
    out.push_back(
        EventInputFromJson(element, have_texts ? BoundedRaw(texts[i]) : BoundedRaw(Dump(element))));
  }
  return out;
}

Result<std::vector<serving::EventInput>> ParseEventsLines(std::string_view body) {
  std::vector<serving::EventInput> out;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = Trim(body.substr(start, end - start));
    start = end + 1;
    if (line.empty()) continue;
    json object;
    Status status = ParseJson(line, &object);
    if (!status.ok()) {
      serving::EventInput input;
      input.raw = BoundedRaw(line);
      input.parse_error = "event is not valid JSON";
      out.push_back(std::move(input));
      continue;
    }
    out.push_back(EventInputFromJson(object, BoundedRaw(line)));
  }
  return out;
}

}  // namespace

Result<std::vector<serving::EventInput>> ParseEventsBody(std::string_view body) {
  try {
    std::string_view trimmed = Trim(body);
    if (trimmed.empty()) return InvalidArgumentError("request body is empty");
    if (trimmed.front() == '[') return ParseEventsArray(trimmed);
    if (trimmed.front() == '{') return ParseEventsLines(trimmed);
    return InvalidArgumentError("request body must be a JSON array of events or JSON lines");
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("request body is too large to parse");
  } catch (const std::exception&) {
    return InvalidArgumentError("request body could not be read");
  }
}

serving::EventInput EventInputFromWire(const WireEventFields& fields) {
  try {
    ordered_json object = ordered_json::object();
    auto add_string = [&object](const char* name, std::string_view value) {
      if (!value.empty()) object[name] = std::string(value);
    };
    add_string("event_id", fields.event_id);
    add_string("user_id", fields.user_id);
    add_string("item_id", fields.item_id);
    add_string("type", fields.type);
    if (fields.ts_ms != 0) object["ts"] = fields.ts_ms;
    if (fields.dwell_ms != 0) object["dwell_ms"] = fields.dwell_ms;
    add_string("request_id", fields.request_id);
    std::string raw = Dump(object);
    if (raw.size() > kMaxRawEventBytes) raw.resize(kMaxRawEventBytes);
    return EventInputFromJson(json(object), std::move(raw));
  } catch (const std::exception&) {
    serving::EventInput input;
    input.parse_error = "event could not be decoded";
    return input;
  }
}

std::string PublishResultToJson(const serving::PublishResult& result) {
  ordered_json rejected = ordered_json::array();
  for (const auto& [index, reason] : result.rejected) {
    rejected.push_back(ordered_json{{"index", index}, {"reason", reason}});
  }
  return Dump(ordered_json{{"accepted", result.accepted},
                           {"duplicates", result.duplicates},
                           {"rejected", std::move(rejected)}});
}

std::string DeadLettersToJson(const std::vector<serving::DeadLetterView>& letters) {
  ordered_json list = ordered_json::array();
  for (const auto& letter : letters) {
    list.push_back(ordered_json{{"received_at", letter.received_at_ms},
                                {"source", letter.source},
                                {"reason_code", letter.reason_code},
                                {"reason", letter.reason},
                                {"raw", letter.raw}});
  }
  return Dump(ordered_json{{"dead_letters", std::move(list)}});
}

std::string ReadinessToJson(const serving::Readiness& readiness) {
  return Dump(ordered_json{{"status", readiness.ready ? "ready" : "not_ready"},
                           {"model_version", readiness.model_version}});
}

std::string UpsertResultToJson(const serving::UpsertResult& result) {
  ordered_json rejected = ordered_json::array();
  for (const auto& [index, reason] : result.rejected) {
    rejected.push_back(ordered_json{{"index", index}, {"reason", reason}});
  }
  return Dump(ordered_json{{"upserted", result.upserted}, {"rejected", std::move(rejected)}});
}

std::string ItemToJsonText(const Item& item) { return Dump(ingest::ItemToJson(item)); }

// {"as_of":…,"1h":{"view":n,…},"24h":{…},"7d":{…},"ctr_24h":…,"categories":[{"category":…,
// "1h":n,"24h":n,"7d":n}]} — {} when the user has no nearline state.
ordered_json WindowsJson(const std::optional<nearline::UserFeatures>& windows) {
  ordered_json out = ordered_json::object();
  if (!windows) return out;
  static constexpr std::array<const char*, nearline::kNumUserWindows> kNames = {"1h", "24h", "7d"};
  out["as_of"] = windows->as_of_ms;
  for (int w = 0; w < nearline::kNumUserWindows; ++w) {
    ordered_json counts = ordered_json::object();
    for (int t = 0; t < kNumEventTypes; ++t) {
      counts[std::string(EventTypeName(static_cast<EventType>(t)))] = windows->counts[w][t];
    }
    out[kNames[w]] = std::move(counts);
  }
  out["ctr_24h"] = windows->ctr_24h;
  ordered_json categories = ordered_json::array();
  for (const auto& category : windows->categories) {
    ordered_json entry = {{"category", category.category}};
    for (int w = 0; w < nearline::kNumUserWindows; ++w) {
      entry[kNames[w]] = category.engagements[w];
    }
    categories.push_back(std::move(entry));
  }
  out["categories"] = std::move(categories);
  return out;
}

std::string UserFeaturesToJson(const serving::UserFeatures& features) {
  ordered_json recent = ordered_json::array();
  for (const auto& entry : features.history.recent) {
    recent.push_back(ordered_json{{"item_id", entry.item_id},
                                  {"type", std::string(EventTypeName(entry.type))},
                                  {"ts", entry.ts_ms}});
  }
  return Dump(ordered_json{{"user_id", features.user_id},
                           {"events_total", features.history.events_total},
                           {"recent_items", std::move(recent)},
                           {"windows", WindowsJson(features.windows)},
                           {"updated_at", features.history.updated_at_ms}});
}

}  // namespace pulse::api
