// api/grpc_server.h — the gRPC front end (CONTRACT.md "gRPC", proto/pulse/v1/pulse.proto) over
// one PulseService, on gRPC's callback API.
//
// Services: pulse.v1.Recommender.Recommend, pulse.v1.Catalog.UpsertItems/DeleteItem,
// pulse.v1.Events.Publish (each proto Event goes through api::EventInputFromWire, so rejects
// carry the same reasons as over HTTP; RESOURCE_EXHAUSTED when ingest is saturated),
// grpc.health.v1.Health (status of
// "" and "pulse.v1.Recommender", NOT_SERVING until SetServing(true)) and server reflection.
// Requests are translated to the serving structs and checked exactly as the HTTP front end does
// (serving::ValidateRecommendRequest); a proto3 n of 0 means "use the default". Errors map one to
// one (pulse::StatusCode numbers are gRPC's): bad input is INVALID_ARGUMENT with the reason.
//
// Threading: gRPC's callback threads only enqueue; ServerConfig::grpc_threads workers call the
// service and finish the call, so a slow service never blocks gRPC's own event loop. When the
// queue is full (kMaxQueuedPerWorker per worker) calls fail fast with RESOURCE_EXHAUSTED; a call
// whose deadline passed or that was cancelled while queued is answered without calling the
// service. Messages over ServerConfig::max_body_bytes are refused by gRPC (RESOURCE_EXHAUSTED).
// Credentials: insecure (loopback by default). The service must outlive the server.
// Start/Stop from one controlling thread; SetServing from any thread.
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>
#include <memory>
#include <string>

#include "api/http_metrics.h"
#include "core/config.h"
#include "core/status.h"
#include "resilience/admission.h"
#include "serving/service.h"

namespace pulse::api {

inline constexpr int kMaxQueuedPerWorker = 128;

// pulse::Status → grpc::Status (same code numbers, same message).
grpc::Status ToGrpcStatus(const Status& status);

class GrpcServer {
 public:
  // `metrics` (not owned) defaults to DefaultRequestMetrics(); it must outlive the server.
  GrpcServer(serving::PulseService& service, const ServerConfig& config,
             RequestMetrics* metrics = nullptr);
  ~GrpcServer();  // Stop(0)s if running
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Admission control before every call (refusals: RESOURCE_EXHAUSTED with trailing metadata
  // `retry-after-ms`); `admission` (not owned) must outlive the server. Call before Start.
  void SetAdmission(resilience::AdmissionController* admission);

  // Listens on "host:port" (port 0 picks a free one; see port()). Unavailable when the address
  // cannot be bound (busy: SO_REUSEPORT is off), FailedPrecondition when already started.
  Status Start(const std::string& address);
  int port() const;  // 0 before Start
  // Health status reported for "" and "pulse.v1.Recommender"; may be called before Start.
  void SetServing(bool serving);
  // Stops accepting calls, waits up to deadline_ms for in-flight calls (cancelling the rest),
  // then stops the workers. Idempotent.
  void Stop(int64_t deadline_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::api
