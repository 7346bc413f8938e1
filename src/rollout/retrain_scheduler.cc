// rollout/retrain_scheduler.cc — the retrain loop, its low-priority thread and its metrics.
#include "rollout/retrain_scheduler.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.h"
#include "rollout/models_dir.h"

namespace pulse::rollout {

RetrainScheduler::RetrainScheduler(RetrainSchedulerOptions options, const Clock& clock,
                                   obs::MetricsRegistry* registry)
    : options_(std::move(options)), clock_(clock), registry_(registry) {
  next_due_ms_ = clock_.NowMillis() + options_.interval_ms;
  stats_.baseline_seq = options_.baseline_seq;
  if (registry_ != nullptr) {
    metrics_handle_ = registry_->Register([this](std::string* out) { RenderMetrics(out); });
  }
}

RetrainScheduler::~RetrainScheduler() {
  Stop();
  if (registry_ != nullptr) registry_->Unregister(metrics_handle_);
}

std::string_view RetrainScheduler::OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kNotDue:
      return "not_due";
    case Outcome::kTooFewEvents:
      return "skipped";
    case Outcome::kSucceeded:
      return "succeeded";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kBusy:
      break;
  }
  return "busy";
}

RetrainScheduler::Outcome RetrainScheduler::RunIfDue() {
  std::unique_lock<std::mutex> run_lock(run_mu_, std::try_to_lock);
  if (!run_lock.owns_lock()) return Outcome::kBusy;
  const int64_t now_ms = clock_.NowMillis();
  if (now_ms < next_due_ms_) return Outcome::kNotDue;
  // The next look is an interval after this one, whatever it decides: a failing retrain is
  // retried on schedule, not in a tight loop.
  next_due_ms_ = now_ms + options_.interval_ms;
  uint64_t baseline;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    baseline = stats_.baseline_seq;
  }
  const uint64_t count = options_.event_count ? options_.event_count() : 0;
  const uint64_t fresh = count > baseline ? count - baseline : 0;
  if (fresh == 0 || fresh < options_.min_new_events) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.skipped;
    return Outcome::kTooFewEvents;
  }

  LOG_INFO("retrain", "retraining: ", fresh, " new events since log sequence ", baseline);
  running_ = true;
  Stopwatch stopwatch;
  Result<RetrainResult> result = options_.retrain(cancel_);
  const double seconds = stopwatch.ElapsedSeconds();
  running_ = false;
  Outcome outcome = Outcome::kSucceeded;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.last_run_ms = clock_.NowMillis();
    stats_.last_duration_seconds = seconds;
    stats_.last_ok = result.ok();
    if (result.ok()) {
      ++stats_.succeeded;
      stats_.last_version = result->version;
      stats_.baseline_seq = std::max(stats_.baseline_seq, result->last_event_seq);
    } else if (result.status().code() == StatusCode::kCancelled) {
      outcome = Outcome::kCancelled;
    } else {
      ++stats_.failed;
      outcome = Outcome::kFailed;
    }
  }
  if (!result.ok()) {
    if (outcome == Outcome::kCancelled) {
      LOG_INFO("retrain", "retrain cancelled: ", result.status().ToString());
    } else {
      LOG_ERROR("retrain", "retrain failed after ", seconds,
                " s (the serving model is unchanged): ", result.status().ToString());
    }
    return outcome;
  }
  LOG_INFO("retrain", "retrained: wrote ", result->version, " in ", seconds, " s");
  if (options_.on_success) options_.on_success(result->version);
  if (options_.keep_versions > 0 && !options_.models_dir.empty()) {
    std::set<std::string> protect;
    if (options_.protected_versions) protect = options_.protected_versions();
    protect.insert(result->version);
    for (const std::string& removed :
         PruneModelVersions(options_.models_dir, options_.keep_versions, protect)) {
      LOG_INFO("retrain", "removed old model bundle ", removed, " (keeping the newest ",
               options_.keep_versions, ")");
    }
  }
  return outcome;
}

void RetrainScheduler::Start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable() || options_.interval_ms <= 0) return;
  stop_ = false;
  cancel_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void RetrainScheduler::Stop() {
  cancel_ = true;
  cancel_.notify_all();  // for a retrain blocked in cancel.wait()
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stop_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RetrainScheduler::Loop() {
  // Niceness is per thread on Linux (setpriority on a thread id); threads started from here
  // (training workers) inherit it. Raising it needs no privilege.
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  if (::setpriority(PRIO_PROCESS, tid, options_.nice) != 0) {
    LOG_WARN("retrain", "cannot lower the retrain thread's priority: ", std::strerror(errno));
  }
  // Wakes at least once a second (or once per interval when shorter) to check the clock.
  const auto tick = std::chrono::milliseconds(std::clamp<int64_t>(options_.interval_ms, 1, 1000));
  std::unique_lock<std::mutex> lock(thread_mu_);
  while (!thread_cv_.wait_for(lock, tick, [this] { return stop_; })) {
    lock.unlock();
    RunIfDue();
    lock.lock();
  }
}

RetrainScheduler::Stats RetrainScheduler::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

void RetrainScheduler::RenderMetrics(std::string* out) const {
  const Stats s = stats();
  obs::RenderHeader(out, "pulse_retrain_runs_total", "counter",
                    "Scheduled retrains by outcome (skipped: due, but too few new events).");
  StrAppend(*out, "pulse_retrain_runs_total{outcome=\"succeeded\"} ", s.succeeded, "\n");
  StrAppend(*out, "pulse_retrain_runs_total{outcome=\"failed\"} ", s.failed, "\n");
  StrAppend(*out, "pulse_retrain_runs_total{outcome=\"skipped\"} ", s.skipped, "\n");
  obs::RenderHeader(out, "pulse_retrain_last_run_timestamp_seconds", "gauge",
                    "When the last scheduled retrain finished (0: none yet).");
  StrAppend(*out, "pulse_retrain_last_run_timestamp_seconds ", s.last_run_ms / 1000, "\n");
  obs::RenderHeader(out, "pulse_retrain_last_duration_seconds", "gauge",
                    "How long the last scheduled retrain took.");
  StrAppend(*out, "pulse_retrain_last_duration_seconds ", s.last_duration_seconds, "\n");
  obs::RenderHeader(out, "pulse_retrain_last_success", "gauge",
                    "1 when the last scheduled retrain wrote a bundle, 0 when it failed.");
  StrAppend(*out, "pulse_retrain_last_success ", s.last_ok ? 1 : 0, "\n");
  obs::RenderHeader(out, "pulse_retrain_running", "gauge", "1 while a retrain runs.");
  StrAppend(*out, "pulse_retrain_running ", running_.load() ? 1 : 0, "\n");
}

}  // namespace pulse::rollout
