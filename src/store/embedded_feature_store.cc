#include "store/embedded_feature_store.h"

namespace pulse::store {

Result<UserHistory> EmbeddedFeatureStore::GetUserHistory(std::string_view user_id) {
  return data_dir_->GetUserHistory(user_id);
}

Result<UserHistory> EmbeddedFeatureStore::GetUserHistoryIfChanged(std::string_view user_id,
                                                                  uint64_t known_version) {
  return data_dir_->GetUserHistory(user_id, known_version);
}

Status EmbeddedFeatureStore::ApplyEvents(std::span<const Event> /*events*/) { return OkStatus(); }

}  // namespace pulse::store
