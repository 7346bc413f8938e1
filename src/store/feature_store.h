// store/feature_store.h — where serving reads a user's state from, and where the writer's commit
// hook pushes accepted events to: one interface, two backends.
//
//   EmbeddedFeatureStore (embedded_feature_store.h): the data directory (memory + RocksDB); one
//     process. The default.
//   RedisFeatureStore (redis_feature_store.h): a shared Redis, so several `pulse serve --role api`
//     processes (and nearline writers) see the same histories.
//
// Semantics (both backends; the reference is DataDir::AppendEvents, see data_dir.h UserHistory):
// a user's history lists their engagements most recent first by event time (ties: the event
// applied later first), one entry per distinct item (its latest engagement), at most
// StoreConfig::history_per_user entries. Impressions count in events_total but never enter
// `recent`. Applying an event whose non-empty event_id was already applied is a no-op, so a
// retried batch does not double-count. A user never seen reads as an empty history.
//
// Thread-safety: every method may be called concurrently from any thread.
// Failure: a backend that cannot be reached answers Unavailable (retryable) with a reason that
// names no user or item id; callers degrade (serve without history) rather than fail.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"
#include "core/types.h"
#include "store/data_dir.h"

namespace pulse::store {

class FeatureStore {
 public:
  virtual ~FeatureStore() = default;

  // The user's history; empty (events_total 0) for a user never seen.
  virtual Result<UserHistory> GetUserHistory(std::string_view user_id) = 0;
  // As GetUserHistory; a backend that versions histories (UserHistory::version) leaves `recent`
  // empty when the history still has `known_version` (non-zero): the caller holds it. The
  // default reads it whole.
  virtual Result<UserHistory> GetUserHistoryIfChanged(std::string_view user_id,
                                                      uint64_t /*known_version*/) {
    return GetUserHistory(user_id);
  }

  // Folds accepted events (in log order) into their users' histories. Events must already be
  // valid (ingest validates). On error some users of the batch may have been updated and others
  // not; retrying the batch is safe for events that carry an event_id.
  virtual Status ApplyEvents(std::span<const Event> events) = 0;

  // Stable backend name ("embedded", "redis") for logs and metrics labels.
  virtual std::string_view name() const = 0;

  // Markers let a writer notice that the store lost what it applied (a Redis restarted empty,
  // FLUSHALL, eviction): the writer puts a named marker when it starts filling the store and
  // checks it before each apply; a missing marker means "refill from the log". A store that
  // cannot lose data (the embedded one) always holds every marker.
  virtual Result<bool> HoldsMarker(std::string_view /*name*/) { return true; }
  virtual Status PutMarker(std::string_view /*name*/) { return OkStatus(); }
};

}  // namespace pulse::store
