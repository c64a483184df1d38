// ImportSpool: where an import's validated and sealed records wait between reading the upload
// and applying it to the database ("stage, then commit"). The upload is read, checked and sealed
// without any transaction, so a slow or stalled client holds no lock; only the apply, which
// reads this local file, holds the tenant's write transaction.
//
// The file is unlinked from the start (O_TMPFILE in $TMPDIR or /tmp, else mkstemp + unlink),
// mode 0600, and holds only what goes into the database anyway: keyed record hashes and
// records sealed under the tenant's data key — no plaintext personal data.
//
// Format (native endianness, read back by the same process): per record a 16-byte key hash, a
// 4-byte length, the record's 公開開始日 and 公開終了日 (10 bytes each, YYYY-MM-DD, NUL-filled
// when absent: plain dates, stored in the clear in the database too) and that many sealed bytes
// (0 for a deletion).
//
// Thread-compatible: one import uses it from one thread.
#ifndef CHUKAN_REPLICA_IMPORT_SPOOL_H_
#define CHUKAN_REPLICA_IMPORT_SPOOL_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace chukan::replica {

class ImportSpool {
 public:
  using KeyHash = std::array<uint8_t, 16>;
  static constexpr size_t kDateBytes = 10;

  // Errors: kUnavailable naming the directory and the system's reason.
  static Result<std::unique_ptr<ImportSpool>> Create();
  ~ImportSpool();
  ImportSpool(const ImportSpool&) = delete;
  ImportSpool& operator=(const ImportSpool&) = delete;

  // Appends one record (buffered); dates longer than 10 bytes are cut (they are checked
  // YYYY-MM-DD before). Errors: kUnavailable (disk full, I/O error).
  Status Append(const KeyHash& key_hash, std::span<const uint8_t> sealed,
                std::string_view publish_from = {}, std::string_view publish_until = {});

  // Ends writing and rewinds for reading. Errors: kUnavailable.
  Status Rewind();

  // Reads the next record into `key_hash` / `sealed`; false at the end.
  // Errors: kDataLoss (a truncated or corrupt spool), kUnavailable.
  Result<bool> Next(KeyHash& key_hash, std::vector<uint8_t>& sealed, std::string& publish_from,
                    std::string& publish_until);

  int64_t records() const { return records_; }
  int64_t bytes() const { return bytes_; }

 private:
  explicit ImportSpool(std::FILE* file) : file_(file) {}
  std::FILE* file_;
  int64_t records_ = 0;
  int64_t bytes_ = 0;
};

}  // namespace chukan::replica

#endif  // CHUKAN_REPLICA_IMPORT_SPOOL_H_
