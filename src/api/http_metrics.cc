#include "api/http_metrics.h"

#include <algorithm>
#include <charconv>

#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"
#include "obs/setup.h"
#include "obs/slo.h"

namespace pulse::api {
namespace {

// Label values are fixed names today; escaping keeps the exposition valid if that ever changes.
std::string EscapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

template <typename Map>
auto& FindOrInsert(Map& map, std::string_view key) {
  auto it = map.find(key);
  if (it == map.end()) it = map.emplace(std::string(key), typename Map::mapped_type{}).first;
  return it->second;
}

// The methods both front ends report (HTTP routes and gRPC methods), in render order.
constexpr std::array<std::string_view, 11> kMethods = {
    "delete_item",    "get_item", "get_user_features", "healthz", "list_dead_letters", "metrics",
    "publish_events", "readyz",   "recommend",         "unknown", "upsert_items"};

}  // namespace

RequestMetrics::RequestMetrics() : slots_(new Slot[kMethods.size()]), slot_count_(kMethods.size()) {
  for (size_t i = 0; i < kMethods.size(); ++i) slots_[i].method = kMethods[i];
}

RequestMetrics::~RequestMetrics() = default;

RequestMetrics::Slot* RequestMetrics::FindSlot(std::string_view method) const {
  for (size_t i = 0; i < slot_count_; ++i) {
    if (slots_[i].method == method) return &slots_[i];
  }
  return nullptr;
}

int RequestMetrics::CodeIndex(std::string_view code) {
  for (size_t i = 0; i < kCodes; ++i) {
    if (StatusCodeName(static_cast<StatusCode>(i)) == code) return static_cast<int>(i);
  }
  return -1;
}

void RequestMetrics::Record(std::string_view method, std::string_view code, double seconds) {
  size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
  const int code_index = CodeIndex(code);
  if (code_index >= 0) {
    obs::GlobalSlo().RecordRequest(method, static_cast<StatusCode>(code_index), seconds);
  }
  if (Slot* slot = FindSlot(method); slot != nullptr && code_index >= 0) {
    slot->codes[static_cast<size_t>(code_index)].fetch_add(1, std::memory_order_relaxed);
    if (bucket < kBuckets.size()) slot->buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    slot->count.fetch_add(1, std::memory_order_relaxed);
    slot->sum_ns.fetch_add(static_cast<uint64_t>(std::max(0.0, seconds) * 1e9),
                           std::memory_order_relaxed);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++FindOrInsert(FindOrInsert(requests_, method), code);
  Histogram& histogram = FindOrInsert(durations_, method);
  if (bucket < kBuckets.size()) ++histogram.buckets[bucket];
  ++histogram.count;
  histogram.sum += seconds;
}

void RequestMetrics::Count(std::string_view method, std::string_view code) {
  const int code_index = CodeIndex(code);
  if (Slot* slot = FindSlot(method); slot != nullptr && code_index >= 0) {
    slot->codes[static_cast<size_t>(code_index)].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++FindOrInsert(FindOrInsert(requests_, method), code);
}

uint64_t RequestMetrics::RequestCount(std::string_view method, std::string_view code) const {
  const int code_index = CodeIndex(code);
  if (Slot* slot = FindSlot(method); slot != nullptr && code_index >= 0) {
    return slot->codes[static_cast<size_t>(code_index)].load(std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto by_method = requests_.find(method);
  if (by_method == requests_.end()) return 0;
  auto it = by_method->second.find(code);
  return it == by_method->second.end() ? 0 : it->second;
}

std::string RequestMetrics::RenderPrometheus() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  // A snapshot of the lock-free slots merged with the rarely used maps, rendered in one order.
  auto requests = requests_;
  auto durations = durations_;
  for (size_t i = 0; i < slot_count_; ++i) {
    const Slot& slot = slots_[i];
    for (size_t c = 0; c < kCodes; ++c) {
      uint64_t n = slot.codes[c].load(std::memory_order_relaxed);
      if (n > 0) {
        requests[std::string(slot.method)]
                [std::string(StatusCodeName(static_cast<StatusCode>(c)))] += n;
      }
    }
    uint64_t count = slot.count.load(std::memory_order_relaxed);
    if (count == 0) continue;
    Histogram& histogram = durations[std::string(slot.method)];
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      histogram.buckets[b] += slot.buckets[b].load(std::memory_order_relaxed);
    }
    histogram.count += count;
    histogram.sum += static_cast<double>(slot.sum_ns.load(std::memory_order_relaxed)) / 1e9;
  }
  out.append(
      "# HELP pulse_requests_total API requests finished, by method and status code.\n"
      "# TYPE pulse_requests_total counter\n");
  for (const auto& [method, codes] : requests) {
    for (const auto& [code, count] : codes) {
      StrAppend(out, "pulse_requests_total{method=\"", EscapeLabel(method), "\",code=\"",
                EscapeLabel(code), "\"} ", count, "\n");
    }
  }
  out.append(
      "# HELP pulse_request_duration_seconds API request handling time, by method.\n"
      "# TYPE pulse_request_duration_seconds histogram\n");
  for (const auto& [method, histogram] : durations) {
    std::string label = EscapeLabel(method);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += histogram.buckets[i];
      // Fixed notation ("0.0005", not "5e-04"), as Prometheus clients print `le`.
      char le[32];
      auto [end, ec] = std::to_chars(le, le + sizeof(le), kBuckets[i], std::chars_format::fixed);
      StrAppend(out, "pulse_request_duration_seconds_bucket{method=\"", label, "\",le=\"",
                std::string_view(le, static_cast<size_t>(end - le)), "\"} ", cumulative, "\n");
    }
    StrAppend(out, "pulse_request_duration_seconds_bucket{method=\"", label, "\",le=\"+Inf\"} ",
              histogram.count, "\n");
    StrAppend(out, "pulse_request_duration_seconds_sum{method=\"", label, "\"} ", histogram.sum,
              "\n");
    StrAppend(out, "pulse_request_duration_seconds_count{method=\"", label, "\"} ", histogram.count,
              "\n");
  }
  return out;
}

bool IsTracedMethod(std::string_view method) {
  return !method.empty() && method != "metrics" && method != "healthz" && method != "readyz";
}

void FinishApiCall(std::optional<obs::RequestTrace>& trace, std::string_view protocol,
                   std::string_view method, const Status& status, double seconds, int http_status) {
  if (trace.has_value()) {
    if (trace->recording()) {
      obs::Span& root = trace->root();
      root.Set("rpc.system", std::string(protocol));
      root.Set("pulse.method", std::string(method));
      root.Set("pulse.code", std::string(StatusCodeName(status.code())));
      if (http_status > 0) root.Set("http.status_code", static_cast<int64_t>(http_status));
    }
    // Any failed call is kept whatever the sampling ratio (tail-style).
    trace->End(!status.ok(), status.message());
    obs::GlobalTracer().Finish(std::move(*trace));
  }
  if (obs::AccessLogEnabled()) {
    LogFields fields = {{"protocol", protocol},
                        {"method", method},
                        {"code", StatusCodeName(status.code())},
                        {"duration_ms", seconds * 1000.0}};
    if (http_status > 0) fields.emplace_back("http_status", static_cast<int64_t>(http_status));
    LogWithFields(LogLevel::kInfo, "access", "request", fields);
  }
}

RequestMetrics& DefaultRequestMetrics() {
  static RequestMetrics* metrics = new RequestMetrics();  // never destroyed: used at exit
  return *metrics;
}

}  // namespace pulse::api
