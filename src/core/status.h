// core/status.h — the one error-value spelling of Pulse.
//
// Status and Result<T> cross every component boundary; exceptions do not. Codes are gRPC's (same
// numbers), so the API layer maps them to gRPC status codes and HTTP statuses directly:
//   kInvalidArgument -> 400 / INVALID_ARGUMENT     kNotFound -> 404
//   kResourceExhausted -> 429                      kFailedPrecondition (no model) -> 503
//   kUnavailable -> 503 (retryable)                kDeadlineExceeded -> 504
//   kInternal / kUnknown / kDataLoss -> 500
// Messages never carry PII (raw user ids), so any error may be logged.
// Thread-safety: values; copy freely.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/check.h"
#include "core/strings.h"

namespace pulse {

enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

// "INVALID_ARGUMENT", ... (the gRPC spelling, used in HTTP error bodies).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(code == StatusCode::kOk ? std::string() : std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: n must be between 1 and 200" (or "OK").
  std::string ToString() const;
  // Marks a deliberately ignored status.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status CancelledError(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status UnknownError(std::string m) { return {StatusCode::kUnknown, std::move(m)}; }
inline Status InvalidArgumentError(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status DeadlineExceededError(std::string m) {
  return {StatusCode::kDeadlineExceeded, std::move(m)};
}
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) {
  return {StatusCode::kAlreadyExists, std::move(m)};
}
inline Status PermissionDeniedError(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status ResourceExhaustedError(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status FailedPreconditionError(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status OutOfRangeError(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status UnimplementedError(std::string m) {
  return {StatusCode::kUnimplemented, std::move(m)};
}
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }

// A Status for an errno value from a failed system call on `what` ("opening x: No such file"):
// ENOENT/ENOTDIR → NotFound, EACCES/EPERM/EROFS → PermissionDenied, ENOSPC/EDQUOT →
// ResourceExhausted, anything else → Internal.
Status ErrnoToStatus(int err, std::string_view what);

// Returns `status` with `context` prepended to its message ("while loading bundle: ...").
inline Status WithContext(const Status& status, std::string_view context) {
  if (status.ok()) return status;
  return Status(status.code(), StrCat(context, ": ", status.message()));
}

// Result<T>: a T or a non-OK Status. Accessing the value of an error result is a bug (checked).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(const T& value) : value_(value) {}             // NOLINT(google-explicit-constructor)
  Result(T&& value) : value_(std::move(value)) {}       // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    PULSE_CHECK(!status_.ok());
  }
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Status> &&
           !std::is_same_v<std::decay_t<U>, T> && !std::is_same_v<std::decay_t<U>, Result>)
      Result(U&& value)
      : value_(std::forward<U>(value)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return status_.ok(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  const T& value() const& {
    PULSE_CHECK(ok());
    return *value_;
  }
  T& value() & {
    PULSE_CHECK(ok());
    return *value_;
  }
  T&& value() && {
    PULSE_CHECK(ok());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace pulse

#define PULSE_STATUS_CONCAT_INNER(a, b) a##b
#define PULSE_STATUS_CONCAT(a, b) PULSE_STATUS_CONCAT_INNER(a, b)

// RETURN_IF_ERROR(expr): returns the Status of `expr` from the calling function if not ok.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::pulse::Status pulse_status_tmp_ = (expr);            \
    if (!pulse_status_tmp_.ok()) return pulse_status_tmp_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates a Result<T>; on error returns its status, else moves the
// value into `lhs` (which may be a declaration: `ASSIGN_OR_RETURN(auto x, F())`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  PULSE_ASSIGN_OR_RETURN_IMPL(PULSE_STATUS_CONCAT(pulse_result_, __LINE__), lhs, expr)
#define PULSE_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                                \
  if (!result.ok()) return std::move(result).status(); \
  lhs = std::move(result).value()
