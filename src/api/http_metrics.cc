#include "api/http_metrics.h"

#include <charconv>

#include "core/strings.h"

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

}  // namespace

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
  return out;
}

RequestMetrics& DefaultRequestMetrics() {
  static RequestMetrics* metrics = new RequestMetrics();  // never destroyed: used at exit
  return *metrics;
}

}  // namespace pulse::api
