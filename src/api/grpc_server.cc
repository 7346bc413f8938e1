#include "api/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/message_allocator.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "api/json_api.h"
#include "candidates/context.h"
#include "core/clock.h"
#include "core/log.h"
#include "ingest/json_codec.h"
#include "obs/runtime_metrics.h"
#include "obs/trace.h"
#include "pulse/v1/pulse.grpc.pb.h"
#include "pulse/v1/pulse.pb.h"

namespace pulse::api {
namespace {

constexpr char kRecommenderService[] = "pulse.v1.Recommender";
// Recommend calls that may run inline on gRPC's callback threads at once (gRPC 1.51 runs
// callbacks on two "nexting" threads on this machine; one stays free to poll).
constexpr int kMaxInlineCalls = 1;

// Fixed workers over a bounded queue: the service runs here, not on gRPC's callback threads —
// except a recommend call that finds the queue empty, which may run inline on the callback thread
// that received it (TryRunInline): that saves the futex wake and the two context switches of the
// hand-off (measured in docs/BENCHMARKS.md, "gRPC per-call overhead"). At most
// kMaxInlineCalls run inline at once, so gRPC always keeps a callback thread free to poll.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t capacity) : capacity_(capacity), metrics_("grpc", threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Shutdown(); }

  // Takes `task` only when accepted; false when the queue is full or shut down.
  bool TrySubmit(std::function<void()>&& task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_ || queue_.size() >= capacity_) {
        metrics_.OnReject();
        return false;
      }
      queue_.push_back({std::move(task), metrics_.OnEnqueue()});
    }
    cv_.notify_one();
    return true;
  }

  // Runs `task` on the calling thread and returns true when the queue is empty and fewer than
  // kMaxInlineCalls run inline; false (task untouched) otherwise. Counted in the pool's metrics
  // like a queued task with no wait.
  template <typename Task>
  bool TryRunInline(Task& task) {
    if (metrics_.queue_depth() > 0 || shutdown_requested_.load(std::memory_order_relaxed)) {
      return false;
    }
    int running = inline_running_.load(std::memory_order_relaxed);
    do {
      if (running >= kMaxInlineCalls) return false;
    } while (
        !inline_running_.compare_exchange_weak(running, running + 1, std::memory_order_acquire));
    metrics_.OnStart(metrics_.OnEnqueue());
    task();
    metrics_.OnDone();
    inline_running_.fetch_sub(1, std::memory_order_release);
    return true;
  }

  // Runs what is queued, then joins the workers.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) return;
      shutdown_ = true;
      shutdown_requested_.store(true, std::memory_order_relaxed);
    }
    cv_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

 private:
  void Run() {
    for (;;) {
      Queued task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return shutdown_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      metrics_.OnStart(task.enqueued);
      task.fn();
      metrics_.OnDone();
    }
  }

  struct Queued {
    std::function<void()> fn;
    obs::PoolMetrics::TimePoint enqueued;
  };
  const size_t capacity_;
  obs::PoolMetrics metrics_;  // pool="grpc": utilisation, queue depth and wait, rejections
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  bool shutdown_ = false;
  std::atomic<bool> shutdown_requested_{false};  // shutdown_, readable without mu_
  std::atomic<int> inline_running_{0};
  std::vector<std::thread> workers_;
};

serving::RecommendRequest FromProto(const v1::RecommendRequest& proto) {
  serving::RecommendRequest request;
  request.user_id = proto.user_id();
  if (proto.n() != 0) request.n = proto.n();
  request.exclude.assign(proto.exclude().begin(), proto.exclude().end());
  request.context.assign(proto.context().begin(), proto.context().end());
  // Map order is unspecified on the wire; keep the service's input deterministic.
  std::sort(request.context.begin(), request.context.end());
  request.debug = proto.debug();
  return request;
}

void ToProto(const serving::RecommendResponse& response, v1::RecommendResponse* proto) {
  proto->set_request_id(response.request_id);
  proto->set_model_version(response.model_version);
  proto->set_degraded(response.degraded);
  proto->set_fallback(response.fallback);
  for (const auto& item : response.items) {
    auto* out = proto->add_items();
    out->set_item_id(item.item_id);
    out->set_score(item.score);
    out->set_explanation_id(item.explanation_id.data(), item.explanation_id.size());
    out->set_source(item.source);
  }
  if (!response.debug.has_value()) return;
  const serving::RecommendDebug& debug = *response.debug;
  auto* out = proto->mutable_debug();
  out->set_trace_id(debug.trace_id);
  for (const auto& stage : debug.stages) {
    auto* s = out->add_stages();
    s->set_name(stage.name);
    s->set_duration_us(stage.duration_us);
    s->set_candidates(stage.candidates);
    s->set_outcome(stage.outcome);
  }
  for (const auto& removed : debug.removed) {
    auto* r = out->add_removed();
    r->set_item_id(removed.item_id);
    r->set_filter(removed.filter);
    r->set_reason(removed.reason);
  }
  out->set_model_version(debug.model_version);
  out->set_index_version(debug.index_version);
  for (const auto& [source, count] : debug.candidates_by_source) {
    (*out->mutable_candidates_by_source())[source] = count;
  }
  auto set_value = [](const serving::FeatureValueDebug& value, v1::FeatureValue* feature) {
    feature->set_name(value.name);
    feature->set_value(value.value);
    feature->set_age_ms(value.age_ms);
  };
  for (const auto& value : debug.user_features) set_value(value, out->add_user_features());
  for (const auto& item : debug.item_features) {
    auto* features = out->add_item_features();
    features->set_item_id(item.item_id);
    for (const auto& value : item.values) set_value(value, features->add_features());
  }
}

Item FromProto(const v1::Item& proto) {
  Item item;
  item.item_id = proto.item_id();
  item.title = proto.title();
  item.category = proto.category();
  item.tags.assign(proto.tags().begin(), proto.tags().end());
  item.created_at_ms = proto.created_at();
  item.available = proto.has_available() ? proto.available() : true;
  return item;
}

// What the generated service classes call; GrpcServer::Impl implements it.
class CallHandler {
 public:
  virtual ~CallHandler() = default;
  // Queues `work` for a worker, which finishes the call with its status; answers at once with
  // RESOURCE_EXHAUSTED when the queue is full.
  virtual grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context,
                                        std::string_view method, std::function<Status()> work) = 0;
  virtual Status Recommend(grpc::CallbackServerContext* context,
                           const v1::RecommendRequest& request,
                           v1::RecommendResponse* response) = 0;
  virtual Status UpsertItems(const v1::UpsertItemsRequest& request,
                             v1::UpsertItemsResponse* response) = 0;
  virtual Status DeleteItem(const v1::DeleteItemRequest& request,
                            v1::DeleteItemResponse* response) = 0;
  virtual Status Publish(const v1::PublishRequest& request, v1::PublishResponse* response) = 0;
};

}  // namespace

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

struct GrpcServer::Impl final : CallHandler {
  Impl(serving::PulseService& service_in, const ServerConfig& config_in, RequestMetrics* metrics_in)
      : service(service_in), config(config_in), metrics(metrics_in) {}

  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, std::string_view method,
                                std::function<Status()> work) override;
  Status Recommend(grpc::CallbackServerContext* context, const v1::RecommendRequest& request,
                   v1::RecommendResponse* response) override;
  Status UpsertItems(const v1::UpsertItemsRequest& request,
                     v1::UpsertItemsResponse* response) override;
  Status DeleteItem(const v1::DeleteItemRequest& request,
                    v1::DeleteItemResponse* response) override;
  Status Publish(const v1::PublishRequest& request, v1::PublishResponse* response) override;

  void ApplyServing();
  // Admission of a call of API method `method` (always admitted without a controller).
  resilience::AdmissionController::Ticket Admit(grpc::CallbackServerContext* context,
                                                std::string_view method);

  serving::PulseService& service;
  const ServerConfig config;
  RequestMetrics* const metrics;
  resilience::AdmissionController* admission_controller = nullptr;

  std::unique_ptr<WorkerPool> pool;
  std::vector<std::unique_ptr<grpc::Service>> services;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  std::mutex health_mu;  // guards `serving` and health updates against Start/Stop
  bool serving = false;

  // Drain accounting (logged by Stop): calls between Run and their Finish, and calls that the
  // drain deadline cancelled before they finished.
  std::atomic<int64_t> in_flight{0};
  std::atomic<bool> draining{false};
  std::atomic<int64_t> cancelled_in_drain{0};
};

namespace {

// Recommend's request and response live on one protobuf arena per call whose first block is
// inline in the holder: the messages, the response's items and their string objects are carved
// from it and dropped together instead of allocated and freed one by one (strings longer than
// the small-string buffer still take a heap block each). The holder is released once the
// response is serialized.
class ArenaRecommendMessages final
    : public grpc::MessageHolder<v1::RecommendRequest, v1::RecommendResponse> {
 public:
  ArenaRecommendMessages() : arena_(Options(initial_block_)) {
    set_request(google::protobuf::Arena::CreateMessage<v1::RecommendRequest>(&arena_));
    set_response(google::protobuf::Arena::CreateMessage<v1::RecommendResponse>(&arena_));
  }
  void Release() override { delete this; }

 private:
  static constexpr size_t kInitialBlock = 4096;  // a default response (10 items) fits
  static google::protobuf::ArenaOptions Options(char* block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = kInitialBlock;
    return options;
  }

  alignas(16) char initial_block_[kInitialBlock];  // before arena_: it is the arena's first block
  google::protobuf::Arena arena_;
};

class ArenaRecommendAllocator final
    : public grpc::MessageAllocator<v1::RecommendRequest, v1::RecommendResponse> {
 public:
  grpc::MessageHolder<v1::RecommendRequest, v1::RecommendResponse>* AllocateMessages() override {
    return new ArenaRecommendMessages();
  }
};

class RecommenderService final : public v1::Recommender::CallbackService {
 public:
  explicit RecommenderService(CallHandler* impl) : impl_(impl) {
    SetMessageAllocatorFor_Recommend(&allocator_);
  }
  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* context,
                                      const v1::RecommendRequest* request,
                                      v1::RecommendResponse* response) override {
    return impl_->Run(context, "recommend", [this, context, request, response] {
      return impl_->Recommend(context, *request, response);
    });
  }

 private:
  CallHandler* impl_;
  ArenaRecommendAllocator allocator_;  // outlives the server: the service does
};

class CatalogService final : public v1::Catalog::CallbackService {
 public:
  explicit CatalogService(CallHandler* impl) : impl_(impl) {}
  grpc::ServerUnaryReactor* UpsertItems(grpc::CallbackServerContext* context,
                                        const v1::UpsertItemsRequest* request,
                                        v1::UpsertItemsResponse* response) override {
    return impl_->Run(context, "upsert_items",
                      [this, request, response] { return impl_->UpsertItems(*request, response); });
  }
  grpc::ServerUnaryReactor* DeleteItem(grpc::CallbackServerContext* context,
                                       const v1::DeleteItemRequest* request,
                                       v1::DeleteItemResponse* response) override {
    return impl_->Run(context, "delete_item",
                      [this, request, response] { return impl_->DeleteItem(*request, response); });
  }

 private:
  CallHandler* impl_;
};

class EventsService final : public v1::Events::CallbackService {
 public:
  explicit EventsService(CallHandler* impl) : impl_(impl) {}
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const v1::PublishRequest* request,
                                    v1::PublishResponse* response) override {
    return impl_->Run(context, "publish_events",
                      [this, request, response] { return impl_->Publish(*request, response); });
  }

 private:
  CallHandler* impl_;
};

}  // namespace

grpc::ServerUnaryReactor* GrpcServer::Impl::Run(grpc::CallbackServerContext* context,
                                                std::string_view method,
                                                std::function<Status()> work) {
  auto* reactor = context->DefaultReactor();
  const auto start = std::chrono::steady_clock::now();
  // Admitted calls hold their slots while queued too, so a flood of one class cannot fill the
  // queue ahead of another, and queueing delay counts in the latency the limiter sees.
  auto admission =
      std::make_shared<resilience::AdmissionController::Ticket>(Admit(context, method));
  in_flight.fetch_add(1, std::memory_order_relaxed);
  // Metrics, trace and access log first: the context may go as soon as the reactor finishes.
  auto finish = [this, context, reactor, method, start, admission](
                    const Status& status, std::optional<obs::RequestTrace>& trace) {
    admission->Complete(std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    metrics->Record(method, StatusCodeName(status.code()), seconds);
    if (draining.load(std::memory_order_relaxed) && context->IsCancelled()) {
      cancelled_in_drain.fetch_add(1, std::memory_order_relaxed);
    }
    FinishApiCall(trace, "grpc", method, status, seconds, 0);
    reactor->Finish(ToGrpcStatus(status));
    in_flight.fetch_sub(1, std::memory_order_relaxed);
  };
  std::function<void()> task = [context, method, work = std::move(work), finish] {
    // The call's trace, from the traceparent metadata (a malformed one starts a new trace),
    // current for this worker while the service runs.
    std::string_view traceparent;
    const auto& metadata = context->client_metadata();
    if (auto it = metadata.find("traceparent"); it != metadata.end()) {
      traceparent = std::string_view(it->second.data(), it->second.size());
    }
    std::optional<obs::RequestTrace> trace;
    trace.emplace(traceparent, StrCat("grpc ", method), obs::GlobalTracer().enabled());
    Status status;
    {
      ScopedLogContext log_context(std::string_view(), trace->trace_id_hex());
      obs::ActiveTrace active_trace(&*trace);
      if (context->IsCancelled()) {
        status = CancelledError("call cancelled while queued");
      } else if (std::chrono::system_clock::now() > context->deadline()) {
        status = DeadlineExceededError("deadline passed before the request was served");
      } else {
        status = work();
      }
    }
    finish(status, trace);
  };
  std::optional<obs::RequestTrace> no_trace;
  if (!admission->admitted()) {
    context->AddTrailingMetadata("retry-after-ms", std::to_string(admission->retry_after_ms()));
    // The contract names RESOURCE_EXHAUSTED for every kind of overload over gRPC.
    finish(ResourceExhaustedError(admission->ToStatus().message()), no_trace);
  } else if (method == "recommend" && pool->TryRunInline(task)) {
    // Ran on this callback thread: recommend is CPU-bound and deadline-bounded.
  } else if (!pool->TrySubmit(std::move(task))) {
    finish(ResourceExhaustedError("server overloaded: too many queued requests"), no_trace);
  }
  return reactor;
}

Status GrpcServer::Impl::Recommend(grpc::CallbackServerContext* context,
                                   const v1::RecommendRequest& proto,
                                   v1::RecommendResponse* response) {
  serving::RecommendRequest request = FromProto(proto);
  RETURN_IF_ERROR(serving::ValidateRecommendRequest(request));
  // The client's deadline (or the configured default) bounds every pipeline stage. gRPC reports
  // "no deadline" as a far-future time point.
  const int64_t remaining_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                   context->deadline() - std::chrono::system_clock::now())
                                   .count();
  if (remaining_us < int64_t{3600} * 1'000'000) {
    request.deadline_us = candidates::SteadyNowMicros() + std::max<int64_t>(remaining_us, 0);
  } else if (config.default_deadline_ms > 0) {
    request.deadline_us = candidates::SteadyNowMicros() + config.default_deadline_ms * 1000;
  }
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("traceparent"); it != metadata.end()) {
    if (auto trace_id =
            TraceIdFromTraceparent(std::string_view(it->second.data(), it->second.size()))) {
      request.trace_id = std::move(*trace_id);
    }
  }
  ASSIGN_OR_RETURN(serving::RecommendResponse result, service.Recommend(request));
  ToProto(result, response);
  return OkStatus();
}

Status GrpcServer::Impl::UpsertItems(const v1::UpsertItemsRequest& request,
                                     v1::UpsertItemsResponse* response) {
  if (request.items().empty()) return OkStatus();
  std::vector<Item> items;
  items.reserve(static_cast<size_t>(request.items_size()));
  for (const auto& item : request.items()) items.push_back(FromProto(item));
  ASSIGN_OR_RETURN(serving::UpsertResult result, service.UpsertItems(std::move(items)));
  response->set_upserted(result.upserted);
  for (const auto& [index, reason] : result.rejected) {
    auto* rejected = response->add_rejected();
    rejected->set_index(index);
    rejected->set_reason(reason);
  }
  return OkStatus();
}

Status GrpcServer::Impl::DeleteItem(const v1::DeleteItemRequest& request,
                                    v1::DeleteItemResponse* response) {
  RETURN_IF_ERROR(ingest::ValidateId(request.item_id(), "item_id"));
  RETURN_IF_ERROR(service.DeleteItem(request.item_id()));
  response->set_deleted(true);
  return OkStatus();
}

Status GrpcServer::Impl::Publish(const v1::PublishRequest& request, v1::PublishResponse* response) {
  if (request.events().empty()) return OkStatus();
  std::vector<serving::EventInput> inputs;
  inputs.reserve(static_cast<size_t>(request.events_size()));
  for (const v1::Event& event : request.events()) {
    inputs.push_back(EventInputFromWire(WireEventFields{event.event_id(), event.user_id(),
                                                        event.item_id(), event.type(), event.ts(),
                                                        event.dwell_ms(), event.request_id()}));
  }
  ASSIGN_OR_RETURN(serving::PublishResult result, service.PublishEvents(std::move(inputs), "grpc"));
  response->set_accepted(result.accepted);
  response->set_duplicates(result.duplicates);
  for (const auto& [index, reason] : result.rejected) {
    auto* rejected = response->add_rejected();
    rejected->set_index(index);
    rejected->set_reason(reason);
  }
  return OkStatus();
}

resilience::AdmissionController::Ticket GrpcServer::Impl::Admit(
    grpc::CallbackServerContext* context, std::string_view method) {
  if (admission_controller == nullptr) return {};
  // The client is its API key when it sends one, else its address ("ipv4:1.2.3.4:5678" → the IP).
  const auto& metadata = context->client_metadata();
  std::string client;
  if (auto it = metadata.find("x-api-key"); it != metadata.end() && it->second.size() > 0) {
    client = StrCat("k:", std::string_view(it->second.data(), it->second.size()));
  } else {
    std::string peer = context->peer();
    if (size_t colon = peer.rfind(':'); colon != std::string::npos) peer.resize(colon);
    if (size_t scheme = peer.find(':'); scheme != std::string::npos) peer.erase(0, scheme + 1);
    client = StrCat("ip:", peer);
  }
  return admission_controller->Admit(resilience::EndpointClassOf(method), client);
}

void GrpcServer::Impl::ApplyServing() {
  if (server == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  health->SetServingStatus(kRecommenderService, serving);
}

GrpcServer::GrpcServer(serving::PulseService& service, const ServerConfig& config,
                       RequestMetrics* metrics)
    : impl_(std::make_unique<Impl>(service, config,
                                   metrics != nullptr ? metrics : &DefaultRequestMetrics())) {}

GrpcServer::~GrpcServer() { Stop(0); }

void GrpcServer::SetAdmission(resilience::AdmissionController* admission) {
  impl_->admission_controller = admission;
}

Status GrpcServer::Start(const std::string& address) {
  if (impl_->server != nullptr) return FailedPreconditionError("gRPC server already started");
  // Both are process-wide switches read when a server is built.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  const int threads = std::max(1, impl_->config.grpc_threads);
  impl_->pool = std::make_unique<WorkerPool>(
      threads, static_cast<size_t>(threads) * static_cast<size_t>(kMaxQueuedPerWorker));
  impl_->services.clear();
  impl_->services.push_back(std::make_unique<RecommenderService>(impl_.get()));
  impl_->services.push_back(std::make_unique<CatalogService>(impl_.get()));
  impl_->services.push_back(std::make_unique<EventsService>(impl_.get()));

  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected_port);
  // Without this a second server could bind a busy port and split the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (impl_->config.grpc_max_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, impl_->config.grpc_max_streams);
  }
  const int64_t max_message = std::clamp<int64_t>(impl_->config.max_body_bytes, 0, INT32_MAX);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message));
  for (auto& service : impl_->services) builder.RegisterService(service.get());

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    if (server != nullptr) server->Shutdown();
    impl_->pool->Shutdown();
    impl_->pool.reset();
    impl_->services.clear();
    return UnavailableError(
        StrCat("cannot listen on ", address, " (address malformed, in use or not available)"));
  }
  {
    std::lock_guard<std::mutex> lock(impl_->health_mu);
    impl_->server = std::move(server);
    impl_->port = selected_port;
    impl_->ApplyServing();
  }
  LOG_INFO("api", "gRPC listening on port ", selected_port, " with ", threads, " workers");
  return OkStatus();
}

int GrpcServer::port() const { return impl_->port; }

void GrpcServer::SetServing(bool serving) {
  std::lock_guard<std::mutex> lock(impl_->health_mu);
  impl_->serving = serving;
  impl_->ApplyServing();
}

void GrpcServer::Stop(int64_t deadline_ms) {
  std::unique_ptr<grpc::Server> server;
  {
    std::lock_guard<std::mutex> lock(impl_->health_mu);
    server = std::move(impl_->server);
    impl_->port = 0;
  }
  if (server == nullptr) return;
  impl_->draining = true;
  const int64_t in_flight = impl_->in_flight.load();
  const Stopwatch drain;
  // Workers stay up during Shutdown: queued calls still need their Finish for it to complete.
  // Shutdown refuses new calls at once and cancels the calls still running at the deadline.
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(std::max<int64_t>(0, deadline_ms)));
  server->Wait();
  LOG_INFO("api", "gRPC drained in ", drain.ElapsedMicros() / 1000, " ms: ", in_flight,
           " calls in flight at the start, ", impl_->cancelled_in_drain.load(),
           " cancelled at the drain deadline");
  impl_->pool->Shutdown();
  server.reset();
  impl_->pool.reset();
  impl_->services.clear();
}

}  // namespace pulse::api
