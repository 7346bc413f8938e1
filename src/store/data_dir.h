// store/data_dir.h — the embedded store: everything Pulse keeps on disk in one data directory.
//
// Layout (versioned; see docs/design/data-dir.md):
//   <path>/db/       RocksDB: column families `meta` (layout version), `items`, `events`
//                    (append-only log keyed by a big-endian sequence number), `event_ids`
//                    (idempotence keys), `users` (per-user history) and `dead_letter` (rejected
//                    events, bounded; layout version 2).
//   <path>/models/   model bundles, one directory per version (see rollout/model_bundle.h).
// A newer Pulse opens an older layout or fails with FailedPrecondition saying why; a layout newer
// than this build understands is refused.
//
// Thread-safety: every method may be called concurrently from any thread.
// Durability: AppendEvents(sync=true) returns only after the RocksDB WAL is fsync'd, so an
// acknowledged event survives kill -9. Item writes are synced.
// Memory: user histories are cached in memory after first access (the "memory" half of the
// embedded feature store); everything else is read from RocksDB.
// NOTE: the history cache is bounded (kMaxCachedHistoryEntries entries in all); beyond that,
// arbitrary cold users are dropped from memory and re-read from RocksDB on their next access.
// NOTE: appends serialize on the RocksDB write itself (that keeps the event log gap-free and in
// sequence order), so with sync=true every AppendEvents call pays its own fsync: batch events, or
// append with sync=false and call Sync() (bulk import).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/status.h"
#include "core/types.h"

namespace pulse::store {

// One remembered interaction of a user with an item.
struct HistoryEntry {
  std::string item_id;
  EventType type = EventType::kView;
  int64_t ts_ms = 0;
};

// What Pulse remembers of a user between requests.
struct UserHistory {
  // Most recent first (by event time), one entry per distinct item (its latest engagement),
  // at most StoreConfig::history_per_user entries. Impressions are not engagements: they count in
  // events_total but do not enter `recent`.
  std::vector<HistoryEntry> recent;
  uint64_t events_total = 0;  // distinct accepted events of this user
  int64_t updated_at_ms = 0;  // wall time of the last change
  // Names this content within the process: two reads with the same non-zero version hold the
  // same `recent` and events_total (a change, or a re-read after the history left the memory
  // cache, takes a new one). 0 = not versioned (a backend that cannot tell, e.g. Redis). Never
  // stored: the encoding leaves it out.
  uint64_t version = 0;
};

// A rejected event kept for an operator: what arrived, from where, and why it was refused.
struct DeadLetter {
  uint64_t seq = 0;  // assigned by AppendDeadLetters (ignored on input); increasing, from 1
  int64_t received_at_ms = 0;
  std::string source;       // "http", "grpc", ...
  std::string reason;       // stable reason label ("ts_in_future"); see ingest/validator.h
  std::string reason_text;  // the message the client got
  std::string raw;          // the received text, truncated to kMaxDeadLetterRawBytes
};
inline constexpr size_t kMaxDeadLetterRawBytes = 64 * 1024;

struct AppendResult {
  uint64_t appended = 0;
  uint64_t duplicates = 0;  // events whose non-empty event_id was already stored (skipped)
};

class DataDir {
 public:
  // The on-disk layout this build writes and the newest it can open.
  // 1: meta, items, events, event_ids, users. 2: + dead_letter (a v1 dir is upgraded in place).
  static constexpr uint32_t kLayoutVersion = 2;
  // Upper bound on history entries held in memory across all users (see Memory above).
  static constexpr size_t kMaxCachedHistoryEntries = 4'000'000;

  // Opens or creates the data directory at `path`. FailedPrecondition when the directory holds a
  // newer layout than kLayoutVersion or is in use by another process; DataLoss when it is corrupt.
  static Result<std::unique_ptr<DataDir>> Open(const std::string& path, const StoreConfig& config);
  // As above; `clock` stamps UserHistory::updated_at_ms and must outlive the DataDir.
  static Result<std::unique_ptr<DataDir>> Open(const std::string& path, const StoreConfig& config,
                                               const Clock& clock);
  ~DataDir();
  DataDir(const DataDir&) = delete;
  DataDir& operator=(const DataDir&) = delete;

  const std::string& path() const;
  // <path>/models; exists after Open.
  std::string models_dir() const;

  // ---- items ----
  // Inserts or replaces items by item_id. Atomic for the whole batch.
  Status PutItems(const std::vector<Item>& items);
  // Removes an item; NotFound when it is not stored.
  Status DeleteItem(std::string_view item_id);
  // nullopt when not stored.
  Result<std::optional<Item>> GetItem(std::string_view item_id) const;
  // Visits every item (order unspecified); stops at and returns the first non-OK status of `fn`.
  Status ForEachItem(const std::function<Status(const Item&)>& fn) const;
  uint64_t ItemCount() const;

  // ---- events ----
  // Appends events in order (one atomic write batch) and updates the histories of their users
  // in the same batch. Events with a non-empty event_id already stored are skipped. Events must
  // already be valid (ingest validates); this layer does not judge them.
  Result<AppendResult> AppendEvents(const std::vector<Event>& events, bool sync);
  // As above; when `duplicate` is not null it is resized to events.size() and (*duplicate)[i]
  // says whether events[i] was skipped as a duplicate (only meaningful when the call succeeds).
  Result<AppendResult> AppendEvents(const std::vector<Event>& events, bool sync,
                                    std::vector<uint8_t>* duplicate);
  // Visits events in append order; stops at and returns the first non-OK status of `fn`.
  Status ForEachEvent(const std::function<Status(const Event&)>& fn) const;
  // Visits events with a sequence number greater than `after`, in append order. Sequence numbers
  // start at 1 and have no gaps, so after an append EventCount() is the last one.
  Status ForEachEventAfter(uint64_t after,
                           const std::function<Status(uint64_t seq, const Event&)>& fn) const;
  uint64_t EventCount() const;
  // Makes every append acknowledged so far durable (fsyncs the RocksDB WAL). For bulk importers
  // that append with sync=false; an error means some of those events may be lost on a crash.
  Status Sync();

  // ---- dead letters ----
  // Appends rejected events (raw text truncated to kMaxDeadLetterRawBytes), then trims the
  // oldest so at most `max_records` remain (0 keeps none). Not fsync'd: a dead letter is a
  // diagnostic, and the next synced write (any event append) makes it durable.
  Status AppendDeadLetters(const std::vector<DeadLetter>& letters, uint64_t max_records);
  // Newest first: up to `limit` records with seq < before_seq.
  Result<std::vector<DeadLetter>> ListDeadLetters(size_t limit,
                                                  uint64_t before_seq = UINT64_MAX) const;
  // Records currently stored.
  uint64_t DeadLetterCount() const;
  // The layout version on disk (equal to kLayoutVersion once open: older dirs are upgraded).
  uint32_t layout_version() const;

  // ---- named blobs ----
  // Small state other components persist beside the data (the nearline checkpoint), kept in the
  // `meta` column family under "blob/<name>". PutBlob is synced.
  Status PutBlob(std::string_view name, std::string_view value);
  // nullopt when never written.
  Result<std::optional<std::string>> GetBlob(std::string_view name) const;

  // ---- served-feature log (the learned ranker's training data; store/served_log.h) ----
  // Records of sampled recommend requests, kept in the `meta` family under
  // "served/<8-byte big-endian ts_ms + 2^63><request_id>" (the layout is unchanged; scans run in
  // time order). Not fsync'd: a lost sample costs nothing, and the next synced write (any event
  // append) makes it durable.
  Status PutServedRecord(int64_t ts_ms, std::string_view request_id, std::string_view record);
  // Visits records oldest first; stops at and returns the first non-OK status of `fn`.
  Status ForEachServedRecord(const std::function<Status(std::string_view record)>& fn) const;

  // ---- users ----
  // An empty history (events_total 0) for a user never seen.
  Result<UserHistory> GetUserHistory(std::string_view user_id) const;
  // As GetUserHistory, but when the history still has `known_version` (non-zero), `recent` is
  // left empty — the caller holds it — and only the scalars are filled: a reader that remembers
  // what it derived from a history skips copying it.
  Result<UserHistory> GetUserHistory(std::string_view user_id, uint64_t known_version) const;
  // Visits every user with a history (order unspecified).
  Status ForEachUser(
      const std::function<Status(std::string_view user_id, const UserHistory&)>& fn) const;
  uint64_t UserCount() const;

 private:
  struct Impl;
  explicit DataDir(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::store
