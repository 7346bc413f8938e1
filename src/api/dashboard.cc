#include "api/dashboard.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <unordered_set>

#include "api/json_api.h"
#include "core/strings.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace pulse::api {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr char kJsonType[] = "application/json";
constexpr std::string_view kAssetPrefix = "/dashboard/";
constexpr std::string_view kStatsPath = "/v1/admin/stats";
// The page may load only its own assets and talk only to its own server: even a tampered asset
// could not pull in a third-party script or send data elsewhere.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool ParseValue(std::string_view text, double* out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  return ParseDouble(text, out);
}

// Parses one sample line; false when it is malformed.
bool ParseSampleLine(std::string_view line, MetricSample* sample) {
  size_t pos = 0;
  if (line.empty() || !IsNameStart(line[0])) return false;
  while (pos < line.size() && IsNameChar(line[pos])) ++pos;
  sample->name = std::string(line.substr(0, pos));
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    while (true) {
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == ',')) ++pos;
      if (pos >= line.size()) return false;
      if (line[pos] == '}') {
        ++pos;
        break;
      }
      size_t name_start = pos;
      if (!IsNameStart(line[pos]) || line[pos] == ':') return false;
      while (pos < line.size() && IsNameChar(line[pos])) ++pos;
      std::string label(line.substr(name_start, pos - name_start));
      if (pos + 1 >= line.size() || line[pos] != '=' || line[pos + 1] != '"') return false;
      pos += 2;
      std::string value;
      bool closed = false;
      while (pos < line.size()) {
        char c = line[pos++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && pos < line.size()) {
          char escaped = line[pos++];
          value.push_back(escaped == 'n' ? '\n' : escaped);
        } else {
          value.push_back(c);
        }
      }
      if (!closed) return false;
      sample->labels.emplace_back(std::move(label), std::move(value));
    }
  }
  if (pos >= line.size() || (line[pos] != ' ' && line[pos] != '\t')) return false;
  std::string_view rest = Trim(line.substr(pos));
  size_t end = rest.find_first_of(" \t");  // an optional timestamp follows
  return ParseValue(rest.substr(0, end), &sample->value);
}

bool Matches(const Labels& labels, const Labels& match) {
  for (const auto& [key, value] : match) {
    auto it = std::find_if(labels.begin(), labels.end(),
                           [&key](const auto& label) { return label.first == key; });
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

const std::string* FindLabel(const Labels& labels, std::string_view key) {
  for (const auto& [name, value] : labels) {
    if (name == key) return &value;
  }
  return nullptr;
}

// A series key for the page: the label values ("redis", "availability/recommend").
std::string LabelKey(const Labels& labels, std::string_view fallback) {
  std::string key;
  for (const auto& [name, value] : labels) {
    if (!key.empty()) key.push_back('/');
    key.append(value);
  }
  return key.empty() ? std::string(fallback) : key;
}

// A recommend request failed on the server's side when the client saw a 5xx or 429; bad input
// (4xx) is the client's and spends no error budget.
bool IsServerError(std::string_view code_name) {
  for (int c = 0; c <= static_cast<int>(StatusCode::kUnauthenticated); ++c) {
    const StatusCode code = static_cast<StatusCode>(c);
    if (StatusCodeName(code) == code_name) {
      const int http = HttpStatusFor(code);
      return http >= 500 || http == 429;
    }
  }
  return code_name != "OK";  // an unknown name is not a success
}

// Families that carry an SLO's remaining error budget: pulse_slo_*budget*remaining*.
bool IsSloBudget(std::string_view name) {
  return name.starts_with("pulse_slo_") && name.find("budget") != std::string_view::npos &&
         name.find("remaining") != std::string_view::npos && !name.ends_with("_bucket") &&
         !name.ends_with("_sum") && !name.ends_with("_count");
}

void AppendNumber(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out.append("null");
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general, 6);
  out.append(buf, ec == std::errc() ? static_cast<size_t>(end - buf) : 0);
}

void AppendString(std::string& out, std::string_view text) {
  out.append(nlohmann::json(std::string(text))
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// The increase of a counter. One that was not exported at `then` started since, from zero.
std::optional<double> Delta(const std::optional<double>& now, const std::optional<double>& then) {
  if (!now) return std::nullopt;
  const double before = then.value_or(0);
  return *now >= before ? *now - before : *now;  // went down: the counter was reset
}

std::string ETagFor(std::string_view body) {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a: a content hash, not a security boundary
  for (unsigned char c : body) hash = (hash ^ c) * 1099511628211ULL;
  char hex[17];
  for (int i = 15; i >= 0; --i, hash >>= 4) hex[i] = "0123456789abcdef"[hash & 0xf];
  return StrCat("\"", std::string_view(hex, 16), "\"");
}

const WebAsset* FindAsset(std::string_view name) {
  for (const WebAsset& asset : WebAssets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

}  // namespace

// ---- Exposition ----

Exposition Exposition::Parse(std::string_view text) {
  Exposition exposition;
  std::unordered_set<std::string> seen;
  for (std::string_view line : Split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = Trim(line);
    if (line.empty()) continue;
    if (line.front() == '#') {
      constexpr std::string_view kType = "# TYPE ";
      if (line.starts_with(kType)) {
        std::string_view rest = line.substr(kType.size());
        exposition.families_.emplace_back(rest.substr(0, rest.find(' ')));
      }
      continue;
    }
    MetricSample sample;
    if (!ParseSampleLine(line, &sample)) {
      ++exposition.malformed_lines_;
      continue;
    }
    std::string key = sample.name;
    for (const auto& [name, value] : sample.labels) StrAppend(key, "\x01", name, "\x02", value);
    if (!seen.insert(std::move(key)).second) continue;
    exposition.samples_.push_back(std::move(sample));
  }
  return exposition;
}

bool Exposition::HasFamily(std::string_view family) const {
  if (std::find(families_.begin(), families_.end(), family) != families_.end()) return true;
  for (const MetricSample& sample : samples_) {
    std::string_view name = sample.name;
    if (!name.starts_with(family)) continue;
    std::string_view suffix = name.substr(family.size());
    if (suffix.empty() || suffix == "_bucket" || suffix == "_sum" || suffix == "_count") {
      return true;
    }
  }
  return false;
}

std::optional<double> Exposition::Sum(std::string_view name, const Labels& match) const {
  std::optional<double> sum;
  for (const MetricSample& sample : samples_) {
    if (sample.name == name && Matches(sample.labels, match)) sum = sum.value_or(0) + sample.value;
  }
  return sum;
}

std::vector<Bucket> Exposition::Buckets(std::string_view family, const Labels& match) const {
  const std::string name = StrCat(family, "_bucket");
  std::map<double, double> by_bound;
  for (const MetricSample& sample : samples_) {
    if (sample.name != name || !Matches(sample.labels, match)) continue;
    const std::string* le = FindLabel(sample.labels, "le");
    double bound = 0;
    if (le == nullptr || !ParseValue(*le, &bound) || std::isnan(bound)) continue;
    by_bound[bound] += sample.value;
  }
  std::vector<Bucket> buckets;
  buckets.reserve(by_bound.size());
  for (const auto& [bound, count] : by_bound) buckets.push_back({bound, count});
  return buckets;
}

std::optional<double> HistogramQuantile(double q, const std::vector<Bucket>& buckets) {
  if (buckets.empty() || !(q >= 0 && q <= 1)) return std::nullopt;
  const double total = buckets.back().count;
  if (!(total > 0)) return std::nullopt;
  const double rank = q * total;
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i].count < rank) continue;
    const double upper = buckets[i].upper_bound;
    if (std::isinf(upper)) {
      return i > 0 ? std::optional<double>(buckets[i - 1].upper_bound) : std::nullopt;
    }
    const double lower = i == 0 ? std::min(0.0, upper) : buckets[i - 1].upper_bound;
    const double below = i == 0 ? 0 : buckets[i - 1].count;
    const double in_bucket = buckets[i].count - below;
    if (in_bucket <= 0) return upper;
    return lower + (upper - lower) * (rank - below) / in_bucket;
  }
  return buckets.back().upper_bound;
}

std::vector<Bucket> BucketDelta(const std::vector<Bucket>& now, const std::vector<Bucket>& then) {
  std::vector<Bucket> delta;
  delta.reserve(now.size());
  for (const Bucket& bucket : now) {
    auto it = std::find_if(then.begin(), then.end(), [&bucket](const Bucket& b) {
      return b.upper_bound == bucket.upper_bound;
    });
    const double before = it == then.end() ? 0 : it->count;
    if (bucket.count < before) return now;  // reset: everything since the reset
    delta.push_back({bucket.upper_bound, bucket.count - before});
  }
  return delta;
}

// ---- StatsCollector ----

StatsCollector::StatsCollector(std::function<std::string()> render, serving::PulseService* service,
                               StatsOptions options, const Clock* clock)
    : render_(std::move(render)),
      service_(service),
      options_(options),
      clock_(clock != nullptr ? *clock : SystemClock::Get()),
      ring_(options.capacity) {}

StatsCollector::~StatsCollector() { Stop(); }

void StatsCollector::Start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  // The first sample is taken here, so the stats are never empty once the server answers.
  SampleNow();
  thread_ = std::thread([this] {
    const auto interval = std::chrono::milliseconds(std::max<int64_t>(1, options_.interval_ms));
    std::unique_lock<std::mutex> wait_lock(thread_mu_);
    while (!thread_cv_.wait_for(wait_lock, interval, [this] { return stop_; })) {
      wait_lock.unlock();
      SampleNow();
      wait_lock.lock();
    }
  });
}

void StatsCollector::Stop() {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stop_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t StatsCollector::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ring_.size();
}

void StatsCollector::SampleNow() {
  std::lock_guard<std::mutex> sample_lock(sample_mu_);
  const Exposition exposition = Exposition::Parse(render_ ? render_() : std::string());
  StatsSample sample = Derive(exposition, clock_.NowMillis());
  std::lock_guard<std::mutex> lock(mu_);
  ring_.Push(std::move(sample));
}

StatsSample StatsCollector::Derive(const Exposition& e, int64_t now_ms) {
  static const Labels kRecommend = {{"method", "recommend"}};
  StatsSample sample;
  sample.t_ms = now_ms;
  const bool has_requests = e.HasFamily("pulse_requests_total");
  const bool has_latency = e.HasFamily("pulse_request_duration_seconds");
  const bool has_events = e.HasFamily("pulse_events_ingested_total");
  const bool has_freshness = e.HasFamily("pulse_feature_freshness_seconds");
  const bool has_fallback = e.HasFamily("pulse_fallback_total");
  const bool has_cache = e.HasFamily("pulse_cache_hits_total");
  sample.available[kRps] = sample.available[kErrorRate] = has_requests;
  sample.available[kP50Ms] = sample.available[kP99Ms] = has_latency;
  sample.available[kEventsPerS] = has_events;
  sample.available[kFreshnessP99S] = has_freshness;
  sample.available[kFallbackShare] = has_fallback && has_requests;
  sample.available[kCacheHitRate] = has_cache;
  const bool has_violations = e.HasFamily("pulse_feature_violations_total");
  sample.available[kViolationsPerS] = has_violations;

  // A declared family without samples yet (nothing happened) counts as zero.
  auto counter = [&e](bool present, std::string_view name,
                      const Labels& match = {}) -> std::optional<double> {
    if (!present) return std::nullopt;
    return e.Sum(name, match).value_or(0);
  };
  Raw raw;
  raw.t_ms = now_ms;
  raw.requests = counter(has_requests, "pulse_requests_total", kRecommend);
  if (has_requests) {
    double errors = 0;
    for (const MetricSample& s : e.samples()) {
      if (s.name != "pulse_requests_total" || !Matches(s.labels, kRecommend)) continue;
      const std::string* code = FindLabel(s.labels, "code");
      if (code != nullptr && IsServerError(*code)) errors += s.value;
    }
    raw.errors = errors;
  }
  raw.events = counter(has_events, "pulse_events_ingested_total");
  raw.fallbacks = counter(has_fallback, "pulse_fallback_total");
  raw.cache_hits = counter(has_cache, "pulse_cache_hits_total");
  raw.cache_misses = counter(e.HasFamily("pulse_cache_misses_total"), "pulse_cache_misses_total");
  raw.violations = counter(has_violations, "pulse_feature_violations_total");
  raw.latency = e.Buckets("pulse_request_duration_seconds", kRecommend);
  raw.freshness = e.Buckets("pulse_feature_freshness_seconds");

  while (!window_.empty() && window_.front().t_ms < now_ms - options_.window_ms) {
    window_.pop_front();
  }
  if (!window_.empty() && window_.front().t_ms < now_ms) {
    const Raw& then = window_.front();
    const double seconds = static_cast<double>(now_ms - then.t_ms) / 1000.0;
    const std::optional<double> requests = Delta(raw.requests, then.requests);
    const bool served = requests && *requests > 0;
    if (requests) sample.values[kRps] = *requests / seconds;
    if (auto events = Delta(raw.events, then.events))
      sample.values[kEventsPerS] = *events / seconds;
    if (auto errors = Delta(raw.errors, then.errors); errors && served) {
      sample.values[kErrorRate] = std::min(1.0, *errors / *requests);
    }
    const std::vector<Bucket> latency = BucketDelta(raw.latency, then.latency);
    if (auto p50 = HistogramQuantile(0.5, latency)) sample.values[kP50Ms] = *p50 * 1000;
    if (auto p99 = HistogramQuantile(0.99, latency)) sample.values[kP99Ms] = *p99 * 1000;
    if (auto p99 = HistogramQuantile(0.99, BucketDelta(raw.freshness, then.freshness))) {
      sample.values[kFreshnessP99S] = *p99;
    }
    if (auto fallbacks = Delta(raw.fallbacks, then.fallbacks); fallbacks && served) {
      sample.values[kFallbackShare] = std::min(1.0, *fallbacks / *requests);
    }
    const std::optional<double> hits = Delta(raw.cache_hits, then.cache_hits);
    const double misses = Delta(raw.cache_misses, then.cache_misses).value_or(0);
    if (hits && *hits + misses > 0) sample.values[kCacheHitRate] = *hits / (*hits + misses);
    if (auto violations = Delta(raw.violations, then.violations)) {
      sample.values[kViolationsPerS] = *violations / seconds;
    }
  }
  window_.push_back(std::move(raw));

  sample.breakers_available = e.HasFamily("pulse_circuit_state");
  std::vector<std::string> slo_families;
  for (const MetricSample& s : e.samples()) {
    if (s.name == "pulse_circuit_state") {
      const std::string* dependency = FindLabel(s.labels, "dependency");
      sample.breakers.emplace_back(dependency ? *dependency : LabelKey(s.labels, "default"),
                                   s.value);
    } else if (s.name == "pulse_feature_psi") {
      const std::string* feature = FindLabel(s.labels, "feature");
      sample.psi.emplace_back(feature ? *feature : LabelKey(s.labels, "default"), s.value);
    } else if (IsSloBudget(s.name)) {
      if (std::find(slo_families.begin(), slo_families.end(), s.name) == slo_families.end()) {
        slo_families.push_back(s.name);
      }
      sample.slo_budget.emplace_back(LabelKey(s.labels, s.name), s.value);
    }
  }
  // Two budget families with the same labels: tell their series apart by family.
  if (slo_families.size() > 1) {
    size_t i = 0;
    for (const MetricSample& s : e.samples()) {
      if (!IsSloBudget(s.name)) continue;
      if (!s.labels.empty())
        sample.slo_budget[i].first = StrCat(s.name, ":", LabelKey(s.labels, ""));
      ++i;
    }
  }
  sample.psi_available = e.HasFamily("pulse_feature_psi");
  sample.slo_available = !slo_families.empty() ||
                         std::any_of(e.families().begin(), e.families().end(),
                                     [](const std::string& family) { return IsSloBudget(family); });
  return sample;
}

std::string StatsCollector::ToJson(size_t max_points) const {
  // Service calls first, outside the lock: they read the serving snapshot, never block long.
  const serving::Readiness readiness =
      service_ != nullptr ? service_->GetReadiness() : serving::Readiness{};
  Result<std::vector<serving::TopItem>> top =
      service_ != nullptr ? service_->TopItems(options_.top_items)
                          : Result<std::vector<serving::TopItem>>(UnimplementedError("none"));

  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  const size_t total = ring_.size();
  const size_t first = max_points > 0 && max_points < total ? total - max_points : 0;
  out.reserve(256 + (total - first) * (kNumStatsSeries + 1) * 10);
  StrAppend(out, "{\"now_ms\":", clock_.NowMillis(), ",\"interval_ms\":", options_.interval_ms,
            ",\"window_ms\":", options_.window_ms, ",\"capacity\":", ring_.capacity(),
            ",\"model_version\":");
  if (readiness.model_version.empty()) {
    out.append("null");
  } else {
    AppendString(out, readiness.model_version);
  }
  out.append(",\"t\":[");
  for (size_t i = first; i < total; ++i) StrAppend(out, i > first ? "," : "", ring_[i].t_ms);
  out.append("],\"series\":{");
  for (int s = 0; s < kNumStatsSeries; ++s) {
    StrAppend(out, s > 0 ? "," : "", "\"", kStatsSeriesNames[s], "\":[");
    for (size_t i = first; i < total; ++i) {
      if (i > first) out.push_back(',');
      AppendNumber(out, ring_[i].values[s]);
    }
    out.append("]");
  }
  // Availability is what the newest sample saw: a metric that appears later turns it on.
  const StatsSample empty;
  const StatsSample& newest = total > 0 ? ring_.back() : empty;
  out.append("},\"available\":{");
  for (int s = 0; s < kNumStatsSeries; ++s) {
    StrAppend(out, s > 0 ? "," : "", "\"", kStatsSeriesNames[s], "\":", newest.available[s]);
  }
  StrAppend(out, ",\"breakers\":", newest.breakers_available,
            ",\"slo_budget\":", newest.slo_available, ",\"psi\":", newest.psi_available, "}");
  // Keyed series (breakers, SLOs): one array per key, aligned with "t", null where absent.
  auto keyed = [&](const char* field, auto member) {
    std::map<std::string, std::vector<double>> by_key;
    for (size_t i = first; i < total; ++i) {
      for (const auto& [key, value] : ring_[i].*member) {
        auto [it, inserted] = by_key.try_emplace(key, total - first, kNaN);
        it->second[i - first] = value;
      }
    }
    StrAppend(out, ",\"", field, "\":{");
    bool first_key = true;
    for (const auto& [key, values] : by_key) {
      if (!first_key) out.push_back(',');
      first_key = false;
      AppendString(out, key);
      out.append(":[");
      for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendNumber(out, values[i]);
      }
      out.append("]");
    }
    out.append("}");
  };
  keyed("breakers", &StatsSample::breakers);
  keyed("slo_budget", &StatsSample::slo_budget);
  keyed("psi", &StatsSample::psi);
  out.append(",\"top_items\":");
  if (!top.ok()) {
    out.append("null");
  } else {
    out.append("[");
    for (size_t i = 0; i < top->size(); ++i) {
      const serving::TopItem& item = (*top)[i];
      out.append(i > 0 ? ",{\"item_id\":" : "{\"item_id\":");
      AppendString(out, item.item_id);
      out.append(",\"score\":");
      AppendNumber(out, item.score);
      out.append(",\"source\":");
      AppendString(out, item.source);
      out.append("}");
    }
    out.append("]");
  }
  out.append("}");
  return out;
}

// ---- Dashboard ----

std::string_view ContentTypeFor(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  if (name.ends_with(".json")) return "application/json";
  if (name.ends_with(".png")) return "image/png";
  return "application/octet-stream";
}

Dashboard::Dashboard(serving::PulseService& service, std::function<std::string()> render_metrics,
                     StatsOptions options)
    : stats_(std::move(render_metrics), &service, options) {
  stats_.Start();
}

bool Dashboard::Serve(const httplib::Request& req, httplib::Response& res) {
  if (req.method != "GET" && req.method != "HEAD") return false;
  std::string_view path = req.path;
  if (path == kStatsPath) {
    size_t points = 0;
    if (req.has_param("points")) {
      int64_t value = 0;
      if (!ParseInt64(req.get_param_value("points"), &value) || value < 1 ||
          static_cast<size_t>(value) > stats_.options().capacity) {
        res.status = 400;
        res.set_content(ErrorToJson(StatusCode::kInvalidArgument,
                                    StrCat("points must be an integer between 1 and ",
                                           stats_.options().capacity)),
                        kJsonType);
        return true;
      }
      points = static_cast<size_t>(value);
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(stats_.ToJson(points), kJsonType);
    return true;
  }
  std::string_view name;
  if (path == "/" || path == "/index.html") {
    name = "index.html";
  } else if (path.starts_with(kAssetPrefix)) {
    name = path.substr(kAssetPrefix.size());
  } else {
    return false;
  }
  const WebAsset* asset = FindAsset(name);
  if (asset == nullptr) {
    res.status = 404;
    res.set_content(ErrorToJson(StatusCode::kNotFound, "no such dashboard asset"), kJsonType);
    return true;
  }
  // Revalidate every time (cheap: a 304 without body) so a new binary's page is never stale.
  const std::string etag = ETagFor(asset->body);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("ETag", etag);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("Referrer-Policy", "no-referrer");
  const std::string if_none_match = req.get_header_value("If-None-Match");
  if (!if_none_match.empty() &&
      (if_none_match == "*" || if_none_match.find(etag) != std::string::npos)) {
    res.status = 304;
    return true;
  }
  res.set_content(asset->body.data(), asset->body.size(), std::string(ContentTypeFor(name)));
  return true;
}

}  // namespace pulse::api
