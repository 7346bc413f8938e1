#include "api/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <string_view>
#include <thread>
#include <utility>

#include "api/dashboard.h"
#include "api/json_api.h"
#include "candidates/context.h"
#include "core/log.h"
#include "httplib.h"
#include "ingest/json_codec.h"
#include "obs/metrics.h"

namespace pulse::api {
namespace {

constexpr char kJsonType[] = "application/json";
constexpr char kDeadlineHeader[] = "x-pulse-deadline-ms";

enum class Route {
  kNone,
  kRecommend,
  kItems,
  kItem,
  kUserFeatures,
  kEvents,
  kDeadLetters,
  kHealthz,
  kReadyz,
  kMetrics
};

struct RouteMatch {
  Route route = Route::kNone;
  std::string_view id;  // {id} of /v1/items/{id} and /v1/users/{id}/features (already decoded)
};

// httplib has already URL-decoded req.path (once); decoding again would turn a literal "%41"
// into "A". An id may therefore contain '/' (sent as %2F).
RouteMatch MatchRoute(std::string_view path) {
  if (path == "/v1/recommend") return {Route::kRecommend, {}};
  if (path == "/v1/items") return {Route::kItems, {}};
  if (path == "/v1/events") return {Route::kEvents, {}};
  if (path == "/v1/admin/dead-letter") return {Route::kDeadLetters, {}};
  if (path == "/healthz") return {Route::kHealthz, {}};
  if (path == "/readyz") return {Route::kReadyz, {}};
  if (path == "/metrics") return {Route::kMetrics, {}};
  constexpr std::string_view kItemPrefix = "/v1/items/";
  if (path.starts_with(kItemPrefix) && path.size() > kItemPrefix.size()) {
    return {Route::kItem, path.substr(kItemPrefix.size())};
  }
  constexpr std::string_view kUserPrefix = "/v1/users/";
  constexpr std::string_view kFeaturesSuffix = "/features";
  if (path.starts_with(kUserPrefix) && path.ends_with(kFeaturesSuffix) &&
      path.size() > kUserPrefix.size() + kFeaturesSuffix.size()) {
    return {Route::kUserFeatures, path.substr(kUserPrefix.size(), path.size() - kUserPrefix.size() -
                                                                      kFeaturesSuffix.size())};
  }
  return {};
}

std::string_view AllowedMethods(Route route) {
  switch (route) {
    case Route::kRecommend:
    case Route::kItems:
    case Route::kEvents:
      return "POST";
    case Route::kItem:
      return "GET, DELETE";
    case Route::kNone:
      return "";
    default:
      return "GET";
  }
}

// The metric label of a (route, method) pair; empty when the method is not allowed there.
std::string_view Operation(Route route, std::string_view method) {
  const bool get = method == "GET" || method == "HEAD";
  const bool post = method == "POST";
  switch (route) {
    case Route::kRecommend:
      return post ? "recommend" : "";
    case Route::kItems:
      return post ? "upsert_items" : "";
    case Route::kItem:
      return get ? "get_item" : method == "DELETE" ? "delete_item" : "";
    case Route::kUserFeatures:
      return get ? "get_user_features" : "";
    case Route::kEvents:
      return post ? "publish_events" : "";
    case Route::kDeadLetters:
      return get ? "list_dead_letters" : "";
    case Route::kHealthz:
      return get ? "healthz" : "";
    case Route::kReadyz:
      return get ? "readyz" : "";
    case Route::kMetrics:
      return get ? "metrics" : "";
    case Route::kNone:
      return "";
  }
  return "";
}

std::string_view MetricLabel(const httplib::Request& req) {
  std::string_view op = Operation(MatchRoute(req.path).route, req.method);
  return op.empty() ? std::string_view("unknown") : op;
}

void ReplyError(httplib::Response& res, int http_status, const Status& status) {
  res.status = http_status;
  res.set_content(ErrorToJson(status), kJsonType);
}

// Error statuses httplib produces on its own (malformed request line, URI too long, ...).
Status StatusForHttp(int http_status, int64_t max_body_bytes) {
  switch (http_status) {
    case 400:
      return InvalidArgumentError("malformed HTTP request");
    case 404:
      return NotFoundError("no such endpoint");
    case 413:
      return ResourceExhaustedError(
          StrCat("request body exceeds the limit of ", max_body_bytes, " bytes"));
    case 414:
      return InvalidArgumentError("request URI is too long");
    default:
      if (http_status >= 500) return InternalError("internal server error");
      return InvalidArgumentError(StrCat("HTTP error ", http_status));
  }
}

Status ParseAddress(const std::string& address, std::string* host, int* port) {
  auto bad = [&address] {
    return InvalidArgumentError(StrCat("address must be host:port, got \"", address, "\""));
  };
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  std::string_view host_part(address.data(), colon);
  if (host_part.front() == '[') {
    if (host_part.size() < 3 || host_part.back() != ']') return bad();
    host_part = host_part.substr(1, host_part.size() - 2);
  } else if (host_part.find(':') != std::string_view::npos) {
    return bad();  // a bare IPv6 address needs brackets
  }
  int64_t value = 0;
  if (!ParseInt64(std::string_view(address).substr(colon + 1), &value) || value < 0 ||
      value > 65535) {
    return bad();
  }
  *host = std::string(host_part);
  *port = static_cast<int>(value);
  return OkStatus();
}

}  // namespace

struct HttpServer::Impl {
  Impl(serving::PulseService& service_in, const ServerConfig& config_in, RequestMetrics* metrics_in)
      : service(service_in), config(config_in), metrics(metrics_in) {}

  void Configure(httplib::Server& server);
  // Reads a request body under the size limit; false after replying 413/400.
  bool ReadBody(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader, std::string* body);
  void Handle(const httplib::Request& req, httplib::Response& res, std::string_view body);
  Status Dispatch(const RouteMatch& match, const httplib::Request& req, httplib::Response& res,
                  std::string_view body);

  Status Recommend(const httplib::Request& req, httplib::Response& res, std::string_view body);
  // Admission of a request of API method `op` (always admitted without a controller).
  resilience::AdmissionController::Ticket Admit(std::string_view op, const httplib::Request& req);
  Status UpsertItems(httplib::Response& res, std::string_view body);
  Status GetItem(httplib::Response& res, std::string_view id);
  Status DeleteItem(httplib::Response& res, std::string_view id);
  Status GetUserFeatures(httplib::Response& res, std::string_view id);
  Status Readyz(httplib::Response& res);
  Status PublishEvents(httplib::Response& res, std::string_view body);
  Status ListDeadLetters(const httplib::Request& req, httplib::Response& res);

  serving::PulseService& service;
  const ServerConfig config;
  RequestMetrics* const metrics;
  resilience::AdmissionController* admission_controller = nullptr;
  std::unique_ptr<httplib::Server> server;
  std::thread listener;
  std::atomic<bool> listener_done{false};
  std::atomic<bool> draining{false};
  int port = 0;
};

void HttpServer::Impl::Configure(httplib::Server& srv) {
  const size_t threads = static_cast<size_t>(std::max(1, config.http_threads));
  srv.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  srv.set_payload_max_length(static_cast<size_t>(std::max<int64_t>(0, config.max_body_bytes)));
  srv.set_keep_alive_max_count(kKeepAliveMaxRequests);
  srv.set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  srv.set_read_timeout(5, 0);
  srv.set_write_timeout(5, 0);
  // httplib writes headers and body separately; with Nagle on, keep-alive clients would stall
  // on delayed ACKs.
  srv.set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which lets a second server bind a busy port and
  // silently split the traffic. SO_REUSEADDR alone still allows a quick restart.
  srv.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  // The dashboard (GET /, /dashboard/*, /v1/admin/stats; docs/DASHBOARD.md) answers bodiless
  // GETs before routing, so its polling is not counted as API traffic.
  auto dashboard = std::make_shared<Dashboard>(service, [this] {
    return metrics->RenderPrometheus() + obs::DefaultMetricsRegistry().Render();
  });
  // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3), but
  // httplib would read a POST/PUT/PATCH body until EOF or the read timeout; answer those (and
  // every bodiless GET) here, before httplib reads anything.
  srv.set_pre_routing_handler(
      [this, dashboard](const httplib::Request& req, httplib::Response& res) {
        if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        if (dashboard->Serve(req, res)) return httplib::Server::HandlerResponse::Handled;
        Handle(req, res, {});
        return httplib::Server::HandlerResponse::Handled;
      });
  // One catch-all route per method: routing, 404 vs 405 and metric labels are decided in one
  // place (MatchRoute) instead of per-pattern regexes.
  auto without_body = [this](const httplib::Request& req, httplib::Response& res) {
    Handle(req, res, {});
  };
  auto with_body = [this](const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
    std::string body;
    if (ReadBody(req, res, reader, &body)) Handle(req, res, body);
  };
  srv.Get(".*", without_body);
  srv.Options(".*", without_body);
  srv.Post(".*", with_body);
  srv.Put(".*", with_body);
  srv.Patch(".*", with_body);
  srv.Delete(".*", with_body);

  // Errors httplib raises itself (bad request line, 413 by Content-Length, ...) arrive with an
  // empty body; give them the JSON error form. Handlers' own errors already have a body.
  srv.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        Status status = StatusForHttp(res.status, config.max_body_bytes);
        res.set_content(ErrorToJson(status), kJsonType);
        metrics->Count(MetricLabel(req), StatusCodeName(status.code()));
        return httplib::Server::HandlerResponse::Handled;
      }));
  srv.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        LOG_ERROR("api", "HTTP handler threw on ", req.method, " ", MetricLabel(req));
        ReplyError(res, 500, InternalError("internal server error"));
        metrics->Count(MetricLabel(req), StatusCodeName(StatusCode::kInternal));
      });
}

bool HttpServer::Impl::ReadBody(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader, std::string* body) {
  // httplib bounds bodies by Content-Length only; chunked and compressed bodies reach this
  // receiver unbounded, so the limit is applied to the bytes actually delivered. An oversized
  // body is drained (up to kMaxDrainBytes) rather than cut off: a client still writing when the
  // server closes gets a connection reset instead of the 413.
  constexpr uint64_t kMaxDrainBytes = 16 << 20;
  const uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(0, config.max_body_bytes));
  uint64_t received = 0;
  bool too_large = false;
  bool read = reader([&](const char* data, size_t length) {
    received += length;
    if (!too_large && received <= limit) {
      body->append(data, length);
      return true;
    }
    if (!too_large) {
      too_large = true;
      std::string().swap(*body);
    }
    return received <= limit + kMaxDrainBytes;
  });
  if (read && !too_large) return true;
  const bool over_limit = too_large || res.status == 413;
  Status status = over_limit ? StatusForHttp(413, config.max_body_bytes)
                             : InvalidArgumentError("request body could not be read");
  ReplyError(res, over_limit ? 413 : 400, status);
  // After an aborted read the rest of the body is still in the stream; do not reuse it.
  if (!read) res.set_header("Connection", "close");
  metrics->Count(MetricLabel(req), StatusCodeName(status.code()));
  return false;
}

void HttpServer::Impl::Handle(const httplib::Request& req, httplib::Response& res,
                              std::string_view body) {
  const auto start = std::chrono::steady_clock::now();
  const RouteMatch match = MatchRoute(req.path);
  const std::string_view op = Operation(match.route, req.method);
  Status status;
  if (match.route == Route::kNone) {
    status = NotFoundError("no such endpoint");
    ReplyError(res, 404, status);
  } else if (op.empty()) {
    status = UnimplementedError(
        StrCat("method ", req.method, " is not allowed here; use ", AllowedMethods(match.route)));
    ReplyError(res, 405, status);
    res.set_header("Allow", std::string(AllowedMethods(match.route)));
  } else {
    resilience::AdmissionController::Ticket admission = Admit(op, req);
    status = admission.admitted() ? Dispatch(match, req, res, body) : admission.ToStatus();
    if (!status.ok()) {
      const int http_status = HttpStatusFor(status.code());
      ReplyError(res, http_status, status);
      // Overload is transient: tell well-behaved clients when to come back.
      if (http_status == 429 || (http_status == 503 && !admission.admitted())) {
        res.set_header(
            "Retry-After",
            std::to_string(admission.admitted() ? int64_t{1} : admission.retry_after_seconds()));
      }
    }
    admission.Complete(std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - start)
                           .count());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics->Record(op.empty() ? std::string_view("unknown") : op, StatusCodeName(status.code()),
                  seconds);
}

Status HttpServer::Impl::Dispatch(const RouteMatch& match, const httplib::Request& req,
                                  httplib::Response& res, std::string_view body) {
  switch (match.route) {
    case Route::kRecommend:
      return Recommend(req, res, body);
    case Route::kItems:
      return UpsertItems(res, body);
    case Route::kItem:
      return req.method == "DELETE" ? DeleteItem(res, match.id) : GetItem(res, match.id);
    case Route::kUserFeatures:
      return GetUserFeatures(res, match.id);
    case Route::kEvents:
      return PublishEvents(res, body);
    case Route::kDeadLetters:
      return ListDeadLetters(req, res);
    case Route::kHealthz:
      res.set_content(R"({"status":"ok"})", kJsonType);
      return OkStatus();
    case Route::kReadyz:
      return Readyz(res);
    case Route::kMetrics:
      res.set_content(metrics->RenderPrometheus() + obs::DefaultMetricsRegistry().Render(),
                      "text/plain; version=0.0.4; charset=utf-8");
      return OkStatus();
    case Route::kNone:
      break;
  }
  return NotFoundError("no such endpoint");
}

resilience::AdmissionController::Ticket HttpServer::Impl::Admit(std::string_view op,
                                                                const httplib::Request& req) {
  if (admission_controller == nullptr) return {};
  // The client is its API key when it sends one, else its address.
  auto key = req.headers.find("x-api-key");
  std::string client = key != req.headers.end() && !key->second.empty()
                           ? StrCat("k:", key->second)
                           : StrCat("ip:", req.remote_addr);
  return admission_controller->Admit(resilience::EndpointClassOf(op), client);
}

Status HttpServer::Impl::Recommend(const httplib::Request& req, httplib::Response& res,
                                   std::string_view body) {
  ASSIGN_OR_RETURN(serving::RecommendRequest request, ParseRecommendRequest(body));
  // x-pulse-deadline-ms: the client's remaining budget, as gRPC's deadline; else the default.
  int64_t budget_ms = config.default_deadline_ms;
  if (req.has_header(kDeadlineHeader)) {
    if (!ParseInt64(req.get_header_value(kDeadlineHeader), &budget_ms) || budget_ms < 1 ||
        budget_ms > 3'600'000) {
      return InvalidArgumentError(
          StrCat(kDeadlineHeader, " must be an integer number of milliseconds in 1..3600000"));
    }
  }
  if (budget_ms > 0) request.deadline_us = candidates::SteadyNowMicros() + budget_ms * 1000;
  // An invalid traceparent is ignored, as W3C trace-context asks of receivers.
  if (req.has_header("traceparent")) {
    if (auto trace_id = TraceIdFromTraceparent(req.get_header_value("traceparent"))) {
      request.trace_id = std::move(*trace_id);
    }
  }
  ASSIGN_OR_RETURN(serving::RecommendResponse response, service.Recommend(request));
  res.set_content(RecommendResponseToJson(response), kJsonType);
  return OkStatus();
}

Status HttpServer::Impl::UpsertItems(httplib::Response& res, std::string_view body) {
  ASSIGN_OR_RETURN(ParsedItems parsed, ParseItemsBody(body));
  serving::UpsertResult result;
  if (!parsed.items.empty()) {
    ASSIGN_OR_RETURN(serving::UpsertResult stored, service.UpsertItems(std::move(parsed.items)));
    result.upserted = stored.upserted;
    for (auto& [index, reason] : stored.rejected) {
      // The service numbers the items it was given; clients number the items they sent.
      int body_index = index >= 0 && static_cast<size_t>(index) < parsed.indices.size()
                           ? parsed.indices[static_cast<size_t>(index)]
                           : index;
      result.rejected.emplace_back(body_index, std::move(reason));
    }
  }
  for (auto& rejected : parsed.rejected) result.rejected.push_back(std::move(rejected));
  std::stable_sort(result.rejected.begin(), result.rejected.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  res.set_content(UpsertResultToJson(result), kJsonType);
  return OkStatus();
}

Status HttpServer::Impl::GetItem(httplib::Response& res, std::string_view id) {
  RETURN_IF_ERROR(ingest::ValidateId(id, "item_id"));
  ASSIGN_OR_RETURN(Item item, service.GetItem(id));
  res.set_content(ItemToJsonText(item), kJsonType);
  return OkStatus();
}

Status HttpServer::Impl::DeleteItem(httplib::Response& res, std::string_view id) {
  RETURN_IF_ERROR(ingest::ValidateId(id, "item_id"));
  RETURN_IF_ERROR(service.DeleteItem(id));
  res.set_content(R"({"deleted":true})", kJsonType);
  return OkStatus();
}

Status HttpServer::Impl::GetUserFeatures(httplib::Response& res, std::string_view id) {
  RETURN_IF_ERROR(ingest::ValidateId(id, "user_id"));
  ASSIGN_OR_RETURN(serving::UserFeatures features, service.GetUserFeatures(id));
  res.set_content(UserFeaturesToJson(features), kJsonType);
  return OkStatus();
}

Status HttpServer::Impl::Readyz(httplib::Response& res) {
  if (draining.load()) return UnavailableError("draining: the server is shutting down");
  serving::Readiness readiness = service.GetReadiness();
  if (!readiness.ready) {
    return UnavailableError(readiness.reason.empty() ? "not ready" : readiness.reason);
  }
  res.set_content(ReadinessToJson(readiness), kJsonType);
  return OkStatus();
}

Status HttpServer::Impl::PublishEvents(httplib::Response& res, std::string_view body) {
  ASSIGN_OR_RETURN(std::vector<serving::EventInput> inputs, ParseEventsBody(body));
  serving::PublishResult result;
  if (!inputs.empty()) {
    ASSIGN_OR_RETURN(result, service.PublishEvents(std::move(inputs), "http"));
  }
  res.status = 202;
  res.set_content(PublishResultToJson(result), kJsonType);
  return OkStatus();
}

Status HttpServer::Impl::ListDeadLetters(const httplib::Request& req, httplib::Response& res) {
  int64_t limit = kDefaultDeadLetterLimit;
  if (req.has_param("limit")) {
    if (!ParseInt64(req.get_param_value("limit"), &limit) || limit < 1 ||
        limit > kMaxDeadLetterLimit) {
      return InvalidArgumentError(
          StrCat("limit must be an integer between 1 and ", kMaxDeadLetterLimit));
    }
  }
  ASSIGN_OR_RETURN(std::vector<serving::DeadLetterView> letters,
                   service.ListDeadLetters(static_cast<size_t>(limit)));
  res.set_content(DeadLettersToJson(letters), kJsonType);
  return OkStatus();
}

HttpServer::HttpServer(serving::PulseService& service, const ServerConfig& config,
                       RequestMetrics* metrics)
    : impl_(std::make_unique<Impl>(service, config,
                                   metrics != nullptr ? metrics : &DefaultRequestMetrics())) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::SetAdmission(resilience::AdmissionController* admission) {
  impl_->admission_controller = admission;
}

Status HttpServer::Start(const std::string& address) {
  if (impl_->server != nullptr) return FailedPreconditionError("HTTP server already started");
  std::string host;
  int port = 0;
  RETURN_IF_ERROR(ParseAddress(address, &host, &port));
  auto server = std::make_unique<httplib::Server>();
  impl_->Configure(*server);
  int bound = -1;
  if (port == 0) {
    bound = server->bind_to_any_port(host);
  } else if (server->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    return UnavailableError(
        StrCat("cannot listen on ", address, " (address in use or not available)"));
  }
  httplib::Server* raw = server.get();
  impl_->listener_done.store(false);
  impl_->listener = std::thread([this, raw] {
    raw->listen_after_bind();
    impl_->listener_done.store(true);
  });
  // httplib's stop() is a no-op until its accept loop has started; wait for it so an early
  // Stop() cannot be lost (the socket already listens, so no connection is refused meanwhile).
  while (!raw->is_running() && !impl_->listener_done.load()) std::this_thread::yield();
  impl_->server = std::move(server);
  impl_->port = bound;
  LOG_INFO("api", "HTTP listening on ", host, ":", bound, " with ", impl_->config.http_threads,
           " threads");
  return OkStatus();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::SetDraining() { impl_->draining.store(true); }

void HttpServer::Stop() {
  if (impl_->server == nullptr) return;
  impl_->server->stop();
  if (impl_->listener.joinable()) impl_->listener.join();
  impl_->server.reset();
  impl_->port = 0;
}

}  // namespace pulse::api
