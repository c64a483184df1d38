#include "server/inquiry_state.h"

#include <string>

namespace chukan::server {

std::string_view InquiryStateName(InquiryState state) {
  switch (state) {
    case InquiryState::kAccepted:
      return "accepted";
    case InquiryState::kPermitted:
      return "permitted";
    case InquiryState::kCompleted:
      return "completed";
    case InquiryState::kRefused:
      return "refused";
    case InquiryState::kExpired:
      return "expired";
    case InquiryState::kFailed:
      return "failed";
  }
  return "failed";  // unreachable: every enumerator is named above
}

std::optional<InquiryState> ParseInquiryState(std::string_view name) {
  for (InquiryState s :
       {InquiryState::kAccepted, InquiryState::kPermitted, InquiryState::kCompleted,
        InquiryState::kRefused, InquiryState::kExpired, InquiryState::kFailed}) {
    if (InquiryStateName(s) == name) return s;
  }
  return std::nullopt;
}

bool IsOpen(InquiryState state) {
  return state == InquiryState::kAccepted || state == InquiryState::kPermitted;
}

bool CanTransition(InquiryState from, InquiryState to) {
  if (!IsOpen(from)) return false;
  switch (to) {
    case InquiryState::kAccepted:
      return false;
    case InquiryState::kPermitted:
      return from == InquiryState::kAccepted;
    case InquiryState::kCompleted:
    case InquiryState::kRefused:
    case InquiryState::kExpired:
    case InquiryState::kFailed:
      return true;
  }
  return false;
}

Status CheckTransition(InquiryState from, InquiryState to) {
  if (CanTransition(from, to)) return Status();
  return FailedPreconditionError("an inquiry cannot go from " +
                                 std::string(InquiryStateName(from)) + " to " +
                                 std::string(InquiryStateName(to)));
}

}  // namespace chukan::server
