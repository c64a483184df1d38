#include "common/status.h"

namespace chukan {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kCancelled:
      return "CANCELLED";
    case StatusCode::kUnknown:
      return "UNKNOWN";
    case StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case StatusCode::kNotFound:
      return "NOT_FOUND";
    case StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case StatusCode::kAborted:
      return "ABORTED";
    case StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case StatusCode::kInternal:
      return "INTERNAL";
    case StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case StatusCode::kDataLoss:
      return "DATA_LOSS";
    case StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

Status::Status(StatusCode code, std::string message)
    : code_(code), message_(code == StatusCode::kOk ? std::string() : std::move(message)) {}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m;
  m.reserve(context.size() + 2 + message_.size());
  m.append(context).append(": ").append(message_);
  return Status(code_, std::move(m));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(StatusCodeName(code_));
  s.append(": ").append(message_);
  return s;
}

std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

#define CHUKAN_DEFINE_ERROR_(Name, Code) \
  Status Name(std::string message) { return Status(StatusCode::Code, std::move(message)); }
CHUKAN_DEFINE_ERROR_(InvalidArgumentError, kInvalidArgument)
CHUKAN_DEFINE_ERROR_(NotFoundError, kNotFound)
CHUKAN_DEFINE_ERROR_(AlreadyExistsError, kAlreadyExists)
CHUKAN_DEFINE_ERROR_(PermissionDeniedError, kPermissionDenied)
CHUKAN_DEFINE_ERROR_(ResourceExhaustedError, kResourceExhausted)
CHUKAN_DEFINE_ERROR_(FailedPreconditionError, kFailedPrecondition)
CHUKAN_DEFINE_ERROR_(AbortedError, kAborted)
CHUKAN_DEFINE_ERROR_(OutOfRangeError, kOutOfRange)
CHUKAN_DEFINE_ERROR_(UnimplementedError, kUnimplemented)
CHUKAN_DEFINE_ERROR_(InternalError, kInternal)
CHUKAN_DEFINE_ERROR_(UnavailableError, kUnavailable)
CHUKAN_DEFINE_ERROR_(DataLossError, kDataLoss)
CHUKAN_DEFINE_ERROR_(UnauthenticatedError, kUnauthenticated)
CHUKAN_DEFINE_ERROR_(DeadlineExceededError, kDeadlineExceeded)
CHUKAN_DEFINE_ERROR_(CancelledError, kCancelled)
#undef CHUKAN_DEFINE_ERROR_

}  // namespace chukan
