// core/config.h — Pulse configuration: YAML in, typed struct out.
//
// Every key is documented in docs/CONFIG.md with its default. Unknown keys and values of the
// wrong type are errors naming the key path ("pipeline.sources[1].k: expected an integer").
// Command-line flags (--data-dir, --http, --grpc, --role) override the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace pulse {

struct ServerConfig {
  std::string http_addr = "127.0.0.1:8080";
  std::string grpc_addr = "127.0.0.1:50051";
  std::string role = "all";  // all | api | nearline
  int64_t max_body_bytes = 1 << 20;
  int http_threads = 8;
  int grpc_threads = 4;
  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls one client connection may have open at once.
  // Beyond it the client's library holds calls back (they wait and time out there, costing the
  // server nothing), so a flood cannot leave a backlog the server keeps working through after
  // it ends. 0 = gRPC's default (no limit).
  int grpc_max_streams = 100;
  int64_t model_poll_ms = 5000;  // how often serving looks for a newer model bundle
  int64_t drain_timeout_ms = 5000;
  // Deadline of a recommend request that brings none (gRPC deadline, x-pulse-deadline-ms); 0 =
  // none.
  int64_t default_deadline_ms = 0;
};

// Periodic retraining inside `pulse serve` (roles all and nearline); see
// rollout/retrain_scheduler.h.
struct RetrainScheduleConfig {
  int64_t interval_s = 0;         // how often to consider a retrain; 0 = never
  int64_t min_new_events = 1000;  // events appended since the last bundle needed to retrain
  int threads = 1;         // training threads of a scheduled retrain (requests keep the rest)
  int nice = 10;           // niceness of the retrain threads (0..19; higher = lower priority)
  int keep_versions = 10;  // bundles kept after a retrain (newest N + the pinned one); 0 = all
};

struct TrainConfig {
  int factors = 64;
  int iterations = 15;
  double regularization = 0.5;  // scaled by each row's interaction count (frequency-scaled)
  double alpha = 5.0;           // confidence = 1 + alpha * log1p(weight)
  int threads = 0;              // 0 = all cores
  uint64_t seed = 42;
  // Row solver: "cg" (a few conjugate-gradient steps, warm-started; fast) or "cholesky" (exact).
  // The last user half-step is always exact, so user vectors match serving's fold-in.
  std::string solver = "cg";
  int cg_steps = 3;
  // The learned ranker (docs/design/ranker.md): trained when the served-feature log joined with
  // clicks yields at least this many labelled rows; otherwise the bundle keeps the linear scorer.
  int ranker_min_rows = 1000;
  // Held-out check written into the manifest (metrics): the newest interaction of up to this many
  // users is held out and a model trained on the rest is scored on it; 0 = skip.
  int eval_users = 1000;
  RetrainScheduleConfig schedule;
};

struct IndexConfig {
  std::string type = "ivf";  // ivf | hnsw | flat (index/ann_index.h compares them)
  int hnsw_m = 32;
  int hnsw_ef_construction = 200;
  int hnsw_ef_search = 256;
  // IVF: k-means lists over the items; a query scans the `nprobe` lists nearest to it.
  int ivf_nlist = 0;   // 0 = 4·sqrt(items), at most items/39 (FAISS's k-means minimum)
  int ivf_nprobe = 0;  // 0 = the value tuned when the index was built (stored in the file)
  // Build-time tuning: the smallest nprobe whose mean recall@ivf_recall_k against exact search,
  // over a sample of user vectors, reaches ivf_target_recall.
  double ivf_target_recall = 0.95;
  int ivf_recall_k = 300;
};

struct CandidateSourceConfig {
  std::string name;  // ann | covisit | trending | popular
  int k = 200;
  // The source's own time budget (serving/pipeline.h): it stops at min(request deadline, its
  // start + budget_ms), is skipped and the response marked degraded. 0 = only the request deadline.
  int64_t budget_ms = 0;
};

struct PipelineConfig {
  std::vector<CandidateSourceConfig> sources = {
      {"ann", 300}, {"covisit", 100}, {"trending", 50}, {"popular", 100}};
  std::vector<std::string> filters = {"request_exclude", "unavailable", "seen"};
  std::map<std::string, double> scorer_weights = {
      {"similarity", 1.0}, {"popularity", 0.05}, {"freshness", 0.0}};
  int max_per_category = 0;  // 0 = no cap
  int default_n = 10;
  int max_n = 200;
  int fold_in_items = 200;  // recent items folded into the online user vector
  // Users whose derived state (seen items, folded-in vector) is remembered across requests
  // (serving/user_state_memo.h); 0 = none.
  int user_state_memo_entries = 16384;
  // Fraction (0..1) of recommend requests whose served items and feature vectors are logged to
  // the data dir for ranker training (store/served_log.h). 0 = none.
  double feature_log_sample = 0.0;
  // Test-only fault injection (off by default): the named candidate source waits delay_ms before
  // fetching (less when the source's deadline — its budget or the request's — comes first), like a
  // slow source that honours it.
  struct FaultInjection {
    std::string delay_source;  // a configured source name; "" = off
    int64_t delay_ms = 0;
  } fault_injection;
};

struct StoreConfig {
  int history_per_user = 1000;       // distinct recent items kept per user (seen filter, fold-in)
  std::string backend = "embedded";  // feature store: "embedded" (data dir) or "redis"
};

// Redis feature store (store/redis_feature_store.h), used when store.backend is "redis".
struct RedisConfig {
  std::string address = "127.0.0.1:6379";  // host:port
  int64_t connect_timeout_ms = 200;
  int64_t command_timeout_ms = 200;  // per command (a pipelined batch waits this per reply)
  std::string key_prefix = "pulse:";
  int pool_size = 4;  // connections; callers beyond this wait (at most command_timeout_ms)
  // The asynchronous applier (store/feature_store_applier.h) that follows the event log into Redis.
  int apply_batch_events = 2000;             // events read from the log per pipelined apply
  int64_t max_apply_lag_events = 1'000'000;  // committed but not yet in Redis; more → 429
  int64_t marker_check_ms = 1000;  // idle check that Redis still holds our data (flush/restart)
};

struct IngestConfig {
  int64_t max_future_skew_ms = 300'000;      // ts later than now + this → ts_in_future
  int64_t max_event_age_ms = 2'592'000'000;  // ts older than now - this → ts_too_old; 0 = off
  int max_batch_events = 10'000;             // events per publish call; more → InvalidArgument
  int64_t max_pending_events = 100'000;      // queued, not yet durable; more → 429
  int64_t dead_letter_max = 100'000;         // newest rejected events kept in the data dir
};

// Kafka event source (ingest/kafka_source.h): consumes JSON events from a topic as a consumer
// group member. Off when `brokers` is empty.
struct KafkaConfig {
  std::string brokers;  // bootstrap.servers; empty = the source is off
  std::string topic = "pulse-events";
  std::string group_id = "pulse";
  int batch_max_events = 1000;    // events handed to the sink per durable write
  int64_t poll_timeout_ms = 100;  // longest wait for a message before a partial batch
  std::map<std::string, std::string> properties;  // extra librdkafka properties, passed through
};

// Observability (docs/OBSERVABILITY.md): logs, tracing, SLOs.
struct ObsConfig {
  bool access_log = false;  // one JSON line per API request (component "access")
  int log_rate_limit = 10;  // repeated error lines per key per interval
  int64_t log_rate_limit_interval_ms = 60000;
  std::string trace_endpoint;  // OTLP/HTTP collector base URL; "" = tracing off
  double trace_sample_ratio = 0.01;
  int64_t trace_slow_ms = 250;  // slower requests are always exported
  int64_t trace_queue_spans = 8192;
  int64_t trace_batch_spans = 512;
  int64_t trace_flush_ms = 1000;
  int64_t trace_shutdown_flush_ms = 2000;  // longest wait to export queued spans at shutdown
  double slo_availability_target = 0.999;
  int64_t slo_latency_threshold_ms = 100;
  double slo_latency_target = 0.99;
  int64_t slo_freshness_threshold_ms = 5000;
  double slo_freshness_target = 0.99;
};

// Per-user result cache of Recommend (docs/design/resilience.md).
struct CacheConfig {
  int64_t ttl_ms = 2000;          // how long a result is reused; 0 = no cache (and no coalescing)
  double jitter = 0.2;            // each entry lives ttl × (1 ± jitter), uniform
  int64_t max_entries = 100'000;  // bound on cached results (users × distinct requests)
  int64_t stale_ms = 60'000;      // a cached result this old may still serve when computing fails
};

// Admission (front ends) and dependency protection (docs/design/resilience.md).
struct ResilienceConfig {
  double rate_limit_rps = 0;             // per client (x-api-key, else peer IP); 0 = off
  double rate_limit_burst = 0;           // bucket size; 0 = one second's worth (rate_limit_rps)
  int64_t rate_limit_clients = 100'000;  // clients tracked (least recently seen evicted)
  // In-flight requests per endpoint class and front end; 0 = automatic (recommend: unbounded,
  // ingest: 3/4 of the front end's capacity, admin: 1/2).
  int64_t max_inflight_recommend = 0;
  int64_t max_inflight_ingest = 0;
  int64_t max_inflight_admin = 0;
  int64_t shed_latency_ms = 250;      // adaptive concurrency limit on recommend; 0 = off
  int breaker_failures = 5;           // consecutive failures that open a dependency's breaker
  double breaker_failure_rate = 0.5;  // ... or this failure rate over breaker_window_ms
  int breaker_min_calls = 20;         // ... with at least this many calls in the window
  int64_t breaker_window_ms = 10'000;
  int64_t breaker_open_ms = 5000;  // cool-down before one probe call is let through
};

struct Config {
  std::string data_dir = "./pulse-data";
  ServerConfig server;
  StoreConfig store;
  RedisConfig redis;
  IngestConfig ingest;
  KafkaConfig kafka;
  TrainConfig train;
  IndexConfig index;
  PipelineConfig pipeline;
  CacheConfig cache;
  ResilienceConfig resilience;
  ObsConfig obs;
};

// Parses YAML text. An empty document yields the defaults.
Result<Config> ParseConfigYaml(const std::string& yaml_text);
// Reads and parses a file; errors name the file.
Result<Config> LoadConfigFile(const std::string& path);
// Semantic checks shared by both (ranges, known enum values).
Status ValidateConfig(const Config& config);

}  // namespace pulse
