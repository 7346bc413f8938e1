// ingest/event_writer.h — durable event writes with group commit.
//
// One writer thread owns the write path: callers Submit() a batch and block until it is durable
// (DataDir::AppendEvents with sync=true). Whatever is queued when the writer wakes is written as
// ONE AppendEvents call, so N concurrent callers share ~1 fsync instead of paying N. Events keep
// their submit order within a call; calls written in the same group keep their queue order, so
// idempotence by event_id behaves as if the calls ran one after another.
//
// Bounded: when the events queued but not yet written would exceed `max_pending_events`, Submit
// fails at once with ResourceExhausted and writes nothing of that call (backpressure → HTTP 429).
// A single call larger than the bound is always refused that way.
//
// Failure: when a group's write fails, every call of that group gets the error (nothing of the
// group is written: AppendEvents is one atomic batch).
// Shutdown: Stop() refuses new calls (Unavailable), writes everything already queued, wakes its
// callers, then joins the thread; the destructor calls Stop(). No queued or acknowledged event
// is dropped.
// Commit hook: after each successful group write and before its callers are woken, the writer
// thread calls `on_committed` with the events that were appended (duplicates left out), in log
// order. So whatever the hook updates (nearline features) is visible by the time a publisher is
// acknowledged, and the hook always runs on one thread.
// Thread-safety: every method may be called concurrently. Ownership: `data_dir` must outlive the
// writer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "store/data_dir.h"

namespace pulse::ingest {

class EventWriter {
 public:
  struct Stats {
    uint64_t submits = 0;         // calls accepted into the queue
    uint64_t refused = 0;         // calls refused by backpressure
    uint64_t batches = 0;         // AppendEvents calls made (one fsync each)
    uint64_t events_written = 0;  // events appended (duplicates excluded)
    uint64_t duplicates = 0;      // events skipped as duplicates
    uint64_t failed_batches = 0;  // AppendEvents calls that returned an error
  };

  using CommitHook = std::function<void(std::span<const Event> appended)>;
  EventWriter(store::DataDir* data_dir, uint64_t max_pending_events,
              CommitHook on_committed = nullptr);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Blocks until `events` are durable; returns how many were appended and how many were
  // duplicates of stored event_ids. An empty batch returns {0, 0} at once. ResourceExhausted
  // under backpressure, Unavailable after Stop(), else the store's error.
  Result<store::AppendResult> Submit(std::vector<Event> events);

  // Drains the queue and stops the writer thread. Idempotent.
  void Stop();

  Stats stats() const;
  // Events queued and not yet written.
  uint64_t pending_events() const;
  // Calls queued and not yet taken by the writer.
  size_t queued_calls() const;

  // Test hook: the writer starts a group only once at least `calls` calls are queued (or on
  // Stop). SIZE_MAX pauses it; 1 restores normal operation. Lets tests build exact groups.
  void HoldUntilQueuedForTest(size_t calls);

 private:
  struct Request {
    std::vector<Event> events;
    Result<store::AppendResult> result = store::AppendResult{};
    bool done = false;
  };

  void Run();

  store::DataDir* const data_dir_;
  const uint64_t max_pending_events_;
  const CommitHook on_committed_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // writer waits for requests or stop
  std::condition_variable done_cv_;  // callers wait for their request
  std::deque<Request*> queue_;       // guarded by mu_
  uint64_t pending_events_ = 0;      // guarded by mu_; queued plus being written
  bool stopping_ = false;            // guarded by mu_
  size_t hold_until_queued_ = 1;     // guarded by mu_; see HoldUntilQueuedForTest
  Stats stats_;                      // guarded by mu_
  std::mutex stop_mu_;               // serializes Stop() so the thread is joined once
  std::thread thread_;
};

}  // namespace pulse::ingest
