#include "layout/result_file.h"

#include <algorithm>
#include <optional>

#include "common/ids.h"
#include "common/utf8.h"
#include "replica_io/cp932_encoder.h"

namespace chukan::layout {
namespace {

constexpr std::string_view kOk = "正常終了";

bool IsReasonCode(std::string_view s) {
  return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
         });
}

bool IsDigits(std::string_view s, size_t n) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A value that cannot sit in a comma-separated, unquoted, line-per-record file.
bool IsWritable(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == ',' || u < 0x20 || u == 0x7F;
  });
}

// "（理由コード「ＮＯ＿ＡＮＳＷＥＲ」）", or "" without a reason.
std::string ReasonSuffix(std::string_view reason) {
  if (reason.empty()) return "";
  return "（理由コード「" + ToFullWidth(reason) + "」）";
}

Result<std::string> TmInQuotes(std::string_view tm) {
  if (!TmCode::Parse(tm).ok()) {
    return InvalidArgumentError("the line's TM code is required for this message (TM + 14 digits)");
  }
  return "「" + ToFullWidth(tm) + "」";
}

// Orders two values of a record key item: numbers by value (leading zeros ignored), the rest
// byte-wise.
int CompareKeyValue(const Item* item, std::string_view a, std::string_view b) {
  if (item != nullptr && item->type() == ValueType::kNumber) {
    auto strip = [](std::string_view s) {
      const size_t nz = s.find_first_not_of('0');
      return nz == std::string_view::npos ? std::string_view() : s.substr(nz);
    };
    a = strip(a);
    b = strip(b);
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  }
  const int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string_view ValueOf(const ResultRecord& r, std::string_view code) {
  auto it = r.find(code);
  return it == r.end() ? std::string_view() : std::string_view(it->second);
}

// The records a line shows: the greatest-key record overall, and per data set.
struct Chosen {
  const ResultRecord* overall = nullptr;
  std::map<std::string, const ResultRecord*, std::less<>> by_data_set;
  size_t distinct = 0;
};

Chosen Choose(const InfoName* info, std::span<const ResultRecord> records) {
  Chosen out;
  if (records.empty()) return out;
  std::vector<std::pair<std::string, const Item*>> key;
  std::string data_set_code;
  if (info != nullptr) {
    const LayoutVersion& v = info->LatestVersion();
    for (const std::string& k : info->record_key()) key.emplace_back(k, v.FindItem(k));
    if (auto ds = v.data_set_item_index()) data_set_code = v.item(*ds).code();
  }
  auto greater_or_equal = [&](const ResultRecord& a, const ResultRecord& b) {
    for (const auto& [code, item] : key) {
      const int c = CompareKeyValue(item, ValueOf(a, code), ValueOf(b, code));
      if (c != 0) return c > 0;
    }
    return true;  // a tie goes to the later record (a is the later one)
  };
  for (const ResultRecord& r : records) {
    if (out.overall == nullptr || greater_or_equal(r, *out.overall)) out.overall = &r;
    if (!data_set_code.empty()) {
      const std::string_view ds = ValueOf(r, data_set_code);
      auto it = out.by_data_set.find(ds);
      if (it == out.by_data_set.end()) {
        out.by_data_set.emplace(std::string(ds), &r);
      } else if (greater_or_equal(r, *it->second)) {
        it->second = &r;
      }
    }
  }
  std::vector<const ResultRecord*> all{out.overall};
  for (const auto& [ds, r] : out.by_data_set) all.push_back(r);
  std::sort(all.begin(), all.end());
  out.distinct = static_cast<size_t>(std::unique(all.begin(), all.end()) - all.begin());
  return out;
}

}  // namespace

std::string_view LineOutcomeName(LineOutcome outcome) {
  switch (outcome) {
    case LineOutcome::kCompleted:
      return "completed";
    case LineOutcome::kNoData:
      return "no_data";
    case LineOutcome::kNoSubjectCode:
      return "no_subject_code";
    case LineOutcome::kDuplicateLine:
      return "duplicate_line";
    case LineOutcome::kRejected:
      return "rejected";
    case LineOutcome::kRefused:
      return "refused";
    case LineOutcome::kExpired:
      return "expired";
    case LineOutcome::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string ToFullWidth(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() * 3);
  for (char c : utf8) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0x20) {
      out += "\u3000";
    } else if (u >= 0x21 && u <= 0x7E) {
      // U+FF01 + (u - 0x21), in UTF-8: EF BC 81..BF, then EF BD 80..9E.
      const unsigned cp = 0xFF01 + (u - 0x21);
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += c;
    }
  }
  return out;
}

Result<LineStatus> DescribeLine(const LineResult& result) {
  if (!IsReasonCode(result.reason)) {
    return InvalidArgumentError("the reason code must be at most 64 of [A-Z0-9_]");
  }
  LineStatus s;
  switch (result.outcome) {
    case LineOutcome::kCompleted:
      s = {std::string(kLineCompleted), std::string(kOk), std::string(kInfoFound),
           std::string(kOk)};
      break;
    case LineOutcome::kNoData:
      s = {std::string(kLineCompleted), std::string(kOk), std::string(kInfoNoData),
           "該当する特定個人情報がありません。"};
      break;
    case LineOutcome::kNoSubjectCode:
      if (!IsDigits(result.atena_no, 15)) {
        return InvalidArgumentError("a 15-digit 統合宛名番号 is required for this message");
      }
      s.line_status = kLineNoSubjectCode;
      s.line_message = "指定された団体内統合宛名番号「" + ToFullWidth(result.atena_no) +
                       "」は符号が未取得です。";
      break;
    case LineOutcome::kDuplicateLine:
      s.line_status = kLineDuplicate;
      s.line_message = "「レコード識別番号」が既に存在しています。";
      break;
    case LineOutcome::kRejected:
      s.line_status = kLineRejected;
      if (result.reason == "UNKNOWN_TM") {
        ASSIGN_OR_RETURN(std::string tm, TmInQuotes(result.tm));
        s.line_message = "指定された特定個人情報名" + tm + "は定義されていません。";
      } else if (result.reason == "UNKNOWN_PROVIDER") {
        s.line_message = "指定された情報提供者機関コードは登録されていません。";
      } else {
        s.line_message =
            "照会依頼の内容に誤りがあるため照会できません。" + ReasonSuffix(result.reason);
      }
      break;
    case LineOutcome::kRefused:
      s.line_status = kLineRefused;
      if (result.reason == "NOT_PERMITTED") {
        ASSIGN_OR_RETURN(std::string tm, TmInQuotes(result.tm));
        s.info_status = kInfoNotPermitted;
        s.line_message = "指定された特定個人情報名" + tm + "の照会は許可されていません。";
      } else {
        s.info_status = kInfoRefused;
        s.line_message = "照会が拒否されました。" + ReasonSuffix(result.reason);
      }
      s.info_message = s.line_message;
      break;
    case LineOutcome::kExpired:
      s = {std::string(kLineExpired), "照会の有効期限までに情報提供者から応答がありませんでした。",
           std::string(kInfoNoAnswer), ""};
      s.info_message = s.line_message;
      break;
    case LineOutcome::kFailed:
      s = {std::string(kLineFailed), "照会処理に失敗しました。" + ReasonSuffix(result.reason),
           std::string(kInfoFailed), ""};
      s.info_message = s.line_message;
      break;
  }
  return s;
}

Result<RenderedLine> RenderResultLine(const ResultLayout& layout,
                                      std::span<const std::string_view> fields,
                                      const LineResult& result,
                                      std::span<const ResultRecord> records) {
  LineResult effective = result;
  if (result.outcome != LineOutcome::kCompleted && !records.empty()) {
    return InvalidArgumentError("records are given for a line that did not complete");
  }
  if (result.outcome == LineOutcome::kCompleted && records.empty()) {
    effective.outcome = LineOutcome::kNoData;
  }
  ASSIGN_OR_RETURN(LineStatus status, DescribeLine(effective));

  RenderedLine out;
  const Chosen chosen = Choose(layout.info(), records);
  out.records_not_shown = records.size() - chosen.distinct;
  const std::span<const ResultColumn> columns = layout.columns();
  std::vector<std::string_view> values(columns.size());
  for (size_t i = 0; i < columns.size(); ++i) {
    const ResultColumn& c = columns[i];
    if (c.fill != ResultFill::kItem || chosen.overall == nullptr) continue;
    const ResultRecord* from = chosen.overall;
    if (!c.item->data_set().empty()) {
      auto it = chosen.by_data_set.find(c.item->data_set());
      from = it == chosen.by_data_set.end() ? nullptr : it->second;
    }
    if (from == nullptr) continue;
    values[i] = ValueOf(*from, c.item->code());
    if (out.unwritable_column == 0 && !IsWritable(values[i])) out.unwritable_column = i + 1;
  }
  if (out.unwritable_column != 0) {
    status.line_status = kLineUnwritable;
    status.line_message =
        "照会結果に出力できない文字（カンマ・改行等）が含まれるため、項目を出力していません。"
        "（項目コード「" +
        ToFullWidth(columns[out.unwritable_column - 1].item->code()) + "」）";
    status.info_message = status.line_message;
    std::fill(values.begin(), values.end(), std::string_view());
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    const ResultColumn& c = columns[i];
    if (i > 0) out.text += ',';
    switch (c.fill) {
      case ResultFill::kEmpty:
        break;
      case ResultFill::kInquiryField:
        if (c.field >= 1 && c.field <= fields.size() && IsWritable(fields[c.field - 1])) {
          out.text += fields[c.field - 1];
        }
        break;
      case ResultFill::kLineStatus:
        out.text += status.line_status;
        break;
      case ResultFill::kLineMessage:
        out.text += status.line_message;
        break;
      case ResultFill::kInfoStatus:
        out.text += status.info_status;
        break;
      case ResultFill::kInfoMessage:
        out.text += status.info_message;
        break;
      case ResultFill::kItem:
        out.text += values[i];
        break;
    }
  }
  return out;
}

Result<EncodedResultFile> EncodeResultFile(std::span<const std::string> lines,
                                           replica_io::Charset charset) {
  EncodedResultFile out;
  std::unique_ptr<replica_io::Cp932Encoder> encoder;
  if (charset == replica_io::Charset::kCp932) {
    ASSIGN_OR_RETURN(encoder, replica_io::Cp932Encoder::Create());
  }
  size_t total = 0;
  for (const std::string& l : lines) total += l.size() + 2;
  out.bytes.reserve(total);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = "line " + std::to_string(i + 1) + ": ";
    if (!IsValidUtf8(lines[i])) return InvalidArgumentError(where + "invalid UTF-8");
    if (lines[i].find_first_of("\r\n") != std::string::npos) {
      return InvalidArgumentError(where + "contains a line break");
    }
    if (encoder == nullptr) {
      out.bytes += lines[i];
    } else {
      ASSIGN_OR_RETURN(size_t substituted, encoder->Append(lines[i], out.bytes));
      if (substituted > 0) out.substituted_lines.push_back(i + 1);
    }
    out.bytes += "\r\n";
  }
  return out;
}

}  // namespace chukan::layout
