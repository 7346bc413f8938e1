// core/log.h — structured logs: one JSON object per line on stderr
// {"ts":"…","level":"info","component":"serving","msg":"…"}.
// Thread-safety: Log() may be called from any thread; lines never interleave.
// Messages carry no raw user ids (see status.h).
//
// Request context: while a ScopedLogContext is alive on a thread, its lines also carry
// "request_id" and "trace_id". Repeated errors: LOG_RATE_LIMITED emits at most N lines per key
// per interval (SetLogRateLimit) and reports how many it suppressed ("suppressed":k) on the next
// line it lets through, so a failing dependency cannot flood the log.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/strings.h"

namespace pulse {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void Log(LogLevel level, std::string_view component, std::string_view message);
void SetMinLogLevel(LogLevel level);

// Extra typed fields of one line (the access log's method, code, duration...).
using LogFields =
    std::vector<std::pair<std::string_view, std::variant<std::string_view, int64_t, double>>>;
void LogWithFields(LogLevel level, std::string_view component, std::string_view message,
                   const LogFields& fields);

// Lines with the same `key` (a fixed name, never request text): at most `max_per_interval` per
// `interval_ms`; the rest are counted and reported on the next line emitted for the key.
// Returns whether this line was written.
bool LogRateLimited(LogLevel level, std::string_view component, std::string_view key,
                    std::string_view message);
void SetLogRateLimit(int max_per_interval, int64_t interval_ms);

// Adds request_id / trace_id to this thread's lines for the scope's lifetime.
class ScopedLogContext {
 public:
  ScopedLogContext(std::string_view request_id, std::string_view trace_id);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  std::string previous_request_id_;
  std::string previous_trace_id_;
};

// LOG_INFO("serving", "loaded model ", version) — arguments are concatenated with ::pulse::StrCat.
#define PULSE_LOG(level, component, ...) \
  ::pulse::Log(level, component, ::pulse::StrCat(__VA_ARGS__))
#define LOG_INFO(component, ...) PULSE_LOG(::pulse::LogLevel::kInfo, component, __VA_ARGS__)
#define LOG_WARN(component, ...) PULSE_LOG(::pulse::LogLevel::kWarn, component, __VA_ARGS__)
#define LOG_ERROR(component, ...) PULSE_LOG(::pulse::LogLevel::kError, component, __VA_ARGS__)
#define LOG_RATE_LIMITED(level, component, key, ...) \
  ::pulse::LogRateLimited(level, component, key, ::pulse::StrCat(__VA_ARGS__))

}  // namespace pulse
