#include <signal.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <set>
#include <thread>

#include "api/grpc_server.h"
#include "api/http_server.h"
#include "core/clock.h"
#include "core/flags.h"
#include "core/log.h"
#include "ingest/kafka_source.h"
#include "main/commands.h"
#include "obs/metrics.h"
#include "obs/setup.h"
#include "resilience/admission.h"
#include "rollout/models_dir.h"
#include "rollout/retrain_scheduler.h"
#include "serving/engine.h"
#include "store/data_dir.h"
#include "train/commands.h"

namespace pulse {

Result<Config> ConfigFromFlags(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(Flags flags, Flags::Parse(args, {"config", "data-dir", "http", "grpc", "role"}));
  if (!flags.positional().empty()) {
    return InvalidArgumentError(StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  Config config;
  if (flags.Has("config")) {
    ASSIGN_OR_RETURN(config, LoadConfigFile(flags.GetString("config")));
  }
  if (flags.Has("data-dir")) config.data_dir = flags.GetString("data-dir");
  if (flags.Has("http")) config.server.http_addr = flags.GetString("http");
  if (flags.Has("grpc")) config.server.grpc_addr = flags.GetString("grpc");
  if (flags.Has("role")) config.server.role = flags.GetString("role");
  RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

namespace {

// Periodic retraining (train.schedule) for the roles that process events; nullptr when off.
std::unique_ptr<rollout::RetrainScheduler> StartRetrainScheduler(const Config& config,
                                                                 store::DataDir* data_dir,
                                                                 serving::Engine* engine) {
  const RetrainScheduleConfig& schedule = config.train.schedule;
  if (schedule.interval_s <= 0 || config.server.role == "api") return nullptr;
  rollout::RetrainSchedulerOptions options;
  options.interval_ms = schedule.interval_s * 1000;
  options.min_new_events = static_cast<uint64_t>(schedule.min_new_events);
  options.keep_versions = schedule.keep_versions;
  options.nice = schedule.nice;
  options.models_dir = data_dir->models_dir();
  // New events count from the data of the newest bundle (when its manifest says).
  if (std::vector<std::string> versions = rollout::ListModelVersions(options.models_dir);
      !versions.empty()) {
    auto text = rollout::ReadManifestJson(options.models_dir + "/" + versions.back());
    if (text.ok()) {
      if (auto summary = rollout::SummarizeManifest(*text); summary.ok()) {
        options.baseline_seq = summary->last_seq;
      }
    }
  }
  options.event_count = [data_dir] { return data_dir->EventCount(); };
  // The same code path as `pulse train`, on fewer threads: requests keep the other cores.
  Config train_config = config;
  train_config.train.threads = schedule.threads;
  options.retrain =
      [data_dir, train_config](const std::atomic<bool>& cancel) -> Result<rollout::RetrainResult> {
    train::TrainRunOptions run_options;
    run_options.cancel = &cancel;
    ASSIGN_OR_RETURN(train::TrainRunSummary run,
                     train::TrainAndWriteBundle(*data_dir, train_config, run_options));
    return rollout::RetrainResult{run.version, run.last_event_seq};
  };
  // Swap in now rather than at the next poll (the watcher would find it too).
  options.on_success = [engine](const std::string&) {
    auto reloaded = engine->ReloadModelIfNewer();
    if (!reloaded.ok()) LOG_WARN("serve", "reload after retrain: ", reloaded.status().ToString());
  };
  options.protected_versions = [engine] {
    std::set<std::string> serving;
    if (auto snapshot = engine->snapshot()) serving.insert(snapshot->model->version);
    return serving;
  };
  auto scheduler = std::make_unique<rollout::RetrainScheduler>(
      std::move(options), SystemClock::Get(), &obs::DefaultMetricsRegistry());
  scheduler->Start();
  LOG_INFO("serve", "retraining every ", schedule.interval_s, " s when at least ",
           schedule.min_new_events, " new events arrived (", schedule.threads, " thread(s), nice ",
           schedule.nice, ")");
  return scheduler;
}

}  // namespace

int RunServer(const Config& config, const StartedHook& on_started) {
  // Signals are taken synchronously by this thread only: block them before any thread (RocksDB's
  // included) starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Tracer, SLO targets, log rate limits, process metrics: before anything serves.
  obs::ConfigureObservability(config.obs);

  auto data_dir = store::DataDir::Open(config.data_dir, config.store);
  if (!data_dir.ok())
    return ExitWithError("serve", WithContext(data_dir.status(), config.data_dir));
  auto engine = serving::Engine::Create(config, data_dir->get());
  if (!engine.ok()) return ExitWithError("serve", engine.status());
  (*engine)->StartModelWatcher();

  // Admission control: one rate limiter (a client's quota spans both protocols), one controller
  // per front end (each has its own threads).
  const ResilienceConfig& resilience = config.resilience;
  resilience::KeyedRateLimiter rate_limiter(resilience.rate_limit_rps, resilience.rate_limit_burst,
                                            static_cast<size_t>(resilience.rate_limit_clients),
                                            SystemClock::Get());
  resilience::AdmissionController http_admission(
      "http",
      resilience::AdmissionOptionsFor(resilience, config.server.http_threads,
                                      config.server.http_threads),
      &rate_limiter, SystemClock::Get());
  resilience::AdmissionController grpc_admission(
      "grpc",
      resilience::AdmissionOptionsFor(
          resilience, int64_t{config.server.grpc_threads} * api::kMaxQueuedPerWorker,
          config.server.grpc_threads),
      &rate_limiter, SystemClock::Get());
  struct MetricsRegistration {
    int handle;
    ~MetricsRegistration() { obs::DefaultMetricsRegistry().Unregister(handle); }
  } admission_metrics{obs::DefaultMetricsRegistry().Register([&](std::string* out) {
    resilience::AdmissionController::RenderMetrics({&http_admission, &grpc_admission}, out);
  })};

  api::HttpServer http(**engine, config.server);
  http.SetAdmission(&http_admission);
  if (Status status = http.Start(config.server.http_addr); !status.ok()) {
    return ExitWithError("serve", WithContext(status, "HTTP " + config.server.http_addr));
  }
  api::GrpcServer grpc(**engine, config.server);
  grpc.SetAdmission(&grpc_admission);
  if (Status status = grpc.Start(config.server.grpc_addr); !status.ok()) {
    http.Stop();
    return ExitWithError("serve", WithContext(status, "gRPC " + config.server.grpc_addr));
  }
  // Kafka: roles that process events consume the topic when brokers are configured. Batches go
  // through the same validation, dead letters and durable group commit as HTTP/gRPC ingest;
  // their offsets are stored only once PublishEvents returns (durable).
  std::unique_ptr<ingest::KafkaEventSource> kafka;
  if (!config.kafka.brokers.empty() && config.server.role != "api") {
    serving::Engine* engine_ptr = engine->get();
    auto source = ingest::KafkaEventSource::Create(
        config.kafka,
        [engine_ptr](std::vector<Event> events) -> Status {
          std::vector<serving::EventInput> inputs(events.size());
          for (size_t i = 0; i < events.size(); ++i) inputs[i].event = std::move(events[i]);
          // Rejected events are dead-lettered inside; only a failure to write is retried.
          return engine_ptr->PublishEvents(std::move(inputs), "kafka").status();
        },
        [engine_ptr](const ingest::KafkaReject& reject) {
          serving::EventInput input;
          input.parse_error = reject.reason.message();
          input.raw = reject.payload;
          std::vector<serving::EventInput> inputs;
          inputs.push_back(std::move(input));
          engine_ptr->PublishEvents(std::move(inputs), "kafka").status().IgnoreError();
        });
    if (!source.ok()) {
      grpc.Stop(0);
      http.Stop();
      return ExitWithError("serve", WithContext(source.status(), "kafka"));
    }
    kafka = std::move(source).value();
    if (Status started = kafka->Start(); !started.ok()) {
      grpc.Stop(0);
      http.Stop();
      return ExitWithError("serve", WithContext(started, "kafka"));
    }
    LOG_INFO("serve", "consuming Kafka topic ", config.kafka.topic, " as group ",
             config.kafka.group_id);
  }
  // The Kafka consumer's USE metrics (throughput, errors, retries), while it exists.
  int kafka_metrics = 0;
  if (kafka) {
    ingest::KafkaEventSource* source = kafka.get();
    kafka_metrics = obs::DefaultMetricsRegistry().Register([source](std::string* out) {
      const ingest::KafkaEventSource::Stats stats = source->stats();
      const std::pair<const char*, uint64_t> counters[] = {
          {"pulse_kafka_messages_total", stats.messages},
          {"pulse_kafka_events_total", stats.events},
          {"pulse_kafka_rejected_total", stats.rejected},
          {"pulse_kafka_batches_total", stats.batches},
          {"pulse_kafka_sink_failures_total", stats.sink_failures},
          {"pulse_kafka_rebalances_total", stats.rebalances}};
      for (const auto& [name, value] : counters) {
        obs::RenderHeader(out, name, "counter", "Kafka consumer (see ingest/kafka_source.h).");
        StrAppend(*out, name, " ", value, "\n");
      }
    });
  }

  std::unique_ptr<rollout::RetrainScheduler> retrain =
      StartRetrainScheduler(config, data_dir->get(), engine->get());

  auto host = [](const std::string& addr) { return addr.substr(0, addr.rfind(':')); };
  const ServerInfo info{host(config.server.http_addr), http.port(), host(config.server.grpc_addr),
                        grpc.port()};
  std::printf("pulse: http=%s:%d grpc=%s:%d\n", info.http_host.c_str(), info.http_port,
              info.grpc_host.c_str(), info.grpc_port);
  std::fflush(stdout);
  LOG_INFO("serve", "serving; data dir ", config.data_dir, ", role ", config.server.role);

  std::atomic<bool> stopping{false};
  std::thread hook_thread;
  if (on_started) {
    hook_thread = std::thread([&] { on_started(**engine, info, [&] { return stopping.load(); }); });
  }

  // Health follows readiness (a model can arrive after start-up) until a signal asks to stop.
  bool serving = false;
  while (true) {
    bool ready = (*engine)->GetReadiness().ready;
    if (ready != serving) {
      grpc.SetServing(ready);
      serving = ready;
    }
    timespec wait{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      LOG_INFO("serve", "signal ", sig, ": draining");
      break;
    }
  }

  stopping = true;
  // Drain: health flips first (load balancers stop sending), then both servers refuse new
  // requests and finish the in-flight ones, in parallel so the drain takes one timeout, not two.
  const Stopwatch drain;
  grpc.SetServing(false);
  http.SetDraining();
  if (hook_thread.joinable()) hook_thread.join();
  std::thread http_stop([&http] { http.Stop(); });
  if (kafka_metrics != 0) obs::DefaultMetricsRegistry().Unregister(kafka_metrics);
  if (kafka) kafka->Stop();  // finishes its batch and commits its offsets
  grpc.Stop(config.server.drain_timeout_ms);
  http_stop.join();
  LOG_INFO("serve", "drained in ", drain.ElapsedMicros() / 1000, " ms");
  // Spans of the last requests are still queued: send them, bounded, before exiting.
  obs::ShutdownTracing(config.obs.trace_shutdown_flush_ms);
  if (retrain) retrain->Stop();  // cancels a retrain in progress and waits for it
  (*engine)->StopModelWatcher();
  LOG_INFO("serve", "stopped");
  return 0;
}

int RunServeCommand(const std::vector<std::string>& args) {
  auto config = ConfigFromFlags(args);
  if (!config.ok()) return ExitWithError("serve", config.status());
  return RunServer(*config, nullptr);
}

}  // namespace pulse
