// Status and Result<T>: how every fallible chukan function reports failure.
//
// Codes follow gRPC's canonical codes (as abseil's do), so that they map to HTTP statuses in one
// place (http/status_map). A Status carries a code and a message; each layer that propagates it
// may prepend context ("tenant 1234…: import line 7: …"). Thread-compatible value types.
#ifndef CHUKAN_COMMON_STATUS_H_
#define CHUKAN_COMMON_STATUS_H_

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace chukan {

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

// "INVALID_ARGUMENT", … — stable names used in logs and API error bodies.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: message". OK statuses are returned unchanged.
  Status WithContext(std::string_view context) const;

  // "INVALID_ARGUMENT: message" or "OK".
  std::string ToString() const;

  // Explicitly discards a status where ignoring it is correct (say why at the call site).
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

// Convenience constructors, one per code in use.
Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status ResourceExhaustedError(std::string message);
Status FailedPreconditionError(std::string message);
Status AbortedError(std::string message);
Status OutOfRangeError(std::string message);
Status UnimplementedError(std::string message);
Status InternalError(std::string message);
Status UnavailableError(std::string message);
Status DataLossError(std::string message);
Status UnauthenticatedError(std::string message);
Status DeadlineExceededError(std::string message);
Status CancelledError(std::string message);

// Result<T>: either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> is meaningless");

  // Implicit from a value or from an error status, so `return value;` and `return status;`
  // both read naturally.
  Result(const T& value) : v_(value) {}        // NOLINT
  Result(T&& value) : v_(std::move(value)) {}  // NOLINT
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, T> &&
                                                    !std::is_same_v<std::decay_t<U>, Status>>>
  Result(U&& value) : v_(T(std::forward<U>(value))) {}  // NOLINT
  Result(Status status) : v_(std::move(status)) {       // NOLINT
    if (std::get<Status>(v_).ok()) {
      v_ = Status(StatusCode::kInternal, "Result constructed from an OK status without a value");
    }
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  // Precondition: ok(). Accessing the value of an error is a programming bug.
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

namespace internal {
inline Status AsStatus(const Status& s) { return s; }
inline Status AsStatus(Status&& s) { return std::move(s); }
template <typename T>
Status AsStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace chukan

#define CHUKAN_CONCAT_INNER_(a, b) a##b
#define CHUKAN_CONCAT_(a, b) CHUKAN_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status or Result) is not OK.
#define RETURN_IF_ERROR(expr)                                               \
  do {                                                                      \
    ::chukan::Status chukan_status_ = ::chukan::internal::AsStatus((expr)); \
    if (!chukan_status_.ok()) return chukan_status_;                        \
  } while (false)

// ASSIGN_OR_RETURN(auto x, MakeX()); — declares/assigns from a Result or returns its error.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  CHUKAN_ASSIGN_OR_RETURN_IMPL_(CHUKAN_CONCAT_(chukan_result_, __LINE__), lhs, rexpr)
#define CHUKAN_ASSIGN_OR_RETURN_IMPL_(result, lhs, rexpr) \
  auto result = (rexpr);                                  \
  if (!result.ok()) return result.status();               \
  lhs = std::move(result).value()

#endif  // CHUKAN_COMMON_STATUS_H_
