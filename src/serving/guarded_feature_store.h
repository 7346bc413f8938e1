// serving/guarded_feature_store.h — a FeatureStore decorator that puts a circuit breaker and a
// bulkhead in front of a shared backend (Redis), so a failing or slow dependency costs callers
// nothing once detected: an open breaker or a full bulkhead answers Unavailable at once, and the
// engine falls back to the embedded copy (response marked degraded).
//
// Reads and writes share one breaker (one dependency). Only calls that reached the backend are
// recorded; the breaker's and the bulkhead's own refusals never count as failures.
// Thread-safety: as the wrapped store. Ownership: owns `inner`; `breaker` must outlive it.
// Failure behaviour: Unavailable ("circuit open" / "too many concurrent calls") without calling
// the backend; otherwise whatever the backend answers.
#pragma once

#include <memory>

#include "resilience/bulkhead.h"
#include "resilience/circuit_breaker.h"
#include "store/feature_store.h"

namespace pulse::serving {

class GuardedFeatureStore final : public store::FeatureStore {
 public:
  // max_in_flight <= 0: no bulkhead.
  GuardedFeatureStore(std::unique_ptr<store::FeatureStore> inner,
                      resilience::CircuitBreaker* breaker, int64_t max_in_flight);

  Result<store::UserHistory> GetUserHistory(std::string_view user_id) override;
  Result<store::UserHistory> GetUserHistoryIfChanged(std::string_view user_id,
                                                     uint64_t known_version) override;
  Status ApplyEvents(std::span<const Event> events) override;
  std::string_view name() const override { return inner_->name(); }
  Result<bool> HoldsMarker(std::string_view marker) override;
  Status PutMarker(std::string_view marker) override;

 private:
  template <typename F>
  auto Guarded(std::string_view what, F&& call) -> decltype(call());

  const std::unique_ptr<store::FeatureStore> inner_;
  resilience::CircuitBreaker* const breaker_;
  resilience::Bulkhead bulkhead_;
};

}  // namespace pulse::serving
