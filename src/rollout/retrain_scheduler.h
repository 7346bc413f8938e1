// rollout/retrain_scheduler.h — periodic retraining inside `pulse serve` (roles all, nearline).
//
// Every `interval_ms` (by the given Clock) the scheduler considers a retrain; it runs one only
// when at least `min_new_events` events were appended to the log since the data of the last
// bundle (so an idle system does not retrain). The retrain itself is a callback (serve wires it
// to train::TrainAndWriteBundle, the code path of `pulse train`); it writes the next bundle and
// the engine's model watcher swaps it in (verified, atomically, in-flight requests finish on
// their version). After a successful retrain the newest `keep_versions` bundles are kept, never
// the pinned one nor the versions `protected_versions` names (the serving one).
//
// Threads: Start() runs the loop on one background thread whose niceness is raised to `nice`
// (Linux niceness is per thread and inherited by the threads it starts, so the training worker
// threads run at the same low priority); request threads are untouched. Runs never overlap: one
// thread, and RunIfDue takes a lock (a concurrent call returns kBusy). Stop() sets the cancel
// flag the callback receives (training checks it between ALS iterations and steps) and joins:
// shutdown waits for at most the current step, and nothing half-written is left (bundles are
// written atomically).
//
// Thread-safety: all methods may be called from any thread. Metrics render from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/status.h"
#include "obs/metrics.h"

namespace pulse::rollout {

struct RetrainResult {
  std::string version;          // the bundle written
  uint64_t last_event_seq = 0;  // the last log sequence its data includes
};

struct RetrainSchedulerOptions {
  int64_t interval_ms = 0;  // > 0
  uint64_t min_new_events = 0;
  int keep_versions = 0;  // 0 = keep every bundle
  int nice = 10;          // 0..19, applied to the background thread
  std::string models_dir;
  // Log sequence already covered by the newest bundle: new events are counted from here.
  uint64_t baseline_seq = 0;
  // How many events the log holds (its last sequence).
  std::function<uint64_t()> event_count;
  // Trains and writes the next bundle; must return soon after `cancel` turns true.
  std::function<Result<RetrainResult>(const std::atomic<bool>& cancel)> retrain;
  // Called after a successful retrain (e.g. to swap the new bundle in without waiting a poll).
  std::function<void(const std::string& version)> on_success;
  // Versions retention must keep (the one serving); may be empty.
  std::function<std::set<std::string>()> protected_versions;
};

class RetrainScheduler {
 public:
  enum class Outcome { kNotDue, kTooFewEvents, kSucceeded, kFailed, kCancelled, kBusy };

  // The first retrain is due one interval after construction. Registers its metrics in
  // `registry` (may be null) until destroyed.
  RetrainScheduler(RetrainSchedulerOptions options, const Clock& clock,
                   obs::MetricsRegistry* registry);
  ~RetrainScheduler();  // Stop()
  RetrainScheduler(const RetrainScheduler&) = delete;
  RetrainScheduler& operator=(const RetrainScheduler&) = delete;

  // One step, on the calling thread: retrains when due and when enough new events arrived.
  Outcome RunIfDue();
  void Start();
  void Stop();

  struct Stats {
    uint64_t succeeded = 0;
    uint64_t failed = 0;
    uint64_t skipped = 0;     // due, but too few new events
    int64_t last_run_ms = 0;  // clock time a retrain last finished (0: never)
    double last_duration_seconds = 0;
    bool last_ok = false;
    std::string last_version;
    uint64_t baseline_seq = 0;
  };
  Stats stats() const;
  static std::string_view OutcomeName(Outcome outcome);

 private:
  void Loop();
  void RenderMetrics(std::string* out) const;

  const RetrainSchedulerOptions options_;
  const Clock& clock_;
  obs::MetricsRegistry* const registry_;
  int metrics_handle_ = 0;

  std::mutex run_mu_;  // one retrain at a time
  mutable std::mutex stats_mu_;
  Stats stats_;              // guarded by stats_mu_
  int64_t next_due_ms_ = 0;  // guarded by run_mu_
  std::atomic<bool> running_{false};

  std::atomic<bool> cancel_{false};
  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_ = false;  // guarded by thread_mu_
  std::thread thread_;
};

}  // namespace pulse::rollout
