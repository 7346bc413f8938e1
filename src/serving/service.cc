#include "serving/service.h"

#include "ingest/json_codec.h"

namespace pulse::serving {

Status ValidateRecommendRequest(const RecommendRequest& request) {
  if (request.user_id.empty()) return InvalidArgumentError("user_id is required");
  RETURN_IF_ERROR(ingest::ValidateId(request.user_id, "user_id"));
  if (request.n.has_value() && (*request.n < 1 || *request.n > kMaxRecommendN)) {
    return InvalidArgumentError(StrCat("n must be between 1 and ", kMaxRecommendN));
  }
  if (request.exclude.size() > kMaxExcludeItems) {
    return InvalidArgumentError(StrCat("exclude has more than ", kMaxExcludeItems, " items"));
  }
  for (const auto& id : request.exclude) RETURN_IF_ERROR(ingest::ValidateId(id, "exclude id"));
  if (request.context.size() > kMaxContextEntries) {
    return InvalidArgumentError(StrCat("context has more than ", kMaxContextEntries, " entries"));
  }
  for (const auto& [key, value] : request.context) {
    if (key.empty() || key.size() > 64 || value.size() > kMaxIdBytes) {
      return InvalidArgumentError("context keys must be 1 to 64 bytes and values at most 256");
    }
  }
  return OkStatus();
}

}  // namespace pulse::serving
