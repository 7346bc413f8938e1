// obs/metrics.h — how components expose metrics.
//
// Each component keeps its metrics in one struct of its own (counters as atomics, histograms as
// obs::Histogram) and registers a Collector that renders them in the Prometheus text format.
// GET /metrics renders every registered collector of the registry it was given, so there is one
// exposition path and no component knows about HTTP. Label values come from fixed vocabularies
// (stage names, reason codes), never from request text.
//
// Thread-safety: Register/Unregister/Render may be called concurrently; collectors run under the
// registry's lock, so they must not call back into it. Histogram::Observe is lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pulse::obs {

// A cumulative histogram with fixed upper bounds (+Inf implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;
  // Appends `name_bucket{labels,le="…"}`, `name_sum{labels}`, `name_count{labels}` lines.
  // `labels` is either empty or `key="value",…` without braces.
  void Render(std::string* out, std::string_view name, std::string_view labels) const;

 private:
  const std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;  // non-cumulative; last = +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum in millionths, so it can be an atomic integer
};

// Appends the `# HELP` and `# TYPE` lines of a metric family.
void RenderHeader(std::string* out, std::string_view name, std::string_view type,
                  std::string_view help);

class MetricsRegistry {
 public:
  using Collector = std::function<void(std::string* out)>;
  // Returns a handle for Unregister. A component unregisters before it is destroyed.
  int Register(Collector collector);
  void Unregister(int handle);
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  int next_handle_ = 1;
  std::map<int, Collector> collectors_;
};

// The process-wide registry the servers render unless given another one (tests isolate theirs).
MetricsRegistry& DefaultMetricsRegistry();

}  // namespace pulse::obs
