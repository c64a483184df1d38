// Canaries for tests that error messages never echo input, for tests only.
//
// Feed kCanaryName (a resident's name) or kCanaryAtenaNo (a resident's number) as every cell,
// header, key or field of a bad input, then check each message with
//   EXPECT_THAT(status.message(), EchoesNoCanary());
// The matcher looks for any piece of a canary — four bytes of "CANARY", two characters of the
// name, five digits of the number in a row — so a message that quotes part of a value (a cut
// excerpt, the start of a header) fails as well as one that quotes it whole.
#ifndef CHUKAN_COMMON_CANARY_MATCHERS_H_
#define CHUKAN_COMMON_CANARY_MATCHERS_H_

#include <gmock/gmock.h>

#include <string>
#include <string_view>
#include <vector>

namespace chukan::testing {

// A resident's name, as personal data looks in an import file.
inline constexpr std::string_view kCanaryName = "CANARY山田太郎";
// A resident's number (団体内統合宛名番号): 15 digits, valid wherever an atena_no is.
inline constexpr std::string_view kCanaryAtenaNo = "123456789012345";

// The pieces of the canaries that a message must not contain.
inline std::vector<std::string> CanaryPieces() {
  std::vector<std::string> pieces = {"CANA", "ANAR", "NARY", "山田", "田太", "太郎"};
  for (size_t i = 0; i + 5 <= kCanaryAtenaNo.size(); ++i) {
    pieces.emplace_back(kCanaryAtenaNo.substr(i, 5));
  }
  return pieces;
}

MATCHER(EchoesNoCanary, "contains no piece of a canary") {
  const std::string_view text(arg);
  for (const std::string& piece : CanaryPieces()) {
    if (text.find(piece) != std::string_view::npos) {
      *result_listener << "which contains \"" << piece << "\"";
      return false;
    }
  }
  return true;
}

}  // namespace chukan::testing

#endif  // CHUKAN_COMMON_CANARY_MATCHERS_H_
