// obs/setup.h — applies the `obs` configuration to the process: log rate limits, the tracer
// (OTLP/HTTP exporter), SLO targets and the process_* collector. `pulse serve` calls it once at
// start-up, before any server starts; everything it installs lives for the process.
#pragma once

#include "core/config.h"

namespace pulse::obs {

void ConfigureObservability(const ObsConfig& config);
// At shutdown, after the servers drained: exports the spans still queued, waiting at most
// `timeout_ms` (obs.tracing.shutdown_flush_ms); logs how many were left behind when it gives up.
void ShutdownTracing(int64_t timeout_ms);
// Whether API front ends write an access-log line per request (obs.access_log).
bool AccessLogEnabled();

}  // namespace pulse::obs
