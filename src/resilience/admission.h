// resilience/admission.h — the front ends' admission decision, one call at the top of each
// handler: per-client rate limit → per-endpoint-class bulkhead → adaptive concurrency limit
// (recommend only). HTTP and gRPC each own one controller (their threads are separate pools) and
// share one KeyedRateLimiter, so a client's quota spans both protocols.
//
//   refused by        HTTP                      gRPC                  metric reason
//   rate limit        429 + Retry-After (s)     RESOURCE_EXHAUSTED    rate_limited
//   bulkhead          503 + Retry-After: 1      RESOURCE_EXHAUSTED    bulkhead_full
//   adaptive limit    503 + Retry-After: 1      RESOURCE_EXHAUSTED    shed
// (gRPC adds trailing metadata `retry-after-ms`; the contract names RESOURCE_EXHAUSTED for
// overload on gRPC and 503 for it on HTTP.)
//
// Endpoint classes: recommend; ingest (events, catalog writes); admin (inspection, dead letters);
// exempt (health, readiness, metrics: probes are never refused).
// Thread-safety: Admit/Complete may be called concurrently. Ownership: the rate limiter and clock
// must outlive the controller; a Ticket must not outlive it.
// Metrics: pulse_admission_rejected_total{server,class,reason}, pulse_admission_in_flight{server,
// class}, pulse_concurrency_limit{server} (rendered by RenderMetrics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/config.h"
#include "core/status.h"
#include "resilience/adaptive_limiter.h"
#include "resilience/bulkhead.h"
#include "resilience/rate_limiter.h"

namespace pulse::resilience {

enum class EndpointClass : int { kRecommend = 0, kIngest = 1, kAdmin = 2, kExempt = 3 };
std::string_view EndpointClassName(EndpointClass c);

enum class Refusal : int { kNone = 0, kRateLimited = 1, kBulkheadFull = 2, kShed = 3 };

struct AdmissionOptions {
  // In-flight limit per class (recommend, ingest, admin); <= 0 = unbounded.
  std::array<int64_t, 3> max_in_flight = {0, 0, 0};
  bool adaptive = true;  // adaptive limit on the recommend class
  AdaptiveLimiterOptions adaptive_options;
};

// The options for one front end from the configuration. `capacity` is what the front end can hold
// at once (HTTP: its threads; gRPC: its work queue), `concurrency` how many it runs at once (its
// threads): automatic bulkheads are fractions of the first, the adaptive limit starts at the
// second.
AdmissionOptions AdmissionOptionsFor(const ResilienceConfig& config, int64_t capacity,
                                     int64_t concurrency);

// The class of an API method ("recommend", "publish_events", ... as metrics name them).
EndpointClass EndpointClassOf(std::string_view method);

class AdmissionController {
 public:
  class Ticket {
   public:
    Ticket() = default;
    bool admitted() const { return refusal_ == Refusal::kNone; }
    Refusal refusal() const { return refusal_; }
    // Suggested client wait before retrying (refused tickets), at least 1 ms.
    int64_t retry_after_ms() const { return retry_after_ms_; }
    // Whole seconds for an HTTP Retry-After header (rounded up, at least 1).
    int64_t retry_after_seconds() const { return (retry_after_ms_ + 999) / 1000; }
    // The error to answer with (refused tickets): ResourceExhausted for the rate limit,
    // Unavailable for overload (front ends map it to their protocol as in the table above).
    Status ToStatus() const;
    // Reports the handler's latency (feeds the adaptive limit) and frees the slots.
    void Complete(int64_t latency_us);

   private:
    friend class AdmissionController;
    Refusal refusal_ = Refusal::kNone;
    EndpointClass class_ = EndpointClass::kExempt;
    int64_t retry_after_ms_ = 0;
    std::optional<Bulkhead::Permit> bulkhead_;
    std::optional<AdaptiveLimiter::Permit> adaptive_;
  };

  // `server` labels the metrics ("http", "grpc"). `rate_limiter` may be null (no rate limit).
  AdmissionController(std::string server, const AdmissionOptions& options,
                      KeyedRateLimiter* rate_limiter, const Clock& clock);

  // Whether to serve a request of `endpoint` from `client` (API key or peer address).
  Ticket Admit(EndpointClass endpoint, std::string_view client);

  const AdaptiveLimiter& adaptive_limiter() const { return adaptive_; }
  const Bulkhead& bulkhead(EndpointClass c) const { return bulkheads_[static_cast<int>(c)]; }
  uint64_t rejected(EndpointClass c, Refusal reason) const {
    return rejected_[static_cast<int>(c)][static_cast<int>(reason)].load(std::memory_order_relaxed);
  }
  // Prometheus text for the families listed above, for every controller (each family's header
  // once, as the exposition format requires).
  static void RenderMetrics(std::initializer_list<const AdmissionController*> controllers,
                            std::string* out);

 private:
  const std::string server_;
  const bool adaptive_enabled_;
  KeyedRateLimiter* const rate_limiter_;
  Bulkhead bulkheads_[3];
  AdaptiveLimiter adaptive_;
  std::atomic<uint64_t> rejected_[4][4] = {};
};

}  // namespace pulse::resilience
