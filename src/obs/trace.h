// obs/trace.h — request tracing: W3C trace context in, spans out over OTLP/HTTP (JSON).
//
// A request's spans are gathered on the thread that serves it, in a RequestTrace the API front
// end creates (from the `traceparent` header/metadata, or a new trace id) and makes current for
// the thread (ActiveTrace); deeper layers (the engine, the pipeline's stages) add child spans to
// the current trace without knowing who created it. At the end of the request the front end hands
// the trace to the Tracer, which decides then (tail-style) whether to keep it: errors and
// requests slower than the threshold always, others when the caller's traceparent was sampled or
// by the configured ratio (a function of the trace id, so every service keeping a ratio keeps the
// same traces).
//
// Export never touches the request path: kept spans go into a bounded queue that a background
// thread batches and POSTs to {endpoint}/v1/traces. A full queue drops the spans and counts them
// (pulse_trace_spans_dropped_total{reason="queue_full"}); a collector that is slow or absent
// costs export failures (reason="export_failed"), never a blocked request.
//
// Thread-safety: a RequestTrace belongs to one request thread. Tracer::Finish may be called
// from any thread. ParseTraceparent is pure. Latency budget: with tracing off a request pays one
// branch; with it on, one small allocation per span and one short queue lock per request.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace pulse::obs {

struct TraceId {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool valid() const { return (hi | lo) != 0; }
  bool operator==(const TraceId&) const = default;
};

struct TraceParent {
  TraceId trace_id;
  uint64_t parent_span_id = 0;
  uint8_t flags = 0;
  bool sampled() const { return (flags & 1) != 0; }
};

// Strict W3C trace-context parsing: "00-<32 lowercase hex>-<16 lowercase hex>-<2 hex>", neither
// id all zeros; version "ff" is invalid; a future version (not 00) may carry more fields after a
// '-'. Anything else → nullopt (the caller starts a new trace; it is never a request error).
std::optional<TraceParent> ParseTraceparent(std::string_view header);
std::string FormatTraceparent(const TraceId& trace_id, uint64_t span_id, bool sampled);
std::string TraceIdHex(const TraceId& id);
std::string SpanIdHex(uint64_t id);
// Random, never zero (a per-thread generator seeded from std::random_device).
TraceId NewTraceId();
uint64_t NewSpanId();
int64_t UnixNanosNow();
// A user's hash bucket in [0, buckets): lets traces group a user's requests without carrying
// the raw id (never put a user id into a span).
int64_t UserBucket(std::string_view user_id, int64_t buckets = 1024);

using AttrValue = std::variant<std::string, int64_t, double, bool>;

struct Span {
  enum class Kind : int { kInternal = 1, kServer = 2 };
  TraceId trace_id;
  uint64_t span_id = 0;
  uint64_t parent_span_id = 0;  // 0 = root
  std::string name;
  Kind kind = Kind::kInternal;
  int64_t start_unix_ns = 0;
  int64_t end_unix_ns = 0;
  bool error = false;
  std::string status_message;
  std::vector<std::pair<std::string, AttrValue>> attributes;

  void Set(std::string key, AttrValue value) {
    attributes.emplace_back(std::move(key), std::move(value));
  }
};

// One request's spans. The first span is the server (root) span, started by the constructor.
class RequestTrace {
 public:
  // `traceparent` may be empty or malformed: a new trace starts then. `recording` false keeps
  // only the ids (the debug response's trace_id) and records no spans.
  RequestTrace(std::string_view traceparent, std::string name, bool recording);

  const TraceId& trace_id() const { return spans_.front().trace_id; }
  // Adopts a 32-hex trace id given without a traceparent (in-process callers); ignored when
  // malformed. Call before adding spans.
  void AdoptTraceId(std::string_view hex);
  std::string trace_id_hex() const { return TraceIdHex(trace_id()); }
  uint64_t root_span_id() const { return spans_.front().span_id; }
  bool recording() const { return recording_; }
  bool parent_sampled() const { return parent_sampled_; }
  Span& root() { return spans_.front(); }
  // Adds a finished child span; no-op (returns a scratch span) when not recording.
  Span& AddSpan(std::string name, uint64_t parent_span_id, int64_t start_unix_ns,
                int64_t end_unix_ns);
  // Ends the root span: error marks the trace for export.
  void End(bool error, std::string_view status_message);
  int64_t duration_ns() const { return spans_.front().end_unix_ns - spans_.front().start_unix_ns; }
  std::vector<Span>& spans() { return spans_; }
  const std::vector<Span>& spans() const { return spans_; }

 private:
  std::vector<Span> spans_;
  Span scratch_;
  bool recording_ = false;
  bool parent_sampled_ = false;
};

// The trace of the request this thread is serving (nullptr when none).
RequestTrace* CurrentTrace();
// Makes `trace` current for this thread for the scope's lifetime.
class ActiveTrace {
 public:
  explicit ActiveTrace(RequestTrace* trace);
  ~ActiveTrace();
  ActiveTrace(const ActiveTrace&) = delete;
  ActiveTrace& operator=(const ActiveTrace&) = delete;

 private:
  RequestTrace* previous_;
};

struct TracerOptions {
  std::string endpoint;  // collector base URL ("http://127.0.0.1:4318"); "" and no sink = off
  double sample_ratio = 0.01;
  int64_t slow_threshold_ms = 250;  // slower requests are always kept
  size_t queue_spans = 8192;
  size_t batch_spans = 512;
  int64_t flush_interval_ms = 1000;
  int64_t export_timeout_ms = 1000;
  std::string service_name = "pulse";
  // Replaces the HTTP export (tests, benchmarks): called on the export thread with the OTLP JSON
  // body; false counts the batch as failed.
  std::function<bool(const std::string& body)> sink;
};

class Tracer {
 public:
  explicit Tracer(TracerOptions options);
  ~Tracer();  // exports what is queued (one attempt), then stops
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  bool enabled() const { return enabled_; }
  // Keeps or discards the finished trace (see the header comment); never blocks on export.
  void Finish(RequestTrace&& trace);
  // Waits until everything queued so far has been attempted (tests, shutdown).
  void Flush();
  // As Flush, but waits at most `timeout_ms`: true when the queue drained in time. Shutdown uses
  // it so a slow or absent collector delays exit by at most the timeout.
  bool FlushFor(int64_t timeout_ms);
  // Spans queued and not yet handed to the exporter.
  size_t queued_spans() const;

  struct Counters {
    uint64_t traces_finished = 0;
    uint64_t traces_kept = 0;
    uint64_t spans_exported = 0;
    uint64_t spans_dropped_queue_full = 0;
    uint64_t spans_dropped_export_failed = 0;
    uint64_t export_batches_failed = 0;
  };
  Counters counters() const;
  // pulse_trace_* metrics in the Prometheus text format.
  void RenderMetrics(std::string* out) const;

  // The OTLP JSON ExportTraceServiceRequest for `spans`.
  static std::string ToOtlpJson(const std::vector<Span>& spans, std::string_view service_name);

 private:
  bool Keep(const RequestTrace& trace) const;
  void Run();
  bool Export(const std::string& body);

  const TracerOptions options_;
  const bool enabled_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Span> queue_;        // guarded by mu_
  bool stop_ = false;             // guarded by mu_
  bool exporting_ = false;        // guarded by mu_: a batch is being sent
  bool flush_requested_ = false;  // guarded by mu_
  std::atomic<uint64_t> traces_finished_{0};
  std::atomic<uint64_t> traces_kept_{0};
  std::atomic<uint64_t> spans_exported_{0};
  std::atomic<uint64_t> dropped_queue_full_{0};
  std::atomic<uint64_t> dropped_export_failed_{0};
  std::atomic<uint64_t> batches_failed_{0};
  std::thread thread_;
};

// The process-wide tracer the front ends and the engine use; a disabled one until SetTracer.
Tracer& GlobalTracer();
// Installs `tracer` (kept alive until replaced; the previous one is flushed and destroyed).
void SetGlobalTracer(std::unique_ptr<Tracer> tracer);

}  // namespace pulse::obs
