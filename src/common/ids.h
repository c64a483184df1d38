// Validated identifier types. An identifier never crosses an interface as a bare std::string:
// it is parsed once, at the edge, and its type says what it is.
//
//   OrgCode    機関コード             16 digits
//   AtenaNo    団体内統合宛名番号     15 digits
//   ResidentId 住民票コード           11 digits (sent once to obtain a code; never stored)
//   TmCode     特定個人情報名コード   "TM" + 14 digits
//   JtCode     事務手続コード         "JT" + 14 digits
//   JmCode     事務コード             "JM" + 14 digits
//   LocalGovCode 地方公共団体コード   5 digits + check digit (the leading 5 also accepted)
//   TenantId   a tenant's storage name: "t" + its OrgCode (safe as a file or schema name)
//   SubjectCode 機関別符号             32 lower-case hex digits (128 random bits, from the hub)
//   PermitId    提供許可証の番号        32 lower-case hex digits (128 random bits, from the hub)
//
// Values are immutable and thread-compatible.
#ifndef CHUKAN_COMMON_IDS_H_
#define CHUKAN_COMMON_IDS_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "common/status.h"

namespace chukan {

namespace internal {
// Checks that `s` is `prefix` followed by exactly `digits` ASCII digits. On failure returns
// kInvalidArgument naming `type_name` and what was wrong — the length or the position of the first
// non-digit, never any of the input (it may be personal data typed into the wrong field).
Status CheckPrefixedDigits(std::string_view type_name, std::string_view prefix, size_t digits,
                           std::string_view s);
}  // namespace internal

// A string identifier of the form prefix + N digits, distinguished by Traits.
template <typename Traits>
class PrefixedDigits {
 public:
  static Result<PrefixedDigits> Parse(std::string_view s) {
    RETURN_IF_ERROR(
        internal::CheckPrefixedDigits(Traits::kName, Traits::kPrefix, Traits::kDigits, s));
    return PrefixedDigits(std::string(s));
  }
  // True iff Parse(s) would succeed.
  static bool IsValid(std::string_view s) { return Parse(s).ok(); }

  const std::string& str() const { return value_; }
  friend auto operator<=>(const PrefixedDigits&, const PrefixedDigits&) = default;
  friend std::ostream& operator<<(std::ostream& os, const PrefixedDigits& id) {
    return os << id.value_;
  }

 private:
  explicit PrefixedDigits(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

struct OrgCodeTraits {
  static constexpr std::string_view kName = "org_code (機関コード)";
  static constexpr std::string_view kPrefix = "";
  static constexpr size_t kDigits = 16;
};
struct AtenaNoTraits {
  static constexpr std::string_view kName = "atena_no (団体内統合宛名番号)";
  static constexpr std::string_view kPrefix = "";
  static constexpr size_t kDigits = 15;
};
struct ResidentIdTraits {
  static constexpr std::string_view kName = "resident_id (住民票コード)";
  static constexpr std::string_view kPrefix = "";
  static constexpr size_t kDigits = 11;
};
struct TmCodeTraits {
  static constexpr std::string_view kName = "tm_code (特定個人情報名コード)";
  static constexpr std::string_view kPrefix = "TM";
  static constexpr size_t kDigits = 14;
};
struct JtCodeTraits {
  static constexpr std::string_view kName = "jt_code (事務手続コード)";
  static constexpr std::string_view kPrefix = "JT";
  static constexpr size_t kDigits = 14;
};
struct JmCodeTraits {
  static constexpr std::string_view kName = "jm_code (事務コード)";
  static constexpr std::string_view kPrefix = "JM";
  static constexpr size_t kDigits = 14;
};

using OrgCode = PrefixedDigits<OrgCodeTraits>;
using AtenaNo = PrefixedDigits<AtenaNoTraits>;
using ResidentId = PrefixedDigits<ResidentIdTraits>;
using TmCode = PrefixedDigits<TmCodeTraits>;
using JtCode = PrefixedDigits<JtCodeTraits>;
using JmCode = PrefixedDigits<JmCodeTraits>;

namespace internal {
// Checks that `s` is exactly 32 lower-case hex digits; kInvalidArgument naming `type_name`.
Status CheckHex128(std::string_view type_name, std::string_view s);
// 32 lower-case hex digits from 16 bytes of the OS CSPRNG.
std::string RandomHex128();
// 32 lower-case hex digits: `unix_ms` as 48 bits, big-endian, then 80 bits of the OS CSPRNG.
std::string TimeOrderedHex128(int64_t unix_ms);
}  // namespace internal

// 地方公共団体コード (local government code; JIS X 0402, 総務省「全国地方公共団体コード」): a
// prefecture's or municipality's 5 digits followed by a check digit. Batch inquiry files name a
// provider by its leading 5 digits, registries by all 6; both parse to the same value.
class LocalGovCode {
 public:
  // Accepts exactly 6 ASCII digits whose 6th is CheckDigit() of the first 5, or exactly 5
  // digits (the check digit is computed). No spaces are trimmed: a caller reading a padded
  // field trims it first. Errors: kInvalidArgument naming the rule broken (length, the position
  // of a non-digit, the check digit) — never the input.
  static Result<LocalGovCode> Parse(std::string_view s);
  // The check digit of 5 digits `five` (precondition: 5 ASCII digits): weights 6, 5, 4, 3, 2,
  // r = sum mod 11, check = (11 - r) mod 10.
  static char CheckDigit(std::string_view five);

  // The canonical form: 6 digits, check digit included ("131016").
  const std::string& str() const { return value_; }
  // The leading 5 digits, as batch files write it ("13101").
  std::string_view Five() const { return std::string_view(value_).substr(0, 5); }
  friend auto operator<=>(const LocalGovCode&, const LocalGovCode&) = default;
  friend std::ostream& operator<<(std::ostream& os, const LocalGovCode& c) {
    return os << c.value_;
  }

 private:
  explicit LocalGovCode(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

// A 128-bit random identifier written as 32 lower-case hex digits, distinguished by Traits.
template <typename Traits>
class Hex128Id {
 public:
  static Result<Hex128Id> Parse(std::string_view s) {
    RETURN_IF_ERROR(internal::CheckHex128(Traits::kName, s));
    return Hex128Id(std::string(s));
  }
  // A fresh random identifier (OS CSPRNG).
  static Hex128Id Generate() { return Hex128Id(internal::RandomHex128()); }
  // A fresh identifier that sorts by creation time: the first 12 hex digits are `unix_ms`, the
  // other 20 are random (80 bits of the OS CSPRNG). For ids that are primary keys or indexed:
  // each new one lands on the newest page of a B-tree instead of a random one, so a commit of
  // many dirties one page where random ids dirty one each. Never for ids that must not reveal
  // when they were made (subject codes, 機関別符号, stay Generate()).
  static Hex128Id GenerateTimeOrdered(int64_t unix_ms) {
    return Hex128Id(internal::TimeOrderedHex128(unix_ms));
  }
  const std::string& str() const { return value_; }
  friend auto operator<=>(const Hex128Id&, const Hex128Id&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Hex128Id& id) { return os << id.value_; }

 private:
  explicit Hex128Id(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

struct SubjectCodeTraits {
  static constexpr std::string_view kName = "subject_code (機関別符号)";
};
struct PermitIdTraits {
  static constexpr std::string_view kName = "permit_id (提供許可証番号)";
};
// 機関別符号: a person's pseudonymous code for one organisation. Random, so it reveals nothing
// about the person or about the person's codes at other organisations.
using SubjectCode = Hex128Id<SubjectCodeTraits>;
using PermitId = Hex128Id<PermitIdTraits>;

// The storage name of one tenant: "t" + org code. Usable as a SQLite file name and as a
// PostgreSQL schema name without quoting.
class TenantId {
 public:
  static TenantId ForOrg(const OrgCode& org) { return TenantId("t" + org.str()); }
  // Accepts "t" + 16 digits.
  static Result<TenantId> Parse(std::string_view s);

  const std::string& str() const { return value_; }
  // The organisation this tenant belongs to.
  OrgCode org() const;
  friend auto operator<=>(const TenantId&, const TenantId&) = default;
  friend std::ostream& operator<<(std::ostream& os, const TenantId& t) { return os << t.value_; }

 private:
  explicit TenantId(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

// A request id: 16 random bytes, hex-encoded (32 characters). Carried in logs and error bodies so
// an operator can find one request everywhere. Generation uses the OS CSPRNG.
class RequestId {
 public:
  static RequestId Generate();
  // Accepts 8..64 characters of [A-Za-z0-9-_] (ids forwarded by a trusted proxy).
  static Result<RequestId> Parse(std::string_view s);
  const std::string& str() const { return value_; }
  friend auto operator<=>(const RequestId&, const RequestId&) = default;

 private:
  explicit RequestId(std::string v) : value_(std::move(v)) {}
  std::string value_;
};

}  // namespace chukan

template <typename Traits>
struct std::hash<chukan::PrefixedDigits<Traits>> {
  size_t operator()(const chukan::PrefixedDigits<Traits>& id) const noexcept {
    return std::hash<std::string>()(id.str());
  }
};
template <>
struct std::hash<chukan::TenantId> {
  size_t operator()(const chukan::TenantId& id) const noexcept {
    return std::hash<std::string>()(id.str());
  }
};

#endif  // CHUKAN_COMMON_IDS_H_
