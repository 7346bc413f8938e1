#include "store/embedded_feature_store.h"

namespace pulse::store {

Result<UserHistory> EmbeddedFeatureStore::GetUserHistory(std::string_view user_id) {
  return data_dir_->GetUserHistory(user_id);
}

Status EmbeddedFeatureStore::ApplyEvents(std::span<const Event> /*events*/) { return OkStatus(); }

}  // namespace pulse::store
