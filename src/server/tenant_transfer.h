// Tenant transfer (テナントの移行): a tenant moves to another platform — another chukan
// installation, SQLite → PostgreSQL or back — as one export file sealed to the destination
// platform's transfer key, with every table of its database (replicas, codes, inquiry and
// provision records, outbox, staff, its audit chain) and its data key. The operator's procedure:
// docs/operations.md, "Moving a tenant to another platform"; the format: docs/tenant-transfer.md;
// the key decisions: docs/crypto.md, "Tenant transfer".
//
//   destination  `chukan platform transfer-key` → its X25519 public key and fingerprint
//   source       ExportTenant: one read snapshot of the tenant's database, every table dumped
//                from the store's own catalogue (store/table_copy.h) into a stream encrypted
//                under a fresh file key; the data key and the file key sealed to the
//                destination's key together with the table list, row counts and hashes; the
//                header signed with the source platform's checkpoint key
//   destination  ImportTenant: the header's signature, the destination key, the sealed keys,
//                then every chunk, table, row count and hash checked while the rows go into
//                fresh storage inside one transaction that commits only when all of it checked
//                out; then a new KEK of the destination's wraps the data key and the tenant is
//                registered. A failed import leaves no tenant, no KEK file and no storage.
//
// Rows travel as they are stored: what is sealed under the tenant's data key stays so, and the
// data key travels sealed, so the organisation's signing key and the atena index key (both
// derived from it, tenant_context.h) are the same at the destination: the hub's registration
// of the organisation's key stays valid.
//
// Thread-safety: thread-compatible functions (call from one thread); they block on disk and
// database I/O.
#ifndef CHUKAN_SERVER_TENANT_TRANSFER_H_
#define CHUKAN_SERVER_TENANT_TRANSFER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"
#include "server/platform.h"

namespace chukan::server {

inline constexpr int kTransferFormatVersion = 1;

// Explicit limits, checked on export and (against untrusted input) on import.
struct TransferLimits {
  int64_t max_tables = 256;
  int64_t max_columns = 256;  // per table
  int64_t max_rows_per_table = 100'000'000;
  int64_t max_cell_bytes = 16 << 20;   // one text or blob value
  int64_t max_header_bytes = 1 << 20;  // the signed header line
  int page_rows = 1000;                // rows read per query on export
};

// The public half of a transfer key as operators exchange it: 64 hex digits (a file holds it on
// one line). Errors: kInvalidArgument naming `what`.
Result<crypto::Bytes> ParseTransferPublicKey(std::string_view text, std::string_view what);
// What operators compare by telephone or on paper: the first 10 bytes of
// BLAKE2b-256("chukan-transfer-key-v1\0" ‖ key), as five groups of four hex digits.
std::string TransferKeyFingerprint(const crypto::Bytes& public_key);
// The same for a platform's checkpoint (audit) verify key: "chukan-platform-key-v1\0".
std::string PlatformKeyFingerprint(const crypto::VerifyKey& key);

// Per table, as export and import go.
struct TransferProgress {
  std::string table;
  int64_t rows = 0;
};
using TransferProgressFn = std::function<void(const TransferProgress&)>;

struct ExportOptions {
  OrgCode org;
  crypto::Bytes destination_key;  // the destination's transfer public key (32 bytes)
  std::string out_path;           // a new file (never overwritten)
  std::string actor;
  std::string chukan_version;
  TransferLimits limits;
  TransferProgressFn progress;
};

struct ExportReport {
  std::string export_id;
  int64_t tables = 0;
  int64_t rows = 0;
  int64_t bytes = 0;  // the file's size
  std::string destination_fingerprint;
};

// Exports the active tenant `options.org` of `platform` into `options.out_path`. The tenant's
// audit log gets "tenant.export" first (so the entry travels in the export), the platform's
// audit log the outcome. The snapshot is one read transaction: writes committed after it are
// not in the file (docs/operations.md: revoke the tenant's clients first). On any error no file
// is left at out_path. Errors: kNotFound (no active tenant); kAlreadyExists (out_path exists);
// kInvalidArgument (a key that is not 32 bytes or a degenerate point); kResourceExhausted (a
// limit, naming the table and the limit); store and I/O errors naming the table or the file.
Result<ExportReport> ExportTenant(Platform& platform, const ExportOptions& options);

struct ImportOptions {
  std::string in_path;
  std::string actor;
  // When set, the export must be signed by this platform key (the source's, as its operator
  // read it out); otherwise the signature is checked against the key the header names, and the
  // report gives its fingerprint for the operators to compare.
  std::optional<crypto::VerifyKey> source_key;
  TransferLimits limits;
  TransferProgressFn progress;
};

struct ImportReport {
  std::optional<TenantInfo> tenant;  // set once imported
  std::string export_id;
  std::string source_fingerprint;  // PlatformKeyFingerprint of the key that signed the export
  std::string source_key_hex;
  int64_t tables = 0;
  int64_t rows = 0;
};

// Imports an export file into `platform`, as described above. The platform audit log gets
// "tenant.import" naming the export and the source platform's key; the tenant's audit chain
// continues with "tenant.import" (its checkpoint signed by this platform's key, the earlier
// ones keep the source's: docs/audit.md, "A moved tenant"). Errors (nothing left behind by
// any of them): kAlreadyExists (the tenant is active here); kFailedPrecondition (sealed to
// another platform's transfer key, both fingerprints named; no transfer key here); kUnauthenticated
// (the header's signature does not verify or is not by source_key; the sealed keys do not
// open); kDataLoss (the file altered, cut short or malformed, naming the position: the header's
// field, the chunk, the table); kInvalidArgument (an unknown format version; a table or column
// this chukan's schema does not have; migration versions that differ); kResourceExhausted (a
// limit); store and I/O errors.
Result<ImportReport> ImportTenant(Platform& platform, const ImportOptions& options);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_TENANT_TRANSFER_H_
