#include "core/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "yaml-cpp/yaml.h"

namespace pulse {
namespace {

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Rejects keys of `node` (a map) outside `allowed`, naming the first unknown one.
Status CheckKeys(const YAML::Node& node, const std::string& path,
                 const std::set<std::string>& allowed) {
  if (!node.IsMap()) return InvalidArgumentError(StrCat(path, ": expected a mapping"));
  for (const auto& kv : node) {
    std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      return InvalidArgumentError(StrCat("unknown config key '", Join(path, key), "'"));
    }
  }
  return OkStatus();
}

template <typename T>
Status Read(const YAML::Node& parent, const std::string& path, const char* key, T* out,
            const char* type_name) {
  YAML::Node node = parent[key];
  if (!node) return OkStatus();
  if (!node.IsScalar()) {
    return InvalidArgumentError(StrCat(Join(path, key), ": expected ", type_name));
  }
  try {
    *out = node.as<T>();
  } catch (const YAML::Exception&) {
    return InvalidArgumentError(StrCat(Join(path, key), ": expected ", type_name));
  }
  return OkStatus();
}

Status ReadString(const YAML::Node& n, const std::string& p, const char* k, std::string* out) {
  return Read(n, p, k, out, "a string");
}
template <typename Int>
Status ReadInt(const YAML::Node& n, const std::string& p, const char* k, Int* out) {
  return Read(n, p, k, out, "an integer");
}
Status ReadDouble(const YAML::Node& n, const std::string& p, const char* k, double* out) {
  return Read(n, p, k, out, "a number");
}

Status ParseServer(const YAML::Node& node, ServerConfig* c) {
  const std::string p = "server";
  RETURN_IF_ERROR(
      CheckKeys(node, p,
                {"http_addr", "grpc_addr", "role", "max_body_bytes", "http_threads", "grpc_threads",
                 "grpc_max_streams", "model_poll_ms", "drain_timeout_ms", "default_deadline_ms"}));
  RETURN_IF_ERROR(ReadString(node, p, "http_addr", &c->http_addr));
  RETURN_IF_ERROR(ReadString(node, p, "grpc_addr", &c->grpc_addr));
  RETURN_IF_ERROR(ReadString(node, p, "role", &c->role));
  RETURN_IF_ERROR(ReadInt(node, p, "max_body_bytes", &c->max_body_bytes));
  RETURN_IF_ERROR(ReadInt(node, p, "http_threads", &c->http_threads));
  RETURN_IF_ERROR(ReadInt(node, p, "grpc_threads", &c->grpc_threads));
  RETURN_IF_ERROR(ReadInt(node, p, "grpc_max_streams", &c->grpc_max_streams));
  RETURN_IF_ERROR(ReadInt(node, p, "model_poll_ms", &c->model_poll_ms));
  RETURN_IF_ERROR(ReadInt(node, p, "drain_timeout_ms", &c->drain_timeout_ms));
  RETURN_IF_ERROR(ReadInt(node, p, "default_deadline_ms", &c->default_deadline_ms));
  return OkStatus();
}

Status ParseStore(const YAML::Node& node, StoreConfig* c) {
  const std::string p = "store";
  RETURN_IF_ERROR(CheckKeys(node, p, {"history_per_user", "backend"}));
  RETURN_IF_ERROR(ReadInt(node, p, "history_per_user", &c->history_per_user));
  RETURN_IF_ERROR(ReadString(node, p, "backend", &c->backend));
  return OkStatus();
}

Status ParseRedis(const YAML::Node& node, RedisConfig* c) {
  const std::string p = "redis";
  RETURN_IF_ERROR(
      CheckKeys(node, p,
                {"address", "connect_timeout_ms", "command_timeout_ms", "key_prefix", "pool_size",
                 "apply_batch_events", "max_apply_lag_events", "marker_check_ms"}));
  RETURN_IF_ERROR(ReadString(node, p, "address", &c->address));
  RETURN_IF_ERROR(ReadInt(node, p, "connect_timeout_ms", &c->connect_timeout_ms));
  RETURN_IF_ERROR(ReadInt(node, p, "command_timeout_ms", &c->command_timeout_ms));
  RETURN_IF_ERROR(ReadString(node, p, "key_prefix", &c->key_prefix));
  RETURN_IF_ERROR(ReadInt(node, p, "pool_size", &c->pool_size));
  RETURN_IF_ERROR(ReadInt(node, p, "apply_batch_events", &c->apply_batch_events));
  RETURN_IF_ERROR(ReadInt(node, p, "max_apply_lag_events", &c->max_apply_lag_events));
  RETURN_IF_ERROR(ReadInt(node, p, "marker_check_ms", &c->marker_check_ms));
  return OkStatus();
}

Status ParseIngest(const YAML::Node& node, IngestConfig* c) {
  const std::string p = "ingest";
  RETURN_IF_ERROR(CheckKeys(node, p,
                            {"max_future_skew_ms", "max_event_age_ms", "max_batch_events",
                             "max_pending_events", "dead_letter_max"}));
  RETURN_IF_ERROR(ReadInt(node, p, "max_future_skew_ms", &c->max_future_skew_ms));
  RETURN_IF_ERROR(ReadInt(node, p, "max_event_age_ms", &c->max_event_age_ms));
  RETURN_IF_ERROR(ReadInt(node, p, "max_batch_events", &c->max_batch_events));
  RETURN_IF_ERROR(ReadInt(node, p, "max_pending_events", &c->max_pending_events));
  RETURN_IF_ERROR(ReadInt(node, p, "dead_letter_max", &c->dead_letter_max));
  return OkStatus();
}

Status ParseKafka(const YAML::Node& node, KafkaConfig* c) {
  const std::string p = "kafka";
  RETURN_IF_ERROR(CheckKeys(
      node, p,
      {"brokers", "topic", "group_id", "batch_max_events", "poll_timeout_ms", "properties"}));
  RETURN_IF_ERROR(ReadString(node, p, "brokers", &c->brokers));
  RETURN_IF_ERROR(ReadString(node, p, "topic", &c->topic));
  RETURN_IF_ERROR(ReadString(node, p, "group_id", &c->group_id));
  RETURN_IF_ERROR(ReadInt(node, p, "batch_max_events", &c->batch_max_events));
  RETURN_IF_ERROR(ReadInt(node, p, "poll_timeout_ms", &c->poll_timeout_ms));
  if (YAML::Node props = node["properties"]) {
    const std::string pp = Join(p, "properties");
    if (!props.IsMap()) return InvalidArgumentError(StrCat(pp, ": expected a mapping"));
    for (const auto& kv : props) {
      std::string key = kv.first.as<std::string>();
      std::string value;
      RETURN_IF_ERROR(ReadString(props, pp, key.c_str(), &value));
      c->properties[key] = value;
    }
  }
  return OkStatus();
}

Status ParseObs(const YAML::Node& node, ObsConfig* c) {
  const std::string p = "obs";
  RETURN_IF_ERROR(CheckKeys(node, p, {"access_log", "log_rate_limit", "tracing", "slo"}));
  RETURN_IF_ERROR(Read(node, p, "access_log", &c->access_log, "a boolean"));
  if (YAML::Node n = node["log_rate_limit"]) {
    const std::string q = Join(p, "log_rate_limit");
    RETURN_IF_ERROR(CheckKeys(n, q, {"max_per_interval", "interval_ms"}));
    RETURN_IF_ERROR(ReadInt(n, q, "max_per_interval", &c->log_rate_limit));
    RETURN_IF_ERROR(ReadInt(n, q, "interval_ms", &c->log_rate_limit_interval_ms));
  }
  if (YAML::Node n = node["tracing"]) {
    const std::string q = Join(p, "tracing");
    RETURN_IF_ERROR(CheckKeys(n, q,
                              {"endpoint", "sample_ratio", "slow_ms", "queue_spans", "batch_spans",
                               "flush_ms", "shutdown_flush_ms"}));
    RETURN_IF_ERROR(ReadString(n, q, "endpoint", &c->trace_endpoint));
    RETURN_IF_ERROR(ReadDouble(n, q, "sample_ratio", &c->trace_sample_ratio));
    RETURN_IF_ERROR(ReadInt(n, q, "slow_ms", &c->trace_slow_ms));
    RETURN_IF_ERROR(ReadInt(n, q, "queue_spans", &c->trace_queue_spans));
    RETURN_IF_ERROR(ReadInt(n, q, "batch_spans", &c->trace_batch_spans));
    RETURN_IF_ERROR(ReadInt(n, q, "flush_ms", &c->trace_flush_ms));
    RETURN_IF_ERROR(ReadInt(n, q, "shutdown_flush_ms", &c->trace_shutdown_flush_ms));
  }
  if (YAML::Node n = node["slo"]) {
    const std::string q = Join(p, "slo");
    RETURN_IF_ERROR(CheckKeys(n, q,
                              {"availability_target", "latency_threshold_ms", "latency_target",
                               "freshness_threshold_ms", "freshness_target"}));
    RETURN_IF_ERROR(ReadDouble(n, q, "availability_target", &c->slo_availability_target));
    RETURN_IF_ERROR(ReadInt(n, q, "latency_threshold_ms", &c->slo_latency_threshold_ms));
    RETURN_IF_ERROR(ReadDouble(n, q, "latency_target", &c->slo_latency_target));
    RETURN_IF_ERROR(ReadInt(n, q, "freshness_threshold_ms", &c->slo_freshness_threshold_ms));
    RETURN_IF_ERROR(ReadDouble(n, q, "freshness_target", &c->slo_freshness_target));
  }
  return OkStatus();
}

Status ParseTrain(const YAML::Node& node, TrainConfig* c) {
  const std::string p = "train";
  RETURN_IF_ERROR(CheckKeys(node, p,
                            {"factors", "iterations", "regularization", "alpha", "threads", "seed",
                             "solver", "cg_steps", "ranker_min_rows", "eval_users", "schedule"}));
  RETURN_IF_ERROR(ReadInt(node, p, "factors", &c->factors));
  RETURN_IF_ERROR(ReadInt(node, p, "iterations", &c->iterations));
  RETURN_IF_ERROR(ReadDouble(node, p, "regularization", &c->regularization));
  RETURN_IF_ERROR(ReadDouble(node, p, "alpha", &c->alpha));
  RETURN_IF_ERROR(ReadInt(node, p, "threads", &c->threads));
  RETURN_IF_ERROR(ReadInt(node, p, "seed", &c->seed));
  RETURN_IF_ERROR(ReadString(node, p, "solver", &c->solver));
  RETURN_IF_ERROR(ReadInt(node, p, "cg_steps", &c->cg_steps));
  RETURN_IF_ERROR(ReadInt(node, p, "ranker_min_rows", &c->ranker_min_rows));
  RETURN_IF_ERROR(ReadInt(node, p, "eval_users", &c->eval_users));
  if (YAML::Node schedule = node["schedule"]) {
    const std::string sp = "train.schedule";
    RETURN_IF_ERROR(CheckKeys(
        schedule, sp, {"interval_s", "min_new_events", "threads", "nice", "keep_versions"}));
    RETURN_IF_ERROR(ReadInt(schedule, sp, "interval_s", &c->schedule.interval_s));
    RETURN_IF_ERROR(ReadInt(schedule, sp, "min_new_events", &c->schedule.min_new_events));
    RETURN_IF_ERROR(ReadInt(schedule, sp, "threads", &c->schedule.threads));
    RETURN_IF_ERROR(ReadInt(schedule, sp, "nice", &c->schedule.nice));
    RETURN_IF_ERROR(ReadInt(schedule, sp, "keep_versions", &c->schedule.keep_versions));
  }
  return OkStatus();
}

Status ParseIndex(const YAML::Node& node, IndexConfig* c) {
  const std::string p = "index";
  RETURN_IF_ERROR(CheckKeys(node, p,
                            {"type", "hnsw_m", "hnsw_ef_construction", "hnsw_ef_search",
                             "ivf_nlist", "ivf_nprobe", "ivf_target_recall", "ivf_recall_k"}));
  RETURN_IF_ERROR(ReadString(node, p, "type", &c->type));
  RETURN_IF_ERROR(ReadInt(node, p, "hnsw_m", &c->hnsw_m));
  RETURN_IF_ERROR(ReadInt(node, p, "hnsw_ef_construction", &c->hnsw_ef_construction));
  RETURN_IF_ERROR(ReadInt(node, p, "hnsw_ef_search", &c->hnsw_ef_search));
  RETURN_IF_ERROR(ReadInt(node, p, "ivf_nlist", &c->ivf_nlist));
  RETURN_IF_ERROR(ReadInt(node, p, "ivf_nprobe", &c->ivf_nprobe));
  RETURN_IF_ERROR(ReadDouble(node, p, "ivf_target_recall", &c->ivf_target_recall));
  RETURN_IF_ERROR(ReadInt(node, p, "ivf_recall_k", &c->ivf_recall_k));
  return OkStatus();
}

Status ParsePipeline(const YAML::Node& node, PipelineConfig* c) {
  const std::string p = "pipeline";
  RETURN_IF_ERROR(CheckKeys(
      node, p,
      {"sources", "filters", "scorer_weights", "max_per_category", "default_n", "max_n",
       "fold_in_items", "user_state_memo_entries", "feature_log_sample", "fault_injection"}));
  if (YAML::Node sources = node["sources"]) {
    if (!sources.IsSequence()) return InvalidArgumentError("pipeline.sources: expected a list");
    c->sources.clear();
    for (size_t i = 0; i < sources.size(); ++i) {
      std::string sp = StrCat(p, ".sources[", i, "]");
      RETURN_IF_ERROR(CheckKeys(sources[i], sp, {"name", "k", "budget_ms"}));
      CandidateSourceConfig source;
      RETURN_IF_ERROR(ReadString(sources[i], sp, "name", &source.name));
      RETURN_IF_ERROR(ReadInt(sources[i], sp, "k", &source.k));
      RETURN_IF_ERROR(ReadInt(sources[i], sp, "budget_ms", &source.budget_ms));
      if (source.name.empty()) return InvalidArgumentError(StrCat(sp, ".name: required"));
      c->sources.push_back(std::move(source));
    }
  }
  if (YAML::Node filters = node["filters"]) {
    if (!filters.IsSequence()) return InvalidArgumentError("pipeline.filters: expected a list");
    c->filters.clear();
    for (size_t i = 0; i < filters.size(); ++i) {
      if (!filters[i].IsScalar()) {
        return InvalidArgumentError(StrCat("pipeline.filters[", i, "]: expected a name"));
      }
      c->filters.push_back(filters[i].as<std::string>());
    }
  }
  if (YAML::Node weights = node["scorer_weights"]) {
    const std::string wp = "pipeline.scorer_weights";
    RETURN_IF_ERROR(CheckKeys(weights, wp, {"similarity", "popularity", "freshness"}));
    for (const auto& kv : weights) {
      std::string key = kv.first.as<std::string>();
      double value = 0;
      RETURN_IF_ERROR(ReadDouble(weights, wp, key.c_str(), &value));
      c->scorer_weights[key] = value;
    }
  }
  RETURN_IF_ERROR(ReadInt(node, p, "max_per_category", &c->max_per_category));
  RETURN_IF_ERROR(ReadInt(node, p, "default_n", &c->default_n));
  RETURN_IF_ERROR(ReadInt(node, p, "max_n", &c->max_n));
  RETURN_IF_ERROR(ReadInt(node, p, "fold_in_items", &c->fold_in_items));
  RETURN_IF_ERROR(ReadInt(node, p, "user_state_memo_entries", &c->user_state_memo_entries));
  RETURN_IF_ERROR(ReadDouble(node, p, "feature_log_sample", &c->feature_log_sample));
  if (YAML::Node fault = node["fault_injection"]) {
    const std::string fp = "pipeline.fault_injection";
    RETURN_IF_ERROR(CheckKeys(fault, fp, {"delay_source", "delay_ms"}));
    RETURN_IF_ERROR(ReadString(fault, fp, "delay_source", &c->fault_injection.delay_source));
    RETURN_IF_ERROR(ReadInt(fault, fp, "delay_ms", &c->fault_injection.delay_ms));
  }
  return OkStatus();
}

Status ParseCache(const YAML::Node& node, CacheConfig* c) {
  const std::string p = "cache";
  RETURN_IF_ERROR(CheckKeys(node, p, {"ttl_ms", "jitter", "max_entries", "stale_ms"}));
  RETURN_IF_ERROR(ReadInt(node, p, "ttl_ms", &c->ttl_ms));
  RETURN_IF_ERROR(ReadDouble(node, p, "jitter", &c->jitter));
  RETURN_IF_ERROR(ReadInt(node, p, "max_entries", &c->max_entries));
  RETURN_IF_ERROR(ReadInt(node, p, "stale_ms", &c->stale_ms));
  return OkStatus();
}

Status ParseResilience(const YAML::Node& node, ResilienceConfig* c) {
  const std::string p = "resilience";
  RETURN_IF_ERROR(CheckKeys(
      node, p,
      {"rate_limit_rps", "rate_limit_burst", "rate_limit_clients", "max_inflight_recommend",
       "max_inflight_ingest", "max_inflight_admin", "shed_latency_ms", "breaker_failures",
       "breaker_failure_rate", "breaker_min_calls", "breaker_window_ms", "breaker_open_ms"}));
  RETURN_IF_ERROR(ReadDouble(node, p, "rate_limit_rps", &c->rate_limit_rps));
  RETURN_IF_ERROR(ReadDouble(node, p, "rate_limit_burst", &c->rate_limit_burst));
  RETURN_IF_ERROR(ReadInt(node, p, "rate_limit_clients", &c->rate_limit_clients));
  RETURN_IF_ERROR(ReadInt(node, p, "max_inflight_recommend", &c->max_inflight_recommend));
  RETURN_IF_ERROR(ReadInt(node, p, "max_inflight_ingest", &c->max_inflight_ingest));
  RETURN_IF_ERROR(ReadInt(node, p, "max_inflight_admin", &c->max_inflight_admin));
  RETURN_IF_ERROR(ReadInt(node, p, "shed_latency_ms", &c->shed_latency_ms));
  RETURN_IF_ERROR(ReadInt(node, p, "breaker_failures", &c->breaker_failures));
  RETURN_IF_ERROR(ReadDouble(node, p, "breaker_failure_rate", &c->breaker_failure_rate));
  RETURN_IF_ERROR(ReadInt(node, p, "breaker_min_calls", &c->breaker_min_calls));
  RETURN_IF_ERROR(ReadInt(node, p, "breaker_window_ms", &c->breaker_window_ms));
  RETURN_IF_ERROR(ReadInt(node, p, "breaker_open_ms", &c->breaker_open_ms));
  return OkStatus();
}

// Ranges of the cache and resilience sections.
Status ValidateResilience(const Config& c) {
  auto bad = [](std::string msg) { return InvalidArgumentError(std::move(msg)); };
  if (c.cache.ttl_ms < 0) return bad("cache.ttl_ms: must be >= 0");
  if (c.cache.jitter < 0 || c.cache.jitter > 0.9) return bad("cache.jitter: must be in 0..0.9");
  if (c.cache.max_entries < 1) return bad("cache.max_entries: must be >= 1");
  if (c.cache.stale_ms < 0) return bad("cache.stale_ms: must be >= 0");
  const ResilienceConfig& r = c.resilience;
  if (r.rate_limit_rps < 0) return bad("resilience.rate_limit_rps: must be >= 0");
  if (r.rate_limit_burst < 0) return bad("resilience.rate_limit_burst: must be >= 0");
  if (r.rate_limit_clients < 16) return bad("resilience.rate_limit_clients: must be >= 16");
  if (r.max_inflight_recommend < 0 || r.max_inflight_ingest < 0 || r.max_inflight_admin < 0) {
    return bad("resilience.max_inflight_*: must be >= 0");
  }
  if (r.shed_latency_ms < 0) return bad("resilience.shed_latency_ms: must be >= 0");
  if (r.breaker_failures < 0) return bad("resilience.breaker_failures: must be >= 0");
  if (r.breaker_failure_rate < 0 || r.breaker_failure_rate > 1) {
    return bad("resilience.breaker_failure_rate: must be in 0..1");
  }
  if (r.breaker_min_calls < 1) return bad("resilience.breaker_min_calls: must be >= 1");
  if (r.breaker_window_ms < 10) return bad("resilience.breaker_window_ms: must be >= 10");
  if (r.breaker_open_ms < 1) return bad("resilience.breaker_open_ms: must be >= 1");
  return OkStatus();
}

}  // namespace

Status ValidateConfig(const Config& c) {
  auto bad = [](std::string msg) { return InvalidArgumentError(std::move(msg)); };
  if (c.data_dir.empty()) return bad("data_dir: must not be empty");
  if (c.server.role != "all" && c.server.role != "api" && c.server.role != "nearline") {
    return bad("server.role: expected all, api or nearline");
  }
  if (c.server.max_body_bytes < 1024) return bad("server.max_body_bytes: must be >= 1024");
  if (c.server.http_threads < 1 || c.server.http_threads > 1024) {
    return bad("server.http_threads: must be in 1..1024");
  }
  if (c.server.grpc_max_streams < 0 || c.server.grpc_max_streams > 1'000'000) {
    return bad("server.grpc_max_streams: must be in 0..1000000 (0 = no limit)");
  }
  if (c.server.grpc_threads < 1 || c.server.grpc_threads > 1024) {
    return bad("server.grpc_threads: must be in 1..1024");
  }
  if (c.server.model_poll_ms < 0) return bad("server.model_poll_ms: must be >= 0");
  if (c.store.history_per_user < 1) return bad("store.history_per_user: must be >= 1");
  if (c.store.backend != "embedded" && c.store.backend != "redis") {
    return bad("store.backend: expected embedded or redis");
  }
  if (c.redis.address.rfind(':') == std::string::npos) {
    return bad("redis.address: expected host:port");
  }
  if (c.redis.connect_timeout_ms < 1 || c.redis.connect_timeout_ms > 60'000) {
    return bad("redis.connect_timeout_ms: must be in 1..60000");
  }
  if (c.redis.command_timeout_ms < 1 || c.redis.command_timeout_ms > 60'000) {
    return bad("redis.command_timeout_ms: must be in 1..60000");
  }
  if (c.redis.pool_size < 1 || c.redis.pool_size > 256) {
    return bad("redis.pool_size: must be in 1..256");
  }
  if (c.redis.apply_batch_events < 1 || c.redis.apply_batch_events > 100'000) {
    return bad("redis.apply_batch_events: must be in 1..100000");
  }
  if (c.redis.max_apply_lag_events < 1) return bad("redis.max_apply_lag_events: must be >= 1");
  if (c.redis.marker_check_ms < 10 || c.redis.marker_check_ms > 3'600'000) {
    return bad("redis.marker_check_ms: must be in 10..3600000");
  }
  if (c.ingest.max_future_skew_ms < 0) return bad("ingest.max_future_skew_ms: must be >= 0");
  if (c.ingest.max_event_age_ms < 0) return bad("ingest.max_event_age_ms: must be >= 0");
  if (c.ingest.max_batch_events < 1) return bad("ingest.max_batch_events: must be >= 1");
  if (c.ingest.max_pending_events < c.ingest.max_batch_events) {
    return bad("ingest.max_pending_events: must be >= ingest.max_batch_events");
  }
  if (c.ingest.dead_letter_max < 0) return bad("ingest.dead_letter_max: must be >= 0");
  if (!c.kafka.brokers.empty()) {
    if (c.kafka.topic.empty()) return bad("kafka.topic: must not be empty");
    if (c.kafka.group_id.empty()) return bad("kafka.group_id: must not be empty");
  }
  if (c.kafka.batch_max_events < 1) return bad("kafka.batch_max_events: must be >= 1");
  if (c.kafka.poll_timeout_ms < 1 || c.kafka.poll_timeout_ms > 60'000) {
    return bad("kafka.poll_timeout_ms: must be in 1..60000");
  }
  if (c.train.factors < 1 || c.train.factors > 1024)
    return bad("train.factors: must be in 1..1024");
  if (c.train.iterations < 1) return bad("train.iterations: must be >= 1");
  if (c.train.regularization < 0) return bad("train.regularization: must be >= 0");
  if (c.train.alpha < 0) return bad("train.alpha: must be >= 0");
  if (c.train.threads < 0) return bad("train.threads: must be >= 0");
  if (c.train.solver != "cg" && c.train.solver != "cholesky") {
    return bad("train.solver: expected cg or cholesky");
  }
  if (c.train.cg_steps < 1 || c.train.cg_steps > 100) {
    return bad("train.cg_steps: must be in 1..100");
  }
  if (c.train.eval_users < 0) return bad("train.eval_users: must be >= 0");
  if (c.train.schedule.interval_s < 0) return bad("train.schedule.interval_s: must be >= 0");
  if (c.train.schedule.min_new_events < 0) {
    return bad("train.schedule.min_new_events: must be >= 0");
  }
  if (c.train.schedule.threads < 0) return bad("train.schedule.threads: must be >= 0");
  if (c.train.schedule.nice < 0 || c.train.schedule.nice > 19) {
    return bad("train.schedule.nice: must be in 0..19");
  }
  if (c.train.schedule.keep_versions < 0) {
    return bad("train.schedule.keep_versions: must be >= 0");
  }
  if (c.index.type != "ivf" && c.index.type != "hnsw" && c.index.type != "flat") {
    return bad("index.type: expected ivf, hnsw or flat");
  }
  if (c.index.ivf_nlist < 0) return bad("index.ivf_nlist: must be >= 0 (0 = automatic)");
  if (c.index.ivf_nprobe < 0) return bad("index.ivf_nprobe: must be >= 0 (0 = tuned at build)");
  if (!(c.index.ivf_target_recall > 0 && c.index.ivf_target_recall <= 1)) {
    return bad("index.ivf_target_recall: must be in (0, 1]");
  }
  if (c.index.ivf_recall_k < 1 || c.index.ivf_recall_k > 10000) {
    return bad("index.ivf_recall_k: must be in 1..10000");
  }
  if (c.index.hnsw_m < 2) return bad("index.hnsw_m: must be >= 2");
  if (c.index.hnsw_ef_construction < 1) return bad("index.hnsw_ef_construction: must be >= 1");
  if (c.index.hnsw_ef_search < 1) return bad("index.hnsw_ef_search: must be >= 1");
  if (c.pipeline.sources.empty()) return bad("pipeline.sources: at least one source is required");
  for (size_t i = 0; i < c.pipeline.sources.size(); ++i) {
    if (c.pipeline.sources[i].k < 1 || c.pipeline.sources[i].k > 10000) {
      return bad(StrCat("pipeline.sources[", i, "].k: must be in 1..10000"));
    }
    if (c.pipeline.sources[i].budget_ms < 0 || c.pipeline.sources[i].budget_ms > 60'000) {
      return bad(StrCat("pipeline.sources[", i, "].budget_ms: must be between 0 and 60000"));
    }
  }
  if (c.pipeline.max_n < 1) return bad("pipeline.max_n: must be >= 1");
  if (c.pipeline.default_n < 1 || c.pipeline.default_n > c.pipeline.max_n) {
    return bad("pipeline.default_n: must be in 1..max_n");
  }
  if (c.pipeline.max_per_category < 0) return bad("pipeline.max_per_category: must be >= 0");
  if (c.pipeline.fold_in_items < 1) return bad("pipeline.fold_in_items: must be >= 1");
  if (c.pipeline.user_state_memo_entries < 0 || c.pipeline.user_state_memo_entries > (1 << 24)) {
    return bad("pipeline.user_state_memo_entries: must be in 0..16777216");
  }
  RETURN_IF_ERROR(ValidateResilience(c));
  if (!(c.pipeline.feature_log_sample >= 0 && c.pipeline.feature_log_sample <= 1)) {
    return bad("pipeline.feature_log_sample: must be in 0..1");
  }
  if (c.train.ranker_min_rows < 1) return bad("train.ranker_min_rows: must be >= 1");
  if (c.server.default_deadline_ms < 0 || c.server.default_deadline_ms > 3'600'000) {
    return bad("server.default_deadline_ms: must be between 0 and 3600000");
  }
  if (c.pipeline.fault_injection.delay_ms < 0 || c.pipeline.fault_injection.delay_ms > 60'000) {
    return bad("pipeline.fault_injection.delay_ms: must be between 0 and 60000");
  }
  const ObsConfig& o = c.obs;
  if (o.log_rate_limit < 1) return bad("obs.log_rate_limit.max_per_interval: must be >= 1");
  if (o.log_rate_limit_interval_ms < 1) return bad("obs.log_rate_limit.interval_ms: must be >= 1");
  if (!(o.trace_sample_ratio >= 0 && o.trace_sample_ratio <= 1)) {
    return bad("obs.tracing.sample_ratio: must be in [0, 1]");
  }
  if (!o.trace_endpoint.empty() && !o.trace_endpoint.starts_with("http://") &&
      !o.trace_endpoint.starts_with("https://")) {
    return bad("obs.tracing.endpoint: must start with http:// or https://");
  }
  if (o.trace_slow_ms < 0) return bad("obs.tracing.slow_ms: must be >= 0");
  if (o.trace_queue_spans < 1) return bad("obs.tracing.queue_spans: must be >= 1");
  if (o.trace_batch_spans < 1) return bad("obs.tracing.batch_spans: must be >= 1");
  if (o.trace_flush_ms < 1) return bad("obs.tracing.flush_ms: must be >= 1");
  if (o.trace_shutdown_flush_ms < 0) return bad("obs.tracing.shutdown_flush_ms: must be >= 0");
  for (double target : {o.slo_availability_target, o.slo_latency_target, o.slo_freshness_target}) {
    if (!(target > 0 && target < 1)) return bad("obs.slo: targets must be in (0, 1)");
  }
  if (o.slo_latency_threshold_ms < 1 || o.slo_freshness_threshold_ms < 1) {
    return bad("obs.slo: thresholds must be >= 1 ms");
  }
  return OkStatus();
}

Result<Config> ParseConfigYaml(const std::string& yaml_text) {
  Config config;
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return config;
    RETURN_IF_ERROR(CheckKeys(root, "",
                              {"data_dir", "server", "store", "redis", "ingest", "kafka", "train",
                               "index", "pipeline", "cache", "resilience", "obs"}));
    RETURN_IF_ERROR(ReadString(root, "", "data_dir", &config.data_dir));
    if (root["server"]) RETURN_IF_ERROR(ParseServer(root["server"], &config.server));
    if (root["store"]) RETURN_IF_ERROR(ParseStore(root["store"], &config.store));
    if (root["redis"]) RETURN_IF_ERROR(ParseRedis(root["redis"], &config.redis));
    if (root["ingest"]) RETURN_IF_ERROR(ParseIngest(root["ingest"], &config.ingest));
    if (root["kafka"]) RETURN_IF_ERROR(ParseKafka(root["kafka"], &config.kafka));
    if (root["train"]) RETURN_IF_ERROR(ParseTrain(root["train"], &config.train));
    if (root["index"]) RETURN_IF_ERROR(ParseIndex(root["index"], &config.index));
    if (root["pipeline"]) RETURN_IF_ERROR(ParsePipeline(root["pipeline"], &config.pipeline));
    if (root["cache"]) RETURN_IF_ERROR(ParseCache(root["cache"], &config.cache));
    if (root["resilience"]) {
      RETURN_IF_ERROR(ParseResilience(root["resilience"], &config.resilience));
    }
    if (root["obs"]) RETURN_IF_ERROR(ParseObs(root["obs"], &config.obs));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(StrCat("invalid YAML: ", e.what()));
  }
  RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

Result<Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError(StrCat("cannot open config file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto config = ParseConfigYaml(buffer.str());
  if (!config.ok()) return WithContext(config.status(), path);
  return config;
}

}  // namespace pulse
