#include "serving/guarded_feature_store.h"

#include "core/strings.h"

namespace pulse::serving {

GuardedFeatureStore::GuardedFeatureStore(std::unique_ptr<store::FeatureStore> inner,
                                         resilience::CircuitBreaker* breaker, int64_t max_in_flight)
    : inner_(std::move(inner)), breaker_(breaker), bulkhead_(max_in_flight) {}

template <typename F>
auto GuardedFeatureStore::Guarded(std::string_view what, F&& call) -> decltype(call()) {
  // Bulkhead first: a refusal there must not consume the breaker's single half-open probe.
  auto permit = bulkhead_.TryAcquire();
  if (!permit) {
    return UnavailableError(
        StrCat(inner_->name(), " feature store: too many concurrent calls (", what, ")"));
  }
  resilience::CircuitBreaker::Ticket ticket = breaker_->Allow();
  if (!ticket.allowed) {
    return UnavailableError(StrCat(inner_->name(), " feature store: circuit open (", what, ")"));
  }
  auto result = call();
  breaker_->Record(ticket, result.ok());
  return result;
}

Result<store::UserHistory> GuardedFeatureStore::GetUserHistory(std::string_view user_id) {
  return Guarded("read", [&] { return inner_->GetUserHistory(user_id); });
}

Result<store::UserHistory> GuardedFeatureStore::GetUserHistoryIfChanged(std::string_view user_id,
                                                                        uint64_t known_version) {
  return Guarded("read", [&] { return inner_->GetUserHistoryIfChanged(user_id, known_version); });
}

Status GuardedFeatureStore::ApplyEvents(std::span<const Event> events) {
  return Guarded("write", [&] { return inner_->ApplyEvents(events); });
}

Result<bool> GuardedFeatureStore::HoldsMarker(std::string_view marker) {
  return Guarded("marker read", [&] { return inner_->HoldsMarker(marker); });
}

Status GuardedFeatureStore::PutMarker(std::string_view marker) {
  return Guarded("marker write", [&] { return inner_->PutMarker(marker); });
}

}  // namespace pulse::serving
