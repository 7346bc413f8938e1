#include "ingest/event_writer.h"

#include "core/log.h"
#include "core/strings.h"

namespace pulse::ingest {

EventWriter::EventWriter(store::DataDir* data_dir, uint64_t max_pending_events,
                         CommitHook on_committed)
    : data_dir_(data_dir),
      max_pending_events_(max_pending_events),
      on_committed_(std::move(on_committed)) {
  thread_ = std::thread([this] { Run(); });
}

EventWriter::~EventWriter() { Stop(); }

Result<store::AppendResult> EventWriter::Submit(std::vector<Event> events) {
  if (events.empty()) return store::AppendResult{};
  Request request;
  const uint64_t n = events.size();
  request.events = std::move(events);
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return UnavailableError("the event writer is shutting down");
  if (pending_events_ + n > max_pending_events_) {
    ++stats_.refused;
    return ResourceExhaustedError(StrCat("ingest is saturated (", pending_events_,
                                         " events waiting for the disk, limit ",
                                         max_pending_events_, "); retry later"));
  }
  pending_events_ += n;
  ++stats_.submits;
  queue_.push_back(&request);
  // Only the writer waits on work_cv_; notify under the lock is cheap and keeps it simple.
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return request.done; });
  return std::move(request.result);
}

void EventWriter::Run() {
  std::vector<Request*> group;
  std::vector<Event> events;
  std::vector<uint8_t> duplicate;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stopping_ || (!queue_.empty() && queue_.size() >= hold_until_queued_);
    });
    if (queue_.empty()) break;  // stopping and drained
    group.assign(queue_.begin(), queue_.end());
    queue_.clear();
    lock.unlock();

    // Requests stay alive until marked done (their callers block), so the events can be moved
    // out and the counts split back per request afterwards.
    events.clear();
    for (Request* r : group) {
      for (Event& e : r->events) events.push_back(std::move(e));
    }
    Result<store::AppendResult> written =
        data_dir_->AppendEvents(events, /*sync=*/true, &duplicate);
    if (!written.ok()) {
      LOG_ERROR("ingest", "writing ", events.size(),
                " events failed: ", written.status().ToString());
    } else if (on_committed_) {
      // Per-request counts below need only `duplicate` and the request sizes, so the group's
      // events can be compacted in place to the appended ones.
      size_t kept = 0;
      for (size_t i = 0; i < events.size(); ++i) {
        if (!duplicate[i]) {
          if (kept != i) events[kept] = std::move(events[i]);
          ++kept;
        }
      }
      events.resize(kept);
      if (!events.empty()) on_committed_(events);
    }

    lock.lock();
    ++stats_.batches;
    size_t offset = 0;
    for (Request* r : group) {
      const size_t n = r->events.size();
      if (written.ok()) {
        store::AppendResult own;
        for (size_t i = offset; i < offset + n; ++i) {
          if (duplicate[i]) {
            ++own.duplicates;
          } else {
            ++own.appended;
          }
        }
        r->result = own;
      } else {
        r->result = written.status();
      }
      offset += n;
      pending_events_ -= n;
      r->done = true;
    }
    if (written.ok()) {
      stats_.events_written += written->appended;
      stats_.duplicates += written->duplicates;
    } else {
      ++stats_.failed_batches;
    }
    group.clear();
    done_cv_.notify_all();
  }
}

void EventWriter::Stop() {
  std::lock_guard<std::mutex> stop_lock(stop_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    hold_until_queued_ = 1;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

EventWriter::Stats EventWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t EventWriter::queued_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void EventWriter::HoldUntilQueuedForTest(size_t calls) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    hold_until_queued_ = calls == 0 ? 1 : calls;
  }
  work_cv_.notify_all();
}

uint64_t EventWriter::pending_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_events_;
}

}  // namespace pulse::ingest
