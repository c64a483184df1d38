// ReplicaStore: one tenant's provision database (情報提供データベース) of replicas (副本) of
// specific personal information — import, view, export for reconciliation, and reconcile.
//
// At rest every record is sealed with XChaCha20-Poly1305 under the tenant's data key; the
// associated data binds tenant, TM and record key, so a sealed record moved to another row,
// TM or tenant does not open. Records are found through keyed BLAKE2b hashes (a blind index:
// the key is derived from the tenant's data key) of atena_no and of the record key, so the
// database holds no imported value — not even atena_no — in plaintext.
//
// Imports are atomic: all rows or none. They run in one write transaction; rows are validated
// against the data standard layout as they stream in, and the first problem stops the writing
// (validation continues, to report up to 100 problems and the total). An idempotency key makes
// a re-sent import a no-op that returns the first import's report. The versions an import
// overwrites or removes are kept, still sealed, in the same transaction (History).
//
// Thread-safety: thread-safe (the database serialises writers).
#ifndef CHUKAN_REPLICA_REPLICA_STORE_H_
#define CHUKAN_REPLICA_REPLICA_STORE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "crypto/data_keys.h"
#include "crypto/secret_bytes.h"
#include "layout/catalogue.h"
#include "replica/record_source.h"
#include "store/database.h"
#include "store/migrations.h"

namespace chukan::replica {

inline constexpr size_t kMaxReportedProblems = 100;
inline constexpr size_t kMaxIdempotencyKeyBytes = 128;

enum class ImportMode { kUpsert, kReplace, kDelete };
// "upsert", "replace", "delete".
std::string_view ImportModeName(ImportMode m);
Result<ImportMode> ParseImportMode(std::string_view s);

// One problem in an import or reconcile file.
struct Problem {
  int64_t line = 0;
  std::string field;           // item code, "atena_no", a DBM_20113 field, or "" for the whole row
  std::string reason;          // machine name ("not_a_date", "duplicate_key", …)
  std::string message;         // English, naming the item; never the value
  int64_t record = 0;          // DBM_20113: the entry's position in the file (else 0)
  int64_t record_id_line = 0;  // DBM_20113: the line of its RecordIdentificationNumber
};

struct ImportReport {
  std::string import_id;
  std::string tm;
  std::string version;
  std::string mode;
  bool committed = false;
  bool replayed = false;   // the idempotency key was seen before: nothing was done again
  bool test_mode = false;  // MsgMode 1 (テスト): checked; the counts say what would change
  int64_t rows = 0;
  int64_t inserted = 0;
  int64_t updated = 0;
  int64_t deleted = 0;
  int64_t not_found = 0;  // delete mode: keys with no record
  int64_t problem_count = 0;
  std::vector<Problem> problems;  // the first kMaxReportedProblems
  std::string file_hash;          // "blake2b-256:<hex>" of the bytes as received
};

enum class ImportPhase { kReceiving, kApplying, kCommitting };
inline constexpr int64_t kProgressRows = 4096;

struct ImportRequest {
  TmCode tm;
  std::string version;  // 版番号; empty: the latest version
  ImportMode mode = ImportMode::kUpsert;
  std::string idempotency_key;  // optional
  std::string actor;            // for the audit log: "client:<name>"
  std::string request_id;
  // Called as the import advances: while the upload is received into the server's temporary
  // file (kReceiving, lines received so far, as chunks arrive); while the rows are read, checked
  // and written (kApplying, rows read so far: at the phase's start and every kProgressRows rows —
  // from the import's reading thread, the records written follow a few batches behind); and once
  // when every record is written and the transaction is being committed (kCommitting, records
  // written: on SQLite the commit of a million-row import writes the last dirty pages and builds
  // a first import's key index, ~0.4 s, docs/performance.md). Calls come one at a time, but
  // from more than one thread. May be empty.
  std::function<void(ImportPhase phase, int64_t rows)> progress;
  // MsgMode 1 (テスト): read and check everything, count what would be inserted, updated and
  // deleted, store nothing (no transaction is opened; the audit hook is called without one).
  bool test_mode = false;
};

// One item as a DBM_20113 registration carried it.
struct RegistrationItem {
  std::string code;
  std::string version;         // Version
  std::string updated;         // TimeAndDateOfUpdate
  bool nil = false;            // xsi:nil="true"
  std::string reason_of_null;  // ReasonOfNull (未設定事由)
};

// What a DBM_20113 registration brought beside the values, sealed with the record (it is part
// of the registration, and a record key or an item's 未設定事由 may say something about the
// person), so that an export writes it back.
struct RegistrationEnvelope {
  std::string record_id;                // RecordIdentificationNumber (レコード識別番号)
  std::string data_set_item_code;       // DataSetIdentificationItemCode
  std::string record_key;               // DataSetRecordKey
  std::string parent_record_key;        // ParentDataSetRecordKey
  std::string region_code;              // AdministrativeRegionCode (行政区コード)
  std::vector<RegistrationItem> items;  // the items of the file, in its order
};

// A decoded record, in layout terms.
struct Record {
  std::string tm;
  std::string version;
  std::string atena_no;
  std::vector<std::string> values;  // in the version's item order
  // 公開開始日 / 公開終了日 (YYYY-MM-DD, "" when not given): stored in the clear, beside the
  // sealed record, so that inquiries by date range and fiscal year can select versions.
  std::string publish_from;
  std::string publish_until;
  std::optional<RegistrationEnvelope> envelope;  // set for records a DBM_20113 file registered
};

// How a version in the history ended: overwritten by an import that brought the same record
// key (upsert, or replace when the file had the key again), or removed (delete mode, or replace
// when the file did not have the key).
enum class VersionEnd { kUpdated, kDeleted };

// At most this many versions are answered per History call, the newest first.
inline constexpr int64_t kMaxHistoryVersions = 100;

// A version of a record that an import superseded (replica_history), decoded.
struct RecordVersion {
  Record record;               // the values as they were
  std::string import_id;       // the import that wrote this version
  int64_t valid_from_us = 0;   // when that import wrote it (Unix µs)
  std::string superseded_by;   // the import that overwrote or removed it
  int64_t valid_until_us = 0;  // when that import did (Unix µs)
  VersionEnd end = VersionEnd::kUpdated;
};

struct ReconcileDifference {
  int64_t line = 0;
  std::vector<std::string> fields;  // item codes whose values differ
};

struct ReconcileReport {
  int64_t rows = 0;  // rows in the original file
  int64_t matching = 0;
  int64_t missing = 0;                           // in the original, not in the replica
  int64_t extra = 0;                             // in the replica, not in the original
  int64_t different = 0;                         // in both, with different values
  std::vector<int64_t> missing_lines;            // first kMaxReportedProblems
  std::vector<ReconcileDifference> differences;  // first kMaxReportedProblems
  std::vector<std::string> extra_atena_nos;      // first kMaxReportedProblems
  int64_t problem_count = 0;                     // invalid rows in the original
  std::vector<Problem> problems;
};

// Called by Export with chunks of CSV text; returning an error stops the export.
using ChunkSink = std::function<Status(std::string_view chunk)>;

enum class ExportFormat { kCsv, kDbm20113 };

// The tenant-database migrations of the replica store (component "replica").
const std::vector<store::Migration>& ReplicaMigrations();

// The blind-index key every tenant used before the key table held it: keyed BLAKE2b of the
// tenant's first data key over "replica-index-v1". tenant_keys.h stores it at a tenant's first
// open, so that a data-key rotation leaves every key_hash valid.
crypto::SecretBytes LegacyIndexKey(const crypto::SecretBytes& data_key);

// The associated data of a sealed record (replica_record.sealed, replica_history.sealed):
// tenant, TM and key_hash. For the data-key re-encryption (data_key_rotation.h).
std::vector<uint8_t> RecordAad(const TenantId& tenant, std::string_view tm,
                               std::span<const uint8_t> key_hash);

class SealedQueue;

// What an import's reading thread found in the file: its rows, its problems and its hash.
struct StagedImport {
  int64_t rows = 0;
  std::string file_hash;
  int64_t problem_count = 0;
  std::vector<Problem> problems;  // the first kMaxReportedProblems
};

class ReplicaStore {
 public:
  // `db` is the tenant's database (migrations are applied); `data_keys` the tenant's data keys
  // (their one holder, the TenantContext, shares them: a rotation is seen at once);
  // `index_key` (32 bytes) keys the blind index of key_hash — it never changes with the data
  // key (tenant_keys.h stores it). The catalogue must outlive the store. Errors: from the
  // store; kInvalidArgument for an index key that is not 32 bytes.
  static Result<std::unique_ptr<ReplicaStore>> Open(
      TenantId tenant, std::shared_ptr<store::Database> db,
      std::shared_ptr<const crypto::DataKeys> data_keys, const crypto::SecretBytes& index_key,
      std::shared_ptr<const layout::Catalogue> catalogue, const Clock& clock = SystemClock::Get());
  // A store over one fixed data key (version 1) and the index key it derives
  // (LegacyIndexKey): tests and tools.
  static Result<std::unique_ptr<ReplicaStore>> Open(
      TenantId tenant, std::shared_ptr<store::Database> db, const crypto::SecretBytes& data_key,
      std::shared_ptr<const layout::Catalogue> catalogue, const Clock& clock = SystemClock::Get());

  // Imports the rows of `source` (CSV, JSON Lines or DBM_20113, see record_source.h): the whole
  // upload is first received into a local temporary file sealed under a key of its own
  // (RecordSourceFactory::Receive) with no transaction open — a slow upload holds no lock —, and
  // then read, checked, sealed and written in one write transaction (all or nothing) at once, on
  // three threads (docs/replica.md, "Import"). A file with a problem writes nothing: at its first
  // problem the transaction is rolled back, and the rest is read only to report every problem.
  // `audit` is called inside that transaction when it commits (so the import and its audit entry
  // commit together), and without one when the file is refused or in test mode.
  // Blocks for the upload and the writes.
  // Returns the report whether or not it committed (problems are not errors). Errors:
  // kNotFound (unknown TM or version), kAlreadyExists (idempotency key reused for different
  // content), kInvalidArgument (a malformed header, which names line 1 and the column), and
  // store or I/O errors (nothing written).
  using AuditHook = std::function<Status(store::Transaction* tx, const ImportReport& report)>;
  Result<ImportReport> Import(const ImportRequest& request, RecordSourceFactory& source,
                              const AuditHook& audit);

  // The records of one resident (all TMs, or one). kInvalidArgument for a bad atena_no.
  Result<std::vector<Record>> Find(const AtenaNo& atena_no, const std::optional<TmCode>& tm);

  // The residents (atena_no) whose current record of `tm` has `value` as its item `item_code`
  // (e.g. the 世帯番号 of 住民票関係情報, to find a household's members), in the order the
  // records were imported, at most `max` (kResourceExhausted "more than <max> records match"
  // beyond). A record whose layout version lacks the item does not match. Values are sealed, so
  // this opens every record of `tm`: a scan, O(records of the TM) (docs/replica.md "Household").
  // Errors: from the store; kDataLoss for a row that does not open.
  Result<std::vector<AtenaNo>> FindResidentsWith(const TmCode& tm, std::string_view item_code,
                                                 std::string_view value, size_t max);

  // The earlier versions of one resident's records (all TMs, or one): what each import that
  // overwrote or removed a record of theirs superseded, newest first, at most
  // kMaxHistoryVersions (older ones are not answered; how long they are kept is the data
  // lifecycle's, docs/replica.md). Errors: from the store; kDataLoss for a row that does not
  // open under this tenant's key and associated data.
  Result<std::vector<RecordVersion>> History(const AtenaNo& atena_no,
                                             const std::optional<TmCode>& tm);

  // Retention of the version history (docs/storage.md, "Retention of every table"): whether
  // any history row ended (valid_until_us) before `before_us` — one indexed read — and the
  // deletion of at most `limit` of them, oldest first, in `tx` (the caller's transaction: the
  // linkage sweep's, through the tenant's group committer). Return the rows deleted.
  static Result<bool> HistoryDue(store::Transaction& tx, int64_t before_us);
  static Result<int64_t> PurgeHistory(store::Transaction& tx, int64_t before_us, int64_t limit);

  // Whether Export(tm, version) would find the TM and version: kNotFound (naming neither
  // value) when not, so that the caller can answer before it starts streaming.
  Status CheckExportable(const TmCode& tm, const std::string& version);

  // Streams the records of `tm` (version: as given, else the latest with records) in import
  // order to `sink`: as CSV in the import format (header "atena_no,<item codes>"), or as a
  // DBM_20113 attachment (one entry per record, 登録; what a DBM_20113 import brought is written
  // back as it came, a record from CSV or JSON Lines gets every item, Version = 版番号,
  // TimeAndDateOfUpdate = the day it was written, an empty value as xsi:nil).
  // Returns the number of records. kNotFound for an unknown TM/version.
  Result<int64_t> Export(const TmCode& tm, const std::string& version, const ChunkSink& sink,
                         ExportFormat format = ExportFormat::kCsv);

  // Compares the business system's original file with the replica of its TM.
  Result<ReconcileReport> Reconcile(const TmCode& tm, const std::string& version,
                                    RecordSourceFactory& source);

  // Whether the replica holds anything of the resident: a current record of any TM, or a version
  // in the history (an answer for a past period may still come from it). Two index seeks by the
  // resident's blind-index prefix, nothing opened: two residents sharing the 64-bit prefix make
  // a false "yes", never a false "no". In the caller's transaction `tx` (of this tenant's
  // database), so that a caller can check and act in one transaction. Errors: from the store.
  Result<bool> HoldsResident(store::Transaction& tx, const AtenaNo& atena_no) const;

  // Number of records of `tm` (all TMs when nullopt), from the per-TM count each import keeps in
  // its own transaction (replica_count): one row read, however large the replica (ホーム shows
  // it on every visit). Errors: from the store.
  Result<int64_t> Count(const std::optional<TmCode>& tm);

 private:
  struct Keys;
  ReplicaStore(TenantId tenant, std::shared_ptr<store::Database> db, std::unique_ptr<Keys> keys,
               std::shared_ptr<const layout::Catalogue> catalogue, const Clock& clock);
  Result<const layout::LayoutVersion*> FindVersion(const TmCode& tm, const std::string& version);
  Result<int64_t> ExportDbm20113(const TmCode& tm, const layout::LayoutVersion& version,
                                 const ChunkSink& sink);
  // Test mode (MsgMode 1): counts what writing the queued records would insert, update and
  // delete. False: the reader abandoned the queue (the file has a problem).
  Result<bool> CountChanges(const ImportRequest& request, SealedQueue& queue, ImportReport& report);
  // Writes the queued records in one write transaction and commits it once the reader closed
  // the queue with every record (report's rows and file hash from `staged` then). False, with
  // nothing committed: the reader abandoned the queue.
  Result<bool> Apply(const ImportRequest& request, const layout::LayoutVersion& version,
                     const std::string& import_id, int64_t now, SealedQueue& queue,
                     const StagedImport& staged, ImportReport& report, const AuditHook& audit);

 public:
  ~ReplicaStore();

 private:
  TenantId tenant_;
  std::shared_ptr<store::Database> db_;
  std::unique_ptr<Keys> keys_;
  std::shared_ptr<const layout::Catalogue> catalogue_;
  const Clock& clock_;
};

}  // namespace chukan::replica

#endif  // CHUKAN_REPLICA_REPLICA_STORE_H_
