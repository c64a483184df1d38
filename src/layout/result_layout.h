// Result layouts (照会結果ファイルのレイアウト): what fills each column of a line of the inquiry
// result file (照会結果ファイル) that the real intermediate server writes for a P640R110 batch
// inquiry file — one layout per information name (特定個人情報名, TM). A column holds one of the
// 18 fields of the inquiry line echoed as given, the line's 照会ステータス / 照会処理結果メッセージ
// (明細単位 and 特定個人情報名単位), one item (項目) of the TM, or nothing.
//
// Layouts are data: `data/result_layout/<TM>.toml` (format in docs/inquiry-result-format.md), so a
// municipality holding the official specification corrects a column without a rebuild. A TM
// without a file gets the default layout (the 18 fields, the four status/message columns at
// 24–27, then the TM's items of its latest version in catalogue order from column 28); a TM the
// catalogue does not know gets the default without items.
//
// A ResultLayouts is immutable once loaded: share it between threads freely. It keeps the
// catalogue it was checked against alive (columns point at its items).
#ifndef CHUKAN_LAYOUT_RESULT_LAYOUT_H_
#define CHUKAN_LAYOUT_RESULT_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layout/catalogue.h"

namespace chukan::layout {

// The only `format` value LoadResultLayouts accepts.
inline constexpr std::string_view kResultLayoutFormat = "chukan-result-layout/1";

// Fields of one line of a P640R110 inquiry file (番号体系 … 照会終了日付).
inline constexpr size_t kInquiryFieldCount = 18;

// The fixed columns of the default layout (and of both shipped layouts): the status and message
// columns, then the first item column.
inline constexpr size_t kDefaultLineStatusColumn = 24;
inline constexpr size_t kDefaultFirstItemColumn = 28;

// What fills a column.
enum class ResultFill : uint8_t {
  kEmpty,         // nothing (a column whose content is not known publicly)
  kInquiryField,  // one of the 18 fields of the inquiry line, echoed as given
  kLineStatus,    // 照会ステータス（明細単位）
  kLineMessage,   // 照会処理結果メッセージ（明細単位）
  kInfoStatus,    // 照会ステータス（特定個人情報名単位）
  kInfoMessage,   // 照会処理結果メッセージ（特定個人情報名単位）
  kItem,          // the value of one item of the answer's record
};

struct ResultColumn {
  ResultFill fill = ResultFill::kEmpty;
  size_t field = 0;            // kInquiryField: 1..18
  const Item* item = nullptr;  // kItem: an item of the layout's TM (of any of its versions)
};

class ResultLayout {
 public:
  // 特定個人情報名コード; "" for the layout of TMs the catalogue does not know.
  const std::string& tm() const { return tm_; }
  // The TM in the catalogue, or nullptr for the layout of unknown TMs.
  const InfoName* info() const { return info_; }
  // The file it was read from, or "(default)".
  const std::string& source() const { return source_; }
  bool is_default() const { return is_default_; }
  // Every column, in order (column 1 is columns()[0]).
  std::span<const ResultColumn> columns() const { return columns_; }

 private:
  friend class ResultLayoutBuilder;
  std::string tm_;
  const InfoName* info_ = nullptr;
  std::string source_;
  bool is_default_ = false;
  std::vector<ResultColumn> columns_;
};

// Explicit bounds, so that a broken or hostile directory cannot exhaust memory.
struct ResultLayoutLimits {
  size_t max_files = 256;             // *.toml files in the directory
  size_t max_file_bytes = 256 << 10;  // per file
  size_t max_columns = 2000;          // `columns` of one layout
};

class ResultLayouts {
 public:
  // The layout for lines of information name `tm`: its file's, else the default built from the
  // catalogue, else (a TM the catalogue does not know, or a malformed code) the default without
  // items. Never fails, never allocates.
  const ResultLayout& For(std::string_view tm) const;
  // The layouts read from files, by TM code.
  const std::map<std::string, ResultLayout, std::less<>>& loaded() const { return loaded_; }
  const Catalogue& catalogue() const { return *catalogue_; }

 private:
  friend class ResultLayoutBuilder;
  std::shared_ptr<const Catalogue> catalogue_;
  std::map<std::string, ResultLayout, std::less<>> loaded_;
  std::map<std::string, ResultLayout, std::less<>> defaults_;
  ResultLayout unknown_;
};

// The default layout for `info` (nullptr: for a TM the catalogue does not know).
ResultLayout DefaultResultLayout(const InfoName* info);

// Parses one result layout file; `path` is used in errors only. Errors: kInvalidArgument
// "<path>:<line>: <entry>: <reason>" — TOML syntax (with the column), `format`, unknown or
// mistyped keys, `tm` not a TM code or not in `catalogue`, `columns` outside 1..max_columns, a
// column number that is not a decimal without leading zeros or is beyond `columns`, an unknown
// fill, an inquiry field outside 1..18, an item not of the TM, the same item, inquiry field or
// status/message column filled twice.
Result<ResultLayout> ParseResultLayout(const std::string& path, std::string_view text,
                                       const Catalogue& catalogue,
                                       const ResultLayoutLimits& limits = {});

// Reads every `*.toml` file of `dir` (other files are ignored), checks each against `catalogue`
// and builds the defaults for every TM of the catalogue. An empty `dir`: the defaults only.
// Errors: kNotFound when `dir` is missing or a file cannot be read; kInvalidArgument for a
// problem in a file (as ParseResultLayout), too many files, a file too large, or two files for
// the same TM (naming both).
Result<std::shared_ptr<const ResultLayouts>> LoadResultLayouts(
    const std::string& dir, std::shared_ptr<const Catalogue> catalogue,
    const ResultLayoutLimits& limits = {});

}  // namespace chukan::layout

#endif  // CHUKAN_LAYOUT_RESULT_LAYOUT_H_
