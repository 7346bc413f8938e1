// store/redis_feature_store.h — the FeatureStore in a shared Redis (hiredis), so several
// `pulse serve --role api` replicas and nearline writers see one copy of every user's history.
//
// Data model (keys under RedisConfig::key_prefix P; the user id sits in a {hash tag} so a user's
// keys would share a cluster slot):
//   P h:{<user>}  string: MessagePack array [events_total, updated_at_ms, item, type, ts, ...]
//                 (the `recent` entries flattened, most recent first)
//   P e:{<user>}  sorted set: event ids applied for the user (score = apply time), trimmed to
//                 the newest kMaxEventIdsPerUser.
//   P m:<name>    string: a writer's marker (see FeatureStore::HoldsMarker): gone = data lost.
// Read = one EVALSHA of a read script (unpacks the blob server-side; 1 round trip, atomic).
// Apply = one EVALSHA per user in the batch, all pipelined (1 round trip per batch). The script
// does the whole read-modify-write of one user (dedup by event id, merge, trim, write back) inside
// Redis, which runs scripts atomically, so concurrent writers — threads or processes — never lose
// an update. Timestamps are compared as Lua numbers (exact for |ts| < 2^53 ms).
// NOTE: event ids are remembered per user (event ids are globally unique, so this equals
// DataDir's global check unless one id is reused for two users: then both apply).
// NOTE: idempotence remembers the last kMaxEventIdsPerUser event ids of each user; retrying an
// event older than that counts it again in events_total (its history entry is unaffected).
//
// Connections: a pool of RedisConfig::pool_size synchronous contexts, connected lazily and
// re-created after any I/O error, so the store recovers by itself when Redis comes back. Each
// command waits at most command_timeout_ms, each connect at most connect_timeout_ms, and waiting
// for a free pooled connection at most command_timeout_ms.
// Failure: Redis unreachable, timing out or answering an error → Unavailable naming the address
// and the operation (never a user or item id). Create() does not need Redis to be up.
// Process-wide side effect: Create() sets SIGPIPE to ignored (hiredis writes with write(2); a
// write to a connection Redis closed must fail with EPIPE rather than kill the process).
// Thread-safety: every method may be called concurrently. Ownership: `clock` must outlive the
// store.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "core/clock.h"
#include "core/config.h"
#include "store/feature_store.h"

namespace pulse::store {

class RedisFeatureStore final : public FeatureStore {
 public:
  static constexpr int kMaxEventIdsPerUser = 10'000;

  // InvalidArgument when the config is unusable (address not host:port, pool_size < 1, ...).
  static Result<std::unique_ptr<RedisFeatureStore>> Create(const RedisConfig& redis,
                                                           const StoreConfig& store);
  // As above; `clock` stamps UserHistory::updated_at_ms.
  static Result<std::unique_ptr<RedisFeatureStore>> Create(const RedisConfig& redis,
                                                           const StoreConfig& store,
                                                           const Clock& clock);
  ~RedisFeatureStore() override;
  RedisFeatureStore(const RedisFeatureStore&) = delete;
  RedisFeatureStore& operator=(const RedisFeatureStore&) = delete;

  Result<UserHistory> GetUserHistory(std::string_view user_id) override;
  Status ApplyEvents(std::span<const Event> events) override;
  std::string_view name() const override { return "redis"; }
  // The marker is the key P m:<name> (EXISTS / SET, no expiry).
  Result<bool> HoldsMarker(std::string_view name) override;
  Status PutMarker(std::string_view name) override;

  // One PING: OK when Redis answers (for readiness checks), else Unavailable.
  Status Ping();

 private:
  struct Impl;
  class Lease;
  explicit RedisFeatureStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::store
