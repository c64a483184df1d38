#include "common/ids.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace chukan {
namespace internal {

Status CheckPrefixedDigits(std::string_view type_name, std::string_view prefix, size_t digits,
                           std::string_view s) {
  const size_t want = prefix.size() + digits;
  if (s.size() != want || s.substr(0, prefix.size()) != prefix) {
    std::string m(type_name);
    m += ": expected ";
    if (!prefix.empty()) m.append("\"").append(prefix).append("\" + ");
    // The input is never quoted: an identifier field may hold personal data (a name typed into
    // the atena_no column), so the message gives its length only.
    m += std::to_string(digits) + " digits, got " + std::to_string(s.size()) + " bytes";
    return InvalidArgumentError(std::move(m));
  }
  for (size_t i = prefix.size(); i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return InvalidArgumentError(std::string(type_name) + ": character " + std::to_string(i + 1) +
                                  " is not a digit");
    }
  }
  return Status();
}

Status CheckHex128(std::string_view type_name, std::string_view s) {
  if (s.size() != 32) {
    return InvalidArgumentError(std::string(type_name) + ": expected 32 hex digits, got " +
                                std::to_string(s.size()) + " characters");
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return InvalidArgumentError(std::string(type_name) + ": character " + std::to_string(i + 1) +
                                  " is not a lower-case hex digit");
    }
  }
  return Status();
}

std::string RandomHex128() { return RequestId::Generate().str(); }

std::string TimeOrderedHex128(int64_t unix_ms) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = RequestId::Generate().str();  // 32 random hex digits; the first 12 replaced
  const uint64_t ms = static_cast<uint64_t>(unix_ms) & 0xffff'ffff'ffffULL;
  for (int i = 0; i < 12; ++i) s[i] = kHex[(ms >> (4 * (11 - i))) & 0xf];
  return s;
}

}  // namespace internal

char LocalGovCode::CheckDigit(std::string_view five) {
  static constexpr int kWeights[5] = {6, 5, 4, 3, 2};
  int sum = 0;
  for (size_t i = 0; i < 5; ++i) sum += (five[i] - '0') * kWeights[i];
  // 11 - r is 1..11; its last digit is the check digit. So r = 0 gives 1 (新宿区 13104: sum 33,
  // check 1, 131041) and r = 1 gives 0 (渋谷区 13113: sum 34, check 0, 131130); r = 10 gives 1
  // too (品川区 13109: sum 43, 131091).
  const int r = sum % 11;
  return static_cast<char>('0' + (11 - r) % 10);
}

Result<LocalGovCode> LocalGovCode::Parse(std::string_view s) {
  constexpr std::string_view kName = "local_gov_code (地方公共団体コード)";
  if (s.size() != 5 && s.size() != 6) {
    return InvalidArgumentError(std::string(kName) +
                                ": expected 6 digits with the check digit, or the leading 5, got " +
                                std::to_string(s.size()) + " bytes");
  }
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return InvalidArgumentError(std::string(kName) + ": character " + std::to_string(i + 1) +
                                  " is not a digit");
    }
  }
  const char check = CheckDigit(s.substr(0, 5));
  if (s.size() == 6 && s[5] != check) {
    return InvalidArgumentError(std::string(kName) +
                                ": the 6th digit is not the check digit of the first 5 "
                                "(検査数字が一致しません)");
  }
  std::string v(s.substr(0, 5));
  v += check;
  return LocalGovCode(std::move(v));
}

Result<TenantId> TenantId::Parse(std::string_view s) {
  if (s.empty() || s[0] != 't') {
    return InvalidArgumentError("tenant id: expected \"t\" + 16 digits");
  }
  RETURN_IF_ERROR(internal::CheckPrefixedDigits("tenant id", "t", 16, s));
  return TenantId(std::string(s));
}

OrgCode TenantId::org() const {
  // Invariant: value_ is "t" + 16 digits, established by both constructors.
  return OrgCode::Parse(std::string_view(value_).substr(1)).value();
}

RequestId RequestId::Generate() {
  std::array<unsigned char, 16> raw{};
  size_t got = 0;
  while (got < raw.size()) {
    const ssize_t n = getrandom(raw.data() + got, raw.size() - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
    // EINTR: retry. getrandom cannot otherwise fail for 16 bytes on Linux >= 3.17.
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(32, '0');
  for (size_t i = 0; i < raw.size(); ++i) {
    s[2 * i] = kHex[raw[i] >> 4];
    s[2 * i + 1] = kHex[raw[i] & 0xf];
  }
  return RequestId(std::move(s));
}

Result<RequestId> RequestId::Parse(std::string_view s) {
  if (s.size() < 8 || s.size() > 64) {
    return InvalidArgumentError("request id: expected 8..64 characters");
  }
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return InvalidArgumentError("request id: only [A-Za-z0-9-_] allowed");
  }
  return RequestId(std::string(s));
}

}  // namespace chukan
