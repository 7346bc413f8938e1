#include "loadgen/bench.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/flags.h"

namespace pulse::loadgen {
namespace {

Status ParseTarget(const std::string& target, std::string* host, int* port) {
  const size_t colon = target.rfind(':');
  int64_t value = 0;
  if (colon == std::string::npos || colon == 0 ||
      !ParseInt64(std::string_view(target).substr(colon + 1), &value) || value < 1 ||
      value > 65535) {
    return InvalidArgumentError(StrCat("--target must be host:port, got '", target, "'"));
  }
  *host = target.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = static_cast<int>(value);
  return OkStatus();
}

Status CheckRange(std::string_view flag, double value, double low, double high) {
  if (!(value >= low && value <= high)) {
    return InvalidArgumentError(StrCat("--", flag, " must be between ", low, " and ", high));
  }
  return OkStatus();
}

double Millis(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

Result<BenchOptions> ParseBenchFlags(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(Flags flags,
                   Flags::Parse(args,
                                {"target", "rps", "duration", "shape", "proto", "users", "zipf",
                                 "unknown-share", "user-prefix", "api-key", "n", "connections",
                                 "timeout-ms", "batch-us", "seed", "p99-ms", "step", "max-steps"},
                                {"json", "find-max"}));
  if (!flags.positional().empty()) {
    return InvalidArgumentError(StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  BenchOptions options;
  ASSIGN_OR_RETURN(std::string target, flags.Require("target"));
  RETURN_IF_ERROR(ParseTarget(target, &options.host, &options.port));
  RETURN_IF_ERROR(flags.Require("rps").status());
  ASSIGN_OR_RETURN(options.rps, flags.GetDouble("rps", 0));
  RETURN_IF_ERROR(CheckRange("rps", options.rps, 0.01, 1e7));
  RETURN_IF_ERROR(flags.Require("duration").status());
  ASSIGN_OR_RETURN(options.duration_s, flags.GetDouble("duration", 0));
  RETURN_IF_ERROR(CheckRange("duration", options.duration_s, 0.01, 86400));
  ASSIGN_OR_RETURN(options.shape, ParseShape(flags.GetString("shape", "flat")));
  const std::string proto = flags.GetString("proto", "grpc");
  if (proto == "grpc") {
    options.proto = Proto::kGrpc;
  } else if (proto == "http") {
    options.proto = Proto::kHttp;
  } else {
    return InvalidArgumentError(StrCat("--proto must be grpc or http, got '", proto, "'"));
  }
  options.json = flags.GetBool("json");
  ASSIGN_OR_RETURN(int64_t users, flags.GetInt("users", 10000));
  RETURN_IF_ERROR(CheckRange("users", static_cast<double>(users), 1, 50'000'000));
  options.users = static_cast<uint64_t>(users);
  ASSIGN_OR_RETURN(options.zipf, flags.GetDouble("zipf", options.zipf));
  RETURN_IF_ERROR(CheckRange("zipf", options.zipf, 0, 5));
  ASSIGN_OR_RETURN(options.unknown_share, flags.GetDouble("unknown-share", options.unknown_share));
  RETURN_IF_ERROR(CheckRange("unknown-share", options.unknown_share, 0, 1));
  options.user_prefix = flags.GetString("user-prefix", options.user_prefix);
  if (options.user_prefix.size() > 64) {
    return InvalidArgumentError("--user-prefix is at most 64 characters");
  }
  options.api_key = flags.GetString("api-key", options.api_key);
  if (options.api_key.size() > 256 || options.api_key.find_first_of("\r\n") != std::string::npos) {
    return InvalidArgumentError("--api-key is at most 256 characters, on one line");
  }
  ASSIGN_OR_RETURN(int64_t n, flags.GetInt("n", options.n));
  RETURN_IF_ERROR(CheckRange("n", static_cast<double>(n), 1, 200));
  options.n = static_cast<int>(n);
  ASSIGN_OR_RETURN(int64_t connections, flags.GetInt("connections", 0));
  if (flags.Has("connections")) {
    RETURN_IF_ERROR(CheckRange("connections", static_cast<double>(connections), 1, 1024));
  }
  options.connections = static_cast<int>(connections);
  ASSIGN_OR_RETURN(options.timeout_ms, flags.GetInt("timeout-ms", options.timeout_ms));
  RETURN_IF_ERROR(CheckRange("timeout-ms", static_cast<double>(options.timeout_ms), 1, 600'000));
  ASSIGN_OR_RETURN(options.batch_us, flags.GetInt("batch-us", options.batch_us));
  RETURN_IF_ERROR(CheckRange("batch-us", static_cast<double>(options.batch_us), 0, 100'000));
  if (flags.Has("batch-us") && options.proto != Proto::kGrpc) {
    return InvalidArgumentError("--batch-us applies to --proto grpc only");
  }
  ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 1));
  options.seed = static_cast<uint64_t>(seed);
  options.find_max = flags.GetBool("find-max");
  if (flags.Has("p99-ms") && !options.find_max) {
    return InvalidArgumentError("--p99-ms needs --find-max");
  }
  ASSIGN_OR_RETURN(options.p99_ms, flags.GetDouble("p99-ms", options.p99_ms));
  RETURN_IF_ERROR(CheckRange("p99-ms", options.p99_ms, 0.001, 60'000));
  ASSIGN_OR_RETURN(options.step, flags.GetDouble("step", options.step));
  RETURN_IF_ERROR(CheckRange("step", options.step, 1.01, 10));
  ASSIGN_OR_RETURN(int64_t max_steps, flags.GetInt("max-steps", options.max_steps));
  RETURN_IF_ERROR(CheckRange("max-steps", static_cast<double>(max_steps), 1, 100));
  options.max_steps = static_cast<int>(max_steps);
  return options;
}

void SetRates(const BenchOptions& options, double rps, std::chrono::steady_clock::time_point start,
              std::chrono::steady_clock::time_point last_done, BenchResult* result) {
  result->elapsed_s =
      std::max(std::chrono::duration<double>(last_done - start).count(), options.duration_s);
  result->offered_rps =
      static_cast<double>(ScheduledRequests(options.shape, rps, options.duration_s)) /
      options.duration_s;
  result->achieved_rps = static_cast<double>(result->ok) / result->elapsed_s;
}

BenchResult RunBench(const BenchOptions& options, double rps, const ZipfSampler& users) {
  return options.proto == Proto::kHttp ? RunHttp(options, rps, users)
                                       : RunGrpc(options, rps, users);
}

std::string BenchResultJson(const BenchResult& result) {
  nlohmann::ordered_json out;
  auto round3 = [](double v) {
    return static_cast<double>(static_cast<int64_t>(v * 1000 + 0.5)) / 1000;
  };
  out["offered_rps"] = round3(result.offered_rps);
  out["achieved_rps"] = round3(result.achieved_rps);
  out["requests"] = result.requests;
  out["errors"] = nlohmann::ordered_json::object();
  for (const auto& [code, count] : result.errors) out["errors"][code] = count;
  const Histogram& h = result.latency_ns;
  out["latency_ms"] = {{"p50", Millis(h.Percentile(0.50))},
                       {"p90", Millis(h.Percentile(0.90))},
                       {"p99", Millis(h.Percentile(0.99))},
                       {"p999", Millis(h.Percentile(0.999))},
                       {"max", Millis(h.max())}};
  return out.dump();
}

std::string BenchResultText(const BenchResult& result, const BenchOptions& options, double rps) {
  const Histogram& h = result.latency_ns;
  std::string errors;
  for (const auto& [code, count] : result.errors) errors += StrCat(" ", code, "=", count);
  char line[512];
  std::snprintf(
      line, sizeof(line),
      "%s %s:%d rate %.0f/s %s for %.1f s\n"
      "  offered %.1f req/s, achieved %.1f req/s, %llu requests, %llu ok, errors:%s\n"
      "  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
      options.proto == Proto::kHttp ? "http" : "grpc", options.host.c_str(), options.port, rps,
      std::string(ShapeName(options.shape)).c_str(), options.duration_s, result.offered_rps,
      result.achieved_rps, static_cast<unsigned long long>(result.requests),
      static_cast<unsigned long long>(result.ok), errors.empty() ? " none" : errors.c_str(),
      Millis(h.Percentile(0.5)), Millis(h.Percentile(0.9)), Millis(h.Percentile(0.99)),
      Millis(h.Percentile(0.999)), Millis(h.max()));
  return line;
}

bool PassesBound(const BenchResult& result, double p99_ms) {
  uint64_t errors = 0;
  for (const auto& [code, count] : result.errors) errors += count;
  if (result.requests == 0) return false;
  return Millis(result.latency_ns.Percentile(0.99)) <= p99_ms &&
         static_cast<double>(errors) <= 0.01 * static_cast<double>(result.requests) &&
         result.achieved_rps >= 0.95 * result.offered_rps;
}

int RunBenchCommand(const std::vector<std::string>& args) {
  auto options = ParseBenchFlags(args);
  if (!options.ok()) return ExitWithError("bench", options.status());
  const ZipfSampler users(options->users, options->zipf);
  if (!options->find_max) {
    BenchResult result = RunBench(*options, options->rps, users);
    const std::string text = options->json ? BenchResultJson(result) + "\n"
                                           : BenchResultText(result, *options, options->rps);
    std::fputs(text.c_str(), stdout);
    return result.requests > 0 ? 0 : 1;
  }
  // Step the rate up until a run fails the bound, then bisect twice between the last passing
  // and the first failing rate.
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
  double best = 0;
  double failing = 0;
  auto try_rate = [&](double rps) {
    BenchResult result = RunBench(*options, rps, users);
    const bool pass = PassesBound(result, options->p99_ms);
    if (options->json) {
      nlohmann::ordered_json step = nlohmann::ordered_json::parse(BenchResultJson(result));
      step["pass"] = pass;
      steps.push_back(std::move(step));
    } else {
      std::fputs(BenchResultText(result, *options, rps).c_str(), stdout);
      std::printf("  %s\n", pass ? "PASS" : "FAIL");
      std::fflush(stdout);
    }
    return pass;
  };
  double rps = options->rps;
  for (int i = 0; i < options->max_steps; ++i) {
    if (!try_rate(rps)) {
      failing = rps;
      break;
    }
    best = rps;
    rps *= options->step;
  }
  if (failing > 0 && best > 0) {
    for (int i = 0; i < 2; ++i) {
      const double mid = (best + failing) / 2;
      if (try_rate(mid)) {
        best = mid;
      } else {
        failing = mid;
      }
    }
  }
  if (options->json) {
    nlohmann::ordered_json out;
    out["p99_ms_bound"] = options->p99_ms;
    out["max_rps"] = best;
    out["steps"] = std::move(steps);
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("max rate with p99 <= %.3f ms: %.0f req/s%s\n", options->p99_ms, best,
                failing == 0 ? " (no step failed; raise --max-steps)" : "");
  }
  return 0;
}

}  // namespace pulse::loadgen
