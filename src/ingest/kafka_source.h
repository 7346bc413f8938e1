// ingest/kafka_source.h — consumes JSON events from a Kafka topic as a consumer-group member.
//
// Messages: the value is one event object as in CONTRACT.md (parsed with EventFromJson) or a
// JSON array of them; the key is the user id (producers partition by user). One consumer thread
// polls, gathers up to `batch_max_events` events (or whatever arrived within `poll_timeout_ms`),
// hands them to `sink`, and only when the sink returns OK stores the batch's offsets
// (enable.auto.offset.store=false + rd_kafka_offsets_store). Stored offsets are committed by the
// auto-commit timer, synchronously when partitions are revoked (after the pending batch is made
// durable) and synchronously on Stop(). So a crash re-delivers at most the uncommitted tail:
// at-least-once delivery; the sink's idempotence by event_id (DataDir::AppendEvents) makes it
// effectively once.
//
// Sink failure: the same batch is retried with backoff (100 ms doubling to 2 s) until it
// succeeds or Stop() is called; its offsets are never stored before that, so nothing is skipped.
// Bad messages (invalid JSON, bad fields) go to `on_reject` and their offsets advance with the
// batch: the owner dead-letters them, they are not retried forever. Broker errors and timeouts
// are librdkafka's to retry; the source logs them and keeps polling, it never crashes on them.
//
// Thread-safety: Start/Stop/stats may be called from any thread. `sink` and `on_reject` are
// called on the consumer thread only (never concurrently with each other).
// Ownership: whatever `sink` writes to must outlive Stop() (or the destructor, which calls it).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "core/types.h"

namespace pulse::ingest {

// A message (or one element of an array message) that could not be turned into an event.
struct KafkaReject {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string payload;  // the message value (or the array element's JSON text)
  Status reason;        // InvalidArgument naming the problem
};

class KafkaEventSource {
 public:
  // Must make the events durable before returning OK (e.g. EventWriter::Submit). A non-OK
  // status makes the source retry the same batch.
  using Sink = std::function<Status(std::vector<Event> events)>;
  using RejectSink = std::function<void(const KafkaReject& reject)>;

  struct Stats {
    uint64_t messages = 0;         // messages consumed (including rejected ones)
    uint64_t events = 0;           // events handed to the sink successfully
    uint64_t rejected = 0;         // messages / array elements passed to on_reject
    uint64_t batches = 0;          // successful sink calls
    uint64_t sink_failures = 0;    // sink calls that returned an error (then retried)
    uint64_t offsets_stored = 0;   // rd_kafka_offsets_store calls that succeeded
    uint64_t commits = 0;          // synchronous commits that succeeded
    uint64_t rebalances = 0;       // assignment changes (assign + revoke callbacks)
    uint64_t consumer_errors = 0;  // errors reported by librdkafka (logged, retried by it)
  };

  // Validates the config and creates the consumer (does not connect yet). InvalidArgument when
  // brokers/topic/group_id are empty or a passthrough property is refused by librdkafka.
  static Result<std::unique_ptr<KafkaEventSource>> Create(const KafkaConfig& config, Sink sink,
                                                          RejectSink on_reject);
  ~KafkaEventSource();
  KafkaEventSource(const KafkaEventSource&) = delete;
  KafkaEventSource& operator=(const KafkaEventSource&) = delete;

  // Subscribes to the topic and starts the consumer thread. FailedPrecondition when called twice.
  Status Start();
  // Finishes the batch in hand, commits stored offsets synchronously, leaves the group and
  // joins the thread. Idempotent.
  void Stop();

  Stats stats() const;

 private:
  struct Impl;
  explicit KafkaEventSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::ingest
