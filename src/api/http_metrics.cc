#include "api/http_metrics.h"

#include <charconv>

#include "core/strings.h"
#include "ingest/validator.h"

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

std::string_view EventSourceLabel(std::string_view source) {
  for (std::string_view known : RequestMetrics::kEventSources) {
    if (source == known) return known;
  }
  return "other";
}

std::string_view RejectLabel(std::string_view reason) {
  auto parsed = ingest::ParseRejectReason(reason);
  return ingest::RejectReasonLabel(parsed.value_or(ingest::RejectReason::kOther));
}

uint64_t Lookup(const std::map<std::string, uint64_t, std::less<>>& map, std::string_view key) {
  auto it = map.find(key);
  return it == map.end() ? 0 : it->second;
}

}  // namespace

void RequestMetrics::AddEventsIngested(std::string_view source, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  FindOrInsert(events_ingested_, EventSourceLabel(source)) += n;
}

void RequestMetrics::AddEventsRejected(std::string_view reason, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  FindOrInsert(events_rejected_, RejectLabel(reason)) += n;
}

uint64_t RequestMetrics::EventsIngested(std::string_view source) const {
  std::lock_guard<std::mutex> lock(mu_);
  return Lookup(events_ingested_, source);
}

uint64_t RequestMetrics::EventsRejected(std::string_view reason) const {
  std::lock_guard<std::mutex> lock(mu_);
  return Lookup(events_rejected_, reason);
}

void RequestMetrics::Record(std::string_view method, std::string_view code, double seconds) {
  size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
  std::lock_guard<std::mutex> lock(mu_);
  ++FindOrInsert(FindOrInsert(requests_, method), code);
  Histogram& histogram = FindOrInsert(durations_, method);
  if (bucket < kBuckets.size()) ++histogram.buckets[bucket];
  ++histogram.count;
  histogram.sum += seconds;
}

void RequestMetrics::Count(std::string_view method, std::string_view code) {
  std::lock_guard<std::mutex> lock(mu_);
  ++FindOrInsert(FindOrInsert(requests_, method), code);
}

uint64_t RequestMetrics::RequestCount(std::string_view method, std::string_view code) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto by_method = requests_.find(method);
  if (by_method == requests_.end()) return 0;
  auto it = by_method->second.find(code);
  return it == by_method->second.end() ? 0 : it->second;
}

std::string RequestMetrics::RenderPrometheus() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  out.append(
      "# HELP pulse_requests_total API requests finished, by method and status code.\n"
      "# TYPE pulse_requests_total counter\n");
  for (const auto& [method, codes] : requests_) {
    for (const auto& [code, count] : codes) {
      StrAppend(out, "pulse_requests_total{method=\"", EscapeLabel(method), "\",code=\"",
                EscapeLabel(code), "\"} ", count, "\n");
    }
  }
  out.append(
      "# HELP pulse_request_duration_seconds API request handling time, by method.\n"
      "# TYPE pulse_request_duration_seconds histogram\n");
  for (const auto& [method, histogram] : durations_) {
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
  out.append(
      "# HELP pulse_events_ingested_total Events accepted (durably written), by source.\n"
      "# TYPE pulse_events_ingested_total counter\n");
  for (const auto& [source, count] : events_ingested_) {
    StrAppend(out, "pulse_events_ingested_total{source=\"", EscapeLabel(source), "\"} ", count,
              "\n");
  }
  out.append(
      "# HELP pulse_events_rejected_total Events refused and dead-lettered, by reason.\n"
      "# TYPE pulse_events_rejected_total counter\n");
  for (const auto& [reason, count] : events_rejected_) {
    StrAppend(out, "pulse_events_rejected_total{reason=\"", EscapeLabel(reason), "\"} ", count,
              "\n");
  }
  return out;
}

RequestMetrics& DefaultRequestMetrics() {
  static RequestMetrics* metrics = new RequestMetrics();  // never destroyed: used at exit
  return *metrics;
}

}  // namespace pulse::api
