// Dbm20113Reader: a streaming reader of the DBM_20113 replica registration attachment
// (IF_DBM_20113_R01's DBM_20113_ATTACH file, 特定個人情報登録削除情報): one
// InformationOfSPIRegistrationDelete entry per record, its replica items (副本データ) in
// DuplicateCopyData — as an embedded XML document in CDATA, as the business systems write it, or
// as nested elements. See docs/import-formats.md, "DBM_20113".
//
// Built on libxml2's SAX push parser (SAX1 mode), fed a read (64 KiB) at a time; the entries a
// read completes are queued and returned one by one: memory is bounded by a read and the largest
// entry, never the file. Safe on hostile input: a DOCTYPE (and with it every entity declaration,
// so "billion laughs" and external entities) is refused, no network and no DTD loading, and
// depth, name, attribute, text and item counts are bounded (Dbm20113Limits).
//
// Encoding: the bytes given must be UTF-8 (a Shift_JIS file is decoded before, see
// record_source.cc); the XML declaration's encoding is ignored by the parser
// (XML_PARSE_IGNORE_ENC). SniffXmlDeclaredCharset reads it for the caller. An embedded
// document's own declaration must name UTF-8 or Shift_JIS (or no encoding): the record is refused
// otherwise.
//
// Errors name positions — line, record (entry) number, field element, item position — and never
// quote the file: element names that are not DBM_20113's own are not repeated either.
//
// Thread-safety: single-threaded object (thread-compatible).
#ifndef CHUKAN_REPLICA_IO_DBM20113_READER_H_
#define CHUKAN_REPLICA_IO_DBM20113_READER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "replica_io/byte_source.h"

namespace chukan::replica_io {

struct Dbm20113Limits {
  size_t max_depth = 12;             // element nesting, the embedded document's included
  size_t max_name_bytes = 64;        // element and attribute names
  size_t max_attributes = 8;         // per element
  size_t max_attribute_bytes = 256;  // one attribute value
  size_t max_field_bytes = 256;      // the text of one entry field (codes, keys, dates)
  size_t max_item_bytes = 64 << 10;  // the text of one replica item
  size_t max_copy_bytes = 4 << 20;   // one DuplicateCopyData (its CDATA document)
  size_t max_items = 4096;           // replica items of one entry
};

// The entry fields, in the order of the public shape.
enum class Dbm20113Field : uint8_t {
  kSystemShikibetsuCode,        // システム識別コード (accepted, not stored)
  kShikibetsuCode,              // 識別コード (accepted, not stored)
  kKojinNo,                     // 個人番号: must be empty (chukan never receives a My Number)
  kRecordIdentificationNumber,  // レコード識別番号
  kIntegratedAddressNumber,     // 団体内統合宛名番号
  kSpecificPersonalInformationCode,  // 特定個人情報名コード
  kDataSetIdentificationItemCode,    // データセットの識別項目コード
  kDataSetRecordKey,                 // データセットレコードのキー
  kSpiMajorVersion,                  // 特定個人情報の版番号
  kParentDataSetRecordKey,           // 親データセットのレコードキー
  kPublicationDate,                  // 公開開始日
  kPublishedEndDate,                 // 公開終了日
  kAdministrativeRegionCode,         // 行政区コード
  kSegmentOfRegistrationDelete,      // 登録削除区分 (per entry: a chukan extension)
  kCount,
};
inline constexpr size_t kDbm20113FieldCount = static_cast<size_t>(Dbm20113Field::kCount);
// The element name ("RecordIdentificationNumber").
std::string_view Dbm20113FieldName(Dbm20113Field f);

// One replica item of an entry. Views are valid until the next Next().
struct Dbm20113Item {
  int64_t position = 0;    // 1-based, in document order within the entry
  int64_t line = 0;        // in the file (for the CDATA form: the line of DuplicateCopyData)
  std::string_view code;   // the element name: the caller checks it against its item codes
  std::string_view value;  // "" for an empty or nil item
  bool nil = false;        // xsi:nil="true"
  std::string_view reason_of_null;  // ReasonOfNull (未設定事由)
  std::string_view version;         // Version
  std::string_view updated;         // TimeAndDateOfUpdate
};

// One InformationOfSPIRegistrationDelete. Views are valid until the next Next().
struct Dbm20113Entry {
  int64_t record = 0;  // 1-based position in the file
  int64_t line = 0;    // where the entry starts
  std::array<std::optional<std::string_view>, kDbm20113FieldCount> fields;  // absent: nullopt
  std::array<int64_t, kDbm20113FieldCount> field_lines{};
  std::string_view copy_root;  // the embedded document's root element name ("" when none)
  std::vector<Dbm20113Item> items;

  std::string_view Field(Dbm20113Field f) const {
    const auto& v = fields[static_cast<size_t>(f)];
    return v ? *v : std::string_view();
  }
  int64_t FieldLine(Dbm20113Field f) const { return field_lines[static_cast<size_t>(f)]; }
};

class Dbm20113Reader {
 public:
  explicit Dbm20113Reader(ByteSource& src, Dbm20113Limits limits = {});
  ~Dbm20113Reader();
  Dbm20113Reader(const Dbm20113Reader&) = delete;
  Dbm20113Reader& operator=(const Dbm20113Reader&) = delete;

  // Reads the next entry; false at the end of the document (the root element closed, and
  // nothing but whitespace, comments and processing instructions after it). Errors:
  // kInvalidArgument "line L: …" for a file that is not a DBM_20113 attachment (broken XML with
  // the parser's reason, a DOCTYPE, the header file instead of the attachment, an element out of
  // place, a field twice), "line L: record N: …" inside an entry; kResourceExhausted "line L: …"
  // when a limit is passed; errors of the byte source unchanged. After an error, stop.
  Result<bool> Next();
  const Dbm20113Entry& entry() const { return entry_; }

  // The list-level SegmentOfRegistrationDelete ("" when absent or not yet read). The public
  // shape writes it after the entries; see record_source.cc for how it applies.
  std::string_view list_segment() const { return list_segment_; }
  int64_t list_segment_line() const { return list_segment_line_; }

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  Dbm20113Entry entry_;
  std::string list_segment_;
  int64_t list_segment_line_ = 0;
};

// The header file (IF_DBM_20113_R01: MessageHeader and MessageBody), small: parsed whole.
struct Dbm20113Header {
  std::string msg_type_id;            // must be IF_DBM_20113_R01
  std::string msg_mode;               // "0" 本番 (production) or "1" テスト (test)
  std::string source_system_id;       // SourceSystemID
  std::string destination_system_id;  // DestinationSystemID
  std::string request_unit_code;      // RequestSourceUnitCode (依頼元部署コード)
  std::string request_user_id;        // RequestSourceUserID (ユーザーID)
};
inline constexpr size_t kMaxDbm20113HeaderBytes = 64 << 10;
// Parses a header file (UTF-8; at most kMaxDbm20113HeaderBytes). Errors: kInvalidArgument
// "line L: …" (broken XML, DOCTYPE, not IF_DBM_20113_R01, MsgMode not 0 or 1, an element out of
// place), kResourceExhausted for an oversized file.
Result<Dbm20113Header> ParseDbm20113Header(std::string_view xml);

// The charset named by an XML declaration at the start of `head` (the first bytes of a file):
// "shift_jis" for Shift_JIS / Windows-31J / CP932 / MS932, "utf-8" for UTF-8, an absent
// declaration or an absent encoding; nullopt for any other encoding (which the caller refuses).
std::optional<std::string_view> SniffXmlDeclaredCharset(std::string_view head);

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_DBM20113_READER_H_
