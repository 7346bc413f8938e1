#include "ingest/validator.h"

#include "core/strings.h"
#include "ingest/json_codec.h"

namespace pulse::ingest {
namespace {

constexpr std::array<std::string_view, kNumRejectReasons> kLabels = {
    "parse_error",  "missing_field", "bad_type",       "bad_value",       "bad_id", "unknown_type",
    "ts_in_future", "ts_too_old",    "negative_dwell", "oversized_batch", "other"};

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string_view RejectReasonLabel(RejectReason reason) {
  size_t i = static_cast<size_t>(reason);
  return i < kLabels.size() ? kLabels[i] : kLabels[static_cast<size_t>(RejectReason::kOther)];
}

std::optional<RejectReason> ParseRejectReason(std::string_view label) {
  for (size_t i = 0; i < kLabels.size(); ++i) {
    if (kLabels[i] == label) return static_cast<RejectReason>(i);
  }
  return std::nullopt;
}

RejectReason ClassifyParseError(std::string_view message) {
  // Order matters: "type is required" is a missing field, not an unknown type.
  if (Contains(message, " is required")) return RejectReason::kMissingField;
  if (Contains(message, "must be a string") || Contains(message, "must be an integer") ||
      Contains(message, "must be a JSON object") || Contains(message, "must be true or false") ||
      Contains(message, "must be an array")) {
    return RejectReason::kBadType;
  }
  if (Contains(message, "must not be empty") || Contains(message, "bytes") ||
      Contains(message, "control character")) {
    return RejectReason::kBadId;
  }
  if (StartsWith(message, "type must be one of")) return RejectReason::kUnknownType;
  if (StartsWith(message, "dwell_ms must be >= 0")) return RejectReason::kNegativeDwell;
  if (Contains(message, "out of range") || StartsWith(message, "ts must be") ||
      StartsWith(message, "rating must be")) {
    return RejectReason::kBadValue;
  }
  if (Contains(message, "JSON") || Contains(message, "json") || Contains(message, "parse")) {
    return RejectReason::kParseError;
  }
  return RejectReason::kOther;
}

EventValidator::EventValidator(const IngestConfig& config, const Clock& clock)
    : max_future_skew_ms_(config.max_future_skew_ms),
      max_event_age_ms_(config.max_event_age_ms),
      clock_(clock) {}

std::optional<Reject> EventValidator::Validate(const Event& event) const {
  auto id_check = [](std::string_view id, std::string_view field,
                     bool optional) -> std::optional<Reject> {
    if (optional && id.empty()) return std::nullopt;
    Status status = ValidateId(id, field);
    if (status.ok()) return std::nullopt;
    return Reject{RejectReason::kBadId, status.message()};
  };
  if (auto r = id_check(event.user_id, "user_id", false)) return r;
  if (auto r = id_check(event.item_id, "item_id", false)) return r;
  if (auto r = id_check(event.event_id, "event_id", true)) return r;
  if (auto r = id_check(event.request_id, "request_id", true)) return r;
  if (static_cast<int>(event.type) >= kNumEventTypes) {
    return Reject{RejectReason::kUnknownType,
                  "type must be one of view, click, dwell, purchase, impression"};
  }
  if (event.ts_ms <= 0) {
    return Reject{RejectReason::kBadValue, "ts must be a positive epoch-millisecond time"};
  }
  if (event.dwell_ms < 0) return Reject{RejectReason::kNegativeDwell, "dwell_ms must be >= 0"};

  const int64_t now_ms = clock_.NowMillis();
  // Written as differences so extreme ts values cannot overflow.
  if (event.ts_ms > now_ms && event.ts_ms - now_ms > max_future_skew_ms_) {
    return Reject{RejectReason::kTsInFuture,
                  StrCat("ts is more than ", max_future_skew_ms_,
                         " ms in the future (check the sender's clock)")};
  }
  if (max_event_age_ms_ > 0 && event.ts_ms < now_ms && now_ms - event.ts_ms > max_event_age_ms_) {
    return Reject{RejectReason::kTsTooOld,
                  StrCat("ts is more than ", max_event_age_ms_, " ms in the past")};
  }
  return std::nullopt;
}

void IngestMetrics::CountRejected(RejectReason reason, uint64_t n) {
  size_t i = static_cast<size_t>(reason);
  if (i >= kNumRejectReasons) i = static_cast<size_t>(RejectReason::kOther);
  rejected_[i].fetch_add(n, std::memory_order_relaxed);
}

void IngestMetrics::CountIngested(std::string_view source, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ingested_.find(source);
  if (it == ingested_.end()) it = ingested_.emplace(std::string(source), 0).first;
  it->second += n;
}

uint64_t IngestMetrics::Rejected(RejectReason reason) const {
  size_t i = static_cast<size_t>(reason);
  return i < kNumRejectReasons ? rejected_[i].load(std::memory_order_relaxed) : 0;
}

uint64_t IngestMetrics::Ingested(std::string_view source) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ingested_.find(source);
  return it == ingested_.end() ? 0 : it->second;
}

std::string IngestMetrics::RenderPrometheus() const {
  std::string out =
      "# HELP pulse_events_ingested_total Events accepted and durable, by source.\n"
      "# TYPE pulse_events_ingested_total counter\n";
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [source, n] : ingested_) {
      out += StrCat("pulse_events_ingested_total{source=\"", source, "\"} ", n, "\n");
    }
  }
  out +=
      "# HELP pulse_events_rejected_total Events refused by validation, by reason.\n"
      "# TYPE pulse_events_rejected_total counter\n";
  for (size_t i = 0; i < kNumRejectReasons; ++i) {
    out += StrCat("pulse_events_rejected_total{reason=\"", kLabels[i], "\"} ",
                  rejected_[i].load(std::memory_order_relaxed), "\n");
  }
  return out;
}

}  // namespace pulse::ingest
