#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/clock.h"
#include "nlohmann/json.hpp"

namespace pulse {
namespace {
std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_log_mu;
thread_local std::string t_request_id;
thread_local std::string t_trace_id;

struct RateState {
  int64_t window_start_ms = 0;
  int emitted = 0;
  uint64_t suppressed = 0;
};
std::mutex g_rate_mu;
std::atomic<int> g_rate_max{10};
std::atomic<int64_t> g_rate_interval_ms{60000};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}
}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level.store(static_cast<int>(level)); }

namespace {
void Emit(LogLevel level, std::string_view component, std::string_view message,
          const LogFields* fields, uint64_t suppressed) {
  int64_t micros = SystemClock::Get().NowMicros();
  std::time_t secs = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((micros / 1000) % 1000));
  nlohmann::json line = {{"ts", ts},
                         {"level", LevelName(level)},
                         {"component", std::string(component)},
                         {"msg", std::string(message)}};
  if (!t_request_id.empty()) line["request_id"] = t_request_id;
  if (!t_trace_id.empty()) line["trace_id"] = t_trace_id;
  if (suppressed > 0) line["suppressed"] = suppressed;
  if (fields != nullptr) {
    for (const auto& [key, value] : *fields) {
      std::visit(
          [&line, key = key](const auto& v) {
            if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string_view>) {
              line[std::string(key)] = std::string(v);
            } else {
              line[std::string(key)] = v;
            }
          },
          value);
    }
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::fprintf(stderr, "%s\n", text.c_str());
}

bool Enabled(LogLevel level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}
}  // namespace

void Log(LogLevel level, std::string_view component, std::string_view message) {
  if (Enabled(level)) Emit(level, component, message, nullptr, 0);
}

void LogWithFields(LogLevel level, std::string_view component, std::string_view message,
                   const LogFields& fields) {
  if (Enabled(level)) Emit(level, component, message, &fields, 0);
}

bool LogRateLimited(LogLevel level, std::string_view component, std::string_view key,
                    std::string_view message) {
  if (!Enabled(level)) return false;
  const int64_t now_ms = SystemClock::Get().NowMillis();
  uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(g_rate_mu);
    // Keys are fixed names, so the map stays small; it is never pruned.
    static auto* states = new std::unordered_map<std::string, RateState>();
    RateState& state = (*states)[std::string(key)];
    if (now_ms - state.window_start_ms >= g_rate_interval_ms.load(std::memory_order_relaxed)) {
      state.window_start_ms = now_ms;
      state.emitted = 0;
    }
    if (state.emitted >= g_rate_max.load(std::memory_order_relaxed)) {
      ++state.suppressed;
      return false;
    }
    ++state.emitted;
    suppressed = std::exchange(state.suppressed, 0);
  }
  Emit(level, component, message, nullptr, suppressed);
  return true;
}

void SetLogRateLimit(int max_per_interval, int64_t interval_ms) {
  g_rate_max.store(max_per_interval < 1 ? 1 : max_per_interval);
  g_rate_interval_ms.store(interval_ms < 1 ? 1 : interval_ms);
}

ScopedLogContext::ScopedLogContext(std::string_view request_id, std::string_view trace_id)
    : previous_request_id_(std::move(t_request_id)), previous_trace_id_(std::move(t_trace_id)) {
  t_request_id.assign(request_id);
  t_trace_id.assign(trace_id);
}

ScopedLogContext::~ScopedLogContext() {
  t_request_id = std::move(previous_request_id_);
  t_trace_id = std::move(previous_trace_id_);
}

}  // namespace pulse
