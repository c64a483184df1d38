// InquiryState: the states of an inquiry (照会ステータス) and the transitions between them.
//
//   accepted ──→ permitted ──→ completed
//      │  │          │  │
//      │  └──────────┼──┴──→ refused, expired, failed
//      └─────────────┴─────→ completed (an answer may overtake the hub's permit answer)
//
// completed, refused, expired and failed are final: nothing leaves them. The inquiry table
// (inquiry_table.h) writes a state only through a transition this file allows.
//
// Thread-safety: pure functions.
#ifndef CHUKAN_SERVER_INQUIRY_STATE_H_
#define CHUKAN_SERVER_INQUIRY_STATE_H_

#include <optional>
#include <string_view>

#include "common/status.h"

namespace chukan::server {

enum class InquiryState { kAccepted, kPermitted, kCompleted, kRefused, kExpired, kFailed };

// The name stored in the inquiries table and shown by the API: "accepted", "permitted", ….
std::string_view InquiryStateName(InquiryState state);
// The state a stored name stands for; nullopt for any other text.
std::optional<InquiryState> ParseInquiryState(std::string_view name);

// Whether an inquiry in `state` still waits for something (accepted or permitted).
bool IsOpen(InquiryState state);

// Whether an inquiry may move from `from` to `to`: accepted → permitted; accepted or
// permitted → completed, refused, expired or failed. Nothing else (no state to itself, nothing
// out of a final state, nothing back to accepted).
bool CanTransition(InquiryState from, InquiryState to);

// OK when CanTransition(from, to); kFailedPrecondition naming both states otherwise.
Status CheckTransition(InquiryState from, InquiryState to);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_INQUIRY_STATE_H_
