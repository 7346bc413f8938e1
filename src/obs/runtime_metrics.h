// obs/runtime_metrics.h — metrics shared by several components: USE metrics of worker pools and
// queues, per-stage latency histograms, and the process's own resource metrics (Prometheus
// conventions, read from /proc at scrape time).
//
//   pulse_pool_threads{pool}                 gauge    workers
//   pulse_pool_busy_threads{pool}            gauge    workers running a task (utilisation)
//   pulse_pool_queue_depth{pool}             gauge    tasks waiting (saturation)
//   pulse_pool_queue_wait_seconds{pool}      histogram enqueue → start (saturation)
//   pulse_pool_rejected_total{pool}          counter  tasks refused because the queue was full
//   pulse_pool_tasks_total{pool}             counter  tasks run
//   pulse_stage_duration_seconds{stage}      histogram one pipeline stage of one request
//   process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
//   process_max_fds, process_threads, process_cpu_seconds_total, process_start_time_seconds
//
// Thread-safety: every observation is a relaxed atomic update (no lock); rendering reads the
// atomics. Pool names and stage names are fixed vocabularies given at construction.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obs/metrics.h"

namespace pulse::obs {

class PoolMetrics {
 public:
  // Listed in the pool families of the process registry until destroyed.
  PoolMetrics(std::string pool, int threads);
  ~PoolMetrics();
  PoolMetrics(const PoolMetrics&) = delete;
  PoolMetrics& operator=(const PoolMetrics&) = delete;

  using TimePoint = std::chrono::steady_clock::time_point;
  // Returns the enqueue time to hand to OnStart.
  TimePoint OnEnqueue() {
    queued_.fetch_add(1, std::memory_order_relaxed);
    return std::chrono::steady_clock::now();
  }
  void OnReject() { rejected_.fetch_add(1, std::memory_order_relaxed); }
  void OnDequeueUnrun() { queued_.fetch_sub(1, std::memory_order_relaxed); }
  void OnStart(TimePoint enqueued) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    busy_.fetch_add(1, std::memory_order_relaxed);
    wait_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - enqueued).count());
  }
  void OnDone() {
    busy_.fetch_sub(1, std::memory_order_relaxed);
    tasks_.fetch_add(1, std::memory_order_relaxed);
  }

  int64_t queue_depth() const { return queued_.load(std::memory_order_relaxed); }
  int64_t busy() const { return busy_.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
  const std::string& pool() const { return pool_; }
  int threads() const { return threads_; }
  uint64_t tasks() const { return tasks_.load(std::memory_order_relaxed); }
  const Histogram& wait() const { return wait_; }

 private:
  const std::string pool_;
  const int threads_;
  std::atomic<int64_t> queued_{0};
  std::atomic<int64_t> busy_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> tasks_{0};
  Histogram wait_;
};

// pulse_stage_duration_seconds{stage}: one histogram per stage name known at construction;
// unknown names are counted under stage="other".
class StageLatency {
 public:
  explicit StageLatency(const std::vector<std::string>& stages);
  void Observe(std::string_view stage, int64_t micros);
  void Render(std::string* out) const;

 private:
  std::vector<std::string> names_;  // last = "other"
  std::vector<std::unique_ptr<Histogram>> histograms_;
};

// The pulse_pool_* families over every live PoolMetrics (one HELP/TYPE block per family).
std::string RenderPoolMetrics();

// A counter family over a fixed label vocabulary (e.g. pulse_candidates_total{source}):
// one relaxed atomic per label value; unknown values are ignored.
class LabeledCounter {
 public:
  LabeledCounter(std::string name, std::string label, std::string help,
                 std::vector<std::string> values);
  void Add(std::string_view value, uint64_t n);
  void Render(std::string* out) const;

 private:
  const std::string name_;
  const std::string label_;
  const std::string help_;
  const std::vector<std::string> values_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
};

// Registers the process_* collector with the process registry (once; later calls do nothing).
void RegisterProcessMetrics();
// The process_* metrics, rendered now (exposed for tests).
std::string RenderProcessMetrics();

}  // namespace pulse::obs
