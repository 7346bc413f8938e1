// api/http_server.h — the HTTP/JSON front end (CONTRACT.md "HTTP/JSON") over one PulseService,
// on cpp-httplib.
//
// Routes: POST /v1/recommend, POST /v1/items, GET|DELETE /v1/items/{id},
// GET /v1/users/{id}/features, POST /v1/events (array or JSON lines → 202, see
// api::ParseEventsBody; 429 with Retry-After: 1 when ingest is saturated),
// GET /v1/admin/dead-letter?limit=N, GET /healthz, GET /readyz, GET /metrics. Path ids are
// URL-decoded once and checked with ingest::ValidateId. Every error is
// `{"error":{"code","message"}}` with Content-Type application/json: 400 for bad input, 404 unknown
// route, 405 wrong method (with an Allow header), 413 for a body over ServerConfig::max_body_bytes
// (counted after decompression and for chunked bodies too, which httplib itself would not bound),
// service errors mapped by api::HttpStatusFor.
//
// Threading: a pool of ServerConfig::http_threads workers; cpp-httplib serves each connection on
// one worker for its whole keep-alive life, so more busy keep-alive connections than workers
// queue until one closes (each connection serves at most kKeepAliveMaxRequests requests, then
// the client reconnects; idle ones close after kKeepAliveTimeoutSeconds).
// The service must outlive the server. Start/Stop are called from one controlling thread.
// Failure: Start reports an unusable or busy address; a hostile request only ever costs its own
// connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/http_metrics.h"
#include "core/config.h"
#include "core/status.h"
#include "resilience/admission.h"
#include "serving/service.h"

namespace pulse::api {

inline constexpr int kKeepAliveMaxRequests = 100;
inline constexpr int kKeepAliveTimeoutSeconds = 5;
inline constexpr int64_t kDefaultDeadLetterLimit = 100;
inline constexpr int64_t kMaxDeadLetterLimit = 1000;

class HttpServer {
 public:
  // `metrics` (not owned) defaults to DefaultRequestMetrics(); it must outlive the server.
  HttpServer(serving::PulseService& service, const ServerConfig& config,
             RequestMetrics* metrics = nullptr);
  ~HttpServer();  // Stop()s if running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Admission control (rate limit, bulkheads, load shedding) before every handler; `admission`
  // (not owned) must outlive the server. Call before Start. Without one, everything is admitted.
  void SetAdmission(resilience::AdmissionController* admission);

  // Binds "host:port" ("[::1]:8080" for IPv6; port 0 picks a free port) and returns once the
  // listener accepts connections. InvalidArgument for a malformed address, Unavailable when it
  // cannot be bound (busy, not local), FailedPrecondition when already started.
  Status Start(const std::string& address);
  // The bound port; 0 before Start.
  int port() const;
  // Stops accepting, lets in-flight requests finish, and returns once the listener and workers
  // have exited. An idle keep-alive connection may delay this by up to kKeepAliveTimeoutSeconds.
  // Idempotent.
  void Stop();
  // From now on GET /readyz answers 503 "draining" (load balancers stop sending) while requests
  // are still served; called first on SIGTERM. Any thread.
  void SetDraining();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::api
