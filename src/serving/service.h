// serving/service.h — what the API front ends (HTTP/JSON and gRPC) call. One interface, one
// validation: both front ends translate their wire format into these structs and back, and every
// semantic check (n range, id lengths, exclude size) happens behind this interface, so HTTP and
// gRPC answer the same input the same way.
//
// Thread-safety: implementations are called concurrently from many server threads.
// Failures: InvalidArgument (with a reason fit for the client), NotFound, FailedPrecondition
// (no model loaded yet), ResourceExhausted (overload), Unavailable, DeadlineExceeded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "nearline/feature_view.h"
#include "store/data_dir.h"

namespace pulse::serving {

inline constexpr int kMaxRecommendN = 200;
inline constexpr size_t kMaxExcludeItems = 1000;
inline constexpr size_t kMaxContextEntries = 32;

struct RecommendRequest {
  std::string user_id;
  // Unset = configured default. HTTP sets it whenever the field is present; gRPC (proto3 cannot
  // tell 0 from absent) sets it when non-zero.
  std::optional<int> n;
  std::vector<std::string> exclude;
  std::vector<std::pair<std::string, std::string>> context;
  bool debug = false;
  std::string trace_id;  // from a W3C traceparent header, when present (32 hex chars)
  // Steady-clock micros (candidates::SteadyNowMicros) after which the answer is useless; 0 =
  // none. From the gRPC deadline, the x-pulse-deadline-ms header or server.default_deadline_ms.
  int64_t deadline_us = 0;
};

struct RecommendedItem {
  std::string item_id;
  float score = 0;
  // A static string of the vocabulary in docs/EXPLANATIONS.md (never owned: every producer
  // names a constant, so a response carries no heap block per item for it).
  std::string_view explanation_id;
  std::string source;  // candidate source name ("ann", "popular", ...)
};

struct StageDebug {
  std::string name;
  int64_t duration_us = 0;
  int candidates = 0;  // candidates produced (sources) or remaining after the stage
  // A source that did not end normally: "failed", "budget_exceeded" (skipped: past its own
  // budget), "deadline_exceeded". Empty = ok (and left out of the JSON).
  std::string outcome;
};

struct RemovedDebug {
  std::string item_id;
  std::string filter;
  std::string reason;
};

// One feature value and how old the data behind it is (age_ms -1: not applicable).
struct FeatureValueDebug {
  std::string name;
  double value = 0;
  int64_t age_ms = -1;
};

struct ItemFeaturesDebug {
  std::string item_id;
  std::vector<FeatureValueDebug> values;
};

struct RecommendDebug {
  std::string trace_id;
  std::vector<StageDebug> stages;
  std::vector<RemovedDebug> removed;
  std::string model_version;
  std::string index_version;
  // Candidates each source produced (sum = "candidates" of the source stages).
  std::vector<std::pair<std::string, int>> candidates_by_source;
  // User-level inputs (history size, newest event, user vector kind) with their ages, and the
  // hydrated feature values of every returned item.
  std::vector<FeatureValueDebug> user_features;
  std::vector<ItemFeaturesDebug> item_features;
};

struct RecommendResponse {
  std::string request_id;
  std::string model_version;
  bool degraded = false;
  std::vector<RecommendedItem> items;
  std::optional<RecommendDebug> debug;  // set when the request asked for debug
  // The fallback-ladder rung that served, below the personalized one: "cached" (a stale cached
  // answer: computing failed), "heuristic" (no model-based candidates: covisit/trending), or
  // "popular" (only popular items). Empty for the personalized rung.
  std::string fallback;
};

struct UpsertResult {
  int upserted = 0;
  std::vector<std::pair<int, std::string>> rejected;  // (index in request, reason)
};

struct UserFeatures {
  std::string user_id;
  store::UserHistory history;
  // Nearline windowed counts (event time); absent when the user has no nearline state.
  std::optional<nearline::UserFeatures> windows;
};

// One event as a front end received it: parsed, or why it could not be parsed. `raw` is the
// received text (JSON), kept with rejects in the dead-letter store.
struct EventInput {
  std::optional<Event> event;
  std::string parse_error;  // set when `event` is empty
  std::string raw;
};

struct PublishResult {
  int accepted = 0;                                   // durable when the call returns
  int duplicates = 0;                                 // accepted earlier under the same event_id
  std::vector<std::pair<int, std::string>> rejected;  // (index in request, reason)
};

// One rejected event as the dead-letter store keeps it (GET /v1/admin/dead-letter).
struct DeadLetterView {
  int64_t received_at_ms = 0;
  std::string source;       // "http", "grpc", ...
  std::string reason_code;  // ingest::RejectReasonLabel ("missing_field", "ts_in_future", ...)
  std::string reason;       // the message the client got
  std::string raw;          // the event as received (bounded)
};

// One of the items most engaged with right now (GET /v1/admin/stats, the dashboard).
struct TopItem {
  std::string item_id;
  double score = 0;    // trending velocity, or the model's popularity weight
  std::string source;  // "trending" (nearline, live) or "popular" (the model's, when no trend)
};

struct Readiness {
  bool ready = false;
  std::string reason;  // why not, when not ready ("no model loaded")
  std::string model_version;
};

class PulseService {
 public:
  virtual ~PulseService() = default;

  virtual Result<RecommendResponse> Recommend(const RecommendRequest& request) = 0;
  // Validates every event (schema, clock skew, id rules); rejects go to the dead-letter store
  // with their reason; valid ones are written durably (fsync'd, group-committed) before this
  // returns, and are visible to the next Recommend of their user. `source` ("http", "grpc")
  // labels metrics. ResourceExhausted when ingest is saturated (nothing of the call is written).
  virtual Result<PublishResult> PublishEvents(std::vector<EventInput> events,
                                              std::string_view source) = 0;
  // Validates each item; valid ones are stored, invalid ones listed in `rejected`.
  virtual Result<UpsertResult> UpsertItems(std::vector<Item> items) = 0;
  // NotFound when the item is unknown. From the next request on it is never recommended.
  virtual Status DeleteItem(std::string_view item_id) = 0;
  virtual Result<Item> GetItem(std::string_view item_id) = 0;
  virtual Result<UserFeatures> GetUserFeatures(std::string_view user_id) = 0;
  virtual Readiness GetReadiness() = 0;
  // The newest `limit` dead letters, newest first. Default: Unimplemented, until an
  // implementation keeps a dead-letter store.
  virtual Result<std::vector<DeadLetterView>> ListDeadLetters(size_t /*limit*/) {
    return UnimplementedError("the dead-letter store is not available");
  }
  // Up to `limit` items most engaged with now, hottest first: the nearline trending list, or the
  // model's most popular items while nothing trends. Cheap (snapshot reads), for dashboards.
  // Default: Unimplemented, for services without that state.
  virtual Result<std::vector<TopItem>> TopItems(size_t /*limit*/) {
    return UnimplementedError("top items are not available");
  }
};

// Checks a request against the public contract; the reason names the field
// ("n must be between 1 and 200"). Shared by every PulseService implementation.
Status ValidateRecommendRequest(const RecommendRequest& request);

}  // namespace pulse::serving
