#include "serving/engine.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "core/log.h"
#include "ingest/json_codec.h"
#include "nlohmann/json.hpp"
#include "obs/slo.h"
#include "obs/trace.h"
#include "quality/checks.h"
#include "rollout/models_dir.h"
#include "serving/feature_log.h"
#include "serving/guarded_feature_store.h"
#include "serving/user_state_memo.h"
#include "store/embedded_feature_store.h"
#include "store/redis_feature_store.h"
#include "train/als.h"
#include "train/fold_in_params.h"

namespace pulse::serving {
namespace {

using candidates::Candidate;
using candidates::RecommendContext;
using candidates::UserVectorKind;

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Category ids are a hash of the name, so catalog writes never mutate a shared dictionary.
uint32_t CategoryId(std::string_view category) {
  if (category.empty()) return candidates::ItemTable::kNoCategory;
  uint32_t hash = 2166136261u;
  for (unsigned char c : category) hash = (hash ^ c) * 16777619u;
  return hash == candidates::ItemTable::kNoCategory ? 1 : hash;
}

// 32 random hex characters from a per-thread generator.
std::string RandomHex(int chars) {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(chars), '0');
  uint64_t bits = 0;
  for (int i = 0; i < chars; ++i) {
    if (i % 16 == 0) bits = rng();
    out[static_cast<size_t>(i)] = kHex[bits & 0xf];
    bits >>= 4;
  }
  return out;
}

// The rung a response was served by, as a span attribute ("" in the response = personalized).
std::string FallbackRung(const RecommendResponse& response) {
  return response.fallback.empty() ? std::string("personalized") : response.fallback;
}

// The `recommend` span of an answer no pipeline ran for (a result-cache hit, a coalesced
// follower, a stale cached answer): no stage spans, since no stage ran.
void AddUncomputedSpan(obs::RequestTrace& trace, const RecommendRequest& request,
                       const RecommendResponse& response, int64_t start_unix_ns, bool cache_hit,
                       bool coalesced) {
  if (!trace.recording()) return;
  obs::Span& span =
      trace.AddSpan("recommend", trace.root_span_id(), start_unix_ns, obs::UnixNanosNow());
  span.Set("pulse.user_bucket", obs::UserBucket(request.user_id));  // never the user id
  span.Set("pulse.model_version", response.model_version);
  span.Set("pulse.degraded", response.degraded);
  span.Set("pulse.cache_hit", cache_hit);
  if (coalesced) span.Set("pulse.coalesced", true);
  span.Set("pulse.fallback_rung", FallbackRung(response));
  span.Set("pulse.items", static_cast<int64_t>(response.items.size()));
}

// As above for the result-cache path, which runs outside ComputeRecommendation: the front end's
// trace, or (in-process callers, tracing on) one of its own.
void TraceUncomputedAnswer(const RecommendRequest& request, const RecommendResponse& response,
                           int64_t start_unix_ns, bool cache_hit, bool coalesced) {
  if (obs::RequestTrace* trace = obs::CurrentTrace()) {
    AddUncomputedSpan(*trace, request, response, start_unix_ns, cache_hit, coalesced);
    return;
  }
  if (!obs::GlobalTracer().enabled()) return;
  obs::RequestTrace own(std::string_view(), "recommend", true);
  own.AdoptTraceId(request.trace_id);
  AddUncomputedSpan(own, request, response, start_unix_ns, cache_hit, coalesced);
  own.End(false, {});
  obs::GlobalTracer().Finish(std::move(own));
}

// Asks the kernel to back a large read-mostly table with 2 MB pages (transparent huge pages in
// `madvise` mode, the Debian default). Hydration and fold-in read random 256-byte rows of the
// item factor table (25 MB at 100K items, d=64); with 4 KB pages nearly every row costs a TLB
// miss and a page walk (dearer still in a VM). Resident memory is collapsed by khugepaged in the
// background; where THP is off the advice is ignored. Contents are not touched.
void AdviseHugePages(const void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHugePage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// The request's `exclude` ids the model knows, sorted, into context.excluded_items.
void AddExcludedItems(const rollout::ModelBundle& model, const RecommendRequest& request,
                      RecommendContext& context) {
  for (const std::string& id : request.exclude) {
    if (std::optional<DenseId> item = model.items.Find(id)) context.excluded_items.push_back(*item);
  }
  std::sort(context.excluded_items.begin(), context.excluded_items.end());
}

// The request context's vectors, lent from this thread's previous request and taken back at
// the end: grown from empty, `removed` alone (40 bytes per filtered candidate) reallocates up to
// ~10 KB per request, and blocks of that size make glibc consolidate its fast bins on the next
// large malloc. Each vector is cleared before it is lent (the context starts empty as before);
// a nested request on the same thread borrows empty ones. Declared after the context, so it is
// destroyed first.
class RecycledContextVectors {
 public:
  explicit RecycledContextVectors(RecommendContext& context) : context_(context) { Swap(); }
  ~RecycledContextVectors() {
    Swap();
    Vectors& kept = ForThisThread();
    kept.removed.clear();
    kept.stages.clear();
    kept.user_vector.clear();
    kept.recent_items.clear();
    kept.seen_items.clear();
    kept.excluded_items.clear();
  }
  RecycledContextVectors(const RecycledContextVectors&) = delete;
  RecycledContextVectors& operator=(const RecycledContextVectors&) = delete;

 private:
  struct Vectors {
    std::vector<candidates::RemovedCandidate> removed;
    std::vector<candidates::StageTrace> stages;
    std::vector<float> user_vector;
    std::vector<DenseId> recent_items;
    std::vector<DenseId> seen_items;
    std::vector<DenseId> excluded_items;
  };
  static Vectors& ForThisThread() {
    thread_local Vectors vectors;
    return vectors;
  }
  void Swap() {
    Vectors& kept = ForThisThread();
    context_.removed.swap(kept.removed);
    context_.stages.swap(kept.stages);
    context_.user_vector.swap(kept.user_vector);
    context_.recent_items.swap(kept.recent_items);
    context_.seen_items.swap(kept.seen_items);
    context_.excluded_items.swap(kept.excluded_items);
  }

  RecommendContext& context_;
};

// The nearline checkpoint: 8 bytes little-endian log sequence, then the processor's own format.
constexpr std::string_view kNearlineCheckpoint = "nearline_checkpoint";
constexpr uint64_t kCheckpointEveryEvents = 100000;

}  // namespace

Engine::Engine(const Config& config, store::DataDir* data_dir, const Clock* clock,
               std::unique_ptr<Pipeline> pipeline)
    : config_(config),
      data_dir_(data_dir),
      clock_(clock != nullptr ? *clock : SystemClock::Get()),
      pipeline_(std::move(pipeline)),
      user_state_memo_(static_cast<size_t>(config.pipeline.user_state_memo_entries)),
      nearline_(std::make_unique<nearline::FeatureProcessor>(nearline::ProcessorOptions{},
                                                             CategoryLookup())),
      checkpoint_every_events_(kCheckpointEveryEvents),
      freshness_seconds_(
          {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      stage_latency_([this] {
        std::vector<std::string> names = pipeline_->stage_names();
        names.emplace_back("user");
        names.emplace_back("total");
        return names;
      }()),
      candidates_total_("pulse_candidates_total", "source",
                        "Candidates produced by each source (before merge and filters).",
                        {pipeline_->source_names().begin(), pipeline_->source_names().end()}),
      validator_(config.ingest, clock_),
      event_writer_(std::make_unique<ingest::EventWriter>(
          data_dir, static_cast<uint64_t>(std::max<int64_t>(config.ingest.max_pending_events, 1)),
          [this](std::span<const Event> events) {
            ApplyToNearline(events, /*live=*/true);
            // The events are durable in the log; a shared store gets them from the log on the
            // applier's thread (ingest never waits for Redis). This only wakes it.
            if (applier_) applier_->Notify(events, data_dir_->EventCount());
            InvalidateCachedUsers(events);
          })) {}

Engine::~Engine() {
  StopModelWatcher();
  if (metrics_handle_ != 0) obs::DefaultMetricsRegistry().Unregister(metrics_handle_);
  if (resilience_metrics_handle_ != 0) {
    obs::DefaultMetricsRegistry().Unregister(resilience_metrics_handle_);
  }
  event_writer_->Stop();           // drains into nearline_ while it still exists
  if (applier_) applier_->Stop();  // its cursor is durable: a restart resumes from it
  StopCheckpointWriter();          // its pending write lands before the final one below
  std::lock_guard<std::mutex> lock(nearline_mu_);
  if (since_checkpoint_ > 0) SaveNearlineCheckpointLocked();  // a restart replays nothing
}

Result<store::UserHistory> Engine::ReadUserHistory(std::string_view user_id, uint64_t known_version,
                                                   bool* degraded) {
  if (applier_) {
    // The shared store is being (re)filled from the log: the embedded copy is complete for this
    // process's events, but misses other replicas' — say so.
    if (applier_->refilling()) {
      feature_store_refill_reads_.fetch_add(1, std::memory_order_relaxed);
      *degraded = true;
      return data_dir_->GetUserHistory(user_id, known_version);
    }
    // Read-your-writes: an acknowledged event of this user is not in the shared store yet; the
    // embedded copy (same write batch as the log) has it. (Merging the two would need the
    // per-event history of the shared copy; the lag is one batch, typically milliseconds.)
    if (applier_->HasUnapplied(user_id)) {
      feature_store_own_reads_.fetch_add(1, std::memory_order_relaxed);
      // Exact for this process's events; while the store is failing, other replicas' events
      // may be missing too: degraded.
      if (!applier_->healthy()) {
        feature_store_fallbacks_.fetch_add(1, std::memory_order_relaxed);
        *degraded = true;
      }
      return data_dir_->GetUserHistory(user_id, known_version);
    }
  }
  auto history = feature_store_->GetUserHistoryIfChanged(user_id, known_version);
  if (history.ok() || feature_store_->name() == "embedded") return history;
  feature_store_fallbacks_.fetch_add(1, std::memory_order_relaxed);
  *degraded = true;
  return data_dir_->GetUserHistory(user_id, known_version);
}

nearline::CategoryLookup Engine::CategoryLookup() {
  // Called under nearline_mu_ (Apply), so the view into the map stays valid.
  return [this](std::string_view item_id) -> std::string_view {
    auto it = item_categories_.find(item_id);
    return it == item_categories_.end() ? std::string_view() : it->second;
  };
}

void Engine::ApplyToNearline(std::span<const Event> events, bool live) {
  std::lock_guard<std::mutex> lock(nearline_mu_);
  nearline::ApplyStats stats = nearline_->Apply(events, clock_.NowMillis());
  if (!live) return;
  quality::CheckNearline(*nearline_, events);  // feature contracts and drift (live events only)
  // Replayed history is not news: freshness measures live events only.
  for (double seconds : stats.freshness_seconds) {
    freshness_seconds_.Observe(seconds);
    obs::GlobalSlo().RecordFreshness(seconds);
  }
  // Live events come from the writer thread right after their append, and it is the only
  // appender while the engine runs: the log's last sequence is the last event applied.
  nearline_seq_ = data_dir_->EventCount();
  since_checkpoint_ += events.size();
  if (since_checkpoint_ >= checkpoint_every_events_) QueueNearlineCheckpointLocked();
}

std::string Engine::NearlineCheckpointBlobLocked() const {
  std::string blob(8, '\0');
  for (int i = 0; i < 8; ++i)
    blob[static_cast<size_t>(i)] = static_cast<char>(nearline_seq_ >> (8 * i));
  blob += nearline_->Serialize();
  return blob;
}

void Engine::QueueNearlineCheckpointLocked() {
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    if (checkpoint_busy_ || !checkpoint_writer_.joinable()) return;
  }
  // The copy is taken here, under nearline_mu_, so it is exactly the state at nearline_seq_;
  // the write (RocksDB, synced) happens on the checkpoint thread.
  std::string blob = NearlineCheckpointBlobLocked();
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    checkpoint_pending_ = std::move(blob);
    checkpoint_busy_ = true;
  }
  checkpoint_cv_.notify_one();
  since_checkpoint_ = 0;
}

void Engine::CheckpointWriterLoop() {
  std::unique_lock<std::mutex> lock(checkpoint_mu_);
  while (true) {
    checkpoint_cv_.wait(lock, [this] { return checkpoint_stop_ || !checkpoint_pending_.empty(); });
    if (checkpoint_pending_.empty()) return;  // stopping with nothing left to write
    std::string blob = std::move(checkpoint_pending_);
    checkpoint_pending_.clear();
    lock.unlock();
    Status saved = data_dir_->PutBlob(kNearlineCheckpoint, blob);
    if (!saved.ok()) {
      LOG_WARN("serving", "saving the nearline checkpoint failed: ", saved.ToString());
    } else {
      background_checkpoints_.fetch_add(1, std::memory_order_acq_rel);
    }
    lock.lock();
    checkpoint_busy_ = false;
  }
}

void Engine::StopCheckpointWriter() {
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpoint_writer_.joinable()) checkpoint_writer_.join();
}

void Engine::SetCheckpointEveryEventsForTest(uint64_t events) {
  std::lock_guard<std::mutex> lock(nearline_mu_);
  checkpoint_every_events_ = std::max<uint64_t>(events, 1);
}

void Engine::SaveNearlineCheckpointLocked() {
  Status saved = data_dir_->PutBlob(kNearlineCheckpoint, NearlineCheckpointBlobLocked());
  if (!saved.ok()) {
    LOG_WARN("serving", "saving the nearline checkpoint failed: ", saved.ToString());
    return;
  }
  since_checkpoint_ = 0;
}

Status Engine::ReplayIntoNearline() {
  {
    std::lock_guard<std::mutex> lock(nearline_mu_);
    RETURN_IF_ERROR(data_dir_->ForEachItem([&](const Item& item) {
      if (!item.category.empty()) item_categories_[item.item_id] = item.category;
      return OkStatus();
    }));
  }
  Stopwatch stopwatch;
  ASSIGN_OR_RETURN(std::optional<std::string> checkpoint, data_dir_->GetBlob(kNearlineCheckpoint));
  if (checkpoint && checkpoint->size() >= 8) {
    uint64_t seq = 0;
    for (int i = 7; i >= 0; --i) {
      seq = (seq << 8) | static_cast<unsigned char>((*checkpoint)[static_cast<size_t>(i)]);
    }
    auto restored = nearline::FeatureProcessor::Restore(
        std::string_view(*checkpoint).substr(8), nearline::ProcessorOptions{}, CategoryLookup());
    if (restored.ok() && seq <= data_dir_->EventCount()) {
      std::lock_guard<std::mutex> lock(nearline_mu_);
      nearline_ = std::move(restored).value();
      nearline_seq_ = seq;
      nearline_startup_.from_checkpoint = true;
      nearline_startup_.checkpoint_seq = seq;
    } else {
      // Features are derived state: rebuild them from the whole log rather than fail.
      LOG_WARN("serving", "ignoring the nearline checkpoint: ",
               restored.ok() ? std::string("it is ahead of the event log")
                             : restored.status().ToString());
    }
  }
  std::vector<Event> batch;
  batch.reserve(10000);
  uint64_t last_seq = nearline_seq_;
  auto flush = [&] {
    ApplyToNearline(batch, /*live=*/false);
    nearline_startup_.replayed_events += batch.size();
    batch.clear();
  };
  RETURN_IF_ERROR(
      data_dir_->ForEachEventAfter(nearline_seq_, [&](uint64_t seq, const Event& event) {
        batch.push_back(event);
        last_seq = seq;
        if (batch.size() == batch.capacity()) flush();
        return OkStatus();
      }));
  flush();
  std::lock_guard<std::mutex> lock(nearline_mu_);
  nearline_seq_ = last_seq;
  if (nearline_startup_.replayed_events > 0) SaveNearlineCheckpointLocked();
  LOG_INFO("serving", "nearline features ready: ",
           nearline_startup_.from_checkpoint
               ? StrCat("checkpoint at event ", nearline_startup_.checkpoint_seq, " + ")
               : std::string("full log: "),
           nearline_startup_.replayed_events, " events replayed in ", stopwatch.ElapsedSeconds(),
           " s");
  return OkStatus();
}

void Engine::RenderMetrics(std::string* out) const {
  out->append(ingest_metrics_.RenderPrometheus());
  obs::RenderHeader(out, "pulse_deadline_exceeded_total", "counter",
                    "Recommend requests past their deadline: on arrival (no work done) or in the "
                    "pipeline (no later stage started).");
  StrAppend(*out, "pulse_deadline_exceeded_total{where=\"arrival\"} ",
            deadline_expired_on_arrival_.load(std::memory_order_relaxed), "\n");
  StrAppend(*out, "pulse_deadline_exceeded_total{where=\"pipeline\"} ",
            deadline_exceeded_in_pipeline_.load(std::memory_order_relaxed), "\n");
  stage_latency_.Render(out);
  candidates_total_.Render(out);
  pipeline_->RenderMetrics(out);  // pulse_source_budget_exceeded_total{source}
  // The event writer's queue (USE): depth and bound, refusals (backpressure), failed batches.
  const ingest::EventWriter::Stats writer = event_writer_->stats();
  obs::RenderHeader(out, "pulse_event_writer_pending_events", "gauge",
                    "Events queued for the durable writer and not yet written.");
  StrAppend(*out, "pulse_event_writer_pending_events ", event_writer_->pending_events(), "\n");
  obs::RenderHeader(out, "pulse_event_writer_max_pending_events", "gauge",
                    "The writer queue's bound (ingest.max_pending_events).");
  StrAppend(*out, "pulse_event_writer_max_pending_events ",
            std::max<int64_t>(config_.ingest.max_pending_events, 1), "\n");
  obs::RenderHeader(out, "pulse_event_writer_refused_total", "counter",
                    "Publish calls refused because the writer queue was full.");
  StrAppend(*out, "pulse_event_writer_refused_total ", writer.refused, "\n");
  obs::RenderHeader(out, "pulse_event_writer_batches_total", "counter",
                    "Group commits (one fsync each), by outcome.");
  StrAppend(*out, "pulse_event_writer_batches_total{outcome=\"ok\"} ",
            writer.batches - std::min(writer.batches, writer.failed_batches), "\n");
  StrAppend(*out, "pulse_event_writer_batches_total{outcome=\"failed\"} ", writer.failed_batches,
            "\n");
  obs::RenderHeader(out, "pulse_feature_freshness_seconds", "histogram",
                    "Event time to feature visible, for live events.");
  freshness_seconds_.Render(out, "pulse_feature_freshness_seconds", "");
  obs::RenderHeader(out, "pulse_fallback_total", "counter",
                    "Requests served from a lower rung, by reason.");
  StrAppend(*out, "pulse_fallback_total{reason=\"feature_store_unavailable\"} ",
            feature_store_fallbacks_.load(std::memory_order_relaxed), "\n");
  StrAppend(*out, "pulse_fallback_total{reason=\"feature_store_refilling\"} ",
            feature_store_refill_reads_.load(std::memory_order_relaxed), "\n");
  RenderFallbackRungs(out);
  RenderFeatureStoreMetrics(out);
  nearline::ProcessorCounters counters = nearline_->counters();
  obs::RenderHeader(out, "pulse_nearline_events_total", "counter",
                    "Events seen by the nearline processor, by outcome.");
  const std::pair<const char*, int64_t> outcomes[] = {
      {"applied", counters.applied},       {"late_applied", counters.late_applied},
      {"duplicate", counters.duplicates},  {"too_late", counters.too_late},
      {"too_future", counters.too_future}, {"invalid", counters.invalid}};
  for (const auto& [outcome, count] : outcomes) {
    StrAppend(*out, "pulse_nearline_events_total{outcome=\"", outcome, "\"} ", count, "\n");
  }
  RenderModelMetrics(out);
}

void Engine::RenderFeatureStoreMetrics(std::string* out) const {
  const std::string_view store = feature_store_->name();
  store::FeatureStoreApplier::Stats stats;
  double lag_seconds = 0;
  if (applier_) {
    stats = applier_->stats();
    lag_seconds = applier_->lag_seconds();
  }
  obs::RenderHeader(out, "pulse_feature_store_apply_failures_total", "counter",
                    "Event batches (or marker checks) the shared feature store did not take.");
  StrAppend(*out, "pulse_feature_store_apply_failures_total{store=\"", store, "\"} ",
            stats.apply_failures + feature_store_apply_failures_.load(std::memory_order_relaxed),
            "\n");
  obs::RenderHeader(out, "pulse_feature_store_lag_events", "gauge",
                    "Committed events not yet applied to the shared feature store.");
  StrAppend(*out, "pulse_feature_store_lag_events{store=\"", store, "\"} ",
            stats.head_seq > stats.applied_seq ? stats.head_seq - stats.applied_seq : 0, "\n");
  obs::RenderHeader(out, "pulse_feature_store_lag_seconds", "gauge",
                    "Age of the oldest committed event not yet in the shared feature store.");
  StrAppend(*out, "pulse_feature_store_lag_seconds{store=\"", store, "\"} ", lag_seconds, "\n");
  obs::RenderHeader(out, "pulse_feature_store_applied_seq", "gauge",
                    "Last event-log sequence applied to the shared feature store (the cursor).");
  StrAppend(*out, "pulse_feature_store_applied_seq{store=\"", store, "\"} ", stats.applied_seq,
            "\n");
  obs::RenderHeader(out, "pulse_feature_store_applied_events_total", "counter",
                    "Events sent to the shared feature store (re-applies included).");
  StrAppend(*out, "pulse_feature_store_applied_events_total{store=\"", store, "\"} ",
            stats.events_applied, "\n");
  obs::RenderHeader(out, "pulse_feature_store_refills_total", "counter",
                    "Times the shared feature store was found empty and refilled from the log.");
  StrAppend(*out, "pulse_feature_store_refills_total{store=\"", store, "\"} ", stats.refills, "\n");
  obs::RenderHeader(out, "pulse_feature_store_refilling", "gauge",
                    "1 while the shared feature store is being refilled (reads are degraded).");
  StrAppend(*out, "pulse_feature_store_refilling{store=\"", store, "\"} ", stats.refilling ? 1 : 0,
            "\n");
  obs::RenderHeader(out, "pulse_feature_store_embedded_reads_total", "counter",
                    "History reads answered from the embedded copy instead of the shared store.");
  StrAppend(*out, "pulse_feature_store_embedded_reads_total{reason=\"refilling\"} ",
            feature_store_refill_reads_.load(std::memory_order_relaxed), "\n");
  StrAppend(*out, "pulse_feature_store_embedded_reads_total{reason=\"unapplied_own_events\"} ",
            feature_store_own_reads_.load(std::memory_order_relaxed), "\n");
  obs::RenderHeader(out, "pulse_feature_store_backpressure_total", "counter",
                    "Publish calls refused because the shared feature store lagged too far.");
  StrAppend(*out, "pulse_feature_store_backpressure_total{store=\"", store, "\"} ",
            feature_store_backpressure_.load(std::memory_order_relaxed), "\n");
}

Result<std::unique_ptr<Engine>> Engine::Create(const Config& config, store::DataDir* data_dir,
                                               const Clock* clock) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> pipeline, Pipeline::Create(config.pipeline));
  std::unique_ptr<store::FeatureStore> feature_store;
  if (config.store.backend == "redis") {
    ASSIGN_OR_RETURN(feature_store, store::RedisFeatureStore::Create(config.redis, config.store));
  } else {
    feature_store = std::make_unique<store::EmbeddedFeatureStore>(data_dir);
  }
  std::unique_ptr<Engine> engine(new Engine(config, data_dir, clock, std::move(pipeline)));
  engine->InitResilience(feature_store);
  engine->feature_store_ = std::move(feature_store);
  RETURN_IF_ERROR(WithContext(engine->ReplayIntoNearline(), "rebuilding nearline features"));
  engine->checkpoint_writer_ = std::thread([raw = engine.get()] { raw->CheckpointWriterLoop(); });
  if (config.store.backend == "redis") {
    engine->applier_ = std::make_unique<store::FeatureStoreApplier>(
        data_dir, engine->feature_store_.get(),
        store::FeatureStoreApplier::Options{config.redis.apply_batch_events,
                                            config.redis.marker_check_ms},
        engine->clock_);
    RETURN_IF_ERROR(WithContext(engine->applier_->Start(), "starting the feature store applier"));
  }
  Engine* raw = engine.get();
  engine->metrics_handle_ =
      obs::DefaultMetricsRegistry().Register([raw](std::string* out) { raw->RenderMetrics(out); });
  auto reloaded = engine->ReloadModelIfNewer();
  if (!reloaded.ok()) {
    LOG_WARN("serving", "no usable model bundle at start-up: ", reloaded.status().ToString());
  }
  return engine;
}

Result<std::shared_ptr<const ServingSnapshot>> Engine::BuildSnapshot(
    std::shared_ptr<const rollout::ModelBundle> model) {
  auto snapshot = std::make_shared<ServingSnapshot>();
  const size_t n_items = model->items.size();
  snapshot->items = std::make_unique<candidates::ItemTable>(n_items);
  for (DenseId i = 0; i < n_items; ++i) {
    ASSIGN_OR_RETURN(std::optional<Item> item, data_dir_->GetItem(model->items.Name(i)));
    // Items seen in events but never described in the catalog serve with unknown metadata.
    if (!item) continue;
    snapshot->items->set_available(i, item->available);
    snapshot->items->set_category(i, CategoryId(item->category));
    snapshot->items->set_created_at_ms(i, item->created_at_ms);
  }
  snapshot->fold_in = train::FoldInParameters(*model, config_.train);
  snapshot->gramian = train::ComputeGramian(model->item_factors.data(), n_items, model->dim);
  snapshot->popular_items.resize(n_items);
  std::iota(snapshot->popular_items.begin(), snapshot->popular_items.end(), 0);
  const auto& popularity = model->item_popularity;
  std::stable_sort(snapshot->popular_items.begin(), snapshot->popular_items.end(),
                   [&](DenseId a, DenseId b) { return popularity[a] > popularity[b]; });
  // The popular source never needs more than a few thousand; keep the head only.
  snapshot->popular_items.resize(std::min<size_t>(n_items, 10000));
  AdviseHugePages(model->item_factors.data(), model->item_factors.size() * sizeof(float));
  snapshot->model = std::move(model);
  static std::atomic<uint32_t> generations{0};
  snapshot->generation = generations.fetch_add(1, std::memory_order_relaxed) + 1;
  return std::shared_ptr<const ServingSnapshot>(std::move(snapshot));
}

Result<bool> Engine::ReloadModelIfNewer() {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  std::vector<std::string> versions = rollout::ListModelVersions(data_dir_->models_dir());
  if (versions.empty()) return NotFoundError("no model bundle yet (run `pulse train`)");
  auto current = snapshot_.load();
  // A pin (`pulse models activate`) overrides "newest wins", in both directions.
  auto pinned = rollout::ReadPinnedVersion(data_dir_->models_dir());
  if (!pinned.ok() || pinned->has_value()) return ReloadPinnedModelLocked(pinned, versions);
  pin_problem_.clear();
  // Newest first; a bundle that fails verification is skipped in favour of the next older one.
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (current && current->model->version >= *it) return false;
    if (refused_versions_.count(*it)) continue;
    auto model = rollout::LoadModelBundle(data_dir_->models_dir() + "/" + *it, config_.index);
    if (!model.ok()) {
      LOG_ERROR("serving", "refusing model bundle ", *it, ": ", model.status().ToString());
      refused_versions_.insert(*it);  // verified once; not re-read on every poll
      continue;
    }
    std::lock_guard<std::mutex> lock(catalog_mu_);
    ASSIGN_OR_RETURN(auto snapshot, BuildSnapshot(std::move(model).value()));
    snapshot_.store(snapshot);
    if (result_cache_) result_cache_->InvalidateAll();  // answers of the old model
    quality::DefaultDataQuality().ResetReference();     // a new model's scores are a new normal
    LOG_INFO("serving", "serving model ", *it, " (", snapshot->model->items.size(), " items, ",
             snapshot->model->users.size(), " users)");
    return true;
  }
  return current ? Result<bool>(false)
                 : Result<bool>(FailedPreconditionError("no loadable model bundle"));
}

Result<bool> Engine::ReloadPinnedModelLocked(const Result<std::optional<std::string>>& pinned,
                                             const std::vector<std::string>& versions) {
  auto current = snapshot_.load();
  // A pin that cannot be honoured is logged once (not on every poll) and changes nothing.
  auto keep_serving = [&](std::string problem) -> Result<bool> {
    if (problem != pin_problem_) {
      LOG_ERROR("serving", problem,
                current ? StrCat("; still serving ", current->model->version)
                        : std::string("; no model is served"));
      pin_problem_ = std::move(problem);
    }
    if (current) return false;
    return FailedPreconditionError(pin_problem_);
  };
  if (!pinned.ok()) return keep_serving(pinned.status().ToString());
  const std::string& version = **pinned;
  if (current && current->model->version == version) return false;
  if (std::find(versions.begin(), versions.end(), version) == versions.end()) {
    return keep_serving(StrCat("pinned model version ", version, " does not exist"));
  }
  if (refused_versions_.count(version)) {
    return keep_serving(StrCat("pinned model version ", version, " was refused"));
  }
  auto model = rollout::LoadModelBundle(data_dir_->models_dir() + "/" + version, config_.index);
  if (!model.ok()) {
    refused_versions_.insert(version);
    return keep_serving(
        StrCat("refusing pinned model bundle ", version, ": ", model.status().ToString()));
  }
  pin_problem_.clear();
  std::lock_guard<std::mutex> lock(catalog_mu_);
  ASSIGN_OR_RETURN(auto snapshot, BuildSnapshot(std::move(model).value()));
  snapshot_.store(snapshot);
  quality::DefaultDataQuality().ResetReference();  // as for any swap: a new normal
  LOG_INFO("serving", "serving pinned model ", version, " (", snapshot->model->items.size(),
           " items, ", snapshot->model->users.size(), " users)",
           current ? StrCat("; was ", current->model->version) : std::string());
  return true;
}

void Engine::RenderModelMetrics(std::string* out) const {
  obs::RenderHeader(out, "pulse_model_version_info", "gauge",
                    "The model bundle version serving (one series, value 1).");
  if (auto snapshot = snapshot_.load()) {
    StrAppend(*out, "pulse_model_version_info{version=\"", snapshot->model->version, "\"} 1\n");
  }
}

void Engine::StartModelWatcher() {
  std::lock_guard<std::mutex> lock(watcher_mu_);
  if (watcher_.joinable() || config_.server.model_poll_ms <= 0) return;
  watcher_stop_ = false;
  watcher_ = std::thread([this] {
    std::unique_lock<std::mutex> wait_lock(watcher_mu_);
    while (!watcher_cv_.wait_for(wait_lock, std::chrono::milliseconds(config_.server.model_poll_ms),
                                 [this] { return watcher_stop_; })) {
      wait_lock.unlock();
      auto reloaded = ReloadModelGuarded();
      if (!reloaded.ok() && reloaded.status().code() != StatusCode::kNotFound) {
        LOG_WARN("serving", "model reload failed: ", reloaded.status().ToString());
      }
      wait_lock.lock();
    }
  });
}

void Engine::StopModelWatcher() {
  {
    std::lock_guard<std::mutex> lock(watcher_mu_);
    watcher_stop_ = true;
  }
  watcher_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

Status Engine::PrepareUser(const ServingSnapshot& snapshot, const RecommendRequest& request,
                           RecommendContext& context) {
  const rollout::ModelBundle& model = *snapshot.model;
  const size_t fold_in_limit = static_cast<size_t>(config_.pipeline.fold_in_items);
  // A user who has not acted since an earlier computed request: the same history under the same
  // snapshot derives the same ids and vector (exact; see user_state_memo.h). A versioned store
  // then leaves the unchanged history out of the read.
  const UserStateKey key{request.user_id, snapshot.generation, fold_in_limit};
  const uint64_t known_version = user_state_memo_.KnownVersion(key);
  ASSIGN_OR_RETURN(store::UserHistory history,
                   ReadUserHistory(request.user_id, known_version, &context.degraded));
  context.history_updated_at_ms = history.updated_at_ms;
  const bool remembered = user_state_memo_.Find(key, history, [&](const DerivedUserState& known) {
    context.seen_items = known.seen_items;
    context.recent_items = known.recent_items;
    context.user_vector = known.user_vector;
    context.history_items = known.history_items;
    context.history_newest_event_ms = known.newest_event_ms;
  });
  if (remembered) {
    context.vector_kind = UserVectorKind::kRecentItems;
    user_state_memo_results_[0].fetch_add(1, std::memory_order_relaxed);
    AddExcludedItems(model, request, context);
    return OkStatus();
  }
  if (known_version != 0 && history.version == known_version) {
    // Left out of the read, but another thread has since replaced the remembered state.
    ASSIGN_OR_RETURN(history, ReadUserHistory(request.user_id, 0, &context.degraded));
  }
  context.history_items = history.recent.size();
  if (!history.recent.empty()) context.history_newest_event_ms = history.recent.front().ts_ms;
  std::vector<float> weights;
  weights.reserve(std::min(history.recent.size(), fold_in_limit));
  context.seen_items.reserve(history.recent.size());
  for (const store::HistoryEntry& entry : history.recent) {
    std::optional<DenseId> item = model.items.Find(entry.item_id);
    if (!item) continue;  // an item newer than the model: not in its vector space
    context.seen_items.push_back(*item);
    if (context.recent_items.size() < fold_in_limit) {
      context.recent_items.push_back(*item);
      weights.push_back(train::InteractionWeight(entry.type, 0));
    }
  }
  std::sort(context.seen_items.begin(), context.seen_items.end());

  context.user_vector.assign(static_cast<size_t>(model.dim), 0.0f);
  if (!context.recent_items.empty()) {
    // The user's latest events, folded into the model's space: reflects what they did seconds
    // ago without waiting for a retrain.
    train::FoldInUser(model.item_factors.data(), model.dim, snapshot.gramian.data(),
                      context.recent_items, weights, snapshot.fold_in, context.user_vector.data());
    context.vector_kind = UserVectorKind::kRecentItems;
    user_state_memo_results_[1].fetch_add(1, std::memory_order_relaxed);
    // Only the fold-in path is remembered: it is the one worth skipping (and the trained-vector
    // path below depends on the user id, not the history).
    user_state_memo_.Store(key, history, context.seen_items, context.recent_items,
                           context.user_vector);
  } else if (std::optional<DenseId> user = model.users.Find(request.user_id)) {
    std::copy_n(model.UserVector(*user), model.dim, context.user_vector.begin());
    context.vector_kind = UserVectorKind::kTrained;
  }
  AddExcludedItems(model, request, context);
  return OkStatus();
}

Result<RecommendResponse> Engine::Recommend(const RecommendRequest& request) {
  RETURN_IF_ERROR(ValidateRecommendRequest(request));
  // Debug answers carry this request's own trace; they are never shared.
  if (result_cache_ && !request.debug) return RecommendThroughCache(request);
  return ComputeRecommendation(request);
}

Result<RecommendResponse> Engine::ComputeRecommendation(const RecommendRequest& request) {
  const int64_t start_us = SteadyMicros();
  recommend_computations_.fetch_add(1, std::memory_order_relaxed);
  if (compute_hook_for_test_) compute_hook_for_test_();
  // The front end's trace for this request, or (in-process callers) one of our own.
  std::optional<obs::RequestTrace> own_trace;
  obs::RequestTrace* trace = obs::CurrentTrace();
  if (trace == nullptr) {
    own_trace.emplace(std::string_view(), "recommend", obs::GlobalTracer().enabled());
    own_trace->AdoptTraceId(request.trace_id);
    trace = &*own_trace;
  }
  // Log lines written while serving this request carry its ids.
  std::string request_id = RandomHex(32);
  ScopedLogContext log_context(request_id, trace->trace_id_hex());
  // Sampled requests remember the log position their user state was read at (`pulse check-skew`
  // replays the log up to it).
  const bool log_features = SampledForFeatureLog(request_id, config_.pipeline.feature_log_sample);
  const uint64_t events_seq = log_features ? data_dir_->EventCount() : 0;
  RETURN_IF_ERROR(ValidateRecommendRequest(request));
  if (request.deadline_us > 0 && start_us >= request.deadline_us) {
    deadline_expired_on_arrival_.fetch_add(1, std::memory_order_relaxed);
    return DeadlineExceededError("deadline passed before the request was served");
  }
  std::shared_ptr<const ServingSnapshot> snapshot = snapshot_.load();
  if (!snapshot) return FailedPreconditionError("no model loaded yet (run `pulse train`)");

  RecommendContext context;
  RecycledContextVectors recycled(context);
  context.model = snapshot->model.get();
  context.items = snapshot->items.get();
  context.popular_items = snapshot->popular_items;
  context.features = nearline_.get();
  context.model_generation = snapshot->generation;
  context.n = request.n.value_or(config_.pipeline.default_n);
  context.now_ms = clock_.NowMillis();
  context.debug = request.debug;
  context.deadline_us = request.deadline_us;
  {
    const int64_t user_start_us = SteadyMicros();
    if (Status prepared = PrepareUser(*snapshot, request, context); !prepared.ok()) {
      // The fallback ladder: a recent cached answer, else the sources that need no user state.
      if (auto stale = StaleRecommendation(request, *snapshot)) {
        AddUncomputedSpan(*trace, request, *stale,
                          obs::UnixNanosNow() - (SteadyMicros() - start_us) * 1000,
                          /*cache_hit=*/true, false);
        if (own_trace) {
          own_trace->End(false, {});
          obs::GlobalTracer().Finish(std::move(*own_trace));
        }
        return *std::move(stale);
      }
      static std::atomic<uint64_t> failures{0};
      if (failures.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
        LOG_WARN("serving", "serving without user state: ", prepared.ToString());
      }
      context.user_vector.clear();
      context.vector_kind = UserVectorKind::kNone;
      context.recent_items.clear();
      context.seen_items.clear();
      context.excluded_items.clear();
      for (const std::string& id : request.exclude) {
        if (auto item = snapshot->model->items.Find(id)) context.excluded_items.push_back(*item);
      }
      std::sort(context.excluded_items.begin(), context.excluded_items.end());
      context.degraded = true;
    }
    context.stages.push_back({"user", SteadyMicros() - user_start_us,
                              static_cast<int>(context.recent_items.size()), user_start_us});
  }

  // Reused per thread: the candidate list is the largest per-request buffer.
  thread_local std::vector<Candidate> ranked;
  pipeline_->Run(context, ranked);
  if (context.deadline_exceeded) {
    deadline_exceeded_in_pipeline_.fetch_add(1, std::memory_order_relaxed);
    return DeadlineExceededError(
        StrCat("deadline exceeded after ", context.stages.size(), " pipeline stages"));
  }

  RecommendResponse response;
  response.request_id = std::move(request_id);
  response.model_version = snapshot->model->version;
  response.degraded = context.degraded;
  response.items.reserve(ranked.size());
  for (const Candidate& candidate : ranked) {
    RecommendedItem item;
    item.item_id = snapshot->model->items.Name(candidate.item);
    item.score = candidate.score;
    item.explanation_id = candidate.explanation;
    item.source = pipeline_->source_names()[candidate.source];
    response.items.push_back(std::move(item));
  }
  SetFallbackRung(response, ranked);
  RecordStagesAndSpans(context, *snapshot, request, response, start_us, *trace);
  if (own_trace) {
    own_trace->End(false, {});
    obs::GlobalTracer().Finish(std::move(*own_trace));
  }
  if (log_features) {
    // Ranker training data (serving/feature_log.h); best-effort, never fails the request.
    store::ServedRequest served =
        MakeServedRequest(context, ranked, response.request_id, request.user_id);
    served.events_seq = events_seq;
    const std::string record = store::EncodeServedRequest(served);
    if (Status logged = data_dir_->PutServedRecord(context.now_ms, response.request_id, record);
        !logged.ok()) {
      LOG_WARN("serving", "served-feature log write failed: ", logged.ToString());
    }
  }
  if (request.debug) {
    RecommendDebug debug;
    debug.trace_id = trace->trace_id_hex();
    for (const candidates::StageTrace& stage : context.stages) {
      debug.stages.push_back({std::string(stage.name), stage.duration_us, stage.candidates,
                              std::string(stage.outcome)});
    }
    debug.stages.push_back(
        {"total", SteadyMicros() - start_us, static_cast<int>(response.items.size())});
    for (const candidates::RemovedCandidate& removed : context.removed) {
      debug.removed.push_back({snapshot->model->items.Name(removed.item),
                               std::string(removed.filter), std::string(removed.reason)});
    }
    debug.model_version = snapshot->model->version;
    debug.index_version = StrCat(snapshot->model->version, "/", snapshot->model->index->type());
    AddFeatureDebug(context, *snapshot, ranked, &debug);
    response.debug = std::move(debug);
  }
  return response;
}

void Engine::RecordStagesAndSpans(const RecommendContext& context, const ServingSnapshot& snapshot,
                                  const RecommendRequest& request,
                                  const RecommendResponse& response, int64_t start_us,
                                  obs::RequestTrace& trace) {
  const int64_t end_us = SteadyMicros();
  for (const candidates::StageTrace& stage : context.stages) {
    stage_latency_.Observe(stage.name, stage.duration_us);
  }
  stage_latency_.Observe("total", end_us - start_us);
  for (const candidates::StageTrace& stage : context.stages) {
    candidates_total_.Add(stage.name, static_cast<uint64_t>(std::max(0, stage.candidates)));
  }
  if (!trace.recording()) return;
  // Spans carry wall-clock times; stages were timed on the steady clock.
  const int64_t offset_ns = obs::UnixNanosNow() - end_us * 1000;
  obs::Span& span = trace.AddSpan("recommend", trace.root_span_id(), start_us * 1000 + offset_ns,
                                  end_us * 1000 + offset_ns);
  // A hash bucket, never the user id.
  span.Set("pulse.user_bucket", obs::UserBucket(request.user_id));
  span.Set("pulse.model_version", snapshot.model->version);
  span.Set("pulse.index_version", std::string(snapshot.model->index->type()));
  span.Set("pulse.degraded", context.degraded);
  span.Set("pulse.fallback", std::string(context.has_user_vector() ? "none" : "no_user_vector"));
  span.Set("pulse.cache_hit", false);
  span.Set("pulse.fallback_rung", FallbackRung(response));
  span.Set("pulse.items", static_cast<int64_t>(response.items.size()));
  span.Set("pulse.removed", static_cast<int64_t>(context.removed.size()));
  const uint64_t parent = span.span_id;
  const std::span<const std::string> sources = pipeline_->source_names();
  std::vector<std::pair<std::string, int64_t>> per_source;
  for (const candidates::StageTrace& stage : context.stages) {
    obs::Span& child =
        trace.AddSpan(StrCat("stage ", stage.name), parent, stage.start_us * 1000 + offset_ns,
                      (stage.start_us + stage.duration_us) * 1000 + offset_ns);
    child.Set("pulse.stage", std::string(stage.name));
    child.Set("pulse.candidates", static_cast<int64_t>(stage.candidates));
    if (!stage.outcome.empty()) child.Set("pulse.outcome", std::string(stage.outcome));
    if (std::find(sources.begin(), sources.end(), stage.name) != sources.end()) {
      per_source.emplace_back(StrCat("pulse.candidates.", stage.name), stage.candidates);
    }
  }
  // AddSpan may have moved the vector: find the recommend span again by id.
  for (obs::Span& s : trace.spans()) {
    if (s.span_id != parent) continue;
    for (auto& [key, count] : per_source) s.Set(std::move(key), count);
  }
}

void Engine::AddFeatureDebug(const RecommendContext& context, const ServingSnapshot& snapshot,
                             std::span<const Candidate> ranked, RecommendDebug* debug) const {
  const int64_t now_ms = context.now_ms;
  const int64_t model_age_ms =
      snapshot.model->created_at_ms > 0 ? now_ms - snapshot.model->created_at_ms : -1;
  for (const std::string& name : pipeline_->source_names()) {
    int count = 0;
    for (const candidates::StageTrace& stage : context.stages) {
      if (stage.name == name) count += stage.candidates;
    }
    debug->candidates_by_source.emplace_back(name, count);
  }
  const double vector_kind = static_cast<double>(static_cast<int>(context.vector_kind));
  // The user vector is as old as its inputs: the newest folded-in event, or the model.
  const int64_t vector_age_ms =
      context.vector_kind == UserVectorKind::kRecentItems && context.history_newest_event_ms > 0
          ? now_ms - context.history_newest_event_ms
      : context.vector_kind == UserVectorKind::kTrained ? model_age_ms
                                                        : -1;
  debug->user_features = {
      {"history_items", static_cast<double>(context.history_items),
       context.history_updated_at_ms > 0 ? now_ms - context.history_updated_at_ms : -1},
      {"newest_event", static_cast<double>(context.history_newest_event_ms),
       context.history_newest_event_ms > 0 ? now_ms - context.history_newest_event_ms : -1},
      {"user_vector_kind", vector_kind, vector_age_ms},
      {"fold_in_items", static_cast<double>(context.recent_items.size()), vector_age_ms}};
  for (const Candidate& candidate : ranked) {
    const int64_t created = snapshot.items->created_at_ms(candidate.item);
    debug->item_features.push_back(
        {snapshot.model->items.Name(candidate.item),
         {{"retrieval_score", candidate.retrieval_score, -1},
          {"similarity", candidate.similarity, vector_age_ms},
          {"popularity", candidate.popularity, model_age_ms},
          {"freshness", candidate.freshness, created > 0 ? now_ms - created : -1},
          {"score", candidate.score, -1}}});
  }
}

Result<PublishResult> Engine::PublishEvents(std::vector<EventInput> events,
                                            std::string_view source) {
  const size_t max_batch = static_cast<size_t>(std::max(config_.ingest.max_batch_events, 1));
  if (events.size() > max_batch) {
    ingest_metrics_.CountRejected(ingest::RejectReason::kOversizedBatch, events.size());
    return InvalidArgumentError(StrCat("a publish call carries at most ", max_batch,
                                       " events; this one has ", events.size()));
  }
  PublishResult result;
  std::vector<Event> valid;
  valid.reserve(events.size());
  std::vector<std::pair<size_t, ingest::Reject>> rejects;
  for (size_t i = 0; i < events.size(); ++i) {
    EventInput& input = events[i];
    if (!input.event) {
      std::string message =
          input.parse_error.empty() ? std::string("event could not be parsed") : input.parse_error;
      rejects.emplace_back(i, ingest::Reject{ingest::ClassifyParseError(message), message});
    } else if (std::optional<ingest::Reject> reject = validator_.Validate(*input.event)) {
      rejects.emplace_back(i, *std::move(reject));
    } else {
      valid.push_back(std::move(*input.event));
    }
  }

  // Valid events first: under backpressure the call fails as a whole (the client retries it),
  // so nothing of it — dead letters included — may be recorded yet.
  if (!valid.empty()) {
    // Backpressure from the shared store: past the lag bound, refuse like a full queue (429).
    if (applier_ && applier_->live_lag_events() > static_cast<uint64_t>(std::max<int64_t>(
                                                      config_.redis.max_apply_lag_events, 1))) {
      feature_store_backpressure_.fetch_add(1, std::memory_order_relaxed);
      return ResourceExhaustedError(StrCat("ingest is saturated: the ", feature_store_->name(),
                                           " feature store lags ", applier_->live_lag_events(),
                                           " events behind the log"));
    }
    ASSIGN_OR_RETURN(store::AppendResult written, event_writer_->Submit(std::move(valid)));
    result.accepted = static_cast<int>(written.appended + written.duplicates);
    result.duplicates = static_cast<int>(written.duplicates);
    ingest_metrics_.CountIngested(source, written.appended);
  }

  if (!rejects.empty()) {
    const int64_t now_ms = clock_.NowMillis();
    std::vector<store::DeadLetter> letters;
    letters.reserve(rejects.size());
    for (auto& [index, reject] : rejects) {
      ingest_metrics_.CountRejected(reject.reason);
      EventInput& input = events[index];
      store::DeadLetter letter;
      letter.received_at_ms = now_ms;
      letter.source = std::string(source);
      letter.reason = std::string(ingest::RejectReasonLabel(reject.reason));
      letter.reason_text = reject.message;
      // gRPC inputs carry no text: keep the decoded event so the record still shows it.
      if (!input.raw.empty()) {
        letter.raw = std::move(input.raw);
      } else if (input.event) {
        letter.raw = ingest::EventToJson(*input.event)
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
      letters.push_back(std::move(letter));
      result.rejected.emplace_back(static_cast<int>(index), std::move(reject.message));
    }
    // A lost dead letter costs a diagnostic, never an event: log and answer anyway.
    Status stored = data_dir_->AppendDeadLetters(
        letters, static_cast<uint64_t>(std::max<int64_t>(config_.ingest.dead_letter_max, 0)));
    if (!stored.ok()) LOG_WARN("serving", "storing dead letters failed: ", stored.ToString());
  }
  return result;
}

Result<std::vector<DeadLetterView>> Engine::ListDeadLetters(size_t limit) {
  ASSIGN_OR_RETURN(std::vector<store::DeadLetter> letters, data_dir_->ListDeadLetters(limit));
  std::vector<DeadLetterView> views;
  views.reserve(letters.size());
  for (store::DeadLetter& letter : letters) {
    views.push_back({letter.received_at_ms, std::move(letter.source), std::move(letter.reason),
                     std::move(letter.reason_text), std::move(letter.raw)});
  }
  return views;
}

Result<UpsertResult> Engine::UpsertItems(std::vector<Item> items) {
  UpsertResult result;
  std::vector<Item> valid;
  valid.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    Status status = ingest::ValidateItem(items[i]);
    if (!status.ok()) {
      result.rejected.emplace_back(static_cast<int>(i), status.message());
    } else {
      valid.push_back(std::move(items[i]));
    }
  }
  if (valid.empty()) return result;
  std::lock_guard<std::mutex> lock(catalog_mu_);
  RETURN_IF_ERROR(data_dir_->PutItems(valid));
  {
    std::lock_guard<std::mutex> nearline_lock(nearline_mu_);
    for (const Item& item : valid) item_categories_[item.item_id] = item.category;
  }
  if (auto snapshot = snapshot_.load()) {
    for (const Item& item : valid) {
      if (auto dense = snapshot->model->items.Find(item.item_id)) {
        snapshot->items->set_available(*dense, item.available);
      }
    }
  }
  // Availability (and categories) changed: cached answers may be wrong either way.
  if (result_cache_) result_cache_->InvalidateAll();
  result.upserted = static_cast<int>(valid.size());
  return result;
}

Status Engine::DeleteItem(std::string_view item_id) {
  RETURN_IF_ERROR(ingest::ValidateId(item_id, "item_id"));
  std::lock_guard<std::mutex> lock(catalog_mu_);
  auto snapshot = snapshot_.load();
  std::optional<DenseId> dense;
  if (snapshot) dense = snapshot->model->items.Find(item_id);
  ASSIGN_OR_RETURN(std::optional<Item> stored, data_dir_->GetItem(item_id));
  // Items known only from events (never upserted) are deletable too.
  if (!stored && !dense) return NotFoundError("item not found");
  // A tombstone (available=false), not a removal: an item absent from the catalog serves with
  // unknown metadata, so a removed item would come back after a restart.
  Item tombstone = stored ? *std::move(stored) : Item{};
  tombstone.item_id = std::string(item_id);
  tombstone.available = false;
  RETURN_IF_ERROR(data_dir_->PutItems({tombstone}));
  if (dense) snapshot->items->set_available(*dense, false);
  if (result_cache_) result_cache_->InvalidateAll();  // cached answers may hold it
  return OkStatus();
}

Result<Item> Engine::GetItem(std::string_view item_id) {
  RETURN_IF_ERROR(ingest::ValidateId(item_id, "item_id"));
  ASSIGN_OR_RETURN(std::optional<Item> item, data_dir_->GetItem(item_id));
  if (!item) return NotFoundError("item not found");
  return *std::move(item);
}

Result<UserFeatures> Engine::GetUserFeatures(std::string_view user_id) {
  RETURN_IF_ERROR(ingest::ValidateId(user_id, "user_id"));
  UserFeatures features;
  features.user_id = std::string(user_id);
  bool degraded = false;
  ASSIGN_OR_RETURN(features.history, ReadUserHistory(user_id, 0, &degraded));
  features.windows = nearline_->User(user_id);
  return features;
}

Readiness Engine::GetReadiness() {
  Readiness readiness;
  if (auto snapshot = snapshot_.load()) {
    readiness.ready = true;
    readiness.model_version = snapshot->model->version;
  } else {
    readiness.reason = "no model loaded yet (run `pulse train`)";
  }
  return readiness;
}

// ---- caching and resilience ------------------------------------------------------------------

namespace {

// The rungs below personalized, in ladder order (index into Engine::fallback_rungs_).
constexpr std::string_view kFallbackRungs[] = {"cached", "heuristic", "popular"};

void CountRung(std::atomic<uint64_t>* counts, std::string_view rung) {
  for (size_t i = 0; i < std::size(kFallbackRungs); ++i) {
    if (kFallbackRungs[i] == rung) counts[i].fetch_add(1, std::memory_order_relaxed);
  }
}

resilience::CircuitBreakerOptions BreakerOptions(const ResilienceConfig& config) {
  resilience::CircuitBreakerOptions options;
  options.consecutive_failures = config.breaker_failures;
  options.failure_rate = config.breaker_failure_rate;
  options.min_calls = config.breaker_min_calls;
  options.window_ms = config.breaker_window_ms;
  options.open_ms = config.breaker_open_ms;
  return options;
}

}  // namespace

void Engine::InitResilience(std::unique_ptr<store::FeatureStore>& feature_store) {
  const resilience::CircuitBreakerOptions breaker = BreakerOptions(config_.resilience);
  feature_store_breaker_ = std::make_unique<resilience::CircuitBreaker>(breaker, clock_);
  model_breaker_ = std::make_unique<resilience::CircuitBreaker>(breaker, clock_);
  if (feature_store->name() != "embedded") {
    // More slots than the pool has connections (callers queue for one briefly), fewer than the
    // front ends have threads: a hung Redis cannot hold every request thread.
    feature_store = std::make_unique<GuardedFeatureStore>(std::move(feature_store),
                                                          feature_store_breaker_.get(),
                                                          4 * int64_t{config_.redis.pool_size});
  }
  if (config_.cache.ttl_ms > 0) {
    resilience::ResultCacheOptions options;
    options.ttl_us = config_.cache.ttl_ms * 1000;
    options.jitter = config_.cache.jitter;
    options.max_entries = static_cast<size_t>(config_.cache.max_entries);
    result_cache_ = std::make_unique<resilience::UserResultCache<CachedResponse>>(options, clock_);
  }
  resilience_metrics_handle_ = obs::DefaultMetricsRegistry().Register(
      [this](std::string* out) { RenderResilienceMetrics(out); });
}

Result<bool> Engine::ReloadModelGuarded() {
  resilience::CircuitBreaker::Ticket ticket = model_breaker_->Allow();
  if (!ticket.allowed) return false;  // the model store failed recently; the next poll retries
  Result<bool> reloaded = ReloadModelIfNewer();
  model_breaker_->Record(ticket,
                         reloaded.ok() || reloaded.status().code() == StatusCode::kNotFound);
  return reloaded;
}

std::string Engine::CacheKey(const RecommendRequest& request) const {
  // Separators are control characters, which ids and context strings may not contain... and if
  // a context value did, it would only split one user's entries, never mix two users.
  std::string key = StrCat(request.user_id, "\x1f", request.n.value_or(config_.pipeline.default_n));
  for (const std::string& id : request.exclude) StrAppend(key, "\x1e", id);
  for (const auto& [name, value] : request.context) StrAppend(key, "\x1d", name, "=", value);
  return key;
}

Result<RecommendResponse> Engine::RecommendThroughCache(const RecommendRequest& request) {
  const std::string key = CacheKey(request);
  auto answer = [](const RecommendResponse& shared) {
    RecommendResponse response = shared;
    response.request_id = RandomHex(32);  // exposures join on it: one per request, always
    return response;
  };
  const int64_t start_unix_ns = obs::UnixNanosNow();
  if (std::optional<CachedResponse> hit = result_cache_->Lookup(request.user_id, key)) {
    CountRung(fallback_rungs_, (*hit)->fallback);
    RecommendResponse response = answer(**hit);
    TraceUncomputedAnswer(request, response, start_unix_ns, /*cache_hit=*/true, false);
    return response;
  }
  bool computed_here = false;  // this caller ran the pipeline (not a follower, not a late hit)
  resilience::SingleFlight<Result<CachedResponse>>::Outcome outcome =
      recommend_flight_.Do(key, [&]() -> Result<CachedResponse> {
        // A leader that finished just before this one registered may have stored the answer.
        if (std::optional<CachedResponse> hit = result_cache_->Peek(request.user_id, key)) {
          return *std::move(hit);
        }
        // Taken before anything is read: an event acknowledged meanwhile refuses the store.
        const auto token = result_cache_->Begin(request.user_id);
        ASSIGN_OR_RETURN(RecommendResponse computed, ComputeRecommendation(request));
        computed_here = true;
        auto shared = std::make_shared<const RecommendResponse>(std::move(computed));
        // A degraded answer is not reused: the next request tries the full path again.
        if (!shared->degraded) result_cache_->Store(request.user_id, key, token, shared);
        return CachedResponse(std::move(shared));
      });
  if (!outcome.value.ok()) return outcome.value.status();
  if (outcome.shared) CountRung(fallback_rungs_, (*outcome.value)->fallback);
  // The computing caller keeps the request id its served features were logged under, so
  // exposures and clicks that carry it join the ranker's training rows; every other caller
  // gets an id of its own.
  if (computed_here) return RecommendResponse(**outcome.value);
  RecommendResponse response = answer(**outcome.value);
  // A follower shared the leader's computation; otherwise a late hit found it in the cache.
  TraceUncomputedAnswer(request, response, start_unix_ns, /*cache_hit=*/!outcome.shared,
                        /*coalesced=*/outcome.shared);
  return response;
}

std::optional<RecommendResponse> Engine::StaleRecommendation(const RecommendRequest& request,
                                                             const ServingSnapshot& snapshot) {
  if (!result_cache_ || config_.cache.stale_ms <= 0 || request.debug) return std::nullopt;
  std::optional<CachedResponse> stale =
      result_cache_->LookupStale(request.user_id, CacheKey(request), config_.cache.stale_ms * 1000);
  if (!stale || (*stale)->model_version != snapshot.model->version) return std::nullopt;
  RecommendResponse response = **stale;
  // Deleted since it was cached: never recommended again, stale or not.
  std::erase_if(response.items, [&](const RecommendedItem& item) {
    std::optional<DenseId> dense = snapshot.model->items.Find(item.item_id);
    return dense && !snapshot.items->available(*dense);
  });
  if (response.items.empty()) return std::nullopt;
  response.request_id = RandomHex(32);
  response.degraded = true;
  response.fallback = "cached";
  CountRung(fallback_rungs_, response.fallback);
  return response;
}

void Engine::InvalidateCachedUsers(std::span<const Event> events) {
  if (!result_cache_) return;
  // Batches are usually a few users many times over: skip runs of the same user.
  std::string_view last;
  for (const Event& event : events) {
    if (event.user_id == last) continue;
    last = event.user_id;
    result_cache_->Invalidate(event.user_id);
  }
}

void Engine::SetFallbackRung(RecommendResponse& response,
                             const std::vector<candidates::Candidate>& ranked) {
  // The best rung among the items: a model-based (ann) item means the personalized rung served.
  int best = 3;  // 0 personalized, 1 heuristic, 2 popular, 3 nothing
  for (const candidates::Candidate& candidate : ranked) {
    std::string_view source = pipeline_->source_names()[candidate.source];
    int rung = source == "ann" ? 0 : source == "popular" ? 2 : 1;
    best = std::min(best, rung);
    if (best == 0) break;
  }
  response.fallback = best == 0 ? "" : best == 1 ? "heuristic" : "popular";
  CountRung(fallback_rungs_, response.fallback);
}

void Engine::RenderFallbackRungs(std::string* out) const {
  for (size_t i = 0; i < std::size(kFallbackRungs); ++i) {
    StrAppend(*out, "pulse_fallback_total{reason=\"", kFallbackRungs[i], "\"} ",
              fallback_rungs_[i].load(std::memory_order_relaxed), "\n");
  }
}

resilience::ResultCacheStats Engine::cache_stats() const {
  return result_cache_ ? result_cache_->stats() : resilience::ResultCacheStats{};
}

void Engine::RenderResilienceMetrics(std::string* out) const {
  const resilience::ResultCacheStats stats = cache_stats();
  obs::RenderHeader(out, "pulse_cache_hits_total", "counter",
                    "Recommend requests answered from the per-user result cache.");
  StrAppend(*out, "pulse_cache_hits_total ", stats.hits, "\n");
  obs::RenderHeader(out, "pulse_cache_misses_total", "counter",
                    "Recommend requests the result cache could not answer (debug ones excluded).");
  StrAppend(*out, "pulse_cache_misses_total ", stats.misses, "\n");
  obs::RenderHeader(
      out, "pulse_cache_coalesced_total", "counter",
      "Recommend requests that shared an identical concurrent request's computation.");
  StrAppend(*out, "pulse_cache_coalesced_total ", recommend_flight_.coalesced(), "\n");
  obs::RenderHeader(out, "pulse_cache_invalidations_total", "counter",
                    "Users whose cached answers were made stale by their new events.");
  StrAppend(*out, "pulse_cache_invalidations_total ", stats.invalidations, "\n");
  obs::RenderHeader(out, "pulse_cache_entries", "gauge", "Answers held by the result cache.");
  StrAppend(*out, "pulse_cache_entries ", stats.entries, "\n");
  obs::RenderHeader(out, "pulse_recommend_computations_total", "counter",
                    "Recommendations computed by the pipeline (not served from the cache).");
  StrAppend(*out, "pulse_recommend_computations_total ",
            recommend_computations_.load(std::memory_order_relaxed), "\n");
  obs::RenderHeader(out, "pulse_user_state_memo_total", "counter",
                    "Computed requests whose folded-in user vector came from the user-state "
                    "memo (hit) or was solved (miss).");
  StrAppend(*out, "pulse_user_state_memo_total{result=\"hit\"} ",
            user_state_memo_results_[0].load(std::memory_order_relaxed), "\n");
  StrAppend(*out, "pulse_user_state_memo_total{result=\"miss\"} ",
            user_state_memo_results_[1].load(std::memory_order_relaxed), "\n");
  obs::RenderHeader(out, "pulse_circuit_state", "gauge",
                    "Circuit breaker state by dependency: 0 closed, 1 open, 2 half-open.");
  // The embedded store is the process itself: no breaker in front of it.
  const bool shared_store = feature_store_->name() != "embedded";
  const std::pair<std::string_view, const resilience::CircuitBreaker*> breakers[] = {
      {"model_store", model_breaker_.get()},
      {shared_store ? feature_store_->name() : std::string_view(), feature_store_breaker_.get()}};
  for (const auto& [dependency, breaker] : breakers) {
    if (dependency.empty()) continue;
    StrAppend(*out, "pulse_circuit_state{dependency=\"", dependency, "\"} ",
              static_cast<int>(breaker->state()), "\n");
  }
  obs::RenderHeader(out, "pulse_circuit_trips_total", "counter",
                    "Times a dependency's circuit breaker opened.");
  for (const auto& [dependency, breaker] : breakers) {
    if (dependency.empty()) continue;
    StrAppend(*out, "pulse_circuit_trips_total{dependency=\"", dependency, "\"} ", breaker->trips(),
              "\n");
  }
}

Result<std::vector<TopItem>> Engine::TopItems(size_t limit) {
  std::vector<TopItem> out;
  auto snapshot = snapshot_.load();
  // A deleted or unavailable item may still trend in the nearline counts; it is not shown.
  auto available = [&snapshot](std::string_view item_id) {
    if (!snapshot) return true;
    std::optional<DenseId> dense = snapshot->model->items.Find(item_id);
    return !dense || snapshot->items->available(*dense);
  };
  nearline::TrendingSnapshot trending = nearline_->Trending();
  if (trending != nullptr) {
    for (const nearline::TrendingItem& item : *trending) {
      if (out.size() >= limit) break;
      if (available(item.item_id)) out.push_back({item.item_id, item.velocity, "trending"});
    }
  }
  if (out.empty() && snapshot) {
    for (DenseId id : snapshot->popular_items) {
      if (out.size() >= limit) break;
      if (!snapshot->items->available(id)) continue;
      const auto& popularity = snapshot->model->item_popularity;
      out.push_back({snapshot->model->items.Name(id), id < popularity.size() ? popularity[id] : 0.0,
                     "popular"});
    }
  }
  return out;
}

}  // namespace pulse::serving
