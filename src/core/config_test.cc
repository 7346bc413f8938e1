#include "core/config.h"

#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

TEST(ConfigTest, EmptyDocumentGivesDefaults) {
  auto config = ParseConfigYaml("");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->server.http_addr, "127.0.0.1:8080");
  EXPECT_EQ(config->server.grpc_addr, "127.0.0.1:50051");
  EXPECT_EQ(config->train.factors, 64);
  EXPECT_EQ(config->pipeline.default_n, 10);
}

TEST(ConfigTest, ReadsNestedValues) {
  auto config = ParseConfigYaml(R"(
data_dir: /tmp/x
server: {http_addr: "0.0.0.0:9000", http_threads: 4}
train: {factors: 32, regularization: 0.1}
pipeline:
  sources: [{name: ann, k: 50}, {name: popular, k: 20}]
  filters: [seen]
  scorer_weights: {popularity: 0.5}
)");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->data_dir, "/tmp/x");
  EXPECT_EQ(config->server.http_addr, "0.0.0.0:9000");
  EXPECT_EQ(config->server.http_threads, 4);
  EXPECT_EQ(config->train.factors, 32);
  EXPECT_DOUBLE_EQ(config->train.regularization, 0.1);
  ASSERT_EQ(config->pipeline.sources.size(), 2u);
  EXPECT_EQ(config->pipeline.sources[1].name, "popular");
  EXPECT_EQ(config->pipeline.sources[1].k, 20);
  EXPECT_EQ(config->pipeline.filters, std::vector<std::string>{"seen"});
  EXPECT_DOUBLE_EQ(config->pipeline.scorer_weights.at("popularity"), 0.5);
  EXPECT_DOUBLE_EQ(config->pipeline.scorer_weights.at("similarity"), 1.0);
}

TEST(ConfigTest, UnknownKeyIsNamed) {
  EXPECT_THAT(ParseConfigYaml("server: {http_adr: x}"),
              StatusIs(StatusCode::kInvalidArgument, "server.http_adr"));
  EXPECT_THAT(ParseConfigYaml("bogus: 1"), StatusIs(StatusCode::kInvalidArgument, "'bogus'"));
  EXPECT_THAT(ParseConfigYaml("pipeline: {sources: [{name: ann, kk: 3}]}"),
              StatusIs(StatusCode::kInvalidArgument, "pipeline.sources[0].kk"));
}

TEST(ConfigTest, WrongTypesAndRangesAreErrors) {
  EXPECT_THAT(ParseConfigYaml("train: {factors: many}"),
              StatusIs(StatusCode::kInvalidArgument, "train.factors: expected an integer"));
  EXPECT_THAT(ParseConfigYaml("server: {role: boss}"),
              StatusIs(StatusCode::kInvalidArgument, "server.role"));
  EXPECT_THAT(ParseConfigYaml("pipeline: {sources: []}"),
              StatusIs(StatusCode::kInvalidArgument, "pipeline.sources"));
  EXPECT_THAT(ParseConfigYaml("server: [1, 2]"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseConfigYaml("{{{"), StatusIs(StatusCode::kInvalidArgument, "invalid YAML"));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  EXPECT_THAT(LoadConfigFile("/nonexistent/pulse.yaml"), StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace pulse

namespace pulse {
namespace {

// docs/CONFIG.md opens with the whole configuration and its defaults: it must parse, and to the
// same values as an empty file.
TEST(ConfigDocsTest, DocumentedConfigurationParsesToTheDefaults) {
  std::string doc = testing::ReadFile(std::string(PULSE_SOURCE_DIR) + "/docs/CONFIG.md");
  size_t start = doc.find("```yaml\n");
  ASSERT_NE(start, std::string::npos);
  start += 8;
  size_t end = doc.find("```", start);
  ASSERT_NE(end, std::string::npos);
  auto documented = ParseConfigYaml(doc.substr(start, end - start));
  ASSERT_TRUE(documented.ok()) << documented.status().ToString();
  Config defaults;
  EXPECT_EQ(documented->data_dir, defaults.data_dir);
  EXPECT_EQ(documented->server.http_addr, defaults.server.http_addr);
  EXPECT_EQ(documented->server.max_body_bytes, defaults.server.max_body_bytes);
  EXPECT_EQ(documented->store.backend, defaults.store.backend);
  EXPECT_EQ(documented->redis.address, defaults.redis.address);
  EXPECT_EQ(documented->ingest.max_future_skew_ms, defaults.ingest.max_future_skew_ms);
  EXPECT_EQ(documented->ingest.max_event_age_ms, defaults.ingest.max_event_age_ms);
  EXPECT_EQ(documented->kafka.topic, defaults.kafka.topic);
  EXPECT_EQ(documented->train.factors, defaults.train.factors);
  EXPECT_DOUBLE_EQ(documented->train.alpha, defaults.train.alpha);
  EXPECT_DOUBLE_EQ(documented->train.regularization, defaults.train.regularization);
  EXPECT_EQ(documented->train.solver, defaults.train.solver);
  EXPECT_EQ(documented->index.hnsw_ef_search, defaults.index.hnsw_ef_search);
  ASSERT_EQ(documented->pipeline.sources.size(), defaults.pipeline.sources.size());
  for (size_t i = 0; i < defaults.pipeline.sources.size(); ++i) {
    EXPECT_EQ(documented->pipeline.sources[i].name, defaults.pipeline.sources[i].name);
    EXPECT_EQ(documented->pipeline.sources[i].k, defaults.pipeline.sources[i].k);
    EXPECT_EQ(documented->pipeline.sources[i].budget_ms, defaults.pipeline.sources[i].budget_ms);
  }
  EXPECT_EQ(documented->pipeline.filters, defaults.pipeline.filters);
  EXPECT_EQ(documented->pipeline.scorer_weights, defaults.pipeline.scorer_weights);
  EXPECT_EQ(documented->obs.access_log, defaults.obs.access_log);
  EXPECT_EQ(documented->obs.trace_endpoint, defaults.obs.trace_endpoint);
  EXPECT_DOUBLE_EQ(documented->obs.trace_sample_ratio, defaults.obs.trace_sample_ratio);
  EXPECT_EQ(documented->obs.trace_queue_spans, defaults.obs.trace_queue_spans);
  EXPECT_DOUBLE_EQ(documented->obs.slo_availability_target, defaults.obs.slo_availability_target);
  EXPECT_EQ(documented->obs.slo_latency_threshold_ms, defaults.obs.slo_latency_threshold_ms);
  EXPECT_EQ(documented->obs.slo_freshness_threshold_ms, defaults.obs.slo_freshness_threshold_ms);
}

TEST(ConfigTest, ObsSectionParsesAndValidates) {
  auto config = ParseConfigYaml(
      "obs:\n  access_log: true\n  tracing: {endpoint: \"http://127.0.0.1:4318\", "
      "sample_ratio: 1.0}\n  slo: {latency_threshold_ms: 50}\n");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->obs.access_log);
  EXPECT_EQ(config->obs.trace_endpoint, "http://127.0.0.1:4318");
  EXPECT_DOUBLE_EQ(config->obs.trace_sample_ratio, 1.0);
  EXPECT_EQ(config->obs.slo_latency_threshold_ms, 50);
  EXPECT_FALSE(ParseConfigYaml("obs:\n  tracing: {sample_ratio: 2}\n").ok());
  EXPECT_FALSE(ParseConfigYaml("obs:\n  tracing: {endpoint: \"localhost:4318\"}\n").ok());
  EXPECT_FALSE(ParseConfigYaml("obs:\n  slo: {availability_target: 1}\n").ok());
  EXPECT_FALSE(ParseConfigYaml("obs:\n  nonsense: 1\n").ok());
}

TEST(ConfigDocsTest, DocumentedCacheAndResilienceSectionsParseToTheDefaults) {
  std::string doc = testing::ReadFile(std::string(PULSE_SOURCE_DIR) + "/docs/CONFIG.md");
  size_t start = doc.find("```yaml\n") + 8;
  auto documented = ParseConfigYaml(doc.substr(start, doc.find("```", start) - start));
  ASSERT_TRUE(documented.ok()) << documented.status().ToString();
  const Config defaults;
  EXPECT_EQ(documented->cache.ttl_ms, defaults.cache.ttl_ms);
  EXPECT_DOUBLE_EQ(documented->cache.jitter, defaults.cache.jitter);
  EXPECT_EQ(documented->cache.max_entries, defaults.cache.max_entries);
  EXPECT_EQ(documented->cache.stale_ms, defaults.cache.stale_ms);
  const ResilienceConfig& r = documented->resilience;
  EXPECT_DOUBLE_EQ(r.rate_limit_rps, defaults.resilience.rate_limit_rps);
  EXPECT_DOUBLE_EQ(r.rate_limit_burst, defaults.resilience.rate_limit_burst);
  EXPECT_EQ(r.rate_limit_clients, defaults.resilience.rate_limit_clients);
  EXPECT_EQ(r.max_inflight_recommend, defaults.resilience.max_inflight_recommend);
  EXPECT_EQ(r.max_inflight_ingest, defaults.resilience.max_inflight_ingest);
  EXPECT_EQ(r.max_inflight_admin, defaults.resilience.max_inflight_admin);
  EXPECT_EQ(r.shed_latency_ms, defaults.resilience.shed_latency_ms);
  EXPECT_EQ(r.breaker_failures, defaults.resilience.breaker_failures);
  EXPECT_DOUBLE_EQ(r.breaker_failure_rate, defaults.resilience.breaker_failure_rate);
  EXPECT_EQ(r.breaker_min_calls, defaults.resilience.breaker_min_calls);
  EXPECT_EQ(r.breaker_window_ms, defaults.resilience.breaker_window_ms);
  EXPECT_EQ(r.breaker_open_ms, defaults.resilience.breaker_open_ms);
}

TEST(ConfigTest, CacheAndResilienceValuesAreChecked) {
  EXPECT_FALSE(ParseConfigYaml("cache: {jitter: 1.5}").ok());
  EXPECT_FALSE(ParseConfigYaml("cache: {ttl_ms: -1}").ok());
  EXPECT_FALSE(ParseConfigYaml("resilience: {rate_limit_rps: -3}").ok());
  EXPECT_FALSE(ParseConfigYaml("resilience: {breaker_failure_rate: 2}").ok());
  EXPECT_FALSE(ParseConfigYaml("resilience: {rate_limt_rps: 3}").ok());
  auto parsed = ParseConfigYaml("resilience: {rate_limit_rps: 50, rate_limit_burst: 100}");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_DOUBLE_EQ(parsed->resilience.rate_limit_rps, 50);
  EXPECT_DOUBLE_EQ(parsed->resilience.rate_limit_burst, 100);
}

TEST(ConfigTest, SourceBudgetIsOptionalAndBounded) {
  auto config =
      ParseConfigYaml("pipeline: {sources: [{name: ann, k: 5, budget_ms: 20}, {name: popular}]}");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->pipeline.sources[0].budget_ms, 20);
  EXPECT_EQ(config->pipeline.sources[1].budget_ms, 0);  // no budget of its own
  EXPECT_THAT(ParseConfigYaml("pipeline: {sources: [{name: ann, budget_ms: soon}]}"),
              StatusIs(StatusCode::kInvalidArgument, "pipeline.sources[0].budget_ms"));
  Config negative;
  negative.pipeline.sources[1].budget_ms = -1;
  EXPECT_THAT(ValidateConfig(negative),
              StatusIs(StatusCode::kInvalidArgument, "pipeline.sources[1].budget_ms"));
  Config huge;
  huge.pipeline.sources[0].budget_ms = 60'001;
  EXPECT_THAT(ValidateConfig(huge),
              StatusIs(StatusCode::kInvalidArgument, "pipeline.sources[0].budget_ms"));
}

}  // namespace
}  // namespace pulse
