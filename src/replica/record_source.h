// RecordSource: the rows of an import (or reconcile) file in layout terms — atena_no plus the
// values of a layout version's items, in item order — whatever the file's format (CSV with a
// header row of item codes, JSON Lines, or the DBM_20113 registration attachment) and charset
// (UTF-8 or Shift_JIS/CP932).
//
// The raw bytes are hashed as they are read (BLAKE2b-256), so an import records the hash of
// exactly what it received.
//
// Single-threaded objects.
#ifndef CHUKAN_REPLICA_RECORD_SOURCE_H_
#define CHUKAN_REPLICA_RECORD_SOURCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layout/catalogue.h"
#include "replica_io/byte_source.h"

namespace chukan::replica {

enum class FileFormat { kCsv, kJsonLines, kDbm20113 };
// "csv", "jsonl", "dbm20113" (also "text/csv", "application/x-ndjson", "application/jsonl",
// "application/xml", "text/xml").
Result<FileFormat> ParseFileFormat(std::string_view s);

// One row. Views are valid until the next call to Next().
struct RowView {
  int64_t line = 0;  // where the row starts in the file (1-based; the CSV header is line 1)
  std::string_view atena_no;
  std::span<const std::string_view> values;  // one per item of the version, "" when absent

  // DBM_20113 only (defaults otherwise):
  int64_t record = 0;          // the entry's position in the file (1-based)
  int64_t record_id_line = 0;  // the line of its RecordIdentificationNumber (レコード識別番号)
  bool remove = false;         // 登録削除区分 2 (削除): delete the record with this key
  std::string_view publish_from;   // 公開開始日, YYYY-MM-DD or ""
  std::string_view publish_until;  // 公開終了日, YYYY-MM-DD or ""
  // What the registration carried beside the values, sealed with the record so that an export
  // writes it back: kEnvelopeHead fields (RecordIdentificationNumber,
  // DataSetIdentificationItemCode, DataSetRecordKey, ParentDataSetRecordKey,
  // AdministrativeRegionCode), then per item of the file, in its order, kEnvelopePerItem strings
  // (item code, Version, TimeAndDateOfUpdate, "1" when xsi:nil else "", ReasonOfNull).
  std::span<const std::string_view> envelope;
};
inline constexpr size_t kEnvelopeHead = 5;
inline constexpr size_t kEnvelopePerItem = 5;

// A problem with one row that does not stop reading (the row is skipped), e.g. an unknown key
// in a JSON Lines object. Neither `field` nor `message` quotes the file: `field` is an item code
// of the layout (or empty), and the message names positions ("member 3: not an item of …").
struct RowProblem {
  int64_t line = 0;
  std::string field;
  std::string reason;
  std::string message;
  int64_t record = 0;          // DBM_20113: the entry's position
  int64_t record_id_line = 0;  // DBM_20113: the line of its RecordIdentificationNumber
};

class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // Reads the next row into `row`; returns false at the end. A row with a problem of its own is
  // reported through `problem` (set) and `row` is then not valid. Errors: malformed files that
  // cannot be read further (broken quoting, invalid Shift_JIS, oversize records) — kInvalidArgument
  // or kResourceExhausted whose message starts with "line N" and names positions, never values.
  virtual Result<bool> Next(RowView& row, std::optional<RowProblem>& problem) = 0;
};

// Makes the RecordSource for a layout version (the CSV header is checked against it), and
// reports the hash of all bytes read.
class RecordSourceFactory {
 public:
  virtual ~RecordSourceFactory() = default;
  // May be called once. Errors: a header that does not fit the version (kInvalidArgument
  // "line 1, column K: not an item of TM… version …" — the header text is not quoted, as a file
  // without its header row has values there —, "line 1: the header has no atena_no column",
  // "line 1, column K: item IT… appears twice").
  virtual Result<std::unique_ptr<RecordSource>> Open(const layout::LayoutVersion& version) = 0;
  // Reads the whole input into a local temporary file first (sealed under a key of its own,
  // crypto::TempStream, in $TMPDIR or /tmp), from which Open()'s source then reads: after it,
  // reading the rows waits on no client, so an import may hold the tenant's write lock while it
  // reads them (ReplicaStore::Import). Call before Open(), at most once. Errors: the input's (the
  // connection dropped …), kUnavailable for the temporary file (disk full) naming its directory;
  // kFailedPrecondition after Open(). `progress` (may be empty) is called as chunks arrive with
  // the number of lines (newline bytes) received so far.
  virtual Status Receive(const std::function<void(int64_t lines)>& progress) = 0;
  // Reads whatever is left of the input (so the hash covers the whole file).
  virtual Status Drain() = 0;
  // "blake2b-256:<hex>" of every byte read so far.
  virtual std::string FileHash() const = 0;
};

// The factory over a byte stream. `charset` is "utf-8" or a Shift_JIS/CP932 name
// (replica_io ParseCharset); empty means UTF-8, except for DBM_20113, where it means the
// charset the XML declaration names (UTF-8 or Shift_JIS; any other is refused when the source
// is opened). Errors: kInvalidArgument for an unknown charset.
Result<std::unique_ptr<RecordSourceFactory>> MakeRecordSourceFactory(
    std::unique_ptr<replica_io::ByteSource> raw, FileFormat format, std::string_view charset);

}  // namespace chukan::replica

#endif  // CHUKAN_REPLICA_RECORD_SOURCE_H_
