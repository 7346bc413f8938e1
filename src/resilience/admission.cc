#include "resilience/admission.h"

#include <algorithm>

#include "core/strings.h"
#include "obs/metrics.h"

namespace pulse::resilience {

std::string_view EndpointClassName(EndpointClass c) {
  switch (c) {
    case EndpointClass::kRecommend:
      return "recommend";
    case EndpointClass::kIngest:
      return "ingest";
    case EndpointClass::kAdmin:
      return "admin";
    case EndpointClass::kExempt:
      return "exempt";
  }
  return "exempt";
}

AdmissionOptions AdmissionOptionsFor(const ResilienceConfig& config, int64_t capacity,
                                     int64_t concurrency) {
  capacity = std::max<int64_t>(1, capacity);
  concurrency = std::max<int64_t>(1, concurrency);
  AdmissionOptions options;
  options.max_in_flight[0] = config.max_inflight_recommend;
  options.max_in_flight[1] = config.max_inflight_ingest > 0
                                 ? config.max_inflight_ingest
                                 : std::max<int64_t>(1, capacity * 3 / 4);
  options.max_in_flight[2] = config.max_inflight_admin > 0 ? config.max_inflight_admin
                                                           : std::max<int64_t>(1, capacity / 2);
  options.adaptive = config.shed_latency_ms > 0;
  AdaptiveLimiterOptions& adaptive = options.adaptive_options;
  adaptive.latency_bound_us = config.shed_latency_ms * 1000;
  adaptive.initial_limit = static_cast<int>(std::min<int64_t>(capacity, concurrency * 8));
  adaptive.min_limit = static_cast<int>(std::max<int64_t>(1, concurrency / 2));
  adaptive.max_limit = static_cast<int>(std::max<int64_t>(capacity, concurrency));
  return options;
}

EndpointClass EndpointClassOf(std::string_view method) {
  if (method == "recommend") return EndpointClass::kRecommend;
  if (method == "publish_events" || method == "upsert_items" || method == "delete_item") {
    return EndpointClass::kIngest;
  }
  // Probes are never refused: a load balancer must see a busy server as alive.
  if (method == "healthz" || method == "readyz" || method == "metrics" || method == "unknown") {
    return EndpointClass::kExempt;
  }
  return EndpointClass::kAdmin;
}

namespace {
std::string_view RefusalName(Refusal r) {
  switch (r) {
    case Refusal::kRateLimited:
      return "rate_limited";
    case Refusal::kBulkheadFull:
      return "bulkhead_full";
    case Refusal::kShed:
      return "shed";
    case Refusal::kNone:
      break;
  }
  return "none";
}
}  // namespace

Status AdmissionController::Ticket::ToStatus() const {
  switch (refusal_) {
    case Refusal::kNone:
      return OkStatus();
    case Refusal::kRateLimited:
      return ResourceExhaustedError(
          StrCat("rate limit exceeded for this client; retry after ", retry_after_ms_, " ms"));
    case Refusal::kBulkheadFull:
      return UnavailableError(StrCat("server overloaded: too many concurrent ",
                                     EndpointClassName(class_), " requests; retry later"));
    case Refusal::kShed:
      return UnavailableError(
          "server overloaded: request shed to keep latency bounded; retry later");
  }
  return OkStatus();
}

void AdmissionController::Ticket::Complete(int64_t latency_us) {
  if (adaptive_) {
    adaptive_->Complete(latency_us);
    adaptive_.reset();
  }
  bulkhead_.reset();
}

AdmissionController::AdmissionController(std::string server, const AdmissionOptions& options,
                                         KeyedRateLimiter* rate_limiter, const Clock& clock)
    : server_(std::move(server)),
      adaptive_enabled_(options.adaptive),
      rate_limiter_(rate_limiter),
      bulkheads_{Bulkhead(options.max_in_flight[0]), Bulkhead(options.max_in_flight[1]),
                 Bulkhead(options.max_in_flight[2])},
      adaptive_(options.adaptive_options, clock) {}

AdmissionController::Ticket AdmissionController::Admit(EndpointClass endpoint,
                                                       std::string_view client) {
  Ticket ticket;
  ticket.class_ = endpoint;
  if (endpoint == EndpointClass::kExempt) return ticket;
  const int c = static_cast<int>(endpoint);
  auto refuse = [&](Refusal why, int64_t retry_after_ms) {
    ticket.refusal_ = why;
    ticket.retry_after_ms_ = std::max<int64_t>(1, retry_after_ms);
    ticket.bulkhead_.reset();
    ticket.adaptive_.reset();
    rejected_[c][static_cast<int>(why)].fetch_add(1, std::memory_order_relaxed);
    return std::move(ticket);
  };
  if (rate_limiter_ != nullptr && rate_limiter_->enabled()) {
    RateDecision decision = rate_limiter_->Acquire(client);
    if (!decision.allowed) {
      return refuse(Refusal::kRateLimited, (decision.retry_after_us + 999) / 1000);
    }
  }
  ticket.bulkhead_ = bulkheads_[c].TryAcquire();
  if (!ticket.bulkhead_) return refuse(Refusal::kBulkheadFull, 1000);
  if (endpoint == EndpointClass::kRecommend && adaptive_enabled_) {
    ticket.adaptive_ = adaptive_.TryAcquire();
    if (!ticket.adaptive_) return refuse(Refusal::kShed, 1000);
  }
  return ticket;
}

void AdmissionController::RenderMetrics(
    std::initializer_list<const AdmissionController*> controllers, std::string* out) {
  obs::RenderHeader(out, "pulse_admission_rejected_total", "counter",
                    "Requests refused before any work, by front end, endpoint class and reason.");
  for (const AdmissionController* a : controllers) {
    for (int c = 0; c < 3; ++c) {
      for (Refusal r : {Refusal::kRateLimited, Refusal::kBulkheadFull, Refusal::kShed}) {
        StrAppend(*out, "pulse_admission_rejected_total{server=\"", a->server_, "\",class=\"",
                  EndpointClassName(static_cast<EndpointClass>(c)), "\",reason=\"", RefusalName(r),
                  "\"} ", a->rejected_[c][static_cast<int>(r)].load(std::memory_order_relaxed),
                  "\n");
      }
    }
  }
  obs::RenderHeader(out, "pulse_admission_in_flight", "gauge",
                    "Admitted requests not finished yet, by front end and endpoint class.");
  for (const AdmissionController* a : controllers) {
    for (int c = 0; c < 3; ++c) {
      StrAppend(*out, "pulse_admission_in_flight{server=\"", a->server_, "\",class=\"",
                EndpointClassName(static_cast<EndpointClass>(c)), "\"} ",
                a->bulkheads_[c].in_flight(), "\n");
    }
  }
  obs::RenderHeader(out, "pulse_concurrency_limit", "gauge",
                    "Current adaptive concurrency limit of recommend requests, by front end.");
  for (const AdmissionController* a : controllers) {
    StrAppend(*out, "pulse_concurrency_limit{server=\"", a->server_, "\"} ", a->adaptive_.limit(),
              "\n");
  }
}

}  // namespace pulse::resilience
