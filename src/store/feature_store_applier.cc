#include "store/feature_store_applier.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "core/log.h"

namespace pulse::store {
namespace {

// How often (at most) the cursor is persisted while the applier is behind.
constexpr int64_t kCursorSaveMs = 200;

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string NewInstanceId() {
  std::random_device device;
  std::mt19937_64 rng((uint64_t{device()} << 32) ^ device() ^
                      static_cast<uint64_t>(SteadyMillis()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  uint64_t bits = rng();
  for (char& c : out) {
    c = kHex[bits & 0xf];
    bits >>= 4;
  }
  return out;
}

}  // namespace

FeatureStoreApplier::FeatureStoreApplier(DataDir* data_dir, FeatureStore* store, Options options,
                                         const Clock& clock)
    : data_dir_(data_dir), store_(store), options_(options), clock_(clock) {}

FeatureStoreApplier::~FeatureStoreApplier() { Stop(); }

Status FeatureStoreApplier::Start() {
  ASSIGN_OR_RETURN(std::optional<std::string> instance, data_dir_->GetBlob(kInstanceBlob));
  if (instance && !instance->empty()) {
    instance_ = *std::move(instance);
  } else {
    instance_ = NewInstanceId();
    RETURN_IF_ERROR(data_dir_->PutBlob(kInstanceBlob, instance_));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> saved, data_dir_->GetBlob(kCursorBlob));
  int64_t cursor = 0;
  if (saved && (!ParseInt64(*saved, &cursor) || cursor < 0)) {
    LOG_WARN("store", "ignoring an unreadable feature store cursor; refilling from the log");
    cursor = 0;
  }
  const uint64_t head = data_dir_->EventCount();
  if (static_cast<uint64_t>(cursor) > head) {
    LOG_WARN("store", "the feature store cursor is ahead of the event log; refilling from it");
    cursor = 0;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    cursor_ = static_cast<uint64_t>(cursor);
    head_ = head;
    // Events committed before this start are not tracked per user: serve them degraded (from
    // the embedded copy) until they are applied, as during a refill.
    refill_until_ = head;
    refill_started_ms_ = clock_.NowMillis();
    stop_ = false;
  }
  if (cursor_ < head) {
    LOG_INFO("store", "feature store applier: ", head - cursor_.load(), " events to apply from ",
             cursor_.load());
  }
  thread_ = std::thread([this] { Run(); });
  return OkStatus();
}

void FeatureStoreApplier::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  applied_cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void FeatureStoreApplier::Notify(std::span<const Event> appended, uint64_t last_seq) {
  if (appended.empty()) return;
  Group group;
  group.last_seq = last_seq;
  group.committed_at_ms = clock_.NowMillis();
  group.users.reserve(appended.size());
  for (const Event& e : appended) group.users.push_back(e.user_id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (last_seq > head_) head_ = last_seq;
    for (const std::string& user : group.users) unapplied_[user] = last_seq;
    groups_.push_back(std::move(group));
    notified_ = true;
  }
  cv_.notify_one();
}

bool FeatureStoreApplier::HasUnapplied(std::string_view user_id) const {
  // Fast path, no lock: caught up.
  if (cursor_.load(std::memory_order_acquire) >= head_.load(std::memory_order_acquire)) {
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  return unapplied_.find(user_id) != unapplied_.end();
}

bool FeatureStoreApplier::refilling() const {
  return cursor_.load(std::memory_order_acquire) < refill_until_.load(std::memory_order_acquire);
}

uint64_t FeatureStoreApplier::lag_events() const {
  const uint64_t cursor = cursor_.load(std::memory_order_acquire);
  const uint64_t head = head_.load(std::memory_order_acquire);
  return head > cursor ? head - cursor : 0;
}

uint64_t FeatureStoreApplier::live_lag_events() const {
  const uint64_t from = std::max(cursor_.load(std::memory_order_acquire),
                                 refill_until_.load(std::memory_order_acquire));
  const uint64_t head = head_.load(std::memory_order_acquire);
  return head > from ? head - from : 0;
}

double FeatureStoreApplier::lag_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (cursor_ >= head_) return 0.0;
  const int64_t now = clock_.NowMillis();
  int64_t oldest = groups_.empty() ? now : groups_.front().committed_at_ms;
  if (cursor_ < refill_until_) oldest = std::min(oldest, refill_started_ms_);
  return static_cast<double>(std::max<int64_t>(now - oldest, 0)) / 1000.0;
}

FeatureStoreApplier::Stats FeatureStoreApplier::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats stats = stats_;
  stats.applied_seq = cursor_;
  stats.head_seq = head_;
  stats.refilling = cursor_ < refill_until_;
  return stats;
}

bool FeatureStoreApplier::WaitAppliedForTest(uint64_t seq, int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  applied_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                       [&] { return cursor_ >= seq || stop_; });
  return cursor_ >= seq;
}

void FeatureStoreApplier::SkipNextCursorSaveForTest() {
  std::lock_guard<std::mutex> lock(mu_);
  skip_cursor_save_ = true;
}

void FeatureStoreApplier::Backoff(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop_; });
}

void FeatureStoreApplier::Run() {
  int64_t backoff_ms = 100;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      // The first step checks the marker at once (a Redis that lost our data while we were
      // down is refilled right away, not after marker_check_ms).
      cv_.wait_for(lock, std::chrono::milliseconds(options_.marker_check_ms),
                   [&] { return stop_ || notified_ || cursor_ < head_ || !marker_known_; });
      if (stop_) break;
      notified_ = false;
    }
    const bool ok = Step();
    healthy_.store(ok, std::memory_order_release);
    if (ok) {
      backoff_ms = 100;
    } else {
      Backoff(backoff_ms);
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 1000);
    }
  }
  SaveCursor(cursor_.load());  // the last batches' cursor, if a throttled save skipped it
}

void FeatureStoreApplier::SaveCursor(uint64_t seq) {
  Status saved = data_dir_->PutBlob(kCursorBlob, std::to_string(seq));
  // Not fatal: a restart resumes from an older cursor and re-applies idempotently.
  if (!saved.ok()) LOG_WARN("store", "saving the feature store cursor failed: ", saved.ToString());
}

bool FeatureStoreApplier::Step() {
  uint64_t cursor = cursor_.load();
  const uint64_t head = head_.load();
  const int64_t now = SteadyMillis();
  // Before every batch, and when idle every marker_check_ms: has the store lost our data?
  if (cursor < head || !marker_known_ || now - last_marker_check_ms_ >= options_.marker_check_ms) {
    Result<bool> holds = store_->HoldsMarker(instance_);
    if (!holds.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.apply_failures;
      return false;
    }
    if (!*holds) {
      // Marker gone (or never there): fill the store from the whole log. Events applied since the
      // loss are skipped by id; the users' unapplied sets are moot, refilling() covers everyone.
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (cursor_ > 0) {
          ++stats_.refills;
          LOG_WARN("store", "the ", store_->name(), " feature store lost Pulse's data (marker ",
                   "missing); refilling it from the event log (", head_.load(), " events)");
        }
        cursor_ = 0;
        refill_until_ = head_.load();
        refill_started_ms_ = clock_.NowMillis();
        groups_.clear();
        unapplied_.clear();
      }
      cursor = 0;
      // The reset cursor must be durable before the marker is: a crash between the two then
      // finds no marker again and refills, instead of resuming from the old cursor into a store
      // that has lost everything before it.
      Status saved = data_dir_->PutBlob(kCursorBlob, "0");
      if (saved.ok()) saved = store_->PutMarker(instance_);
      if (!saved.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.apply_failures;
        return false;
      }
      last_cursor_save_ms_ = now;
    }
    last_marker_check_ms_ = now;
    marker_known_ = true;
  }
  if (cursor >= head_.load()) return true;

  // A refill reads 10× larger batches: a user's events in one batch share one script call, and
  // the script's cost grows with the history it rewrites, so bigger batches refill faster.
  const size_t limit = static_cast<size_t>(std::max(options_.batch_events, 1)) *
                       (cursor < refill_until_.load() ? 10 : 1);
  std::vector<Event> batch;
  batch.reserve(std::min<uint64_t>(limit, head_.load() - cursor));
  uint64_t last = cursor;
  bool full = false;
  Status read = data_dir_->ForEachEventAfter(cursor, [&](uint64_t seq, const Event& event) {
    batch.push_back(event);
    // An id for every event, so a re-apply (crash before the cursor save, refill overlap) is a
    // no-op in the store. '~' + instance cannot collide with another data dir's sequence ids.
    if (batch.back().event_id.empty()) batch.back().event_id = StrCat("~", instance_, ":", seq);
    last = seq;
    if (batch.size() < limit) return OkStatus();
    full = true;
    return CancelledError("batch full");
  });
  if (!read.ok() && !full) {
    LOG_WARN("store", "reading the event log for the feature store failed: ", read.ToString());
    return false;
  }
  if (batch.empty()) return true;
  Status applied = store_->ApplyEvents(batch);
  if (!applied.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.apply_failures;
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.batches;
    stats_.events_applied += batch.size();
    if (skip_cursor_save_) {  // test hook: as if killed between the apply and the cursor save
      skip_cursor_save_ = false;
      return true;
    }
    if (cursor_ != cursor) return true;  // reset by a refill meanwhile (cannot happen: one thread)
    cursor_ = last;
    while (!groups_.empty() && groups_.front().last_seq <= last) {
      for (const std::string& user : groups_.front().users) {
        auto it = unapplied_.find(user);
        if (it != unapplied_.end() && it->second <= last) unapplied_.erase(it);
      }
      groups_.pop_front();
    }
    if (cursor_ >= refill_until_) refill_until_ = 0;
  }
  applied_cv_.notify_all();
  // The cursor is saved at most every kCursorSaveMs (a synced write per batch would double the
  // fsyncs of a lightly loaded server); a crash re-applies what came after the saved cursor,
  // which the store skips by id. A caught-up applier saves at once, so an idle one is exact.
  if (now - last_cursor_save_ms_ >= kCursorSaveMs || last >= head_.load()) {
    SaveCursor(last);
    last_cursor_save_ms_ = now;
  }
  return true;
}

}  // namespace pulse::store
