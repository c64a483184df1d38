// Data-key rotation (データ鍵の更新) of one tenant: the re-encryption of every row sealed under
// the tenant's previous data key, in the background, with its progress kept in the tenant's
// database; and the registry of every sealed column of the tenant schema (one list, so a new
// sealed column cannot be forgotten: data_key_rotation_test compares it with the schema).
//
// The keys themselves (the new one made, wrapped and stored beside the old one; the old one
// discarded at the end) are the Platform's (Platform::StartDataKeyRotation /
// FinishDataKeyRotation); the TenantContext's DataKeys seals every new write under the new key
// from the moment the rotation starts, and opens a row under either key until it ends.
//
// Re-encryption: per sealed column, in batches of `batch_rows` rows in primary-key order: the
// batch is read in a read transaction; each value that opens only under the previous key is
// re-sealed under the current one with no transaction open; then one short write transaction
// (through the tenant's group committer) writes each with a compare-and-set
// (`UPDATE t SET col = new WHERE key = ? AND col = old`) — a value an application changed
// meanwhile is left as the application wrote it — and moves the column's cursor. A restart
// resumes at the cursor; two re-encryptors at once (a server and `--wait`) cost work, never a
// write. Finishing re-reads every sealed value and refuses while any does not open under the
// new key (the columns concerned start again).
//
// Format of the progress table: docs/storage.md "data_key_rekey".
//
// Thread-safety: free functions; each call may run concurrently with the tenant's other work.
// Blocking (storage): not for an I/O thread.
#ifndef CHUKAN_SERVER_DATA_KEY_ROTATION_H_
#define CHUKAN_SERVER_DATA_KEY_ROTATION_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "store/database.h"
#include "store/migrations.h"

namespace chukan::server {

class Platform;
class TenantContext;

// One sealed column: its table, the primary key (the cursor of the re-encryption, in order),
// the columns its associated data is built from, and how.
struct SealedColumn {
  std::string_view table;
  std::vector<std::string_view> key;
  std::string_view column;
  std::vector<std::string_view> ad_columns;
  // The associated data, from the tenant and the row's ad_columns (values in that order).
  Result<crypto::Bytes> (*ad)(const TenantId& tenant, const std::vector<store::Value>& ad_values);
};
// Every column of the tenant schema sealed under the data key.
const std::vector<SealedColumn>& SealedColumns();

// The migrations of the progress table (component "rekey").
const std::vector<store::Migration>& DataKeyRekeyMigrations();

// How long after its start a rotation may finish at the earliest (Platform::
// FinishDataKeyRotation, on the platform's clock). Until every process that seals for the
// tenant (a server; other server nodes on the same PostgreSQL) has loaded the new key, some may
// still write under the old one; a value written so after the finish's last check would never
// open again. Servers reload every second (Platform::ReloadDataKeys, from two loops); ten
// seconds leave room for a slow pass. docs/crypto.md "Data-key rotation".
inline constexpr std::chrono::seconds kDataKeyFinishGrace{10};
// The earliest finish of a rotation started at `started_at_us` (Unix microseconds).
inline int64_t DataKeyFinishAtUs(int64_t started_at_us) {
  return started_at_us + std::chrono::microseconds(kDataKeyFinishGrace).count();
}

inline constexpr int64_t kDefaultRekeyBatchRows = 500;
inline constexpr int64_t kMaxRekeyBatchRows = 10000;

struct RekeyOptions {
  int64_t batch_rows = kDefaultRekeyBatchRows;  // 1..kMaxRekeyBatchRows
  // Batches to run in this call, over all columns (0: until every column is done). The server
  // runs a few per second; `chukan tenant rotate-data-key --wait` runs them all.
  int64_t max_batches = 0;
  // Whether to finish (Platform::FinishDataKeyRotation) when every column is done.
  bool finish = true;
  std::string actor = "system";
  // Tests: called after a batch is re-sealed and before its write (to race an application
  // write against the compare-and-set).
  std::function<void()> before_write;
};

// The progress of one column.
struct RekeyColumnProgress {
  std::string table;
  std::string column;
  int64_t rows_total = 0;     // sealed values when the column started
  int64_t rows_done = 0;      // values looked at (re-sealed, already new, or changed meanwhile)
  int64_t rows_resealed = 0;  // of which re-sealed by this rotation
  bool done = false;
};

struct RekeyStatus {
  int64_t target_version = 0;  // the new key's version; 0 when no rotation was ever started
  bool finished = false;       // the rotation of `target_version` finished
  std::vector<RekeyColumnProgress> columns;
  int64_t rows_total() const;
  int64_t rows_done() const;
  // Every column re-encrypted (the finish may still wait: kDataKeyFinishGrace).
  bool all_columns_done() const;
};

// Creates the progress rows of the rotation to `target_version` (totals counted now); a no-op
// when they exist. Errors: from the store.
Status StartRekey(TenantContext& ctx, int64_t target_version);

// Runs re-encryption batches of the rotation the tenant's context holds, as options say, and
// finishes it when every column is done, options.finish, and kDataKeyFinishGrace has passed
// since the start (the check re-reads every sealed value; before the grace period ends the
// status comes back with every column done and `finished` false). Returns the progress after it.
// kFailedPrecondition when no rotation is in progress; kDataLoss naming table and column when a
// value opens under neither key.
Result<RekeyStatus> RunRekey(Platform& platform, const OrgCode& org, const RekeyOptions& options);

// The progress of the tenant's latest rotation (target_version 0 when none). `finished` is
// taken from the platform's current version. Errors: from the store.
Result<RekeyStatus> ReadRekeyStatus(store::Database& db, int64_t current_version);

// How many sealed values (all columns) do not open under the context's current key.
Result<int64_t> CountNotUnderCurrentKey(TenantContext& ctx);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_DATA_KEY_ROTATION_H_
