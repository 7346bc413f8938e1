#include "obs/setup.h"

#include <atomic>

#include "core/log.h"
#include "obs/runtime_metrics.h"
#include "obs/slo.h"
#include "obs/trace.h"

namespace pulse::obs {
namespace {
std::atomic<bool> g_access_log{false};
}  // namespace

void ConfigureObservability(const ObsConfig& config) {
  SetLogRateLimit(config.log_rate_limit, config.log_rate_limit_interval_ms);
  g_access_log.store(config.access_log, std::memory_order_relaxed);
  SetGlobalSloTargets({config.slo_availability_target, config.slo_latency_threshold_ms,
                       config.slo_latency_target, config.slo_freshness_threshold_ms,
                       config.slo_freshness_target});
  TracerOptions options;
  options.endpoint = config.trace_endpoint;
  options.sample_ratio = config.trace_sample_ratio;
  options.slow_threshold_ms = config.trace_slow_ms;
  options.queue_spans = static_cast<size_t>(config.trace_queue_spans);
  options.batch_spans = static_cast<size_t>(config.trace_batch_spans);
  options.flush_interval_ms = config.trace_flush_ms;
  if (!options.endpoint.empty()) {
    LOG_INFO("obs", "exporting traces to ", options.endpoint, "/v1/traces (sample ratio ",
             options.sample_ratio, ")");
  }
  SetGlobalTracer(std::make_unique<Tracer>(std::move(options)));
  RegisterProcessMetrics();
}

void ShutdownTracing(int64_t timeout_ms) {
  Tracer& tracer = GlobalTracer();
  if (!tracer.enabled()) return;
  if (!tracer.FlushFor(timeout_ms)) {
    LOG_WARN("obs", "trace export did not finish within obs.tracing.shutdown_flush_ms (",
             timeout_ms, " ms): ", tracer.queued_spans(), " queued spans not exported");
  }
}

bool AccessLogEnabled() { return g_access_log.load(std::memory_order_relaxed); }

}  // namespace pulse::obs
