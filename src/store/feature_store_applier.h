// store/feature_store_applier.h — follows the durable event log into a shared FeatureStore
// (Redis) on its own thread, so ingest never waits for the shared store.
//
// The log is the source of truth: the applier keeps a cursor (the last log sequence the store has
// taken), persisted in the data dir (blob "feature_store_cursor"; at most every 200 ms while
// behind, at once when caught up and on Stop), and applies the events after
// it in pipelined batches of `batch_events` (10× that while refilling). The writer's commit hook
// calls Notify(), which wakes the thread (no polling latency when idle); after an outage or a
// restart the applier simply reads on from its cursor.
//
// Exactly once: every event goes to the store with an event id — its own, or "~<instance>:<seq>"
// for events without one (instance = a random id of this data dir, blob
// "feature_store_instance") — and the store skips ids it has already applied. So a crash between
// an apply and the cursor save re-applies the last batch as a no-op.
//
// Lost store data: the applier puts a marker (FeatureStore::PutMarker, name = instance) when it
// starts filling the store and checks it before every batch and every `marker_check_ms` when
// idle. A missing marker (Redis restarted empty, FLUSHALL) resets the cursor to 0 and refills the
// store from the whole log; events applied before the loss was noticed are skipped by id. While
// refilling (and at start-up, until the events committed before the start are applied)
// refilling() is true: readers should answer from the embedded copy and say they are degraded.
//
// Read-your-writes: HasUnapplied(user) says whether one of the user's committed events is not in
// the store yet, so the process that acknowledged it can answer from its own embedded copy.
//
// Thread-safety: every method may be called concurrently; Notify is meant for one thread (the
// commit hook). Ownership: `data_dir`, `store` and `clock` are borrowed and must outlive the
// applier. Failure: a store error is counted and retried with backoff (100 ms doubling to 1 s);
// a failed cursor save is logged (the next save or an idempotent re-apply covers it).
// Memory: the unapplied users are remembered per committed group (bounded by the lag, which the
// owner bounds with backpressure; see live_lag_events()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/strings.h"
#include "store/data_dir.h"
#include "store/feature_store.h"

namespace pulse::store {

class FeatureStoreApplier {
 public:
  struct Options {
    int batch_events = 2000;
    int64_t marker_check_ms = 1000;
  };
  struct Stats {
    uint64_t applied_seq = 0;     // the cursor
    uint64_t head_seq = 0;        // last committed log sequence
    uint64_t batches = 0;         // successful ApplyEvents calls
    uint64_t events_applied = 0;  // events sent in successful batches (re-applies included)
    uint64_t apply_failures = 0;  // failed ApplyEvents / marker calls
    uint64_t refills = 0;         // times the marker was found missing
    bool refilling = false;
  };

  FeatureStoreApplier(DataDir* data_dir, FeatureStore* store, Options options,
                      const Clock& clock = SystemClock::Get());
  ~FeatureStoreApplier();
  FeatureStoreApplier(const FeatureStoreApplier&) = delete;
  FeatureStoreApplier& operator=(const FeatureStoreApplier&) = delete;

  // Loads (or creates) the instance id and the cursor, then starts the thread. Errors come from
  // the data dir only (the store may be down).
  Status Start();
  // Stops the thread after its current batch (no drain: the cursor is durable). Idempotent.
  void Stop();

  // From the commit hook: `appended` were just written and `last_seq` is the log's last sequence.
  void Notify(std::span<const Event> appended, uint64_t last_seq);

  // Whether a committed event of `user_id` is not in the store yet (outside a refill).
  bool HasUnapplied(std::string_view user_id) const;
  bool refilling() const;
  // Whether the last call to the store succeeded (false from the first failure until a batch or
  // marker check succeeds again).
  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  // Committed events not in the store yet, all of them / excluding a refill's backlog.
  uint64_t lag_events() const;
  uint64_t live_lag_events() const;
  // Age of the oldest committed event not in the store yet (0 when caught up).
  double lag_seconds() const;
  Stats stats() const;

  // Blocks until the cursor reaches `seq` (or the applier stops); false on timeout. For tests
  // and benchmarks.
  bool WaitAppliedForTest(uint64_t seq, int64_t timeout_ms);
  // Test hook: the next successful apply "crashes" before saving the cursor (the cursor stays
  // where it was, in memory and on disk, as after a kill -9 between the two).
  void SkipNextCursorSaveForTest();

  static constexpr std::string_view kCursorBlob = "feature_store_cursor";
  static constexpr std::string_view kInstanceBlob = "feature_store_instance";

 private:
  struct Group {
    uint64_t last_seq;
    int64_t committed_at_ms;
    std::vector<std::string> users;
  };

  void Run();
  // One step: marker check, then one batch. Returns false on a store error.
  bool Step();
  void SaveCursor(uint64_t seq);
  void Backoff(int64_t ms);

  DataDir* const data_dir_;
  FeatureStore* const store_;
  const Options options_;
  const Clock& clock_;
  std::string instance_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;      // guarded by mu_
  bool notified_ = false;  // guarded by mu_
  // Written under mu_, read without it on the request path (HasUnapplied, refilling).
  std::atomic<uint64_t> head_{0};
  std::atomic<uint64_t> cursor_{0};
  std::atomic<uint64_t> refill_until_{0};  // refilling while cursor_ < refill_until_
  std::atomic<bool> healthy_{true};
  int64_t refill_started_ms_ = 0;  // guarded by mu_
  bool skip_cursor_save_ = false;  // guarded by mu_
  std::deque<Group> groups_;       // guarded by mu_: committed groups not applied yet
  std::unordered_map<std::string, uint64_t, StringHash, std::equal_to<>>
      unapplied_;  // guarded by mu_: user → last seq of their newest unapplied group
  Stats stats_;    // guarded by mu_ (counters)
  std::condition_variable applied_cv_;
  int64_t last_marker_check_ms_ = 0;  // applier thread only
  int64_t last_cursor_save_ms_ = 0;   // applier thread only
  bool marker_known_ = false;         // applier thread only: checked once since start
  std::thread thread_;
};

}  // namespace pulse::store
