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
// 4-byte length and that many sealed bytes (0 for a deletion).
//
// Thread-compatible: one import uses it from one thread.
#ifndef CHUKAN_REPLICA_IMPORT_SPOOL_H_
#define CHUKAN_REPLICA_IMPORT_SPOOL_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <vector>

#include "common/status.h"

namespace chukan::replica {

class ImportSpool {
 public:
  using KeyHash = std::array<uint8_t, 16>;

  // Errors: kUnavailable naming the directory and the system's reason.
  static Result<std::unique_ptr<ImportSpool>> Create();
  ~ImportSpool();
  ImportSpool(const ImportSpool&) = delete;
  ImportSpool& operator=(const ImportSpool&) = delete;

  // Appends one record (buffered). Errors: kUnavailable (disk full, I/O error).
  Status Append(const KeyHash& key_hash, std::span<const uint8_t> sealed);

  // Ends writing and rewinds for reading. Errors: kUnavailable.
  Status Rewind();

  // Reads the next record into `key_hash` / `sealed`; false at the end.
  // Errors: kDataLoss (a truncated or corrupt spool), kUnavailable.
  Result<bool> Next(KeyHash& key_hash, std::vector<uint8_t>& sealed);

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
