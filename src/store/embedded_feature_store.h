// store/embedded_feature_store.h — the FeatureStore backed by the process's own data directory.
//
// Reads are DataDir::GetUserHistory (memory cache over RocksDB). ApplyEvents is deliberately a
// no-op: DataDir::AppendEvents already updated the users' histories in the same RocksDB write
// batch as the event log, so by the time the writer's commit hook hands the events over they are
// applied, and applying them again would double-count. (Hence writing goes through the
// DataDir/EventWriter, never through this class.)
//
// Thread-safety: as DataDir (every method may be called concurrently).
// Ownership: `data_dir` is borrowed and must outlive the store.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "store/data_dir.h"
#include "store/feature_store.h"

namespace pulse::store {

class EmbeddedFeatureStore final : public FeatureStore {
 public:
  explicit EmbeddedFeatureStore(const DataDir* data_dir) : data_dir_(data_dir) {}

  Result<UserHistory> GetUserHistory(std::string_view user_id) override;
  Result<UserHistory> GetUserHistoryIfChanged(std::string_view user_id,
                                              uint64_t known_version) override;
  // No-op (see above): the events are already in the data directory's histories.
  Status ApplyEvents(std::span<const Event> events) override;
  std::string_view name() const override { return "embedded"; }

 private:
  const DataDir* data_dir_;
};

}  // namespace pulse::store
