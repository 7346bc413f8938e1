// api/dashboard.h — the built-in dashboard (GET /) and the stats behind it
// (GET /v1/admin/stats), docs/DASHBOARD.md.
//
// What: the page and its assets are files under web/, embedded into the binary at build time
// (cmake/EmbedWebAssets.cmake → WebAssets()), so the dashboard needs nothing but the server: no
// CDN, no external URL (a test checks). The page polls GET /v1/admin/stats, a compact JSON time
// series kept by StatsCollector: every interval (1 s) it renders the same Prometheus text that
// GET /metrics serves, parses it, and derives rates over a trailing window (10 s): recommend RPS,
// error rate, p50/p99 latency, freshness p99, fallback share, cache hit rate, feature contract
// violations, plus the current breaker states, SLO budgets and feature drift (PSI), into a ring of
// the last `capacity` samples (10 minutes). Metrics are looked up by name in the exposition text,
// never through a component's struct, so a metric another component starts to export
// (pulse_cache_hits_total, pulse_circuit_state, pulse_slo_*budget*remaining*) appears on the
// dashboard without a change here; until then its series is reported unavailable and the page shows
// "n/a".
//
// Thread-safety: StatsCollector and Dashboard are safe to call from any thread; one background
// thread samples. Ownership: the render function and the service must outlive the Dashboard.
// Failure: malformed exposition lines are skipped (a collector bug never breaks the page); a
// service without top items (Unimplemented) reports "top_items": null.
// Latency: sampling renders and parses the registry once per interval, off the request path;
// GET /v1/admin/stats formats at most `capacity` samples under a short lock.
// NOTE: the dashboard's own requests are answered before routing and are not counted in
// pulse_requests_total, so watching the page does not move its RPS plot.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "serving/service.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace pulse::api {

// ---- embedded assets (defined in the generated web_assets.cc) ----

struct WebAsset {
  std::string_view name;  // path under web/, e.g. "index.html", "app.js"
  std::string_view body;
};
// Every file under web/, sorted by name.
std::span<const WebAsset> WebAssets();

// ---- Prometheus text parsing ----

using Labels = std::vector<std::pair<std::string, std::string>>;

struct MetricSample {
  std::string name;
  Labels labels;
  double value = 0;
};

// One cumulative histogram bucket: observations <= upper_bound (+Inf for the last).
struct Bucket {
  double upper_bound = 0;
  double count = 0;
};

// A parsed exposition (format 0.0.4). Parsing never fails: a malformed line is skipped and
// counted; a series (name + labels) that appears twice keeps its first value, so a collector
// rendered twice is not double counted.
class Exposition {
 public:
  static Exposition Parse(std::string_view text);

  // Whether a family of this name is declared (# TYPE) or has a sample; for a histogram, its
  // base name (pulse_request_duration_seconds).
  bool HasFamily(std::string_view family) const;
  // Sum of the samples named `name` whose labels include every pair of `match`; nullopt when
  // no sample matches.
  std::optional<double> Sum(std::string_view name, const Labels& match = {}) const;
  // The buckets of histogram `family` (its `_bucket` samples matching `match`, summed across
  // the other labels), sorted by upper bound; empty when there is none.
  std::vector<Bucket> Buckets(std::string_view family, const Labels& match = {}) const;
  const std::vector<MetricSample>& samples() const { return samples_; }
  // Family names declared by # TYPE lines, in order.
  const std::vector<std::string>& families() const { return families_; }
  size_t malformed_lines() const { return malformed_lines_; }

 private:
  std::vector<MetricSample> samples_;
  std::vector<std::string> families_;
  size_t malformed_lines_ = 0;
};

// The q-quantile (0..1) of cumulative buckets, interpolated linearly inside the bucket as
// Prometheus' histogram_quantile does (the lower edge of the first bucket is 0; a rank in the
// +Inf bucket answers the largest finite bound). nullopt when there are no observations.
std::optional<double> HistogramQuantile(double q, const std::vector<Bucket>& buckets);

// `now - then` per bucket (matched by bound). A counter that went down (a reset) answers `now`.
std::vector<Bucket> BucketDelta(const std::vector<Bucket>& now, const std::vector<Bucket>& then);

// ---- the ring buffer ----

// Fixed-capacity FIFO that overwrites its oldest element when full. Not thread-safe.
template <typename T>
class Ring {
 public:
  explicit Ring(size_t capacity) : items_(capacity == 0 ? 1 : capacity) {}
  void Push(T value) {
    items_[(head_ + size_) % items_.size()] = std::move(value);
    if (size_ < items_.size()) {
      ++size_;
    } else {
      head_ = (head_ + 1) % items_.size();
    }
  }
  size_t size() const { return size_; }
  size_t capacity() const { return items_.size(); }
  bool empty() const { return size_ == 0; }
  // i = 0 is the oldest element; i < size().
  const T& operator[](size_t i) const { return items_[(head_ + i) % items_.size()]; }
  const T& back() const { return (*this)[size_ - 1]; }

 private:
  std::vector<T> items_;
  size_t head_ = 0;  // index of the oldest element
  size_t size_ = 0;
};

// ---- the stats collector ----

// The plotted series, in the order of StatsSample::values and of kStatsSeriesNames.
enum StatsSeries : int {
  kRps = 0,         // recommend requests per second (HTTP + gRPC)
  kEventsPerS,      // events ingested per second
  kErrorRate,       // share of recommend requests that failed on the server's side
  kP50Ms,           // recommend latency, milliseconds
  kP99Ms,           //
  kFreshnessP99S,   // event time → feature visible, seconds
  kFallbackShare,   // pulse_fallback_total per recommend request
  kCacheHitRate,    // hits / (hits + misses)
  kViolationsPerS,  // feature contract violations per second (all features)
  kNumStatsSeries,
};
inline constexpr std::array<std::string_view, kNumStatsSeries> kStatsSeriesNames = {
    "rps",
    "events_per_s",
    "error_rate",
    "p50_ms",
    "p99_ms",
    "freshness_p99_s",
    "fallback_share",
    "cache_hit_rate",
    "feature_violations_per_s"};

struct StatsSample {
  int64_t t_ms = 0;
  // NaN: no value at this time (no traffic in the window, or the metric is not exported).
  std::array<double, kNumStatsSeries> values;
  // Whether each series' source metric is exported at all (false → "n/a" on the page).
  std::array<bool, kNumStatsSeries> available{};
  bool breakers_available = false;
  bool slo_available = false;
  bool psi_available = false;
  std::vector<std::pair<std::string, double>> breakers;    // dependency → pulse_circuit_state
  std::vector<std::pair<std::string, double>> slo_budget;  // SLO → budget remaining
  std::vector<std::pair<std::string, double>> psi;         // feature → pulse_feature_psi

  StatsSample() { values.fill(std::numeric_limits<double>::quiet_NaN()); }
};

struct StatsOptions {
  int64_t interval_ms = 1000;  // one sample per interval
  int64_t window_ms = 10000;   // rates and quantiles over this trailing window
  size_t capacity = 600;       // samples kept (10 minutes at 1 s)
  size_t top_items = 10;       // length of "top_items"
};

class StatsCollector {
 public:
  // `render` returns the Prometheus text of the process (what GET /metrics serves); `service`
  // answers the model version and top items. Both (not owned) must outlive the collector.
  StatsCollector(std::function<std::string()> render, serving::PulseService* service,
                 StatsOptions options = {}, const Clock* clock = nullptr);
  ~StatsCollector();  // Stop()s
  StatsCollector(const StatsCollector&) = delete;
  StatsCollector& operator=(const StatsCollector&) = delete;

  // Samples now and then every interval on a background thread, until Stop (idempotent).
  void Start();
  void Stop();

  // Takes one sample at the clock's time (what the thread does each interval; tests call it).
  void SampleNow();
  // The GET /v1/admin/stats body: the newest `max_points` samples (all when 0), column-wise
  // (docs/API.md).
  std::string ToJson(size_t max_points = 0) const;
  size_t size() const;
  const StatsOptions& options() const { return options_; }

 private:
  // The cumulative values a sample derives its rates from.
  struct Raw {
    int64_t t_ms = 0;
    std::optional<double> requests, errors, events, fallbacks, cache_hits, cache_misses, violations;
    std::vector<Bucket> latency, freshness;
  };
  StatsSample Derive(const Exposition& exposition, int64_t now_ms);

  const std::function<std::string()> render_;
  serving::PulseService* const service_;
  const StatsOptions options_;
  const Clock& clock_;

  mutable std::mutex mu_;
  Ring<StatsSample> ring_;  // guarded by mu_
  std::deque<Raw> window_;  // only the sampling caller touches it (serialized by sample_mu_)
  std::mutex sample_mu_;

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_ = false;
  std::thread thread_;
};

// ---- the HTTP side ----

// Serves GET|HEAD /, /dashboard/<asset> and /v1/admin/stats?points=N; owns a started
// StatsCollector. The HTTP server asks it first, before routing.
class Dashboard {
 public:
  Dashboard(serving::PulseService& service, std::function<std::string()> render_metrics,
            StatsOptions options = {});

  // True when the request was one of the dashboard's (the response is filled in); false leaves
  // it to the router. Never throws.
  bool Serve(const httplib::Request& req, httplib::Response& res);

  StatsCollector& stats() { return stats_; }

 private:
  StatsCollector stats_;
};

// The Content-Type of an asset, by its extension.
std::string_view ContentTypeFor(std::string_view name);

}  // namespace pulse::api
