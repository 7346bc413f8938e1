// Observability against real tools: a real Prometheus server (Debian `prometheus`, installed by
// scripts/setup.sh) scrapes `pulse serve` and evaluates deploy/prometheus/pulse-rules.yml; its
// HTTP API must then answer `up` and pulse_ metrics. The Grafana dashboard
// (deploy/grafana/pulse.json) may only reference metric names the server exports or the rules
// record.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"
#include "tests/integration/harness.h"

namespace pulse::integration {
namespace {

using nlohmann::json;

std::string SourceDir() { return PULSE_SOURCE_DIR; }

// Every non-test .cc/.h under `dir`, concatenated.
std::string SourceText(const std::string& dir) {
  std::string all;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string path = entry.path().string();
    if (!entry.is_regular_file() || path.ends_with("_test.cc")) continue;
    if (!path.ends_with(".cc") && !path.ends_with(".h")) continue;
    all += testing::ReadFile(path);
  }
  return all;
}

std::string FindPrometheus() {
  for (const char* path : {"/usr/bin/prometheus", "/usr/local/bin/prometheus"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

class PrometheusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const std::string data_dir = dir_->Sub("data");
    ASSERT_EQ(PrepareTrainedDataDir(dir_->path(), data_dir, 200, 150, 5000, 9), "");
    std::string error;
    // A non-default SLO target: the rules must take it from the server, not assume the default.
    testing::WriteFile(dir_->Sub("pulse.yaml"), "obs:\n  slo:\n    latency_target: 0.95\n");
    server_ = ServerProcess::Start(
                  {"serve", "--data-dir", data_dir, "--config", dir_->Sub("pulse.yaml")}, &error)
                  .release();
    ASSERT_NE(server_, nullptr) << error;
    ASSERT_TRUE(WaitReady(server_->http_port())) << server_->Output();
    // Some traffic, so request and stage series exist.
    httplib::Client client("127.0.0.1", server_->http_port());
    for (int i = 0; i < 5; ++i) {
      auto res = client.Post("/v1/recommend", StrCat(R"({"user_id":"u)", i, R"(","n":5})"),
                             "application/json");
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200);
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }

  static std::string Metrics() {
    httplib::Client client("127.0.0.1", server_->http_port());
    auto res = client.Get("/metrics");
    EXPECT_TRUE(res);
    return res ? res->body : "";
  }

  static testing::TempDir* dir_;
  static ServerProcess* server_;
};

testing::TempDir* PrometheusTest::dir_ = nullptr;
ServerProcess* PrometheusTest::server_ = nullptr;

TEST_F(PrometheusTest, ExposesRedUseStageProcessAndSloMetrics) {
  const std::string text = Metrics();
  for (const char* needle : {
           "pulse_requests_total{method=\"recommend\",code=\"OK\"} 5\n",
           "pulse_request_duration_seconds_count{method=\"recommend\"} 5\n",
           "pulse_pool_threads{pool=\"http\"}",
           "pulse_pool_threads{pool=\"grpc\"}",
           "pulse_pool_queue_wait_seconds_bucket{pool=\"http\",le=\"+Inf\"}",
           "pulse_stage_duration_seconds_count{stage=\"ann\"} 5\n",
           "pulse_stage_duration_seconds_count{stage=\"total\"} 5\n",
           "pulse_candidates_total{source=\"ann\"}",
           "pulse_event_writer_pending_events ",
           "process_resident_memory_bytes ",
           "process_open_fds ",
           "process_threads ",
           "process_cpu_seconds_total ",
           "pulse_slo_burn_rate{slo=\"availability\",window=\"5m\"} 0\n",
           "pulse_slo_error_budget_remaining{slo=\"latency\"}",
           "pulse_trace_spans_dropped_total{reason=\"queue_full\"} 0\n",
           "pulse_model_version_info{version=",
       }) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle;
  }
  // One HELP/TYPE block per family, as the text format requires.
  std::set<std::string> families;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    std::string name = line.substr(7, line.find(' ', 7) - 7);
    EXPECT_TRUE(families.insert(name).second) << "duplicate TYPE for " << name;
  }
}

TEST_F(PrometheusTest, DashboardReferencesOnlyExportedMetrics) {
  std::ifstream in(SourceDir() + "/deploy/grafana/pulse.json");
  ASSERT_TRUE(in) << SourceDir();
  json dashboard = json::parse(in, nullptr, false);
  ASSERT_TRUE(dashboard.is_object()) << "deploy/grafana/pulse.json is not valid JSON";

  // Families the server exports (from its TYPE lines) and series names the rules record.
  const std::string text = Metrics();
  std::set<std::string> exported;
  std::map<std::string, std::string> types;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    std::istringstream fields(line.substr(7));
    std::string name, type;
    fields >> name >> type;
    types[name] = type;
    exported.insert(name);
    if (type == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) exported.insert(name + suffix);
    }
  }
  std::ifstream rules_in(SourceDir() + "/deploy/prometheus/pulse-rules.yml");
  std::string rules((std::istreambuf_iterator<char>(rules_in)), std::istreambuf_iterator<char>());
  std::regex record_re(R"(record:\s*([a-zA-Z_:][a-zA-Z0-9_:]*))");
  for (std::sregex_iterator it(rules.begin(), rules.end(), record_re), end; it != end; ++it) {
    exported.insert((*it)[1]);
  }

  // Families other components define (src/resilience/, the cache; CONTRACT.md names them) that
  // `pulse serve` does not register yet. Each must at least appear in the sources, so this list
  // cannot hide a typo; once served, the scrape above covers them.
  const std::string sources = SourceText(SourceDir() + "/src");
  for (const char* family :
       {"pulse_admission_rejected_total", "pulse_admission_in_flight", "pulse_concurrency_limit",
        "pulse_cache_hits_total", "pulse_cache_misses_total", "pulse_circuit_state"}) {
    EXPECT_NE(sources.find(StrCat("\"", family)), std::string::npos) << family;
    exported.insert(family);
  }

  std::regex metric_re(R"((pulse[a-z0-9_:]*|process_[a-z0-9_]+))");
  int exprs = 0;
  std::set<std::string> referenced;
  for (const json& panel : dashboard["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const json& target : panel["targets"]) {
      const std::string expr = target["expr"];
      ++exprs;
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric_re), end; it != end; ++it) {
        referenced.insert((*it)[1]);
        EXPECT_TRUE(exported.count((*it)[1]))
            << panel["title"] << ": " << (*it)[1] << " is not exported (expr " << expr << ")";
      }
    }
  }
  EXPECT_GE(exprs, 30);
  // The dashboard covers the families the issue asks for.
  for (const char* family :
       {"pulse_requests_total", "pulse_request_duration_seconds_bucket", "pulse_pool_busy_threads",
        "pulse_pool_queue_depth", "pulse_stage_duration_seconds_bucket",
        "pulse_feature_freshness_seconds_bucket", "pulse_fallback_total", "pulse_cache_hits_total",
        "pulse_circuit_state", "pulse_slo_burn_rate"}) {
    EXPECT_TRUE(referenced.count(family)) << family;
  }
}

// A real Prometheus: scrapes the server every second, loads the SLO rules, answers queries.
TEST_F(PrometheusTest, RealPrometheusScrapesTheServer) {
  const std::string prometheus = FindPrometheus();
  if (prometheus.empty()) GTEST_SKIP() << "prometheus is not installed (scripts/setup.sh)";
  const int port = testing::FreePort();
  const std::string config = dir_->Sub("prometheus.yml");
  testing::WriteFile(
      config,
      StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n", "rule_files: [\"",
             SourceDir(), "/deploy/prometheus/pulse-rules.yml\"]\n",
             "scrape_configs:\n  - job_name: pulse\n",
             "    static_configs: [{targets: [\"127.0.0.1:", server_->http_port(), "\"]}]\n"));
  std::filesystem::create_directories(dir_->Sub("tsdb"));
  const std::string log = dir_->Sub("prometheus.log");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stderr);
    (void)out;
    const std::string storage = "--storage.tsdb.path=" + dir_->Sub("tsdb");
    const std::string listen = StrCat("--web.listen-address=127.0.0.1:", port);
    const std::string config_flag = "--config.file=" + config;
    execl(prometheus.c_str(), prometheus.c_str(), config_flag.c_str(), storage.c_str(),
          listen.c_str(), "--log.level=warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  auto stop = [pid] {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
  };

  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  client.set_read_timeout(2);
  // Polls an instant query until it returns a sample (bounded: Prometheus scrapes every second).
  auto query = [&client](const std::string& promql) -> json {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      auto res =
          client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
      if (res && res->status == 200) {
        json body = json::parse(res->body, nullptr, false);
        if (body.is_object() && body["status"] == "success" && !body["data"]["result"].empty()) {
          return body["data"]["result"];
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // poll interval, not timing
    }
    return json();
  };

  json up = query("up{job=\"pulse\"} == 1");
  ASSERT_FALSE(up.is_null()) << "no successful scrape; prometheus log:\n" << testing::ReadFile(log);
  EXPECT_EQ(up[0]["value"][1], "1");
  json requests = query("pulse_requests_total{job=\"pulse\",method=\"recommend\",code=\"OK\"}");
  ASSERT_FALSE(requests.is_null());
  EXPECT_EQ(requests[0]["value"][1], "5");
  json process = query("process_resident_memory_bytes{job=\"pulse\"}");
  ASSERT_FALSE(process.is_null());
  EXPECT_GT(std::stod(process[0]["value"][1].get<std::string>()), 1e6);
  // The rules loaded: Prometheus lists all their groups.
  auto rules = client.Get("/api/v1/rules");
  ASSERT_TRUE(rules);
  json groups = json::parse(rules->body, nullptr, false)["data"]["groups"];
  ASSERT_TRUE(groups.is_array()) << rules->body;
  EXPECT_EQ(groups.size(), 3u);  // recording, SLO alerts, drift alerts
  // The error budget the alerts compare with follows the server's configured target.
  json budget = query("pulse:slo_error_budget:ratio{slo=\"latency\"}");
  ASSERT_FALSE(budget.is_null()) << testing::ReadFile(log);
  EXPECT_NEAR(std::stod(budget[0]["value"][1].get<std::string>()), 0.05, 1e-9);
  stop();
}

}  // namespace
}  // namespace pulse::integration
