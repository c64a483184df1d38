#include "server/inquiry_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

constexpr InquiryState kAll[] = {InquiryState::kAccepted,  InquiryState::kPermitted,
                                 InquiryState::kCompleted, InquiryState::kRefused,
                                 InquiryState::kExpired,   InquiryState::kFailed};

TEST(InquiryStateTest, NamesRoundTrip) {
  for (InquiryState s : kAll) EXPECT_EQ(ParseInquiryState(InquiryStateName(s)), s);
  EXPECT_EQ(InquiryStateName(InquiryState::kPermitted), "permitted");
  EXPECT_EQ(ParseInquiryState("Accepted"), std::nullopt);
  EXPECT_EQ(ParseInquiryState(""), std::nullopt);
}

TEST(InquiryStateTest, OpenStatesAreAcceptedAndPermitted) {
  EXPECT_TRUE(IsOpen(InquiryState::kAccepted));
  EXPECT_TRUE(IsOpen(InquiryState::kPermitted));
  for (InquiryState s : kAll) {
    if (s != InquiryState::kAccepted && s != InquiryState::kPermitted) {
      EXPECT_FALSE(IsOpen(s));
    }
  }
}

TEST(InquiryStateTest, TheAllowedTransitionsExactly) {
  int allowed = 0;
  for (InquiryState from : kAll) {
    for (InquiryState to : kAll) {
      if (CanTransition(from, to)) ++allowed;
    }
  }
  // accepted → 5 (permitted and the four ends), permitted → 4 (the ends).
  EXPECT_EQ(allowed, 9);
  EXPECT_TRUE(CanTransition(InquiryState::kAccepted, InquiryState::kPermitted));
  EXPECT_TRUE(CanTransition(InquiryState::kPermitted, InquiryState::kCompleted));
  EXPECT_TRUE(CanTransition(InquiryState::kAccepted, InquiryState::kCompleted));
  EXPECT_TRUE(CanTransition(InquiryState::kAccepted, InquiryState::kRefused));
  EXPECT_TRUE(CanTransition(InquiryState::kPermitted, InquiryState::kExpired));
  EXPECT_TRUE(CanTransition(InquiryState::kAccepted, InquiryState::kFailed));
}

TEST(InquiryStateTest, NothingLeavesAFinalState) {
  for (InquiryState from : {InquiryState::kCompleted, InquiryState::kRefused,
                            InquiryState::kExpired, InquiryState::kFailed}) {
    for (InquiryState to : kAll) {
      EXPECT_FALSE(CanTransition(from, to))
          << InquiryStateName(from) << " → " << InquiryStateName(to);
    }
  }
}

TEST(InquiryStateTest, NoWayBackAndNoSelfLoops) {
  EXPECT_FALSE(CanTransition(InquiryState::kPermitted, InquiryState::kAccepted));
  EXPECT_FALSE(CanTransition(InquiryState::kAccepted, InquiryState::kAccepted));
  EXPECT_FALSE(CanTransition(InquiryState::kPermitted, InquiryState::kPermitted));
}

TEST(InquiryStateTest, CheckTransitionNamesBothStates) {
  EXPECT_OK(CheckTransition(InquiryState::kAccepted, InquiryState::kPermitted));
  EXPECT_THAT(
      CheckTransition(InquiryState::kCompleted, InquiryState::kExpired),
      StatusIs(StatusCode::kFailedPrecondition, HasSubstr("cannot go from completed to expired")));
}

}  // namespace
}  // namespace chukan::server
