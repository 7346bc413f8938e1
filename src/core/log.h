// core/log.h — structured logs: one JSON object per line on stderr
// {"ts":"…","level":"info","component":"serving","msg":"…"}.
// Thread-safety: Log() may be called from any thread; lines never interleave.
// Messages carry no raw user ids (see status.h).
#pragma once

#include <string_view>

#include "core/strings.h"

namespace pulse {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void Log(LogLevel level, std::string_view component, std::string_view message);
void SetMinLogLevel(LogLevel level);

// LOG_INFO("serving", "loaded model ", version) — arguments are concatenated with ::pulse::StrCat.
#define PULSE_LOG(level, component, ...) \
  ::pulse::Log(level, component, ::pulse::StrCat(__VA_ARGS__))
#define LOG_INFO(component, ...) PULSE_LOG(::pulse::LogLevel::kInfo, component, __VA_ARGS__)
#define LOG_WARN(component, ...) PULSE_LOG(::pulse::LogLevel::kWarn, component, __VA_ARGS__)
#define LOG_ERROR(component, ...) PULSE_LOG(::pulse::LogLevel::kError, component, __VA_ARGS__)

}  // namespace pulse
