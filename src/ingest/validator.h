// ingest/validator.h — the semantic checks an event passes before it is written, on top of the
// schema checks of json_codec, and the low-cardinality reject reasons that label
// pulse_events_rejected_total{reason} and dead-letter records.
//
// EventValidator re-checks what any wire format must guarantee (ids, ts > 0, dwell_ms >= 0: gRPC
// builds events without json_codec) and judges event time against an injected Clock: ts may be
// at most ingest.max_future_skew_ms after now and at most ingest.max_event_age_ms before it
// (0 = no age limit). Both bounds are inclusive.
//
// Thread-safety: EventValidator is immutable after construction; IngestMetrics is safe to use
// concurrently. Ownership: the Clock must outlive the validator.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/config.h"
#include "core/types.h"

namespace pulse::ingest {

// Why an event was refused. Labels (RejectReasonLabel) are stable: metrics and stored dead
// letters use them. Append new values before kCount only.
enum class RejectReason : uint8_t {
  kParseError = 0,  // not JSON / not an object / not decodable
  kMissingField,    // a required field is absent
  kBadType,         // a field has the wrong JSON type
  kBadValue,        // a field is out of its range (ts <= 0, rating, integer overflow)
  kBadId,           // an id is empty, too long or contains control characters
  kUnknownType,     // event type is not one of view, click, dwell, purchase, impression
  kTsInFuture,      // ts later than now + max_future_skew_ms
  kTsTooOld,        // ts earlier than now - max_event_age_ms
  kNegativeDwell,   // dwell_ms < 0
  kOversizedBatch,  // the whole call had more than max_batch_events events
  kOther,           // anything else (kept so a new parser message is still counted)
  kCount
};
inline constexpr size_t kNumRejectReasons = static_cast<size_t>(RejectReason::kCount);

// "parse_error", "missing_field", ... ; "other" for out-of-range values.
std::string_view RejectReasonLabel(RejectReason reason);
// Inverse of RejectReasonLabel; nullopt for unknown labels.
std::optional<RejectReason> ParseRejectReason(std::string_view label);

struct Reject {
  RejectReason reason = RejectReason::kOther;
  std::string message;  // fit for the client (names the field), no PII
};

// Maps an error message of json_codec's event parsing (ParseEventLine, EventFromJson) or of a
// front end's decoding to a reason. Unrecognized messages map to kParseError when they mention
// JSON, else kOther; json_codec's messages are all recognized (tested).
RejectReason ClassifyParseError(std::string_view message);

class EventValidator {
 public:
  EventValidator(const IngestConfig& config, const Clock& clock);

  // nullopt when the event may be written; else why not.
  std::optional<Reject> Validate(const Event& event) const;

 private:
  const int64_t max_future_skew_ms_;
  const int64_t max_event_age_ms_;
  const Clock& clock_;
};

// Counters behind pulse_events_ingested_total{source} and pulse_events_rejected_total{reason}.
class IngestMetrics {
 public:
  void CountRejected(RejectReason reason, uint64_t n = 1);
  void CountIngested(std::string_view source, uint64_t n);
  uint64_t Rejected(RejectReason reason) const;
  uint64_t Ingested(std::string_view source) const;
  // Prometheus text format (HELP/TYPE + one line per label value; rejected lists every reason).
  std::string RenderPrometheus() const;

 private:
  std::array<std::atomic<uint64_t>, kNumRejectReasons> rejected_{};
  mutable std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> ingested_;  // guarded by mu_; source → events
};

}  // namespace pulse::ingest
