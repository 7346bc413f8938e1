#include "obs/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/strings.h"

namespace pulse::obs {

namespace {
std::vector<double> Sorted(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values;
}
}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(Sorted(std::move(upper_bounds))), buckets_(bounds_.size() + 1) {}

void Histogram::Observe(double value) {
  if (!std::isfinite(value)) return;
  size_t bucket = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                      bounds_.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double micro = std::max(0.0, value) * 1e6;
  sum_micro_.fetch_add(static_cast<uint64_t>(std::min(micro, 1e18)), std::memory_order_relaxed);
}

double Histogram::sum() const {
  return static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6;
}

void Histogram::Render(std::string* out, std::string_view name, std::string_view labels) const {
  const std::string_view sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::string le = i < bounds_.size() ? StrCat(bounds_[i]) : std::string("+Inf");
    StrAppend(*out, name, "_bucket{", labels, sep, "le=\"", le, "\"} ", cumulative, "\n");
  }
  const std::string braces = labels.empty() ? "" : StrCat("{", labels, "}");
  StrAppend(*out, name, "_sum", braces, " ", sum(), "\n");
  StrAppend(*out, name, "_count", braces, " ", count(), "\n");
}

void RenderHeader(std::string* out, std::string_view name, std::string_view type,
                  std::string_view help) {
  StrAppend(*out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

int MetricsRegistry::Register(Collector collector) {
  std::lock_guard<std::mutex> lock(mu_);
  int handle = next_handle_++;
  collectors_.emplace(handle, std::move(collector));
  return handle;
}

void MetricsRegistry::Unregister(int handle) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.erase(handle);
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [handle, collector] : collectors_) collector(&out);
  return out;
}

MetricsRegistry& DefaultMetricsRegistry() {
  static MetricsRegistry* registry = new MetricsRegistry();
  return *registry;
}

}  // namespace pulse::obs
