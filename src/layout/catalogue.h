// The data standard layout (データ標準レイアウト): the catalogue of what specific personal
// information can be held as replicas and exchanged — affairs (事務, JM codes), procedures
// (事務手続, JT codes), information names (特定個人情報名, TM codes) with their layout versions
// (版番号) and items (項目), and the code lists items refer to.
//
// A Catalogue is built once by LoadCatalogue (layout/catalogue_loader.h) and is immutable
// afterwards: every object reachable from a `std::shared_ptr<const Catalogue>` may be read from
// any number of threads without locking. Pointers and references handed out by lookups stay valid
// as long as the Catalogue lives.
//
// The file format, the item code scheme and the shipped information names are described in
// docs/layout.md.
#ifndef CHUKAN_LAYOUT_CATALOGUE_H_
#define CHUKAN_LAYOUT_CATALOGUE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/ids.h"
#include "layout/date.h"

namespace chukan::layout {

namespace internal {
class CatalogueBuilder;
}

// 項目区分: where an item sits in the record structure.
enum class ItemKind : uint8_t {
  kHeader,  // 見出し: identifies the record (fiscal year, data set, sequence); key items are these
  kRepeating,  // 繰返し: belongs to a group that repeats per person (one record per repetition)
  kDate,       // 日付: a date that qualifies the record (type must be date)
  kSingle,     // 単一項目: an ordinary single value
};

// 型: how a value is written and checked.
enum class ValueType : uint8_t {
  kText,    // UTF-8 text, max_length counted in characters (Unicode code points)
  kNumber,  // ASCII digits, optionally a leading '-' when the item allows a sign
  kDate,    // YYYY-MM-DD, a real calendar date
  kCode,    // one of the codes of the item's code list
};

// "header", "repeating", "date", "single" — the names used in the catalogue files.
std::string_view ItemKindName(ItemKind kind);
// "text", "number", "date", "code".
std::string_view ValueTypeName(ValueType type);

// コード一覧: a closed set of codes with their Japanese labels (男女区分, 要介護状態区分 …).
struct CodeEntry {
  std::string code;
  std::string label;
};

class CodeList {
 public:
  CodeList(const CodeList&) = delete;
  CodeList& operator=(const CodeList&) = delete;

  // Identifier used by items ("sex", "yokaigo_kubun").
  const std::string& id() const { return id_; }
  // Japanese name (男女区分).
  const std::string& name() const { return name_; }
  // Entries in file order.
  const std::vector<CodeEntry>& entries() const { return entries_; }
  // Whether `code` is one of the codes (exact, byte-wise). O(log n); never allocates.
  bool Contains(std::string_view code) const noexcept;
  // The label of `code`, or nullptr when it is not in the list.
  const std::string* Label(std::string_view code) const noexcept;
  // Length in bytes of the longest code.
  size_t max_code_length() const { return max_code_length_; }

 private:
  friend class internal::CatalogueBuilder;
  CodeList() = default;
  const CodeEntry* FindEntry(std::string_view code) const noexcept;
  // The bytes of a code of at most 8, big-endian from the top and zero-padded: the order of the
  // integers is the order of the codes, and codes (never holding a NUL) pack apart.
  static uint64_t PackCode(std::string_view code) noexcept;

  std::string id_;
  std::string name_;
  std::vector<CodeEntry> entries_;
  std::vector<uint32_t> sorted_;  // indexes into entries_, ordered by code
  // When every code is at most 8 bytes: sorted_'s codes packed into integers (PackCode), in the
  // same order — a look-up compares integers, not strings. Empty otherwise.
  std::vector<uint64_t> packed_;
  size_t max_code_length_ = 0;
};

// A data set (データセット) of an information name that has several record shapes, such as
// 介護保険関係情報's 0101 被保険者情報. Records name their data set in the TM's data-set item.
struct DataSet {
  std::string code;  // 4 digits
  std::string name;  // Japanese name
};

// 項目: one item of an information name. Shared by every layout version it belongs to.
class Item {
 public:
  Item(const Item&) = delete;
  Item& operator=(const Item&) = delete;

  // 項目コード: 16 characters [0-9A-Z] (scheme in docs/layout.md); the CSV column name.
  const std::string& code() const { return code_; }
  // 項目名 (Japanese).
  const std::string& name() const { return name_; }
  ItemKind kind() const { return kind_; }
  ValueType type() const { return type_; }
  // Text: characters; number: digits (the sign not counted); date: 10; code: longest code.
  size_t max_length() const { return max_length_; }
  // An empty value is an error (for data-set items: when the record is of that data set).
  bool required() const { return required_; }
  // Number items only: a leading '-' is allowed.
  bool allow_sign() const { return allow_sign_; }
  // Non-null exactly when type() == kCode.
  const CodeList* code_list() const { return code_list_; }
  // The data set this item belongs to, or "" when it is common to every record of the TM.
  const std::string& data_set() const { return data_set_; }
  // 自動応答不可 — effective: the item's own flag or its information name's.
  bool approval_required() const { return approval_required_; }
  // 不開示 — effective: the item's own flag or its information name's.
  bool non_disclosure() const { return non_disclosure_; }
  // The first and last layout versions that contain the item ("" = unbounded).
  const std::string& from_version() const { return from_version_; }
  const std::string& to_version() const { return to_version_; }

 private:
  friend class internal::CatalogueBuilder;
  Item() = default;

  std::string code_;
  std::string name_;
  ItemKind kind_ = ItemKind::kSingle;
  ValueType type_ = ValueType::kText;
  size_t max_length_ = 0;
  bool required_ = false;
  bool allow_sign_ = false;
  const CodeList* code_list_ = nullptr;
  std::string data_set_;
  bool approval_required_ = false;
  bool non_disclosure_ = false;
  std::string from_version_;
  std::string to_version_;
};

class InfoName;

// 版: one layout version (版番号) of an information name, valid over a date range; its items are
// the record's columns, in order.
class LayoutVersion {
 public:
  LayoutVersion(const LayoutVersion&) = delete;
  LayoutVersion& operator=(const LayoutVersion&) = delete;

  const InfoName& info() const { return *info_; }
  // 版番号: 4 digits.
  const std::string& version() const { return version_; }
  const Date& valid_from() const { return valid_from_; }
  // Inclusive last day; nullopt while the version is current.
  const std::optional<Date>& valid_to() const { return valid_to_; }
  bool IsValidOn(const Date& d) const {
    return valid_from_ <= d && (!valid_to_ || d <= *valid_to_);
  }

  // Items (columns) in order. `atena_no` is not an item: every record carries it in addition.
  std::span<const Item* const> items() const { return items_; }
  size_t item_count() const { return items_.size(); }
  // Precondition: i < item_count().
  const Item& item(size_t i) const { return *items_[i]; }
  // The item with `code`, or nullptr. Never allocates.
  const Item* FindItem(std::string_view code) const;
  // The column position of `code`, or nullopt. Never allocates.
  std::optional<size_t> ItemIndex(std::string_view code) const;

  // Positions (into items()) of the record key items, in key order. A record is identified by
  // atena_no plus these values; an empty span means one record per atena_no.
  std::span<const size_t> key_item_indexes() const { return key_indexes_; }
  // Position of the item naming the record's data set, when the TM has data sets.
  std::optional<size_t> data_set_item_index() const { return data_set_index_; }

 private:
  friend class internal::CatalogueBuilder;
  LayoutVersion() = default;

  const InfoName* info_ = nullptr;
  std::string version_;
  Date valid_from_;
  std::optional<Date> valid_to_;
  std::vector<const Item*> items_;
  std::unordered_map<std::string_view, size_t> index_;  // keys view Item::code_ (stable)
  std::vector<size_t> key_indexes_;
  std::optional<size_t> data_set_index_;
};

// 特定個人情報名: one kind of specific personal information (地方税関係情報 …).
class InfoName {
 public:
  InfoName(const InfoName&) = delete;
  InfoName& operator=(const InfoName&) = delete;

  // 特定個人情報名コード.
  const TmCode& code() const { return code_; }
  const std::string& name() const { return name_; }
  const std::string& name_en() const { return name_en_; }
  // 自動応答不可 for the whole information name.
  bool approval_required() const { return approval_required_; }
  // 不開示 for the whole information name.
  bool non_disclosure() const { return non_disclosure_; }
  // The catalogue file it was read from.
  const std::string& source() const { return source_; }

  // Data sets (empty when the TM has a single record shape), in file order.
  const std::vector<DataSet>& data_sets() const { return data_sets_; }
  const DataSet* FindDataSet(std::string_view code) const;
  // Item codes forming the record key after atena_no (the same for every version).
  const std::vector<std::string>& record_key() const { return record_key_; }

  // Versions in ascending 版番号 order (also ascending, non-overlapping validity).
  std::span<const LayoutVersion* const> versions() const { return version_ptrs_; }
  // The version "0001" etc., or nullptr.
  const LayoutVersion* Version(std::string_view version) const;
  // The version valid on `d`, or nullptr when none is.
  const LayoutVersion* VersionAt(const Date& d) const;
  // The highest version.
  const LayoutVersion& LatestVersion() const { return *version_ptrs_.back(); }
  // Every item of every version, in file order.
  std::span<const Item* const> all_items() const { return item_ptrs_; }

 private:
  friend class internal::CatalogueBuilder;
  explicit InfoName(TmCode code) : code_(std::move(code)) {}

  TmCode code_;
  std::string name_;
  std::string name_en_;
  bool approval_required_ = false;
  bool non_disclosure_ = false;
  std::string source_;
  std::vector<DataSet> data_sets_;
  std::vector<std::string> record_key_;
  std::vector<std::unique_ptr<Item>> items_;
  std::vector<const Item*> item_ptrs_;
  std::vector<std::unique_ptr<LayoutVersion>> versions_;
  std::vector<const LayoutVersion*> version_ptrs_;
};

// 事務: an affair, such as 地方税の賦課徴収に関する事務.
struct Affair {
  JmCode code;
  std::string name;
  std::string name_en;
};

// 事務手続: a procedure within an affair; inquiries name it.
struct Procedure {
  JtCode code;
  std::string name;
  std::string name_en;
  JmCode affair;
};

class Catalogue {
 public:
  Catalogue(const Catalogue&) = delete;
  Catalogue& operator=(const Catalogue&) = delete;

  // The directory it was loaded from.
  const std::string& directory() const { return directory_; }

  // Information names by code (nullptr when unknown); all of them in code order.
  const InfoName* Find(const TmCode& code) const;
  const InfoName* Find(std::string_view tm_code) const;
  std::span<const InfoName* const> infos() const { return info_ptrs_; }

  const Affair* FindAffair(const JmCode& code) const;
  const Procedure* FindProcedure(const JtCode& code) const;
  // In code order.
  const std::vector<Affair>& affairs() const { return affairs_; }
  const std::vector<Procedure>& procedures() const { return procedures_; }

  const CodeList* FindCodeList(std::string_view id) const;
  // In id order.
  std::span<const CodeList* const> code_lists() const { return code_list_ptrs_; }

 private:
  friend class internal::CatalogueBuilder;
  Catalogue() = default;

  std::string directory_;
  std::map<std::string, std::unique_ptr<InfoName>, std::less<>> infos_;
  std::vector<const InfoName*> info_ptrs_;
  std::vector<Affair> affairs_;
  std::vector<Procedure> procedures_;
  std::map<std::string, std::unique_ptr<CodeList>, std::less<>> code_lists_;
  std::vector<const CodeList*> code_list_ptrs_;
};

// The one rule, for the hub and the servers alike, of whether answers of a TM version wait for
// a staff approval (自動応答不可): the TM or any item of that version is flagged.
bool NeedsApproval(const InfoName& info, const LayoutVersion& version);

// The one rule of 不開示 (not shown to the resident) for records of provision: the TM is flagged,
// or any item of `version` is; when the version is unknown (null: a request refused before its
// version was resolved), any item of any of the TM's versions. The hub's and the servers'
// records mark the same exchanges.
bool NonDisclosure(const InfoName& info, const LayoutVersion* version);

}  // namespace chukan::layout

#endif  // CHUKAN_LAYOUT_CATALOGUE_H_
