// api/http_metrics.h — a small, self-contained request-metrics registry for the API front ends:
// pulse_requests_total{method,code} and pulse_request_duration_seconds{method} (histogram),
// rendered in the Prometheus text format for GET /metrics, which appends every collector of the
// obs::MetricsRegistry it serves (the engine's ingest and nearline metrics among them).
//
// `method` is the API method's stable name ("recommend", "upsert_items", ...), shared by HTTP
// and gRPC, and `code` a pulse::StatusCodeName ("OK", "INVALID_ARGUMENT"), so label values come
// from fixed vocabularies, never from request text.
// Thread-safety: every method may be called concurrently. The API's own methods and the status
// codes are a fixed table of relaxed atomics (no lock per request); any other method name takes
// a short mutex (never on the request path in practice). Record also feeds the process's SLO
// tracker (obs/slo.h).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "obs/trace.h"

namespace pulse::api {

class RequestMetrics {
 public:
  // Upper bounds (seconds) of the duration histogram buckets; +Inf is implicit.
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  // Counts one finished request and observes its duration.
  void Record(std::string_view method, std::string_view code, double seconds);
  // Counts a request whose duration is unknown (refused by the HTTP layer before a handler ran).
  void Count(std::string_view method, std::string_view code);

  // Current value of pulse_requests_total{method,code} (0 when never recorded).
  uint64_t RequestCount(std::string_view method, std::string_view code) const;

  // Prometheus text exposition format 0.0.4 (HELP/TYPE lines, cumulative buckets).
  std::string RenderPrometheus() const;

  RequestMetrics();
  ~RequestMetrics();

 private:
  static constexpr size_t kCodes = 17;
  // One API method's counters, lock-free.
  struct Slot {
    std::string_view method;
    std::array<std::atomic<uint64_t>, kCodes> codes{};
    std::array<std::atomic<uint64_t>, kBuckets.size()> buckets{};  // non-cumulative
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_ns{0};
  };
  Slot* FindSlot(std::string_view method) const;
  static int CodeIndex(std::string_view code);
  std::unique_ptr<Slot[]> slots_;
  size_t slot_count_ = 0;

  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};  // non-cumulative
    uint64_t count = 0;
    double sum = 0;
  };

  mutable std::mutex mu_;
  // method -> code -> count
  std::map<std::string, std::map<std::string, uint64_t, std::less<>>, std::less<>> requests_;
  std::map<std::string, Histogram, std::less<>> durations_;
};

// The process-wide registry both servers use unless given another one (tests isolate theirs).
RequestMetrics& DefaultRequestMetrics();

// Whether calls of this API method get a trace (probes and scrapes do not).
bool IsTracedMethod(std::string_view method);

// The end of one API call, shared by both front ends: closes the server span (attributes, error
// status) and hands the trace to the tracer, then writes the access-log line when enabled.
void FinishApiCall(std::optional<obs::RequestTrace>& trace, std::string_view protocol,
                   std::string_view method, const Status& status, double seconds, int http_status);

}  // namespace pulse::api
