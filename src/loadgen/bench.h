// loadgen/bench.h — `pulse bench`: an open-loop load generator for POST /v1/recommend (HTTP,
// keep-alive connections) and pulse.v1.Recommender.Recommend (gRPC, completion-queue API over
// several channels).
//
// Open loop: every request has a scheduled send time from loadgen::Schedule, whether or not
// earlier ones have been answered, and its latency is measured from that scheduled time, so a
// stalled server shows up as latency instead of as fewer samples (no coordinated omission — the
// wrk2 method). Latencies of every completed request (successful or not) go into per-thread
// loadgen::Histograms merged at the end; errors are counted by their canonical code name
// (gRPC status, or the HTTP error body's "code"; UNAVAILABLE when the connection fails).
// The request's timeout is also sent as its deadline (gRPC deadline, x-pulse-deadline-ms).
//
// Thread-safety: RunBench blocks its caller and uses its own threads. Failure: bad options are
// InvalidArgument (exit 2); an unreachable target is not an error but UNAVAILABLE counts.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "loadgen/histogram.h"
#include "loadgen/schedule.h"
#include "loadgen/zipf.h"

namespace pulse::loadgen {

enum class Proto { kGrpc, kHttp };

struct BenchOptions {
  std::string host;  // from --target host:port
  int port = 0;
  double rps = 0;
  double duration_s = 0;
  Shape shape = Shape::kFlat;
  Proto proto = Proto::kGrpc;
  bool json = false;
  uint64_t users = 10000;       // population: ids u1..u{users} (as `pulse gen --users`)
  double zipf = 1.0;            // exponent of user popularity (0 = uniform)
  double unknown_share = 0.05;  // share of requests for never-seen users
  std::string user_prefix = "u";
  // Sent as x-api-key (HTTP header / gRPC metadata): the server's rate limits are per key, so
  // several benches with different keys play different clients.
  std::string api_key;
  int n = 10;                 // items per request
  int connections = 0;        // HTTP connections / gRPC channels; 0 = 8 HTTP, 4 gRPC
  int64_t timeout_ms = 1000;  // per request; also its deadline
  // gRPC: the sender wakes at most once per batch_us and starts every call already due, so a
  // connection carries several requests per write and the server reads several per wake-up
  // (fewer context switches on both sides). Each call is still timed from its scheduled time:
  // the added wait (≤ batch_us) shows up in the latencies, never hidden. 0 = wake per call.
  int64_t batch_us = 0;
  uint64_t seed = 1;
  bool find_max = false;
  double p99_ms = 5.0;  // --find-max bound
  double step = 1.25;   // --find-max rate multiplier per step
  int max_steps = 20;
};

// Parses `pulse bench` flags; InvalidArgument naming the bad flag.
Result<BenchOptions> ParseBenchFlags(const std::vector<std::string>& args);

struct BenchResult {
  double offered_rps = 0;   // scheduled requests / duration
  double achieved_rps = 0;  // successful responses / (first send → last response)
  uint64_t requests = 0;    // completed requests, successful or not
  uint64_t ok = 0;
  std::map<std::string, uint64_t> errors;  // code name → count
  Histogram latency_ns;
  double elapsed_s = 0;
};

// Sets elapsed_s (the run's span from `start` to the last response, at least the scheduled
// duration), offered_rps and achieved_rps from the counts already in `result`; shared by both
// drivers so the two protocols report rates the same way.
void SetRates(const BenchOptions& options, double rps, std::chrono::steady_clock::time_point start,
              std::chrono::steady_clock::time_point last_done, BenchResult* result);

// One run at `rps` for options.duration_s.
BenchResult RunBench(const BenchOptions& options, double rps, const ZipfSampler& users);

// The contract's one-object JSON form.
std::string BenchResultJson(const BenchResult& result);
std::string BenchResultText(const BenchResult& result, const BenchOptions& options, double rps);

// Whether a run meets the --find-max bound: p99 ≤ bound, errors ≤ 1%, and the generator or
// server kept up (achieved ≥ 95% of offered).
bool PassesBound(const BenchResult& result, double p99_ms);

// The `pulse bench` command; returns the exit code.
int RunBenchCommand(const std::vector<std::string>& args);

// Drivers (bench_http.cc, bench_grpc.cc).
BenchResult RunHttp(const BenchOptions& options, double rps, const ZipfSampler& users);
BenchResult RunGrpc(const BenchOptions& options, double rps, const ZipfSampler& users);

}  // namespace pulse::loadgen
