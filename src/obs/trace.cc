#include "obs/trace.h"

#include <chrono>
#include <random>

#include "core/log.h"
#include "core/strings.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "obs/metrics.h"

namespace pulse::obs {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is invalid in trace context
}

// Parses exactly 2*bytes lowercase hex digits into `out` (big-endian).
bool ParseHex(std::string_view text, uint64_t* out) {
  uint64_t value = 0;
  for (char c : text) {
    int digit = HexDigit(c);
    if (digit < 0) return false;
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  *out = value;
  return true;
}

void AppendHex(std::string& out, uint64_t value) {
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(value >> shift) & 0xf]);
}

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng((static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                   std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return rng;
}

uint64_t NonZeroRandom() {
  uint64_t value = 0;
  while (value == 0) value = Rng()();
  return value;
}

thread_local RequestTrace* t_current = nullptr;
std::atomic<Tracer*> g_tracer{nullptr};

nlohmann::json AttrJson(const AttrValue& value) {
  return std::visit(
      [](const auto& v) -> nlohmann::json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) return {{"stringValue", v}};
        if constexpr (std::is_same_v<T, int64_t>) return {{"intValue", std::to_string(v)}};
        if constexpr (std::is_same_v<T, double>) return {{"doubleValue", v}};
        if constexpr (std::is_same_v<T, bool>) return {{"boolValue", v}};
      },
      value);
}

}  // namespace

std::optional<TraceParent> ParseTraceparent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" flags
  constexpr size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  uint64_t version = 0;
  if (!ParseHex(header.substr(0, 2), &version) || version == 0xff) return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append "-…" fields.
  if (version == 0 ? header.size() != kLength : header.size() > kLength && header[kLength] != '-') {
    return std::nullopt;
  }
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  TraceParent parent;
  uint64_t flags = 0;
  if (!ParseHex(header.substr(3, 16), &parent.trace_id.hi) ||
      !ParseHex(header.substr(19, 16), &parent.trace_id.lo) ||
      !ParseHex(header.substr(36, 16), &parent.parent_span_id) ||
      !ParseHex(header.substr(53, 2), &flags)) {
    return std::nullopt;
  }
  if (!parent.trace_id.valid() || parent.parent_span_id == 0) return std::nullopt;
  parent.flags = static_cast<uint8_t>(flags);
  return parent;
}

std::string TraceIdHex(const TraceId& id) {
  std::string out;
  out.reserve(32);
  AppendHex(out, id.hi);
  AppendHex(out, id.lo);
  return out;
}

std::string SpanIdHex(uint64_t id) {
  std::string out;
  out.reserve(16);
  AppendHex(out, id);
  return out;
}

std::string FormatTraceparent(const TraceId& trace_id, uint64_t span_id, bool sampled) {
  return StrCat("00-", TraceIdHex(trace_id), "-", SpanIdHex(span_id), sampled ? "-01" : "-00");
}

TraceId NewTraceId() { return {NonZeroRandom(), NonZeroRandom()}; }
uint64_t NewSpanId() { return NonZeroRandom(); }

int64_t UnixNanosNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t UserBucket(std::string_view user_id, int64_t buckets) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: stable across processes and builds
  for (unsigned char c : user_id) hash = (hash ^ c) * 1099511628211ull;
  return static_cast<int64_t>(hash % static_cast<uint64_t>(buckets < 1 ? 1 : buckets));
}

RequestTrace::RequestTrace(std::string_view traceparent, std::string name, bool recording)
    : recording_(recording) {
  Span root;
  if (std::optional<TraceParent> parent = ParseTraceparent(traceparent)) {
    root.trace_id = parent->trace_id;
    root.parent_span_id = parent->parent_span_id;
    parent_sampled_ = parent->sampled();
  } else {
    root.trace_id = NewTraceId();
  }
  root.span_id = NewSpanId();
  root.kind = Span::Kind::kServer;
  root.start_unix_ns = UnixNanosNow();
  if (recording_) root.name = std::move(name);
  spans_.reserve(recording_ ? 16 : 1);
  spans_.push_back(std::move(root));
}

void RequestTrace::AdoptTraceId(std::string_view hex) {
  TraceId id;
  if (hex.size() != 32 || !ParseHex(hex.substr(0, 16), &id.hi) ||
      !ParseHex(hex.substr(16), &id.lo) || !id.valid()) {
    return;
  }
  spans_.front().trace_id = id;
}

Span& RequestTrace::AddSpan(std::string name, uint64_t parent_span_id, int64_t start_unix_ns,
                            int64_t end_unix_ns) {
  if (!recording_) {
    scratch_ = Span();
    return scratch_;
  }
  Span& span = spans_.emplace_back();
  span.trace_id = trace_id();
  span.span_id = NewSpanId();
  span.parent_span_id = parent_span_id;
  span.name = std::move(name);
  span.start_unix_ns = start_unix_ns;
  span.end_unix_ns = end_unix_ns;
  return span;
}

void RequestTrace::End(bool error, std::string_view status_message) {
  Span& root = spans_.front();
  root.end_unix_ns = UnixNanosNow();
  root.error = error;
  if (error && recording_) root.status_message = std::string(status_message);
}

RequestTrace* CurrentTrace() { return t_current; }

ActiveTrace::ActiveTrace(RequestTrace* trace) : previous_(t_current) { t_current = trace; }
ActiveTrace::~ActiveTrace() { t_current = previous_; }

Tracer::Tracer(TracerOptions options)
    : options_(std::move(options)), enabled_(!options_.endpoint.empty() || options_.sink) {
  if (enabled_) thread_ = std::thread([this] { Run(); });
}

Tracer::~Tracer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Tracer::Keep(const RequestTrace& trace) const {
  const Span& root = trace.spans().front();
  if (root.error || trace.parent_sampled()) return true;
  if (trace.duration_ns() > options_.slow_threshold_ms * 1'000'000) return true;
  if (options_.sample_ratio >= 1.0) return true;
  if (options_.sample_ratio <= 0.0) return false;
  // Deterministic in the trace id: the low 64 bits are uniformly random.
  const double unit = static_cast<double>(trace.trace_id().lo >> 11) * 0x1.0p-53;
  return unit < options_.sample_ratio;
}

void Tracer::Finish(RequestTrace&& trace) {
  if (!enabled_ || !trace.recording()) return;
  traces_finished_.fetch_add(1, std::memory_order_relaxed);
  if (!Keep(trace)) return;
  traces_kept_.fetch_add(1, std::memory_order_relaxed);
  std::vector<Span>& spans = trace.spans();
  size_t dropped = 0;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // All of a trace or none of it: a partial trace misleads more than a missing one.
    if (queue_.size() + spans.size() > options_.queue_spans) {
      dropped = spans.size();
    } else {
      for (Span& span : spans) queue_.push_back(std::move(span));
      wake = queue_.size() >= options_.batch_spans;
    }
  }
  if (dropped > 0) dropped_queue_full_.fetch_add(dropped, std::memory_order_relaxed);
  if (wake) cv_.notify_one();
}

void Tracer::Flush() {
  if (!enabled_) return;
  std::unique_lock<std::mutex> lock(mu_);
  flush_requested_ = true;
  cv_.notify_one();
  idle_cv_.wait(lock, [this] { return (queue_.empty() && !exporting_) || stop_; });
}

bool Tracer::FlushFor(int64_t timeout_ms) {
  if (!enabled_) return true;
  std::unique_lock<std::mutex> lock(mu_);
  flush_requested_ = true;
  cv_.notify_one();
  return idle_cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, timeout_ms)),
                           [this] { return (queue_.empty() && !exporting_) || stop_; }) &&
         queue_.empty() && !exporting_;
}

size_t Tracer::queued_spans() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

Tracer::Counters Tracer::counters() const {
  Counters c;
  c.traces_finished = traces_finished_.load(std::memory_order_relaxed);
  c.traces_kept = traces_kept_.load(std::memory_order_relaxed);
  c.spans_exported = spans_exported_.load(std::memory_order_relaxed);
  c.spans_dropped_queue_full = dropped_queue_full_.load(std::memory_order_relaxed);
  c.spans_dropped_export_failed = dropped_export_failed_.load(std::memory_order_relaxed);
  c.export_batches_failed = batches_failed_.load(std::memory_order_relaxed);
  return c;
}

void Tracer::RenderMetrics(std::string* out) const {
  Counters c = counters();
  RenderHeader(out, "pulse_trace_spans_exported_total", "counter", "Spans the collector accepted.");
  StrAppend(*out, "pulse_trace_spans_exported_total ", c.spans_exported, "\n");
  RenderHeader(out, "pulse_trace_spans_dropped_total", "counter",
               "Spans not exported, by reason (queue_full, export_failed).");
  StrAppend(*out, "pulse_trace_spans_dropped_total{reason=\"queue_full\"} ",
            c.spans_dropped_queue_full, "\n");
  StrAppend(*out, "pulse_trace_spans_dropped_total{reason=\"export_failed\"} ",
            c.spans_dropped_export_failed, "\n");
  RenderHeader(out, "pulse_traces_total", "counter",
               "Finished request traces, by decision (kept, sampled_out).");
  StrAppend(*out, "pulse_traces_total{decision=\"kept\"} ", c.traces_kept, "\n");
  StrAppend(*out, "pulse_traces_total{decision=\"sampled_out\"} ",
            c.traces_finished - c.traces_kept, "\n");
}

std::string Tracer::ToOtlpJson(const std::vector<Span>& spans, std::string_view service_name) {
  nlohmann::json out_spans = nlohmann::json::array();
  for (const Span& span : spans) {
    nlohmann::json attributes = nlohmann::json::array();
    for (const auto& [key, value] : span.attributes) {
      attributes.push_back({{"key", key}, {"value", AttrJson(value)}});
    }
    nlohmann::json s = {{"traceId", TraceIdHex(span.trace_id)},
                        {"spanId", SpanIdHex(span.span_id)},
                        {"name", span.name},
                        {"kind", static_cast<int>(span.kind)},
                        {"startTimeUnixNano", std::to_string(span.start_unix_ns)},
                        {"endTimeUnixNano", std::to_string(span.end_unix_ns)},
                        {"attributes", std::move(attributes)},
                        // STATUS_CODE_ERROR = 2, STATUS_CODE_UNSET = 0
                        {"status", {{"code", span.error ? 2 : 0}}}};
    if (span.parent_span_id != 0) s["parentSpanId"] = SpanIdHex(span.parent_span_id);
    if (!span.status_message.empty()) s["status"]["message"] = span.status_message;
    out_spans.push_back(std::move(s));
  }
  nlohmann::json request = {
      {"resourceSpans",
       {{{"resource",
          {{"attributes",
            {{{"key", "service.name"}, {"value", {{"stringValue", std::string(service_name)}}}}}}}},
         {"scopeSpans", {{{"scope", {{"name", "pulse"}}}, {"spans", std::move(out_spans)}}}}}}}};
  return request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool Tracer::Export(const std::string& body) {
  if (options_.sink) return options_.sink(body);
  try {
    httplib::Client client(options_.endpoint);
    const time_t secs = static_cast<time_t>(options_.export_timeout_ms / 1000);
    const time_t usecs = static_cast<time_t>((options_.export_timeout_ms % 1000) * 1000);
    client.set_connection_timeout(secs, usecs);
    client.set_read_timeout(secs, usecs);
    client.set_write_timeout(secs, usecs);
    auto result = client.Post("/v1/traces", body, "application/json");
    return result && result->status >= 200 && result->status < 300;
  } catch (const std::exception&) {
    return false;  // a malformed endpoint: httplib may throw on a bad URL
  }
}

void Tracer::Run() {
  const auto interval = std::chrono::milliseconds(std::max<int64_t>(1, options_.flush_interval_ms));
  std::vector<Span> batch;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    // A batch goes out when it is full, when the interval passes, or on Flush/stop.
    cv_.wait_for(lock, interval, [this] {
      return stop_ || flush_requested_ || queue_.size() >= options_.batch_spans;
    });
    if (queue_.empty()) {
      flush_requested_ = false;
      idle_cv_.notify_all();
      if (stop_) return;
      continue;
    }
    const size_t take = std::min(queue_.size(), std::max<size_t>(1, options_.batch_spans));
    batch.clear();
    for (size_t i = 0; i < take; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    exporting_ = true;
    lock.unlock();
    const bool ok = Export(ToOtlpJson(batch, options_.service_name));
    if (ok) {
      spans_exported_.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
      dropped_export_failed_.fetch_add(batch.size(), std::memory_order_relaxed);
      batches_failed_.fetch_add(1, std::memory_order_relaxed);
      LOG_RATE_LIMITED(LogLevel::kWarn, "obs", "trace_export_failed",
                       "exporting a span batch failed; spans dropped (collector slow or absent?)");
    }
    lock.lock();
    exporting_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

Tracer& GlobalTracer() {
  static Tracer* disabled = [] {
    // The tracer's counters render whichever tracer is installed, from the first use on.
    DefaultMetricsRegistry().Register([](std::string* out) { GlobalTracer().RenderMetrics(out); });
    return new Tracer(TracerOptions{});
  }();
  Tracer* installed = g_tracer.load(std::memory_order_acquire);
  return installed != nullptr ? *installed : *disabled;
}

void SetGlobalTracer(std::unique_ptr<Tracer> tracer) {
  // Requests may still hold the previous tracer: flush it, but keep it alive (once per process
  // in practice; tests install a few).
  GlobalTracer();  // registers the metrics collector
  static std::mutex mu;
  static std::vector<std::unique_ptr<Tracer>>* retired = new std::vector<std::unique_ptr<Tracer>>();
  std::lock_guard<std::mutex> lock(mu);
  Tracer* previous = g_tracer.exchange(tracer.get(), std::memory_order_acq_rel);
  if (previous != nullptr) previous->Flush();
  retired->push_back(std::move(tracer));
}

}  // namespace pulse::obs
