#include "api/dashboard.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "api/fake_pulse_service.h"
#include "api/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"

namespace pulse::api {
namespace {

using ::pulse::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

// ---- Ring ----

TEST(RingTest, KeepsTheNewestCapacityElementsOldestFirst) {
  Ring<int> ring(3);
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.capacity(), 3u);
  ring.Push(1);
  ring.Push(2);
  ASSERT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring[0], 1);
  EXPECT_EQ(ring.back(), 2);
  for (int i = 3; i <= 7; ++i) ring.Push(i);
  ASSERT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring[0], 5);
  EXPECT_EQ(ring[1], 6);
  EXPECT_EQ(ring[2], 7);
  EXPECT_EQ(ring.back(), 7);
}

TEST(RingTest, ZeroCapacityHoldsOne) {
  Ring<int> ring(0);
  ring.Push(1);
  ring.Push(2);
  ASSERT_EQ(ring.size(), 1u);
  EXPECT_EQ(ring[0], 2);
}

// ---- Exposition ----

TEST(ExpositionTest, ParsesSamplesLabelsAndFamilies) {
  Exposition e = Exposition::Parse(
      "# HELP pulse_requests_total Requests.\n"
      "# TYPE pulse_requests_total counter\n"
      "pulse_requests_total{method=\"recommend\",code=\"OK\"} 10\n"
      "pulse_requests_total{method=\"recommend\",code=\"INTERNAL\"} 2\n"
      "pulse_requests_total{method=\"publish_events\",code=\"OK\"} 5 1700000000000\n"
      "pulse_odd{text=\"a \\\"quoted\\\" \\\\ value\\n\",} +Inf\r\n"
      "# TYPE pulse_empty_total counter\n"
      "plain_gauge -1.5e3\n");
  EXPECT_EQ(e.malformed_lines(), 0u);
  ASSERT_EQ(e.samples().size(), 5u);
  EXPECT_EQ(e.Sum("pulse_requests_total"), 17);
  EXPECT_EQ(e.Sum("pulse_requests_total", {{"method", "recommend"}}), 12);
  EXPECT_EQ(e.Sum("pulse_requests_total", {{"method", "recommend"}, {"code", "OK"}}), 10);
  EXPECT_EQ(e.Sum("pulse_requests_total", {{"method", "nope"}}), std::nullopt);
  EXPECT_EQ(e.Sum("plain_gauge"), -1500);
  EXPECT_TRUE(std::isinf(*e.Sum("pulse_odd")));
  EXPECT_EQ(e.samples()[3].labels[0].second, "a \"quoted\" \\ value\n");
  EXPECT_TRUE(e.HasFamily("pulse_empty_total"));  // declared, no samples yet
  EXPECT_TRUE(e.HasFamily("plain_gauge"));
  EXPECT_FALSE(e.HasFamily("pulse_requests"));
  EXPECT_FALSE(e.HasFamily("pulse_cache_hits_total"));
}

TEST(ExpositionTest, SkipsMalformedLinesAndKeepsTheFirstOfADuplicate) {
  Exposition e = Exposition::Parse(
      "no_value\n"
      "9starts_with_digit 1\n"
      "bad{label=unquoted} 1\n"
      "bad{label=\"unterminated} 1\n"
      "bad{=\"x\"} 1\n"
      "bad 1x\n"
      "bad{a=\"1\"}1\n"
      "good{a=\"1\"} 1\n"
      "good{a=\"1\"} 100\n"
      "\n   \n");
  EXPECT_EQ(e.malformed_lines(), 7u);
  EXPECT_EQ(e.Sum("good"), 1);
  EXPECT_FALSE(e.HasFamily("bad"));
}

TEST(ExpositionTest, SurvivesHostileText) {
  std::string text;
  uint64_t state = 11;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const char alphabet[] = "pulse_{}=\",\\ \n#0.9eE+-Inf";
    text.push_back(alphabet[(state >> 33) % (sizeof(alphabet) - 1)]);
  }
  Exposition e = Exposition::Parse(text);
  EXPECT_GT(e.malformed_lines(), 0u);
  EXPECT_EQ(Exposition::Parse("").samples().size(), 0u);
  EXPECT_EQ(Exposition::Parse(std::string(1 << 16, '{')).samples().size(), 0u);
}

TEST(ExpositionTest, HistogramBucketsSumAcrossOtherLabels) {
  Exposition e = Exposition::Parse(
      "h_bucket{method=\"a\",le=\"0.1\"} 1\n"
      "h_bucket{method=\"a\",le=\"+Inf\"} 3\n"
      "h_bucket{method=\"b\",le=\"0.1\"} 10\n"
      "h_bucket{method=\"b\",le=\"+Inf\"} 10\n"
      "h_sum{method=\"a\"} 1\n"
      "h_count{method=\"a\"} 3\n");
  EXPECT_TRUE(e.HasFamily("h"));
  std::vector<Bucket> a = e.Buckets("h", {{"method", "a"}});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].upper_bound, 0.1);
  EXPECT_EQ(a[0].count, 1);
  EXPECT_TRUE(std::isinf(a[1].upper_bound));
  EXPECT_EQ(a[1].count, 3);
  std::vector<Bucket> all = e.Buckets("h");
  EXPECT_EQ(all[0].count, 11);
  EXPECT_EQ(all[1].count, 13);
  EXPECT_TRUE(e.Buckets("missing").empty());
}

// ---- quantiles ----

TEST(HistogramQuantileTest, InterpolatesInsideTheBucketLikePrometheus) {
  const double inf = std::numeric_limits<double>::infinity();
  // 10 observations <= 1, 10 more in (1, 2], none above.
  std::vector<Bucket> buckets = {{1, 10}, {2, 20}, {inf, 20}};
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, buckets), 1.0);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.25, buckets), 0.5);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.75, buckets), 1.5);
  EXPECT_DOUBLE_EQ(*HistogramQuantile(1.0, buckets), 2.0);
  // Ranks in the +Inf bucket answer the largest finite bound.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.99, {{1, 1}, {inf, 100}}), 1.0);
  EXPECT_EQ(HistogramQuantile(0.5, {{1, 0}, {inf, 0}}), std::nullopt);
  EXPECT_EQ(HistogramQuantile(0.5, {}), std::nullopt);
  EXPECT_EQ(HistogramQuantile(1.5, buckets), std::nullopt);
  EXPECT_EQ(HistogramQuantile(0.5, {{inf, 4}}), std::nullopt);
}

TEST(HistogramQuantileTest, BucketDeltaSubtractsAndHandlesResets) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Bucket> then = {{1, 5}, {inf, 8}};
  std::vector<Bucket> now = {{1, 7}, {inf, 12}};
  std::vector<Bucket> delta = BucketDelta(now, then);
  ASSERT_EQ(delta.size(), 2u);
  EXPECT_EQ(delta[0].count, 2);
  EXPECT_EQ(delta[1].count, 4);
  std::vector<Bucket> reset = BucketDelta({{1, 1}, {inf, 1}}, then);
  EXPECT_EQ(reset[1].count, 1);
  EXPECT_EQ(BucketDelta(now, {})[1].count, 12);  // a bucket that was not there counts from 0
}

// ---- StatsCollector ----

// The exposition a test controls, as the collector's render function sees it.
struct FakeMetrics {
  double ok = 0, internal = 0, invalid = 0, fallbacks = 0, events = 0;
  // recommend latency: observations <= 5 ms, <= 50 ms, above.
  double fast = 0, slow = 0, slower = 0;
  std::string extra;  // appended verbatim (metrics other components add later)

  std::string Render() const {
    return StrCat(
        "# TYPE pulse_requests_total counter\n"
        "pulse_requests_total{method=\"recommend\",code=\"OK\"} ",
        ok, "\npulse_requests_total{method=\"recommend\",code=\"INTERNAL\"} ", internal,
        "\npulse_requests_total{method=\"recommend\",code=\"INVALID_ARGUMENT\"} ", invalid,
        "\npulse_requests_total{method=\"publish_events\",code=\"INTERNAL\"} 1000\n"
        "# TYPE pulse_request_duration_seconds histogram\n"
        "pulse_request_duration_seconds_bucket{method=\"recommend\",le=\"0.005\"} ",
        fast, "\npulse_request_duration_seconds_bucket{method=\"recommend\",le=\"0.05\"} ",
        fast + slow, "\npulse_request_duration_seconds_bucket{method=\"recommend\",le=\"+Inf\"} ",
        fast + slow + slower,
        "\npulse_request_duration_seconds_bucket{method=\"other\",le=\"+Inf\"} 99999\n"
        "# TYPE pulse_events_ingested_total counter\n"
        "pulse_events_ingested_total{source=\"http\"} ",
        events,
        "\n# TYPE pulse_feature_freshness_seconds histogram\n"
        "# TYPE pulse_fallback_total counter\n"
        "pulse_fallback_total{reason=\"feature_store_unavailable\"} ",
        fallbacks, "\n", extra);
  }
};

class StatsCollectorTest : public ::testing::Test {
 protected:
  StatsCollectorTest()
      : collector_([this] { return metrics_.Render(); }, &service_, Options(), &clock_) {}

  static StatsOptions Options() {
    StatsOptions options;
    options.interval_ms = 1000;
    options.window_ms = 2000;
    options.capacity = 5;
    return options;
  }

  json Stats(size_t points = 0) {
    json stats = json::parse(collector_.ToJson(points), nullptr, false);
    EXPECT_TRUE(stats.is_object()) << collector_.ToJson(points);
    return stats;
  }

  void Tick() {
    clock_.AdvanceMillis(1000);
    collector_.SampleNow();
  }

  FakeMetrics metrics_;
  testing::FakePulseService service_;
  pulse::testing::FakeClock clock_;
  StatsCollector collector_;
};

TEST_F(StatsCollectorTest, EmptyRingIsValidJson) {
  json stats = Stats();
  EXPECT_EQ(stats["t"].size(), 0u);
  EXPECT_EQ(stats["interval_ms"], 1000);
  EXPECT_EQ(stats["capacity"], 5);
  EXPECT_TRUE(stats["model_version"].is_null());  // the fake is not ready
  EXPECT_TRUE(stats["top_items"].is_null());      // the fake has no top items
  EXPECT_EQ(stats["available"]["rps"], false);
  for (const auto& [name, values] : stats["series"].items()) EXPECT_EQ(values.size(), 0u) << name;
}

TEST_F(StatsCollectorTest, DerivesRatesAndQuantilesOverTheWindow) {
  service_.SetReady(true);
  collector_.SampleNow();  // the first sample has nothing to compare with: no rates yet
  metrics_.ok = 18;
  metrics_.internal = 2;
  metrics_.invalid = 5;  // the client's fault: not an error
  metrics_.fast = 20;
  metrics_.slow = 4;
  metrics_.slower = 1;
  metrics_.fallbacks = 5;
  metrics_.events = 40;
  Tick();
  json stats = Stats();
  EXPECT_EQ(stats["model_version"], "m1");
  ASSERT_EQ(stats["t"].size(), 2u);
  EXPECT_EQ(stats["t"][1].get<int64_t>() - stats["t"][0].get<int64_t>(), 1000);
  const json& s = stats["series"];
  EXPECT_TRUE(s["rps"][0].is_null());
  EXPECT_DOUBLE_EQ(s["rps"][1].get<double>(), 25);  // 25 recommend requests in 1 s
  EXPECT_DOUBLE_EQ(s["error_rate"][1].get<double>(), 0.08);
  EXPECT_DOUBLE_EQ(s["events_per_s"][1].get<double>(), 40);
  EXPECT_DOUBLE_EQ(s["fallback_share"][1].get<double>(), 0.2);
  // 25 observations: rank 12.5 of 20 in (0, 5 ms] → 3.125 ms; rank 24.75 in (50 ms, +Inf).
  EXPECT_NEAR(s["p50_ms"][1].get<double>(), 3.125, 1e-3);
  EXPECT_NEAR(s["p99_ms"][1].get<double>(), 50, 1e-3);
  EXPECT_TRUE(s["freshness_p99_s"][1].is_null());  // declared, nothing observed
  EXPECT_TRUE(stats["available"]["freshness_p99_s"].get<bool>());

  // Over a 2 s window: one more second without traffic halves the rate.
  Tick();
  stats = Stats();
  EXPECT_DOUBLE_EQ(stats["series"]["rps"][2].get<double>(), 12.5);
  // Then the window holds no traffic at all: rate 0, quantiles and ratios have no value.
  Tick();
  stats = Stats();
  EXPECT_DOUBLE_EQ(stats["series"]["rps"][3].get<double>(), 0);
  EXPECT_TRUE(stats["series"]["p99_ms"][3].is_null());
  EXPECT_TRUE(stats["series"]["error_rate"][3].is_null());
}

TEST_F(StatsCollectorTest, RingKeepsCapacityAndPointsLimitsTheAnswer) {
  for (int i = 0; i < 8; ++i) Tick();
  EXPECT_EQ(collector_.size(), 5u);
  json stats = Stats();
  ASSERT_EQ(stats["t"].size(), 5u);
  EXPECT_EQ(stats["t"][4].get<int64_t>(), clock_.NowMillis());
  json last_two = Stats(2);
  ASSERT_EQ(last_two["t"].size(), 2u);
  EXPECT_EQ(last_two["t"][1], stats["t"][4]);
  for (const auto& [name, values] : last_two["series"].items()) {
    EXPECT_EQ(values.size(), 2u) << name;
  }
}

TEST_F(StatsCollectorTest, MetricsThatAppearLaterAreReadByName) {
  Tick();
  Tick();
  json stats = Stats();
  EXPECT_FALSE(stats["available"]["cache_hit_rate"].get<bool>());
  EXPECT_FALSE(stats["available"]["breakers"].get<bool>());
  EXPECT_FALSE(stats["available"]["slo_budget"].get<bool>());
  EXPECT_FALSE(stats["available"]["psi"].get<bool>());
  EXPECT_FALSE(stats["available"]["feature_violations_per_s"].get<bool>());
  EXPECT_TRUE(stats["series"]["cache_hit_rate"][1].is_null());
  EXPECT_TRUE(stats["breakers"].empty());

  // Another component starts exporting: no change to the collector.
  metrics_.extra =
      "# TYPE pulse_cache_hits_total counter\npulse_cache_hits_total 0\n"
      "# TYPE pulse_cache_misses_total counter\npulse_cache_misses_total 0\n"
      "# TYPE pulse_circuit_state gauge\n"
      "pulse_circuit_state{dependency=\"redis\"} 0\npulse_circuit_state{dependency=\"ann\"} 1\n"
      "# TYPE pulse_slo_error_budget_remaining gauge\n"
      "pulse_slo_error_budget_remaining{slo=\"availability\"} 0.75\n"
      "# TYPE pulse_feature_violations_total counter\n"
      "pulse_feature_violations_total{feature=\"score\"} 4\n"
      "# TYPE pulse_feature_psi gauge\n";
  Tick();
  metrics_.extra =
      "pulse_cache_hits_total{cache=\"user\"} 30\npulse_cache_misses_total{cache=\"user\"} 10\n"
      "pulse_circuit_state{dependency=\"redis\"} 2\n"
      "pulse_slo_error_budget_remaining{slo=\"availability\"} 0.5\n"
      "pulse_feature_violations_total{feature=\"score\"} 10\n"
      "pulse_feature_violations_total{feature=\"popularity\"} 4\n"
      "pulse_feature_psi{feature=\"score\"} 0.3\n";
  Tick();
  stats = Stats();
  EXPECT_TRUE(stats["available"]["cache_hit_rate"].get<bool>());
  EXPECT_TRUE(stats["available"]["breakers"].get<bool>());
  EXPECT_TRUE(stats["available"]["slo_budget"].get<bool>());
  EXPECT_DOUBLE_EQ(stats["series"]["cache_hit_rate"][3].get<double>(), 0.75);
  ASSERT_EQ(stats["breakers"]["redis"].size(), 4u);
  EXPECT_TRUE(stats["breakers"]["redis"][1].is_null());
  EXPECT_EQ(stats["breakers"]["redis"][2], 0);
  EXPECT_EQ(stats["breakers"]["redis"][3], 2);
  EXPECT_EQ(stats["breakers"]["ann"][2], 1);
  EXPECT_TRUE(stats["breakers"]["ann"][3].is_null());  // gone from the exposition
  EXPECT_EQ(stats["slo_budget"]["availability"][3], 0.5);
  EXPECT_TRUE(stats["available"]["psi"].get<bool>());
  EXPECT_TRUE(stats["psi"]["score"][2].is_null());  // declared, no window compared yet
  EXPECT_EQ(stats["psi"]["score"][3], 0.3);
  // 4 at t2 (first seen: counted from 0), 14 at t3; each over the 2 s window before it.
  EXPECT_DOUBLE_EQ(stats["series"]["feature_violations_per_s"][2].get<double>(), 2);
  EXPECT_DOUBLE_EQ(stats["series"]["feature_violations_per_s"][3].get<double>(), 7);
}

TEST_F(StatsCollectorTest, StartedCollectorSamplesAndStopsPromptly) {
  StatsOptions options;
  options.interval_ms = 10;
  StatsCollector collector([this] { return metrics_.Render(); }, &service_, options);
  collector.Start();
  collector.Start();                // idempotent
  EXPECT_GE(collector.size(), 1u);  // the first sample is taken by Start itself
  // The thread adds more; wait for one without timing assumptions.
  while (collector.size() < 2) std::this_thread::yield();
  collector.Stop();
  collector.Stop();
  EXPECT_GE(collector.size(), 2u);
}

// ---- assets ----

TEST(WebAssetsTest, EmbedsThePageAndReferencesNoOtherHost) {
  std::vector<std::string> names;
  for (const WebAsset& asset : WebAssets()) {
    names.emplace_back(asset.name);
    EXPECT_FALSE(asset.body.empty()) << asset.name;
    // No third-party URLs: no scheme, no protocol-relative "//host" in src/href/url()/fetch.
    EXPECT_EQ(asset.body.find("http://"), std::string_view::npos) << asset.name;
    EXPECT_EQ(asset.body.find("https://"), std::string_view::npos) << asset.name;
    for (std::string_view ref :
         {"src=\"//", "href=\"//", "url(//", "url(\"//", "fetch('//", "import ", "@import"}) {
      EXPECT_EQ(asset.body.find(ref), std::string_view::npos) << asset.name << ": " << ref;
    }
  }
  EXPECT_THAT(names, ElementsAre("app.js", "index.html", "style.css"));
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("style.css"), "text/css; charset=utf-8");
}

// ---- over HTTP ----

class DashboardHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.http_threads = 2;
    server_ = std::make_unique<HttpServer>(service_, config, &metrics_);
    ASSERT_THAT(server_->Start("127.0.0.1:0"), IsOk());
  }
  httplib::Client Client() {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_read_timeout(10);
    return client;
  }

  testing::FakePulseService service_;
  RequestMetrics metrics_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(DashboardHttpTest, ServesThePageWithTypeCachingAndPolicyHeaders) {
  auto res = Client().Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-cache");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_THAT(res->get_header_value("Content-Security-Policy"), HasSubstr("default-src 'none'"));
  EXPECT_THAT(res->body, HasSubstr("/dashboard/app.js"));
  EXPECT_THAT(res->body, HasSubstr("id=\"model-version\""));
  const std::string etag = res->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());

  auto again = Client().Get("/", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());

  auto js = Client().Get("/dashboard/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_THAT(js->body, HasSubstr("/v1/admin/stats"));
  EXPECT_NE(js->get_header_value("ETag"), etag);
  auto css = Client().Get("/dashboard/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");

  auto missing = Client().Get("/dashboard/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr("NOT_FOUND"));
  // The dashboard's own requests are not API traffic.
  EXPECT_EQ(metrics_.RequestCount("unknown", "NOT_FOUND"), 0u);
}

TEST_F(DashboardHttpTest, StatsEndpointAnswersJsonAndValidatesPoints) {
  service_.SetReady(true);
  auto res = Client().Get("/v1/admin/stats");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store");
  json stats = json::parse(res->body, nullptr, false);
  ASSERT_TRUE(stats.is_object()) << res->body;
  EXPECT_EQ(stats["model_version"], "m1");
  EXPECT_TRUE(stats["series"].contains("p99_ms"));
  EXPECT_TRUE(stats["available"]["rps"].get<bool>());  // the server's own request metrics

  for (std::string bad : {"0", "-1", "abc", "601", "1e3", ""}) {
    auto r = Client().Get("/v1/admin/stats?points=" + bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_THAT(r->body, HasSubstr("points must be an integer between 1 and 600"));
  }
  auto one = Client().Get("/v1/admin/stats?points=1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_LE(json::parse(one->body)["t"].size(), 1u);
}

TEST_F(DashboardHttpTest, OtherMethodsAndRoutesAreLeftToTheRouter) {
  auto post = Client().Post("/", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
  auto del = Client().Delete("/v1/admin/stats");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 404);
  auto health = Client().Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace pulse::api
