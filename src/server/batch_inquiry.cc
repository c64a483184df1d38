#include "server/batch_inquiry.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <utility>

#include "common/utf8.h"

namespace chukan::server {
namespace {

constexpr std::string_view kRecordField = "レコード (record)";

struct FieldSpec {
  std::string_view name;
  size_t width;  // the most characters a value may have
};

enum Field : size_t {
  kScheme,
  kBusinessNo,
  kAtenaNo,
  kRequestedAt,
  kDepartment,
  kUserId,
  kInquirer,
  kNonDisclosure,
  kJm,
  kJt,
  kInquirerDelegator,
  kProviderDelegator,
  kProvider,
  kTm,
  kConditionKind,
  kYearKind,
  kFrom,
  kTo,
};

constexpr std::array<FieldSpec, kBatchFieldCount> kFields = {{
    {"番号体系 (numbering scheme)", 2},
    {"宛名番号 (business number)", 15},
    {"統合宛名番号 (atena_no)", 15},
    {"照会依頼日時 (requested at)", 17},
    {"情報照会者部署コード (department)", 20},
    {"情報照会者ユーザーID (user id)", 20},
    {"情報照会者機関コード (inquirer)", 16},
    {"照会側不開示コード (non-disclosure)", 1},
    {"事務コード (affair)", 16},
    {"事務手続きコード (procedure)", 16},
    {"情報照会者機関コード（委任元） (inquirer's delegator)", 16},
    {"情報提供者機関コード（委任元） (provider's delegator)", 16},
    {"情報提供者機関コード (provider)", 16},
    {"特定個人情報名コード (information name)", 16},
    {"照会条件区分 (condition kind)", 1},
    {"照会年度区分 (fiscal-year kind)", 1},
    {"照会開始日付 (from)", 8},
    {"照会終了日付 (to)", 8},
}};

constexpr size_t TotalWidth() {
  size_t sum = kBatchFieldCount - 1;  // the commas
  for (const FieldSpec& f : kFields) sum += f.width;
  return sum;
}
static_assert(TotalWidth() == kBatchLineWidth);

constexpr std::array<std::string_view, 3> kConditionKinds = {"0", "1", "2"};
constexpr std::array<std::string_view, 3> kYearKinds = {"0", "1", "2"};

// Code points in `s`, which is valid UTF-8.
size_t CountChars(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// `s` without its trailing spaces (the padding); empty for an empty or blank field.
std::string_view Trimmed(std::string_view s) {
  const size_t last = s.find_last_not_of(' ');
  return last == std::string_view::npos ? std::string_view() : s.substr(0, last + 1);
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllDigits(std::string_view s) { return std::all_of(s.begin(), s.end(), IsDigit); }

bool IsAlnum(char c) { return IsDigit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool IsUserIdChar(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '@' || c == '-'; }

int Number(std::string_view digits) {
  int n = 0;
  for (char c : digits) n = n * 10 + (c - '0');
  return n;
}

// A ByteSource that reads from one the caller owns, so MakeDecodingSource can wrap it.
class BorrowedSource final : public replica_io::ByteSource {
 public:
  explicit BorrowedSource(replica_io::ByteSource& src) : src_(src) {}
  Result<size_t> Read(char* buf, size_t n) override { return src_.Read(buf, n); }

 private:
  replica_io::ByteSource& src_;
};

// Splits the (decoded) input into lines, enforcing the line limits.
class LineReader {
 public:
  static constexpr size_t kChunk = 64 << 10;

  LineReader(replica_io::ByteSource& src, const BatchOptions& options)
      : src_(src), options_(options) {}

  // The next line without its ending (a CR directly before the LF is removed), or nullopt at
  // the end of input. The view is valid until the next call.
  Result<std::optional<std::string_view>> Next() {
    if (!started_) {
      started_ = true;
      while (!eof_ && buf_.size() < 3) RETURN_IF_ERROR(Fill());
      if (buf_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
    }
    size_t scan = pos_;
    for (;;) {
      const size_t lf = buf_.find('\n', scan);
      if (lf != std::string::npos) {
        size_t end = lf;
        if (end > pos_ && buf_[end - 1] == '\r') --end;
        return Take(end, lf + 1);
      }
      // No LF yet: the content is at least (unconsumed - 1) bytes, since a final CR may still
      // be followed by an LF.
      if (buf_.size() - pos_ > options_.max_line_bytes + 1) return TooLong(line_ + 1);
      if (eof_) {
        if (pos_ == buf_.size()) return std::optional<std::string_view>();
        return Take(buf_.size(), buf_.size());
      }
      scan = buf_.size();
      buf_.erase(0, pos_);
      scan -= pos_;
      pos_ = 0;
      RETURN_IF_ERROR(Fill());
    }
  }

  int64_t line() const { return line_; }

 private:
  Result<std::optional<std::string_view>> Take(size_t end, size_t next) {
    ++line_;
    if (line_ > options_.max_lines) {
      return ResourceExhaustedError("batch inquiry file: more than " +
                                    std::to_string(options_.max_lines) + " lines");
    }
    if (end - pos_ > options_.max_line_bytes) return TooLong(line_);
    std::string_view line(buf_.data() + pos_, end - pos_);
    pos_ = next;
    return std::optional<std::string_view>(line);
  }

  Status TooLong(int64_t line) const {
    return ResourceExhaustedError("batch inquiry file: line " + std::to_string(line) +
                                  ": longer than " + std::to_string(options_.max_line_bytes) +
                                  " bytes");
  }

  Status Fill() {
    const size_t old = buf_.size();
    buf_.resize(old + kChunk);
    Result<size_t> n = src_.Read(buf_.data() + old, kChunk);
    if (!n.ok()) {
      buf_.resize(old);
      return n.status().WithContext("batch inquiry file");
    }
    buf_.resize(old + *n);
    if (*n == 0) eof_ = true;
    return Status::Ok();
  }

  replica_io::ByteSource& src_;
  const BatchOptions& options_;
  std::string buf_;
  size_t pos_ = 0;
  bool started_ = false;
  bool eof_ = false;
  int64_t line_ = 0;  // lines returned so far (a line that failed a limit included)
};

// Parses one line's fields; collects its errors.
class LineParser {
 public:
  LineParser(int64_t line, std::vector<BatchLineError>& errors) : line_(line), errors_(errors) {}

  // Appends the inquiry to `out` if the line is valid, otherwise its errors to `errors` (in
  // field order).
  void Parse(std::string_view text, bool check_utf8, std::vector<BatchInquiry>& out) {
    const size_t first = errors_.size();
    ParseFields(text, check_utf8, out);
    std::vector<std::pair<size_t, BatchLineError>> mine;
    for (size_t i = first; i < errors_.size(); ++i) {
      mine.emplace_back(ranks_[i - first], std::move(errors_[i]));
    }
    std::stable_sort(mine.begin(), mine.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = first; i < errors_.size(); ++i) errors_[i] = std::move(mine[i - first].second);
  }

 private:
  void ParseFields(std::string_view text, bool check_utf8, std::vector<BatchInquiry>& out) {
    if (text.empty()) return Fail(kRecordField, "empty line");
    if (check_utf8 && !IsValidUtf8(text)) return Fail(kRecordField, "invalid UTF-8");

    std::array<std::string_view, kBatchFieldCount> f;
    size_t count = 0;
    size_t begin = 0;
    for (;;) {
      const size_t comma = text.find(',', begin);
      const std::string_view value =
          text.substr(begin, comma == std::string_view::npos ? text.npos : comma - begin);
      if (count < f.size()) f[count] = value;
      ++count;
      if (comma == std::string_view::npos) break;
      begin = comma + 1;
    }
    if (count != kBatchFieldCount) {
      return Fail(kRecordField, std::to_string(kBatchFieldCount) +
                                    " comma-separated fields expected, got " +
                                    std::to_string(count));
    }

    // Widths are maxima: a tool may pad a field to its width or leave the padding out.
    std::array<bool, kBatchFieldCount> width_ok{};
    for (size_t i = 0; i < kBatchFieldCount; ++i) {
      const size_t chars = CountChars(f[i]);
      width_ok[i] = chars <= kFields[i].width;
      if (!width_ok[i]) {
        Fail(i, "at most " + std::to_string(kFields[i].width) + " characters expected, got " +
                    std::to_string(chars));
      }
    }
    auto ok = [&](size_t i) { return width_ok[i]; };

    std::optional<std::string> scheme;
    if (ok(kScheme)) {
      if (f[kScheme].size() == 2 && AllDigits(f[kScheme]) && f[kScheme] != "00") {
        scheme = std::string(f[kScheme]);
      } else {
        Fail(kScheme, "must be two digits, 01-99 (01: 宛名番号)");
      }
    }
    std::optional<std::string> business_no;
    if (ok(kBusinessNo)) {
      const std::string_view v = Trimmed(f[kBusinessNo]);
      if (v.empty()) {
        Fail(kBusinessNo, "required, but empty or blank");
      } else if (f[kBusinessNo].front() == ' ' || !AllDigits(v)) {
        Fail(kBusinessNo, "must be 1-15 digits (left-padded with 0)");
      } else {
        business_no = std::string(15 - v.size(), '0') + std::string(v);
      }
    }
    std::optional<std::optional<AtenaNo>> atena_no;
    if (ok(kAtenaNo)) {
      if (Trimmed(f[kAtenaNo]).empty()) {
        atena_no.emplace();
      } else if (Result<AtenaNo> a = AtenaNo::Parse(f[kAtenaNo]); a.ok()) {
        atena_no.emplace(*std::move(a));
      } else {
        Fail(kAtenaNo, "must be 15 digits, or empty");
      }
    }

    std::optional<TimePoint> requested_at;
    if (ok(kRequestedAt)) requested_at = ParseDateTime(f[kRequestedAt]);

    std::optional<std::string> department;
    if (ok(kDepartment)) {
      department = ParseLeftAligned(kDepartment, f[kDepartment], IsAlnum, "A-Z a-z 0-9", true);
    }
    std::optional<std::string> user_id;
    if (ok(kUserId)) {
      user_id = ParseLeftAligned(kUserId, f[kUserId], IsUserIdChar, "A-Z a-z 0-9 . _ @ -", false);
    }

    std::optional<OrgCode> inquirer;
    if (ok(kInquirer)) inquirer = ParseCode<OrgCode>(kInquirer, f[kInquirer], "16 digits");

    std::optional<bool> non_disclosure;
    if (ok(kNonDisclosure)) {
      if (f[kNonDisclosure] == "0" || f[kNonDisclosure] == "1") {
        non_disclosure = f[kNonDisclosure] == "1";
      } else {
        Fail(kNonDisclosure, "must be \"0\" or \"1\"");
      }
    }

    std::optional<JmCode> jm;
    if (ok(kJm)) jm = ParseCode<JmCode>(kJm, f[kJm], "\"JM\" + 14 digits");
    std::optional<JtCode> jt;
    if (ok(kJt)) jt = ParseCode<JtCode>(kJt, f[kJt], "\"JT\" + 14 digits");

    // The delegators: nullopt outside = invalid; nullopt inside = not given.
    std::optional<std::optional<OrgCode>> inquirer_delegator;
    if (ok(kInquirerDelegator)) {
      inquirer_delegator = ParseOptionalOrg(kInquirerDelegator, f[kInquirerDelegator]);
    }
    std::optional<std::optional<OrgCode>> provider_delegator;
    if (ok(kProviderDelegator)) {
      provider_delegator = ParseOptionalOrg(kProviderDelegator, f[kProviderDelegator]);
    }

    std::optional<OrgCode> provider;
    std::string provider_local_gov;
    if (ok(kProvider)) {
      const std::string_view v = f[kProvider];
      const std::string_view digits = Trimmed(v);
      if (digits.empty()) {
        Fail(kProvider, "required, but empty or blank");
      } else if (v.front() == ' ' || !AllDigits(digits) ||
                 (digits.size() != 16 && digits.size() != 5 && digits.size() != 6)) {
        Fail(kProvider,
             "must be a 16-digit 機関コード, or a 5- or 6-digit 地方公共団体コード padded with "
             "spaces");
      } else if (digits.size() == 16) {
        Result<OrgCode> org = OrgCode::Parse(digits);
        if (org.ok()) {
          provider = *std::move(org);
        } else {
          Fail(kProvider, "must be 16 digits");
        }
      } else {
        provider_local_gov = std::string(digits);
      }
    }
    std::optional<TmCode> tm;
    if (ok(kTm)) tm = ParseCode<TmCode>(kTm, f[kTm], "\"TM\" + 14 digits");

    std::optional<std::string> condition_kind;
    if (ok(kConditionKind)) {
      condition_kind = ParseCodeList(kConditionKind, f[kConditionKind], kConditionKinds);
    }
    std::optional<std::string> year_kind;
    if (ok(kYearKind)) year_kind = ParseCodeList(kYearKind, f[kYearKind], kYearKinds);

    // Dates: nullopt outside = invalid; nullopt inside = empty or blank.
    std::optional<std::optional<layout::Date>> from;
    if (ok(kFrom)) from = ParseOptionalDate(kFrom, f[kFrom]);
    std::optional<std::optional<layout::Date>> to;
    if (ok(kTo)) to = ParseOptionalDate(kTo, f[kTo]);
    if (year_kind == "0") {
      if (from && *from) Fail(kFrom, "must be empty when 照会年度区分 is \"0\"");
      if (to && *to) Fail(kTo, "must be empty when 照会年度区分 is \"0\"");
    } else if (year_kind == "1") {
      if (from && !*from) Fail(kFrom, "required when 照会年度区分 is \"1\"");
    } else if (year_kind == "2") {
      if (from && !*from) Fail(kFrom, "required when 照会年度区分 is \"2\"");
      if (to && !*to) Fail(kTo, "required when 照会年度区分 is \"2\"");
    }
    if (from && *from && to && *to && **to < **from) {
      Fail(kTo, "must not be before 照会開始日付 (from)");
    }

    if (failed_) return;
    // Every field parsed (a field that failed set failed_), so the optionals are engaged.
    BatchInquiry b{
        .line = line_,
        .fields = {},
        .scheme = *std::move(scheme),
        .business_no = *std::move(business_no),
        .atena_no = *std::move(atena_no),
        .requested_at = *requested_at,
        .department = *std::move(department),
        .user_id = *std::move(user_id),
        .inquirer = *std::move(inquirer),
        .non_disclosure = *non_disclosure,
        .jm = *std::move(jm),
        .jt = *std::move(jt),
        .inquirer_delegator = *std::move(inquirer_delegator),
        .provider_delegator = *std::move(provider_delegator),
        .provider = std::move(provider),
        .provider_local_gov = std::move(provider_local_gov),
        .tm = *std::move(tm),
        .condition_kind = *std::move(condition_kind),
        .year_kind = *std::move(year_kind),
        .from = *from,
        .to = *to,
    };
    b.fields.reserve(kBatchFieldCount);
    for (std::string_view v : f) b.fields.emplace_back(v);
    out.push_back(std::move(b));
  }

  void Fail(std::string_view field, std::string reason, size_t rank = 0) {
    failed_ = true;
    errors_.push_back({line_, std::string(field), std::move(reason)});
    ranks_.push_back(rank);
  }
  void Fail(size_t field, std::string reason) {
    Fail(kFields[field].name, std::move(reason), field);
  }

  // YYYYMMDDhhmmssSSS in JST, a real date and time.
  std::optional<TimePoint> ParseDateTime(std::string_view v) {
    if (v.size() != 17 || !AllDigits(v)) {
      Fail(kRequestedAt, "must be YYYYMMDDhhmmssSSS (17 digits)");
      return std::nullopt;
    }
    const std::optional<layout::Date> date = layout::Date::FromYmd(
        Number(v.substr(0, 4)), Number(v.substr(4, 2)), Number(v.substr(6, 2)));
    const int hour = Number(v.substr(8, 2));
    const int minute = Number(v.substr(10, 2));
    const int second = Number(v.substr(12, 2));
    const int milli = Number(v.substr(14, 3));
    if (!date) {
      Fail(kRequestedAt, "not a real date");
      return std::nullopt;
    }
    // A time point counts nanoseconds in 64 bits (years 1678–2261): a later year overflowed
    // (undefined behaviour, found by fuzz/batch_inquiry_fuzz.cc).
    if (date->year < kMinRequestYear || date->year > kMaxRequestYear) {
      Fail(kRequestedAt, "year must be " + std::to_string(kMinRequestYear) + "–" +
                             std::to_string(kMaxRequestYear));
      return std::nullopt;
    }
    if (hour > 23 || minute > 59 || second > 59) {
      Fail(kRequestedAt, "not a real time of day");
      return std::nullopt;
    }
    using namespace std::chrono;
    const sys_days d = year_month_day{year{date->year}, month{static_cast<unsigned>(date->month)},
                                      day{static_cast<unsigned>(date->day)}};
    return TimePoint(d + hours{hour - 9} + minutes{minute} + seconds{second} + milliseconds{milli});
  }

  // Characters of `allowed`, then spaces; empty or blank only when not `required`.
  std::optional<std::string> ParseLeftAligned(size_t field, std::string_view v,
                                              bool (*allowed)(char), std::string_view allowed_text,
                                              bool required) {
    const std::string_view content = Trimmed(v);
    if (content.empty()) {
      if (!required) return std::string();
      Fail(field, "required, but empty or blank");
      return std::nullopt;
    }
    if (v.front() == ' ') {
      Fail(field, "must be left-aligned (padding spaces go on the right)");
      return std::nullopt;
    }
    if (!std::all_of(content.begin(), content.end(), allowed)) {
      Fail(field, "only " + std::string(allowed_text) + " allowed (padding spaces at the end)");
      return std::nullopt;
    }
    return std::string(content);
  }

  std::optional<std::optional<OrgCode>> ParseOptionalOrg(size_t field, std::string_view v) {
    if (Trimmed(v).empty()) return std::optional<OrgCode>();
    Result<OrgCode> org = OrgCode::Parse(v);
    if (!org.ok()) {
      Fail(field, "must be 16 digits, or empty");
      return std::nullopt;
    }
    return std::optional<OrgCode>(*std::move(org));
  }

  template <typename Id>
  std::optional<Id> ParseCode(size_t field, std::string_view v, std::string_view form) {
    if (Trimmed(v).empty()) {
      Fail(field, "required, but empty or blank");
      return std::nullopt;
    }
    Result<Id> id = Id::Parse(v);
    if (!id.ok()) {
      Fail(field, "must be " + std::string(form));
      return std::nullopt;
    }
    return *std::move(id);
  }

  template <size_t N>
  std::optional<std::string> ParseCodeList(size_t field, std::string_view v,
                                           const std::array<std::string_view, N>& codes) {
    if (std::find(codes.begin(), codes.end(), v) != codes.end()) return std::string(v);
    std::string list;
    for (std::string_view c : codes) {
      if (!list.empty()) list += ", ";
      list += c;
    }
    Fail(field, "must be one of " + list);
    return std::nullopt;
  }

  std::optional<std::optional<layout::Date>> ParseOptionalDate(size_t field, std::string_view v) {
    if (Trimmed(v).empty()) return std::optional<layout::Date>();
    if (v.size() != 8 || !AllDigits(v)) {
      Fail(field, "must be YYYYMMDD (8 digits), or empty");
      return std::nullopt;
    }
    const std::optional<layout::Date> date = layout::Date::FromYmd(
        Number(v.substr(0, 4)), Number(v.substr(4, 2)), Number(v.substr(6, 2)));
    if (!date) {
      Fail(field, "not a real date");
      return std::nullopt;
    }
    return std::optional<layout::Date>(date);
  }

  int64_t line_;
  std::vector<BatchLineError>& errors_;
  std::vector<size_t> ranks_;  // the field index of each of this line's errors
  bool failed_ = false;
};

}  // namespace

Result<BatchParseResult> ParseBatchInquiryFile(replica_io::ByteSource& src,
                                               const BatchOptions& options) {
  std::unique_ptr<replica_io::ByteSource> decoded;
  replica_io::ByteSource* in = &src;
  if (options.charset != replica_io::Charset::kUtf8) {
    ASSIGN_OR_RETURN(decoded, replica_io::MakeDecodingSource(
                                  options.charset, std::make_unique<BorrowedSource>(src)));
    in = decoded.get();
  }
  // The CP932 decoder yields valid UTF-8 only, so only UTF-8 input is checked.
  const bool check_utf8 = options.charset == replica_io::Charset::kUtf8;

  BatchParseResult result;
  LineReader reader(*in, options);
  for (;;) {
    ASSIGN_OR_RETURN(std::optional<std::string_view> text, reader.Next());
    if (!text) break;
    if (options.keep_text) {
      result.texts.emplace_back(!check_utf8 || IsValidUtf8(*text) ? *text : std::string_view());
    }
    LineParser(reader.line(), result.errors).Parse(*text, check_utf8, result.inquiries);
  }
  result.lines = reader.line();
  if (result.lines == 0) return InvalidArgumentError("batch inquiry file: empty");
  return result;
}

}  // namespace chukan::server
