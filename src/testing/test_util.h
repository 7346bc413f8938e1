// testing/test_util.h — test-only helpers: temp dirs that clean up, free loopback ports, a fake
// clock, and Status matchers. Never linked into the pulse binary.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "gmock/gmock.h"

namespace pulse::testing {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, release).
int FreePort();

// Writes `contents` to `path`, creating or truncating it.
void WriteFile(const std::string& path, const std::string& contents);
std::string ReadFile(const std::string& path);

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_micros = 1'700'000'000'000'000) : now_(start_micros) {}
  int64_t NowMicros() const override { return now_.load(); }
  void AdvanceMicros(int64_t delta) { now_.fetch_add(delta); }
  void AdvanceMillis(int64_t delta) { AdvanceMicros(delta * 1000); }
  void SetMicros(int64_t now) { now_.store(now); }

 private:
  std::atomic<int64_t> now_;
};

inline const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) {
  return result.status();
}

MATCHER(IsOk, "is OK") {
  if (arg.ok()) return true;
  *result_listener << "status: " << ::pulse::testing::StatusOf(arg).ToString();
  return false;
}

MATCHER_P(StatusIs, code, "has status code " + ::testing::PrintToString(code)) {
  const ::pulse::Status& status = ::pulse::testing::StatusOf(arg);
  *result_listener << "status: " << status.ToString();
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, substring, "has status code and message") {
  const ::pulse::Status& status = ::pulse::testing::StatusOf(arg);
  *result_listener << "status: " << status.ToString();
  return status.code() == code && status.message().find(substring) != std::string::npos;
}

}  // namespace pulse::testing
