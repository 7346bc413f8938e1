// serving/engine.h — the serving engine: the PulseService behind both API front ends.
//
// It owns the active ServingSnapshot (model bundle + item table + precomputed per-model data),
// reads user histories from the embedded store, and runs the Pipeline per request.
//
// Snapshots: requests take a shared_ptr to the current snapshot at their start and finish on it,
// so a model swap never drops or mixes a request (hot swap: atomic<shared_ptr>, no lock on the
// read path). A background watcher loads a newer bundle from <data-dir>/models when one appears;
// a bundle that fails verification is refused with a log line and the old one keeps serving.
//
// Catalog writes (upsert/delete) go to the store and flip the item's availability flag in the
// current snapshot, so a deleted item is never recommended from the next request on; catalog
// writes and snapshot swaps are serialized so neither loses the other's change. A delete stores
// a tombstone (available=false) so the item stays deleted across restarts and retrains.
//
// Caching and resilience (docs/design/resilience.md): Recommend answers from a per-user result
// cache (short TTL with jitter; a user's acknowledged events invalidate their entries before the
// publish returns; catalog writes and model swaps clear it), coalesces identical concurrent
// requests into one computation, and walks a fallback ladder when it cannot compute normally
// (personalized → stale cached → heuristic → popular; RecommendResponse::fallback). A shared
// feature store (Redis) sits behind a circuit breaker and a bulkhead; model loading behind a
// breaker. Metrics: pulse_cache_{hits,misses,coalesced}_total, pulse_circuit_state{dependency},
// pulse_fallback_total{reason}.
//
// Thread-safety: every public method may be called concurrently.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "candidates/context.h"
#include "core/clock.h"
#include "core/config.h"
#include "ingest/event_writer.h"
#include "ingest/validator.h"
#include "nearline/feature_processor.h"
#include "obs/metrics.h"
#include "obs/runtime_metrics.h"
#include "obs/trace.h"
#include "resilience/circuit_breaker.h"
#include "resilience/result_cache.h"
#include "resilience/single_flight.h"
#include "rollout/model_bundle.h"
#include "serving/pipeline.h"
#include "serving/service.h"
#include "serving/user_state_memo.h"
#include "store/data_dir.h"
#include "store/feature_store.h"
#include "store/feature_store_applier.h"

namespace pulse::serving {

// Everything a request needs that changes only with the model.
struct ServingSnapshot {
  std::shared_ptr<const rollout::ModelBundle> model;
  std::unique_ptr<candidates::ItemTable> items;  // availability flags mutate in place
  std::vector<float> gramian;                    // YᵀY of the item factors, for fold-in
  std::vector<DenseId> popular_items;            // by popularity, most popular first
  // Unique per snapshot built by this process (never reused, never 0): names the model's item
  // dictionary for caches of id → dense id mappings (RecommendContext::model_generation).
  uint32_t generation = 0;
  // The confidence/regularization the bundle was trained with: fold-in must solve the same
  // problem as training did, whatever this server's own config says.
  TrainConfig fold_in;
};

// How start-up rebuilt the nearline features (for logs and tests).
struct NearlineStartup {
  bool from_checkpoint = false;
  uint64_t checkpoint_seq = 0;
  uint64_t replayed_events = 0;
};

class Engine final : public PulseService {
 public:
  // `data_dir` must outlive the engine. Loads the newest model bundle when there is one; without
  // one the engine runs but is not ready (Recommend → FailedPrecondition).
  static Result<std::unique_ptr<Engine>> Create(const Config& config, store::DataDir* data_dir,
                                                const Clock* clock = nullptr);
  ~Engine() override;

  // Loads the newest bundle when it is newer than the serving one, or, while a version is pinned
  // (<models_dir>/active, `pulse models activate`), the pinned one when it is not the serving
  // one, older or not. A bundle failing verification is refused (logged, never retried) and
  // the current one keeps serving. Returns whether it swapped.
  Result<bool> ReloadModelIfNewer();
  // Polls for newer bundles every config.server.model_poll_ms on a background thread.
  void StartModelWatcher();
  void StopModelWatcher();

  Result<RecommendResponse> Recommend(const RecommendRequest& request) override;
  Result<PublishResult> PublishEvents(std::vector<EventInput> events,
                                      std::string_view source) override;
  Result<std::vector<DeadLetterView>> ListDeadLetters(size_t limit) override;
  Result<UpsertResult> UpsertItems(std::vector<Item> items) override;
  Status DeleteItem(std::string_view item_id) override;
  Result<Item> GetItem(std::string_view item_id) override;
  Result<UserFeatures> GetUserFeatures(std::string_view user_id) override;
  Readiness GetReadiness() override;
  Result<std::vector<TopItem>> TopItems(size_t limit) override;

  std::shared_ptr<const ServingSnapshot> snapshot() const { return snapshot_.load(); }
  const NearlineStartup& nearline_startup() const { return nearline_startup_; }
  nearline::ProcessorCounters nearline_counters() const { return nearline_->counters(); }
  // Ingest counters (pulse_events_ingested_total, pulse_events_rejected_total) and the writer's.
  const ingest::IngestMetrics& ingest_metrics() const { return ingest_metrics_; }
  ingest::EventWriter::Stats event_writer_stats() const { return event_writer_->stats(); }
  // Result-cache counters, and how many recommendations were computed (not served from the cache
  // or another request's computation).
  resilience::ResultCacheStats cache_stats() const;
  uint64_t RecommendComputationsForTest() const {
    return recommend_computations_.load(std::memory_order_relaxed);
  }
  resilience::CircuitState feature_store_circuit() const { return feature_store_breaker_->state(); }
  // Requests that waited for an identical request's computation.
  uint64_t CoalescedForTest() const { return recommend_flight_.coalesced(); }
  // Computed requests whose folded-in user vector came from the user-state memo
  // (hits) or was solved (misses). Users served by their trained vector count in neither.
  uint64_t UserStateMemoHitsForTest() const {
    return user_state_memo_results_[0].load(std::memory_order_relaxed);
  }
  uint64_t UserStateMemoMissesForTest() const {
    return user_state_memo_results_[1].load(std::memory_order_relaxed);
  }
  // The next request of every user derives its state anew.
  void ForgetUserStatesForTest() { user_state_memo_.Clear(); }
  // Test hook: runs at the start of every recommendation computation (set before serving).
  void SetComputeHookForTest(std::function<void()> hook) {
    compute_hook_for_test_ = std::move(hook);
  }

  // The asynchronous applier into a shared feature store (Redis); null with the embedded store.
  store::FeatureStoreApplier* feature_store_applier() { return applier_.get(); }

  // Nearline checkpoints written by the background checkpoint writer so far.
  uint64_t background_checkpoints() const {
    return background_checkpoints_.load(std::memory_order_acquire);
  }
  // Test hook: take a checkpoint every `events` live events instead of kCheckpointEveryEvents.
  void SetCheckpointEveryEventsForTest(uint64_t events);

 private:
  Engine(const Config& config, store::DataDir* data_dir, const Clock* clock,
         std::unique_ptr<Pipeline> pipeline);
  Result<std::shared_ptr<const ServingSnapshot>> BuildSnapshot(
      std::shared_ptr<const rollout::ModelBundle> model);
  // The user's history from the configured feature store; when a shared store (Redis) fails,
  // the embedded copy in the data dir answers and `degraded` is set.
  // known_version: as store::FeatureStore::GetUserHistoryIfChanged (0: read it whole).
  Result<store::UserHistory> ReadUserHistory(std::string_view user_id, uint64_t known_version,
                                             bool* degraded);
  // The processor's item → category lookup over item_categories_.
  nearline::CategoryLookup CategoryLookup();
  // Feeds durably written events to the nearline processor; freshness is measured here.
  void ApplyToNearline(std::span<const Event> events, bool live);
  // Rebuilds nearline state at start-up: the checkpoint, then the log after it (all of the log
  // when there is no usable checkpoint).
  Status ReplayIntoNearline();
  // Persists the processor state with the last applied log sequence (caller holds nearline_mu_).
  void SaveNearlineCheckpointLocked();
  // The checkpoint blob (sequence + state) of the processor as it is now (caller holds
  // nearline_mu_): the consistent copy, taken under the lock so it is exactly the state at
  // nearline_seq_.
  std::string NearlineCheckpointBlobLocked() const;
  // Hands a checkpoint to the background writer (caller holds nearline_mu_); skipped while the
  // previous one is still being written (the next batch tries again).
  void QueueNearlineCheckpointLocked();
  void CheckpointWriterLoop();
  void StopCheckpointWriter();
  // The shared feature store's applier: lag gauges and counters.
  void RenderFeatureStoreMetrics(std::string* out) const;
  void RenderMetrics(std::string* out) const;
  // Per-stage latency metrics, and the request's spans when its trace records (obs).
  void RecordStagesAndSpans(const candidates::RecommendContext& context,
                            const ServingSnapshot& snapshot, const RecommendRequest& request,
                            const RecommendResponse& response, int64_t start_us,
                            obs::RequestTrace& trace);
  // The debug response's feature values and ages, and candidates per source.
  void AddFeatureDebug(const candidates::RecommendContext& context, const ServingSnapshot& snapshot,
                       std::span<const candidates::Candidate> ranked, RecommendDebug* debug) const;
  // ---- caching and resilience (docs/design/resilience.md) ----
  using CachedResponse = std::shared_ptr<const RecommendResponse>;
  // Cache lookup → single-flight compute → store (non-debug requests with the cache on).
  Result<RecommendResponse> RecommendThroughCache(const RecommendRequest& request);
  // The pipeline run itself (what Recommend did before caching).
  Result<RecommendResponse> ComputeRecommendation(const RecommendRequest& request);
  // Everything but the user that the answer depends on (user, n, exclude, context).
  std::string CacheKey(const RecommendRequest& request) const;
  // The "cached" rung: a stale cached answer for this request, minus items no longer available.
  std::optional<RecommendResponse> StaleRecommendation(const RecommendRequest& request,
                                                       const ServingSnapshot& snapshot);
  // Acknowledged events make their users' cached answers stale (writer thread, before the ack).
  void InvalidateCachedUsers(std::span<const Event> events);
  // Which rung served (RecommendResponse::fallback) and its count in pulse_fallback_total.
  void SetFallbackRung(RecommendResponse& response,
                       const std::vector<candidates::Candidate>& ranked);
  void RenderFallbackRungs(std::string* out) const;
  void RenderResilienceMetrics(std::string* out) const;
  // Creates the breakers and the cache; wraps a shared feature store in its breaker (Create).
  void InitResilience(std::unique_ptr<store::FeatureStore>& feature_store);
  // ReloadModelIfNewer behind the model-store breaker (the watcher's poll).
  Result<bool> ReloadModelGuarded();

  // pulse_model_version_info{version} 1 for the serving snapshot only.
  void RenderModelMetrics(std::string* out) const;
  // ReloadModelIfNewer's branch when a pin exists (or the pin file is unreadable); caller holds
  // reload_mu_.
  Result<bool> ReloadPinnedModelLocked(const Result<std::optional<std::string>>& pinned,
                                       const std::vector<std::string>& versions);
  // Fills the user-dependent inputs of the context (history, seen set, user vector).
  Status PrepareUser(const ServingSnapshot& snapshot, const RecommendRequest& request,
                     candidates::RecommendContext& context);

  const Config config_;
  store::DataDir* const data_dir_;
  const Clock& clock_;
  const std::unique_ptr<Pipeline> pipeline_;
  UserStateMemo user_state_memo_;  // PrepareUser's, shared by the request threads
  // Where user histories are read from: the data dir itself (embedded) or a shared Redis, which
  // the writer hook keeps up to date. The data dir always has its own copy (same write batch as
  // the event log), which is the fallback when Redis fails.
  std::unique_ptr<store::FeatureStore> feature_store_;
  std::atomic<uint64_t> feature_store_fallbacks_{0};
  std::atomic<uint64_t> feature_store_apply_failures_{0};
  std::atomic<uint64_t> deadline_expired_on_arrival_{0};  // pulse_deadline_exceeded_total
  std::atomic<uint64_t> deadline_exceeded_in_pipeline_{0};
  std::atomic<uint64_t> feature_store_refill_reads_{0};  // answered from the embedded copy
  std::atomic<uint64_t> feature_store_own_reads_{0};     // read-your-writes from the embedded copy
  std::atomic<uint64_t> feature_store_backpressure_{0};  // publish calls refused for lag
  // Follows the event log into a shared store (redis backend only); see feature_store_applier.h.
  std::unique_ptr<store::FeatureStoreApplier> applier_;
  std::atomic<std::shared_ptr<const ServingSnapshot>> snapshot_;
  std::mutex catalog_mu_;  // serializes catalog writes with snapshot swaps
  std::mutex reload_mu_;   // one reload at a time
  std::set<std::string>
      refused_versions_;     // bundles that failed verification (guarded by reload_mu_)
  std::string pin_problem_;  // the last pin problem logged (guarded by reload_mu_)

  std::mutex watcher_mu_;
  std::condition_variable watcher_cv_;
  bool watcher_stop_ = false;
  std::thread watcher_;

  // Nearline features, fed by the writer's commit hook (one thread) and read by requests.
  // Declared before the writer so they outlive its final drain.
  std::mutex nearline_mu_;  // serializes Apply with category updates
  std::unordered_map<std::string, std::string, StringHash, std::equal_to<>>
      item_categories_;  // guarded by nearline_mu_; what the processor's lookup reads
  std::unique_ptr<nearline::FeatureProcessor> nearline_;
  uint64_t nearline_seq_ = 0;         // guarded by nearline_mu_: last log sequence applied
  uint64_t since_checkpoint_ = 0;     // guarded by nearline_mu_
  NearlineStartup nearline_startup_;  // how start-up rebuilt the features
  uint64_t checkpoint_every_events_;  // guarded by nearline_mu_

  // Background checkpoint writer: the writer thread copies the state under nearline_mu_ and this
  // thread does the (synced, multi-MB) write, so acknowledgements do not wait for it.
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  std::string checkpoint_pending_;  // guarded by checkpoint_mu_: a blob to write
  bool checkpoint_busy_ = false;    // guarded by checkpoint_mu_: a blob queued or being written
  bool checkpoint_stop_ = false;    // guarded by checkpoint_mu_
  std::thread checkpoint_writer_;
  std::atomic<uint64_t> background_checkpoints_{0};
  obs::Histogram freshness_seconds_;
  obs::StageLatency stage_latency_;       // pulse_stage_duration_seconds{stage}
  obs::LabeledCounter candidates_total_;  // pulse_candidates_total{source}
  int metrics_handle_ = 0;

  // Caching and resilience. Declared before the writer: its commit hook invalidates the cache.
  std::unique_ptr<resilience::CircuitBreaker> feature_store_breaker_;          // "redis"
  std::unique_ptr<resilience::CircuitBreaker> model_breaker_;                  // "model_store"
  std::unique_ptr<resilience::UserResultCache<CachedResponse>> result_cache_;  // null: off
  resilience::SingleFlight<Result<CachedResponse>> recommend_flight_;
  std::atomic<uint64_t> recommend_computations_{0};
  std::atomic<uint64_t> user_state_memo_results_[2] = {};  // hits, misses
  std::atomic<uint64_t> fallback_rungs_[3] = {};           // cached, heuristic, popular
  int resilience_metrics_handle_ = 0;
  std::function<void()> compute_hook_for_test_;

  // Ingest (PublishEvents). Declared last so the writer drains before anything else goes.
  const ingest::EventValidator validator_;
  ingest::IngestMetrics ingest_metrics_;
  const std::unique_ptr<ingest::EventWriter> event_writer_;
};

}  // namespace pulse::serving
