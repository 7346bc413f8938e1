// core/clock.h — injectable time. Components take a Clock& so tests drive time (FakeClock in
// src/testing) and never sleep to wait for it.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace pulse {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, epoch microseconds. Used for event time and TTLs.
  virtual int64_t NowMicros() const = 0;
  int64_t NowMillis() const { return NowMicros() / 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  // The process-wide real clock.
  static SystemClock& Get();
};

// Monotonic stopwatch for durations (never goes backwards, unlike wall time).
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  int64_t ElapsedMicros() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 start_)
        .count();
  }
  double ElapsedSeconds() const { return static_cast<double>(ElapsedMicros()) / 1e6; }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace pulse
