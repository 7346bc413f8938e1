// The HTTP driver of `pulse bench`: one keep-alive connection per thread (cpp-httplib's client
// is blocking), each thread sending its lane of the schedule. A connection still busy when its
// next send is due sends late, and that lateness counts in the latency (measured from the
// scheduled time), as in wrk2.
#include <sys/prctl.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "httplib.h"
#include "loadgen/bench.h"

namespace pulse::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

std::string ErrorCode(const httplib::Result& result, bool timed_out) {
  // No response: the client's timeout passed (DEADLINE_EXCEEDED, as gRPC reports it), or the
  // connection failed.
  if (!result) return timed_out ? "DEADLINE_EXCEEDED" : "UNAVAILABLE";
  // Error bodies are {"error":{"code":…}}; anything else keeps the HTTP status.
  nlohmann::json body = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_object() &&
      body["error"].contains("code") && body["error"]["code"].is_string()) {
    return body["error"]["code"].get<std::string>();
  }
  return StrCat("HTTP_", result->status);
}

}  // namespace

BenchResult RunHttp(const BenchOptions& options, double rps, const ZipfSampler& users) {
  // cpp-httplib serves a keep-alive connection on one server thread for its whole life, so more
  // connections than the server's http_threads (8 by default) starve; default to that.
  const int connections = options.connections > 0 ? options.connections : 8;
  ThreadHistograms latencies;
  struct Lane {
    uint64_t ok = 0;
    uint64_t done = 0;
    std::map<std::string, uint64_t> errors;
    Clock::time_point last_done;
  };
  std::vector<Lane> lanes(static_cast<size_t>(connections));
  const std::string deadline = std::to_string(options.timeout_ms);
  const auto start = Clock::now() + std::chrono::milliseconds(20);  // threads ready first
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      prctl(PR_SET_TIMERSLACK, 1);  // wake at the scheduled time, not up to 50 µs later
      Lane& lane = lanes[static_cast<size_t>(c)];
      Histogram& histogram = latencies.Local();
      httplib::Client client(options.host, options.port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      const auto timeout = std::chrono::milliseconds(options.timeout_ms);
      client.set_connection_timeout(timeout);
      client.set_read_timeout(timeout);
      client.set_write_timeout(timeout);
      httplib::Headers headers = {{"x-pulse-deadline-ms", deadline}};
      if (!options.api_key.empty()) headers.emplace("x-api-key", options.api_key);
      UserPicker picker(&users, options.unknown_share, options.user_prefix,
                        options.seed * 1000003 + static_cast<uint64_t>(c));
      Schedule schedule(options.shape, rps, options.duration_s, connections, c);
      std::string user;
      std::string body;
      int64_t offset_ns = 0;
      while (schedule.Next(&offset_ns)) {
        const auto scheduled = start + std::chrono::nanoseconds(offset_ns);
        std::this_thread::sleep_until(scheduled);
        const auto sent = Clock::now();
        picker.Next(&user);
        body.clear();
        body.append(R"({"user_id":")").append(user).append(R"(","n":)");
        body.append(std::to_string(options.n)).append("}");
        httplib::Result result = client.Post("/v1/recommend", headers, body, "application/json");
        const auto done = Clock::now();
        histogram.Record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(done - scheduled).count()));
        ++lane.done;
        lane.last_done = done;
        if (result && result->status == 200) {
          ++lane.ok;
        } else {
          const auto sent_for = std::chrono::duration_cast<std::chrono::milliseconds>(
              done - std::max(scheduled, sent));
          ++lane.errors[ErrorCode(result, sent_for.count() >= options.timeout_ms)];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  BenchResult result;
  auto last = start;
  for (const Lane& lane : lanes) {
    result.ok += lane.ok;
    result.requests += lane.done;
    for (const auto& [code, count] : lane.errors) result.errors[code] += count;
    if (lane.done > 0) last = std::max(last, lane.last_done);
  }
  result.latency_ns = latencies.Merged();
  SetRates(options, rps, start, last, &result);
  return result;
}

}  // namespace pulse::loadgen
