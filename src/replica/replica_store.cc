// ReplicaStore (see replica_store.h). Over 1,100 lines: import (receive, read, check, seal, write),
// view, history, export and reconcile share the record encoding, the keyed hashes and the sealing
// here; the import's sealing thread and its queue to the writer are import_sealer.cc, its upload's
// temporary file crypto/file_stream.cc (TempStream), and the readers are in replica_io/.
#include "replica/replica_store.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <span>
#include <thread>
#include <variant>

#include "common/log.h"
#include "common/thread_name.h"
#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "layout/value_check.h"
#include "replica/import_sealer.h"
#include "replica_io/csv_writer.h"
#include "replica_io/dbm20113_writer.h"
#include "store/sql_util.h"

namespace chukan::replica {
namespace {

constexpr size_t kHashBytes = 16;  // blind-index hashes: 128 bits
constexpr uint8_t kRecordFormatV1 = 1;
constexpr uint8_t kRecordFormatV2 = 2;  // format 1, then the DBM_20113 envelope
// Rows fetched per query when streaming an export or scanning for reconcile.
constexpr int64_t kScanPage = 5000;

// Records are appended in id order (sequential pages); the one random-order index is key_hash:
// 8 bytes of the atena_no's blind hash followed by 8 bytes of the record key's, so it is both
// the unique record key and, by prefix range, the lookup by resident (docs/replica.md). One
// index instead of two halves an import's random writes.
const char kReplicaSqlite[] = R"sql(
CREATE TABLE replica_record (
  id            INTEGER PRIMARY KEY,
  key_hash      BLOB    NOT NULL UNIQUE,
  tm            TEXT    NOT NULL,
  version       TEXT    NOT NULL,
  sealed        BLOB    NOT NULL,
  import_id     TEXT    NOT NULL,
  updated_at_us INTEGER NOT NULL
);
CREATE TABLE replica_import (
  import_id       TEXT    PRIMARY KEY,
  idempotency_key TEXT    UNIQUE,
  file_hash       TEXT    NOT NULL,
  tm              TEXT    NOT NULL,
  version         TEXT    NOT NULL,
  mode            TEXT    NOT NULL,
  rows_total      INTEGER NOT NULL,
  inserted        INTEGER NOT NULL,
  updated         INTEGER NOT NULL,
  deleted         INTEGER NOT NULL,
  not_found       INTEGER NOT NULL,
  actor           TEXT    NOT NULL,
  created_at_us   INTEGER NOT NULL
);
)sql";

const char kReplicaPostgres[] = R"sql(
CREATE TABLE replica_record (
  id            BIGSERIAL PRIMARY KEY,
  key_hash      BYTEA  NOT NULL UNIQUE,
  tm            TEXT   NOT NULL,
  version       TEXT   NOT NULL,
  sealed        BYTEA  NOT NULL,
  import_id     TEXT   NOT NULL,
  updated_at_us BIGINT NOT NULL
);
CREATE TABLE replica_import (
  import_id       TEXT   PRIMARY KEY,
  idempotency_key TEXT   UNIQUE,
  file_hash       TEXT   NOT NULL,
  tm              TEXT   NOT NULL,
  version         TEXT   NOT NULL,
  mode            TEXT   NOT NULL,
  rows_total      BIGINT NOT NULL,
  inserted        BIGINT NOT NULL,
  updated         BIGINT NOT NULL,
  deleted         BIGINT NOT NULL,
  not_found       BIGINT NOT NULL,
  actor           TEXT   NOT NULL,
  created_at_us   BIGINT NOT NULL
);
)sql";

// Records per TM, kept by every import in its own transaction (+inserted −deleted: imports are
// the only writers of replica_record), so counting a million-record replica reads one row instead
// of a B-tree (docs/replica.md). Filled from the records present when the migration runs.
const char kReplicaCountSql[] = R"sql(
CREATE TABLE replica_count (
  tm      TEXT   PRIMARY KEY,
  records BIGINT NOT NULL
);
INSERT INTO replica_count (tm, records) SELECT tm, COUNT(*) FROM replica_record GROUP BY tm;
)sql";

// The versions imports superseded (docs/replica.md, "Version history"): the record as it was,
// still sealed as it was. Its associated data (tenant, TM, key_hash) does not change when a
// record is replaced or deleted, so the sealed bytes are copied, not sealed anew, and open only
// for the same tenant, TM and record key. Appended in id order; found by the resident's 8-byte
// key_hash prefix, through an index of that prefix alone: every history row is one more insert
// into a random-order index, which an 8-byte key keeps smaller than the 16-byte key_hash would
// (docs/performance.md, "副本 version history"). Written only inside an import's write
// transaction.
const char kHistorySqlite[] = R"sql(
CREATE TABLE replica_history (
  id             INTEGER PRIMARY KEY,
  key_hash       BLOB    NOT NULL,
  tm             TEXT    NOT NULL,
  version        TEXT    NOT NULL,
  sealed         BLOB    NOT NULL,
  import_id      TEXT    NOT NULL,
  valid_from_us  INTEGER NOT NULL,
  superseded_by  TEXT    NOT NULL,
  valid_until_us INTEGER NOT NULL,
  end_reason     TEXT    NOT NULL CHECK (end_reason IN ('update', 'delete'))
);
CREATE INDEX replica_history_resident ON replica_history (substr(key_hash, 1, 8));
)sql";

const char kHistoryPostgres[] = R"sql(
CREATE TABLE replica_history (
  id             BIGSERIAL PRIMARY KEY,
  key_hash       BYTEA  NOT NULL,
  tm             TEXT   NOT NULL,
  version        TEXT   NOT NULL,
  sealed         BYTEA  NOT NULL,
  import_id      TEXT   NOT NULL,
  valid_from_us  BIGINT NOT NULL,
  superseded_by  TEXT   NOT NULL,
  valid_until_us BIGINT NOT NULL,
  end_reason     TEXT   NOT NULL CHECK (end_reason IN ('update', 'delete'))
);
CREATE INDEX replica_history_resident ON replica_history (substr(key_hash, 1, 8));
)sql";

// 公開開始日 / 公開終了日 of each record version (docs/replica.md, "Publication dates"): plain
// dates (YYYY-MM-DD, NULL when not given), in the clear beside the sealed record — they are not
// personal data, and inquiries by date range and fiscal year select versions by them. The
// history keeps them as its rows keep the rest (copied with the sealed record).
const char kPublishDatesSql[] = R"sql(
ALTER TABLE replica_record ADD COLUMN publish_from TEXT;
ALTER TABLE replica_record ADD COLUMN publish_until TEXT;
ALTER TABLE replica_history ADD COLUMN publish_from TEXT;
ALTER TABLE replica_history ADD COLUMN publish_until TEXT;
)sql";

// key_hash's uniqueness as a named index (migration 6), so that a first import can drop it and
// build it sorted after loading (Apply, "first import into an empty table"); an inline UNIQUE
// cannot be dropped. The same definition in the migration and in Apply.
const char kCreateKeyIndexSql[] =
    "CREATE UNIQUE INDEX replica_record_key ON replica_record (key_hash)";
const char kDropKeyIndexSql[] = "DROP INDEX replica_record_key";

// SQLite keeps an inline UNIQUE as an automatic index no statement can drop, so the table is
// rebuilt without it (SQLite's documented way to change a column's constraints): the records are
// copied with their ids, in id order, and the index made after the copy. One pass over the
// records, inside the migration's transaction.
const char kNamedKeyIndexSqlite[] = R"sql(
CREATE TABLE replica_record_v6 (
  id            INTEGER PRIMARY KEY,
  key_hash      BLOB    NOT NULL,
  tm            TEXT    NOT NULL,
  version       TEXT    NOT NULL,
  sealed        BLOB    NOT NULL,
  import_id     TEXT    NOT NULL,
  updated_at_us INTEGER NOT NULL,
  publish_from  TEXT,
  publish_until TEXT
);
INSERT INTO replica_record_v6 (id, key_hash, tm, version, sealed, import_id, updated_at_us,
                               publish_from, publish_until)
  SELECT id, key_hash, tm, version, sealed, import_id, updated_at_us, publish_from, publish_until
  FROM replica_record ORDER BY id;
DROP TABLE replica_record;
ALTER TABLE replica_record_v6 RENAME TO replica_record;
)sql";

// PostgreSQL: the constraint (and the index behind it, named by PostgreSQL's rule) replaced by the
// same named index. ON CONFLICT (key_hash) infers a unique index as it inferred the constraint.
const char kNamedKeyIndexPostgres[] =
    "ALTER TABLE replica_record DROP CONSTRAINT replica_record_key_hash_key;\n";

using Hash16 = std::array<uint8_t, kHashBytes>;

struct Hash16Hasher {
  size_t operator()(const Hash16& h) const noexcept {
    uint64_t v;
    std::memcpy(&v, h.data(), sizeof(v));
    return static_cast<size_t>(v);
  }
};

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

uint8_t* PutVarint(uint8_t* p, uint64_t v) {
  for (; v >= 0x80; v >>= 7) *p++ = static_cast<uint8_t>(v | 0x80);
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// varint(len) || bytes of each of `values`, from `p`; returns the end.
uint8_t* PutStrings(uint8_t* p, std::span<const std::string_view> values) {
  for (std::string_view v : values) {
    p = PutVarint(p, v.size());
    if (!v.empty()) std::memcpy(p, v.data(), v.size());
    p += v.size();
  }
  return p;
}

size_t StringsBytes(std::span<const std::string_view> values) {
  size_t n = 0;
  for (std::string_view v : values) n += VarintBytes(v.size()) + v.size();
  return n;
}

bool GetVarint(std::span<const uint8_t> in, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    const uint8_t b = in[pos++];
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// Record plaintext, format 1: 0x01 || varint(count) || count × (varint(len) || bytes);
// the first value is atena_no, then the version's items in order. Format 2 (a record a DBM_20113
// file registered): 0x02, the same, then varint(n) || n × (varint(len) || bytes), the envelope
// (RowView::envelope).
void EncodeRecord(std::string_view atena_no, std::span<const std::string_view> values,
                  std::span<const std::string_view> envelope, std::vector<uint8_t>& out) {
  // The record's exact size first, then written in place: grown by ReserveWiping where it has to
  // grow, so no part of a record is left in a freed block (one record a row of an import: byte
  // by byte appends were a tenth of the reading thread's time).
  const std::string_view first[] = {atena_no};
  size_t size = 1 + VarintBytes(values.size() + 1) + StringsBytes(first) + StringsBytes(values);
  if (!envelope.empty()) size += VarintBytes(envelope.size()) + StringsBytes(envelope);
  crypto::ReserveWiping(out, size);
  out.resize(size);  // within the capacity: no block is freed
  uint8_t* p = out.data();
  *p++ = envelope.empty() ? kRecordFormatV1 : kRecordFormatV2;
  p = PutVarint(p, values.size() + 1);
  p = PutStrings(p, first);
  p = PutStrings(p, values);
  if (!envelope.empty()) {
    p = PutVarint(p, envelope.size());
    p = PutStrings(p, envelope);
  }
}

Status GetStrings(std::span<const uint8_t> in, size_t& pos, uint64_t max,
                  std::vector<std::string>& out) {
  uint64_t count;
  if (!GetVarint(in, pos, count) || count == 0 || count > max) {
    return DataLossError("replica record: bad value count");
  }
  out.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t len;
    if (!GetVarint(in, pos, len) || len > in.size() - pos) {
      return DataLossError("replica record: truncated value");
    }
    out.emplace_back(reinterpret_cast<const char*>(in.data() + pos), len);
    pos += len;
  }
  return Status();
}

// The values (atena_no first); the envelope of a format-2 record into `envelope` when given.
Result<std::vector<std::string>> DecodeRecord(
    std::span<const uint8_t> in, std::optional<RegistrationEnvelope>* envelope = nullptr) {
  if (in.empty() || (in[0] != kRecordFormatV1 && in[0] != kRecordFormatV2)) {
    return DataLossError("replica record: unknown format");
  }
  size_t pos = 1;
  std::vector<std::string> out;
  RETURN_IF_ERROR(GetStrings(in, pos, 4096, out));
  if (in[0] == kRecordFormatV2) {
    std::vector<std::string> env;
    RETURN_IF_ERROR(GetStrings(in, pos, kEnvelopeHead + kEnvelopePerItem * 4096, env));
    if (env.size() < kEnvelopeHead || (env.size() - kEnvelopeHead) % kEnvelopePerItem != 0) {
      return DataLossError("replica record: bad envelope");
    }
    if (envelope != nullptr) {
      RegistrationEnvelope e;
      e.record_id = std::move(env[0]);
      e.data_set_item_code = std::move(env[1]);
      e.record_key = std::move(env[2]);
      e.parent_record_key = std::move(env[3]);
      e.region_code = std::move(env[4]);
      for (size_t i = kEnvelopeHead; i < env.size(); i += kEnvelopePerItem) {
        e.items.push_back(RegistrationItem{std::move(env[i]), std::move(env[i + 1]),
                                           std::move(env[i + 2]), env[i + 3] == "1",
                                           std::move(env[i + 4])});
      }
      *envelope = std::move(e);
    }
  }
  if (pos != in.size()) return DataLossError("replica record: trailing bytes");
  return out;
}

// A date column: NULL for "".
store::Value DateValue(std::string_view d) {
  return d.empty() ? store::Value(nullptr) : store::Value(std::string(d));
}
// A date column's text ("" for NULL).
Result<std::string> DateText(const store::Row& row, int col) {
  if (row.IsNull(col)) return std::string();
  return row.GetText(col);
}

bool IsFileProblem(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kResourceExhausted;
}

// A reader error as a problem: "line N: …", where the line is where the trouble began (for an
// unterminated quote, the line that opened it).
Problem MalformedFile(const Status& s) {
  const std::string& m = s.message();
  int64_t line = 0;
  if (m.starts_with("line ")) line = std::atoll(m.c_str() + 5);
  const std::string opened = "opened on line ";
  if (size_t pos = m.find(opened); pos != std::string::npos) {
    line = std::atoll(m.c_str() + pos + opened.size());
  }
  Problem p{line, "", "malformed_file", m};
  // DBM_20113: "line L: record N: …" names the entry.
  const std::string record = ": record ";
  if (size_t pos = m.find(record); pos != std::string::npos) {
    p.record = std::atoll(m.c_str() + pos + record.size());
  }
  return p;
}

Problem ToProblem(const RowProblem& p) {
  return Problem{p.line, p.field, p.reason, p.message, p.record, p.record_id_line};
}

// A problem of `row`, carrying its DBM_20113 record position when it has one.
Problem RowProblemAt(const RowView& row, std::string field, std::string reason,
                     std::string message) {
  return Problem{row.line,           std::move(field), std::move(reason),
                 std::move(message), row.record,       row.record_id_line};
}

// Accumulates problems: keeps the first kMaxReportedProblems, counts all.
struct ProblemList {
  int64_t count = 0;
  std::vector<Problem> list;
  void Add(Problem p) {
    ++count;
    if (list.size() < kMaxReportedProblems) list.push_back(std::move(p));
  }
};

// Open-addressing set of 16-byte hashes mapping to the line first seen: bounded and compact
// (24 bytes a slot) for duplicate-key detection over millions of rows. A probe lands at random in
// up to 48 MiB — a cache miss, and three quarters of the import loop's own time: Prefetch()
// starts the fetch of a key's first slot before InsertOrGet() needs it.
class SeenKeys {
 public:
  // Sized for `expected` keys (an import knows its file's line count once received), so that it
  // need not grow — each doubling rehashes every key and briefly holds old and new slots — but at
  // most for kMaxPresized keys: beyond, it grows as keys come.
  explicit SeenKeys(int64_t expected = 0) : slots_(SlotsFor(expected)) {}
  // Returns the line of an earlier identical key, or 0 after inserting this one.
  int64_t InsertOrGet(const Hash16& h, int64_t line) {
    if ((size_ + 1) * 10 > slots_.size() * 7) Grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash16Hasher()(h) & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.line == 0) {
        s.hash = h;
        s.line = line;
        ++size_;
        return 0;
      }
      if (s.hash == h) return s.line;
    }
  }
  bool Contains(const Hash16& h) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash16Hasher()(h) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.line == 0) return false;
      if (s.hash == h) return true;
    }
  }
  void Prefetch(const Hash16& h) const {
    __builtin_prefetch(&slots_[Hash16Hasher()(h) & (slots_.size() - 1)]);
  }

 private:
  struct Slot {
    Hash16 hash{};
    int64_t line = 0;
  };
  void Grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, Slot{});
    size_ = 0;
    for (const Slot& s : old) {
      if (s.line != 0) InsertOrGet(s.hash, s.line);
    }
  }
  static constexpr int64_t kMaxPresized = 1'400'000;  // 2^21 slots, 48 MiB
  static size_t SlotsFor(int64_t expected) {
    const int64_t keys = std::clamp<int64_t>(expected, 0, kMaxPresized);
    size_t slots = 1 << 12;
    // The load InsertOrGet keeps: (size + 1) * 10 <= slots * 7.
    while (static_cast<size_t>(keys + 1) * 10 > slots * 7) slots *= 2;
    return slots;
  }
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

// SQLite: records handed to the writer loop at a time. PostgreSQL: records staged and moved
// into replica_record at a time (kStagingRows; a chunk's staging table, ~2 MB, stays in the
// backend's temp_buffers and its ORDER BY seq sorts in work_mem).
constexpr size_t kInsertBatch = 256;
constexpr size_t kStagingRows = 8192;

// Sealed records on their way into one multi-row write, back to back in one buffer: one
// allocation a batch rather than one a record, reused from batch to batch.
class SealedBatch {
 public:
  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  const Hash16& key_hash(size_t i) const { return keys_[i]; }
  std::span<const uint8_t> sealed(size_t i) const {
    const size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::span<const uint8_t>(bytes_).subspan(begin, ends_[i] - begin);
  }
  const std::string& publish_from(size_t i) const { return from_[i]; }
  const std::string& publish_until(size_t i) const { return until_[i]; }
  void Add(const Hash16& key_hash, std::span<const uint8_t> sealed, const std::string& from,
           const std::string& until) {
    keys_.push_back(key_hash);
    bytes_.insert(bytes_.end(), sealed.begin(), sealed.end());
    ends_.push_back(bytes_.size());
    from_.push_back(from);
    until_.push_back(until);
  }
  void Clear() {
    keys_.clear();
    bytes_.clear();
    ends_.clear();
    from_.clear();
    until_.clear();
  }

 private:
  std::vector<std::string> from_, until_;
  std::vector<Hash16> keys_;
  std::vector<uint8_t> bytes_;
  std::vector<size_t> ends_;  // ends_[i]: the end of record i in bytes_
};

// SQLite: while an import writes, every UPDATE of a record copies the version it overwrites into
// the history, ended by that update (superseded_by and valid_until_us are the new version's
// import_id and updated_at_us). A TEMP trigger: it lives on the import's connection only, is
// created inside the import's transaction and dropped before its commit, and a rollback undoes
// its creation with the rest — no other statement, connection or transaction ever sees it.
// It makes an update one statement (the UPDATE) where it was two (an INSERT … SELECT of the old
// version, then the UPDATE), each seeking the key_hash index and then the row
// (docs/performance.md, "Replica import and export").
const char kHistoryTriggerSql[] =
    "CREATE TEMP TRIGGER replica_import_history AFTER UPDATE ON main.replica_record BEGIN "
    "INSERT INTO replica_history (key_hash, tm, version, sealed, import_id, valid_from_us, "
    "superseded_by, valid_until_us, end_reason, publish_from, publish_until) VALUES ("
    "OLD.key_hash, OLD.tm, OLD.version, OLD.sealed, OLD.import_id, OLD.updated_at_us, "
    "NEW.import_id, NEW.updated_at_us, 'update', OLD.publish_from, OLD.publish_until); END";
const char kDropHistoryTriggerSql[] = "DROP TRIGGER temp.replica_import_history";

// PostgreSQL: the sealed records of one chunk of the spool, copied in (binary COPY) before
// set-based statements move them into replica_record. Temporary (private to the import's
// connection, written without WAL) and dropped with the transaction, whether it commits or not.
// seq is the record's position in the chunk: the order the chunk is inserted in, so that ids —
// the export order — follow the file.
const char kCreateStagingSql[] =
    "CREATE TEMPORARY TABLE replica_import_staging (seq BIGINT NOT NULL, key_hash BYTEA NOT "
    "NULL, sealed BYTEA NOT NULL, publish_from TEXT, publish_until TEXT) ON COMMIT DROP";
// The hash and merge joins of the statements below are turned off for the import's transaction,
// and every execution gets a plan of its own (not a generic plan cached on the connection): a
// chunk's few thousand keys are found through the key_hash index, where a planner that knows
// nothing of the staging table could choose to read all of replica_record once per chunk.
const char kStagingJoinsSql[] =
    "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL "
    "plan_cache_mode = force_custom_plan";
const char kTruncateStagingSql[] = "TRUNCATE replica_import_staging";
// The current versions of the staged keys that exist go to the history: parameters
// superseded_by, valid_until_us. They run before the INSERT, so that no condition on import_id
// is needed to tell the keys that existed from those just inserted: with `import_id <> ?` in
// them, one chunk's UPDATE of a 1M-row re-import ran for over ten minutes (most likely a cached
// generic plan that expected no row to pass and read the whole table per staged record).
const char kHistoryOfStagedSql[] =
    "INSERT INTO replica_history (key_hash, tm, version, sealed, import_id, valid_from_us, "
    "superseded_by, valid_until_us, end_reason, publish_from, publish_until) "
    "SELECT r.key_hash, r.tm, r.version, r.sealed, r.import_id, r.updated_at_us, ?, ?, 'update', "
    "r.publish_from, r.publish_until FROM replica_import_staging s JOIN replica_record r ON "
    "r.key_hash = s.key_hash";
// …and are then overwritten: parameters version, import_id, now.
const char kUpdateFromStagedSql[] =
    "UPDATE replica_record SET version = ?, sealed = s.sealed, import_id = ?, updated_at_us = ?, "
    "publish_from = s.publish_from, publish_until = s.publish_until FROM replica_import_staging s "
    "WHERE replica_record.key_hash = s.key_hash";
// Then the staged records whose keys are new, in file order (the keys just updated conflict and
// are skipped): parameters tm, version, import_id, now.
const char kInsertStagedSql[] =
    "INSERT INTO replica_record (key_hash, tm, version, sealed, import_id, updated_at_us, "
    "publish_from, publish_until) SELECT key_hash, ?, ?, sealed, ?, ?, publish_from, "
    "publish_until FROM replica_import_staging ORDER BY seq ON CONFLICT (key_hash) DO NOTHING";

// Why a PostgreSQL import's chunk failed when another import of the same TM wrote one of its
// keys meanwhile (its counts did not add up, or its copy met the key): retryable.
const char kKeysChangedMessage[] =
    "replica_record: records of this import's keys changed while it ran (a concurrent import of "
    "the same TM?); retry";

const char kInsertOneSql[] =
    "INSERT INTO replica_record (key_hash, tm, version, sealed, import_id, updated_at_us, "
    "publish_from, publish_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO "
    "NOTHING";
// SQLite only (numbered parameters): the same parameters as kInsertOneSql, tm (?2) unused — an
// update keeps the record's TM, as it keeps its id.
// A first import into an empty table (Apply): no index to check against, and nothing to conflict
// with.
const char kInsertNewSql[] =
    "INSERT INTO replica_record (key_hash, tm, version, sealed, import_id, updated_at_us, "
    "publish_from, publish_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
const char kUpdateOneSql[] =
    "UPDATE replica_record SET version = ?3, sealed = ?4, import_id = ?5, updated_at_us = ?6, "
    "publish_from = ?7, publish_until = ?8 WHERE key_hash = ?1";

// Builds the key_hash index once a first import has loaded an empty replica_record without it
// (Apply). `deletions`: the positions in the file (from 1, ascending) of the records that were
// deletions, which wrote no row. A key that repeats fails the build with kInternal — the checks
// refuse such a file before its commit (SeenKeys), so it would be a defect — naming the two
// records by their positions in the file, never by their values; the caller's rollback then
// undoes the whole import. The savepoint undoes the failed statement so that they can be found.
Status BuildKeyIndex(store::Transaction& tx, std::span<const int64_t> deletions) {
  constexpr std::string_view kSavepoint = "replica_key_index";
  RETURN_IF_ERROR(tx.Savepoint(kSavepoint));
  const Status built = tx.Exec(kCreateKeyIndexSql);
  if (built.ok()) return tx.ReleaseSavepoint(kSavepoint);
  if (built.code() != StatusCode::kAlreadyExists) return built;
  RETURN_IF_ERROR(tx.RollbackToSavepoint(kSavepoint));
  // The records are this import's alone, inserted in file order with consecutive ids.
  ASSIGN_OR_RETURN(std::optional<store::Row> pair,
                   tx.QueryOne("SELECT MIN(r.id) - f.first, MAX(r.id) - f.first FROM "
                               "replica_record r, (SELECT MIN(id) AS first FROM replica_record) f "
                               "GROUP BY r.key_hash HAVING COUNT(*) > 1 ORDER BY 1 LIMIT 1"));
  if (!pair) return built;                // not a repeated key after all: the database's own error
  auto position = [&](int64_t written) {  // the written-th record inserted, from 0
    int64_t p = written + 1;
    for (int64_t d : deletions) {
      if (d > p) break;
      ++p;
    }
    return p;
  };
  ASSIGN_OR_RETURN(const int64_t first, pair->GetInt(0));
  ASSIGN_OR_RETURN(const int64_t second, pair->GetInt(1));
  return InternalError("replica import: records " + std::to_string(position(first)) + " and " +
                       std::to_string(position(second)) +
                       " of the file have the same record key, which the checks did not catch; "
                       "nothing was imported");
}

// The replica_record columns a history row keeps, in WriteHistoryRow's order: "key_hash, tm,
// version, sealed, import_id, updated_at_us, publish_from, publish_until".
const char kHistoryInsertSql[] =
    "INSERT INTO replica_history (key_hash, tm, version, sealed, import_id, valid_from_us, "
    "superseded_by, valid_until_us, end_reason, publish_from, publish_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const char kDeleteReturningSql[] =
    "DELETE FROM replica_record WHERE key_hash = ? "
    "RETURNING key_hash, tm, version, sealed, import_id, updated_at_us, publish_from, "
    "publish_until";

// Copies the replica_record row `old` (the columns above) into replica_history as ended by
// `import_id` at `now` through `end_reason` ("update" or "delete").
Status WriteHistoryRow(store::Transaction& tx, const store::Row& old, const std::string& import_id,
                       int64_t now, std::string_view end_reason) {
  ASSIGN_OR_RETURN(store::Bytes key_hash, old.GetBlob(0));
  ASSIGN_OR_RETURN(std::string tm, old.GetText(1));
  ASSIGN_OR_RETURN(std::string version, old.GetText(2));
  ASSIGN_OR_RETURN(store::Bytes sealed, old.GetBlob(3));
  ASSIGN_OR_RETURN(std::string written_by, old.GetText(4));
  ASSIGN_OR_RETURN(int64_t valid_from, old.GetInt(5));
  ASSIGN_OR_RETURN(std::string from, DateText(old, 6));
  ASSIGN_OR_RETURN(std::string until, DateText(old, 7));
  return tx.Exec(kHistoryInsertSql,
                 {std::move(key_hash), std::move(tm), std::move(version), std::move(sealed),
                  std::move(written_by), valid_from, import_id, now, std::string(end_reason),
                  DateValue(from), DateValue(until)});
}

std::string NewImportId() { return crypto::ToHex(crypto::RandomBytes(12)); }

}  // namespace

struct ReplicaStore::Keys {
  // The tenant's data keys, shared with their holder (TenantContext): a rotation is seen here.
  std::shared_ptr<const crypto::DataKeys> seal;
  crypto::SecretBytes index;  // blind-index key (tenant_keys.h; never rotated)
  std::string ad_prefix;      // "chukan-replica-v1\0" + tenant + "\0"
  // The keyed hashers above with their domain labels already fed in ("atena\0", "key\0"),
  // copied per hash: a keyed BLAKE2b starts by compressing a block made of the key, and a
  // first import hashes every row twice (docs/performance.md, "First import").
  crypto::Blake2bHasher atena_hasher;
  crypto::Blake2bHasher key_hasher;
  void PrepareHashers() {
    atena_hasher = crypto::Blake2bHasher(index, kHashBytes);
    atena_hasher.Update(std::string_view("atena\0", 6));
    key_hasher = crypto::Blake2bHasher(index, kHashBytes);
    key_hasher.Update(std::string_view("key\0", 4));
  }

  // The first 8 bytes of every key_hash of a resident: a keyed hash of atena_no. A collision
  // between two residents only costs an extra decryption, since Find() compares the decrypted
  // atena_no.
  std::array<uint8_t, 8> AtenaPrefix(std::string_view atena_no) const {
    crypto::Blake2bHasher h = atena_hasher;
    h.Update(atena_no);
    std::array<uint8_t, kHashBytes> d;  // no allocation: this runs for every row of an import
    h.Finish(d);
    std::array<uint8_t, 8> out;
    std::copy(d.begin(), d.begin() + 8, out.begin());
    return out;
  }
  // key_hash = AtenaPrefix(atena_no) || 8 bytes of a keyed hash of (tm, atena_no, key items).
  // Two records collide only if both halves do: same resident prefix and a 64-bit collision
  // among that resident's own records.
  Hash16 KeyHash(std::string_view tm, std::string_view atena_no,
                 std::span<const std::string_view> values, std::span<const size_t> key_idx) const {
    crypto::Blake2bHasher h = key_hasher;
    h.Update(tm).Update(std::string_view("\0", 1));
    h.Update(atena_no);
    for (size_t i : key_idx) {
      const uint32_t len = static_cast<uint32_t>(values[i].size());
      const uint8_t lb[4] = {static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
                             static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
      h.Update(std::span<const uint8_t>(lb, 4)).Update(values[i]);
    }
    std::array<uint8_t, kHashBytes> d;
    h.Finish(d);
    const std::array<uint8_t, 8> prefix = AtenaPrefix(atena_no);
    Hash16 out;
    std::copy(prefix.begin(), prefix.end(), out.begin());
    std::copy(d.begin(), d.begin() + 8, out.begin() + 8);
    return out;
  }
  // Associated data binding tenant, TM and record key.
  void Ad(std::string_view tm, const Hash16& key_hash, std::vector<uint8_t>& out) const {
    out.assign(ad_prefix.begin(), ad_prefix.end());
    out.insert(out.end(), tm.begin(), tm.end());
    out.push_back(0);
    out.insert(out.end(), key_hash.begin(), key_hash.end());
  }
};

std::string_view ImportModeName(ImportMode m) {
  switch (m) {
    case ImportMode::kUpsert:
      return "upsert";
    case ImportMode::kReplace:
      return "replace";
    case ImportMode::kDelete:
      return "delete";
  }
  return "upsert";
}

Result<ImportMode> ParseImportMode(std::string_view s) {
  if (s.empty() || s == "upsert") return ImportMode::kUpsert;
  if (s == "replace") return ImportMode::kReplace;
  if (s == "delete") return ImportMode::kDelete;
  return InvalidArgumentError("mode: expected upsert, replace or delete");
}

constexpr char kHistoryUntilSql[] =
    "CREATE INDEX replica_history_until ON replica_history (valid_until_us);";

const std::vector<store::Migration>& ReplicaMigrations() {
  static const auto* const kMigrations = new std::vector<store::Migration>{
      {1, "create replica_record and replica_import", kReplicaSqlite, kReplicaPostgres},
      {2, "create replica_count", kReplicaCountSql, kReplicaCountSql},
      {3, "create replica_history", kHistorySqlite, kHistoryPostgres},
      {4, "add publish_from and publish_until", kPublishDatesSql, kPublishDatesSql},
      // Retention finds the versions that ended long enough ago through it. valid_until_us is
      // the time of the import that superseded them, so new entries land at the index's end.
      {5, "index replica_history by valid_until_us", kHistoryUntilSql, kHistoryUntilSql},
      {6, "name key_hash's unique index", std::string(kNamedKeyIndexSqlite) + kCreateKeyIndexSql,
       std::string(kNamedKeyIndexPostgres) + kCreateKeyIndexSql},
  };
  return *kMigrations;
}

ReplicaStore::ReplicaStore(TenantId tenant, std::shared_ptr<store::Database> db,
                           std::unique_ptr<Keys> keys,
                           std::shared_ptr<const layout::Catalogue> catalogue, const Clock& clock)
    : tenant_(std::move(tenant)),
      db_(std::move(db)),
      keys_(std::move(keys)),
      catalogue_(std::move(catalogue)),
      clock_(clock) {}

ReplicaStore::~ReplicaStore() = default;

namespace {
constexpr std::string_view kRecordAadPrefix = std::string_view("chukan-replica-v1\0", 18);
}  // namespace

crypto::SecretBytes LegacyIndexKey(const crypto::SecretBytes& data_key) {
  crypto::Bytes idx = crypto::Blake2bKeyed(
      data_key,
      crypto::Bytes{'r', 'e', 'p', 'l', 'i', 'c', 'a', '-', 'i', 'n', 'd', 'e', 'x', '-', 'v', '1'},
      32);
  crypto::SecretBytes key = crypto::SecretBytes::FromBytes(idx);
  crypto::WipeBytes(idx);
  return key;
}

std::vector<uint8_t> RecordAad(const TenantId& tenant, std::string_view tm,
                               std::span<const uint8_t> key_hash) {
  std::vector<uint8_t> out(kRecordAadPrefix.begin(), kRecordAadPrefix.end());
  out.insert(out.end(), tenant.str().begin(), tenant.str().end());
  out.push_back(0);
  out.insert(out.end(), tm.begin(), tm.end());
  out.push_back(0);
  out.insert(out.end(), key_hash.begin(), key_hash.end());
  return out;
}

Result<std::unique_ptr<ReplicaStore>> ReplicaStore::Open(
    TenantId tenant, std::shared_ptr<store::Database> db,
    std::shared_ptr<const crypto::DataKeys> data_keys, const crypto::SecretBytes& index_key,
    std::shared_ptr<const layout::Catalogue> catalogue, const Clock& clock) {
  if (index_key.size() != 32) {
    return InvalidArgumentError("replica store: index key must be 32 bytes");
  }
  if (db == nullptr || catalogue == nullptr || data_keys == nullptr) {
    return InvalidArgumentError("replica store: database, keys and catalogue are required");
  }
  RETURN_IF_ERROR(store::ApplyMigrations(*db, "replica", ReplicaMigrations(), clock));
  auto keys = std::make_unique<Keys>();
  keys->seal = std::move(data_keys);
  keys->index = index_key.Clone();
  keys->ad_prefix = std::string(kRecordAadPrefix) + tenant.str() + std::string(1, '\0');
  keys->PrepareHashers();
  return std::unique_ptr<ReplicaStore>(new ReplicaStore(
      std::move(tenant), std::move(db), std::move(keys), std::move(catalogue), clock));
}

Result<std::unique_ptr<ReplicaStore>> ReplicaStore::Open(
    TenantId tenant, std::shared_ptr<store::Database> db, const crypto::SecretBytes& data_key,
    std::shared_ptr<const layout::Catalogue> catalogue, const Clock& clock) {
  if (data_key.size() != 32) {
    return InvalidArgumentError("replica store: data key must be 32 bytes");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<crypto::DataKeys> keys,
                   crypto::DataKeys::Create(1, data_key.Clone()));
  return Open(std::move(tenant), std::move(db), std::move(keys), LegacyIndexKey(data_key),
              std::move(catalogue), clock);
}

Result<const layout::LayoutVersion*> ReplicaStore::FindVersion(const TmCode& tm,
                                                               const std::string& version) {
  const layout::InfoName* info = catalogue_->Find(tm);
  if (info == nullptr) {
    return NotFoundError("tm " + tm.str() + " is not in the data standard layout");
  }
  if (version.empty()) return &info->LatestVersion();
  const layout::LayoutVersion* v = info->Version(version);
  if (v == nullptr) {
    // The version asked for is the client's text: list the known ones instead of repeating it.
    std::string known;
    for (const layout::LayoutVersion* lv : info->versions()) {
      known += (known.empty() ? "" : ", ") + lv->version();
    }
    return NotFoundError("tm " + tm.str() + " has no such layout version (versions: " + known +
                         ")");
  }
  return v;
}

Result<ImportReport> ReplicaStore::Import(const ImportRequest& request,
                                          RecordSourceFactory& factory, const AuditHook& audit) {
  if (request.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    return InvalidArgumentError("idempotency key is longer than 128 bytes");
  }
  ASSIGN_OR_RETURN(const layout::LayoutVersion* version, FindVersion(request.tm, request.version));
  const std::string tm = request.tm.str();

  ImportReport report;
  report.tm = tm;
  report.version = version->version();
  report.mode = std::string(ImportModeName(request.mode));

  // The whole upload into a local temporary file first, with no transaction open: a slow or
  // stalled client holds no lock of the tenant's, and reading the rows afterwards waits on no one.
  if (request.progress) request.progress(ImportPhase::kReceiving, 0);
  int64_t lines_received = 0;
  RETURN_IF_ERROR(factory.Receive([&request, &lines_received](int64_t lines) {
    lines_received = lines;
    if (request.progress) request.progress(ImportPhase::kReceiving, lines);
  }));

  // A re-sent import: answer with the first one's report, after checking it is the same file.
  if (!request.idempotency_key.empty()) {
    ASSIGN_OR_RETURN(auto rtx, db_->BeginRead());
    ASSIGN_OR_RETURN(
        std::optional<store::Row> prior,
        rtx->QueryOne("SELECT import_id, file_hash, tm, version, mode, rows_total, inserted, "
                      "updated, deleted, not_found FROM replica_import WHERE idempotency_key = ?",
                      {request.idempotency_key}));
    rtx.reset();
    if (prior) {
      RETURN_IF_ERROR(factory.Drain());
      ASSIGN_OR_RETURN(std::string prior_hash, prior->GetText(1));
      if (prior_hash != factory.FileHash()) {
        return AlreadyExistsError("idempotency key was already used for a different file (import " +
                                  prior->GetText(0).value_or("") + ")");
      }
      ImportReport r;
      ASSIGN_OR_RETURN(r.import_id, prior->GetText(0));
      r.file_hash = prior_hash;
      ASSIGN_OR_RETURN(r.tm, prior->GetText(2));
      ASSIGN_OR_RETURN(r.version, prior->GetText(3));
      ASSIGN_OR_RETURN(r.mode, prior->GetText(4));
      ASSIGN_OR_RETURN(r.rows, prior->GetInt(5));
      ASSIGN_OR_RETURN(r.inserted, prior->GetInt(6));
      ASSIGN_OR_RETURN(r.updated, prior->GetInt(7));
      ASSIGN_OR_RETURN(r.deleted, prior->GetInt(8));
      ASSIGN_OR_RETURN(r.not_found, prior->GetInt(9));
      r.committed = true;
      r.replayed = true;
      return r;
    }
  }

  ASSIGN_OR_RETURN(std::unique_ptr<RecordSource> rows, factory.Open(*version));
  report.import_id = NewImportId();
  const int64_t now = ToUnixMicros(clock_.Now());

  // Read, seal and write at once. The upload is local by now (Receive above), so the write
  // transaction may be open while the rows are read: a thread of the import's reads and checks
  // them (this lambda), the sealer seals them on another, and this thread writes them into the
  // transaction as they come (Apply; CountChanges in test mode). At the file's first problem the
  // reading thread abandons the queue: the writer rolls back at once — the lock is given back —
  // while the reader goes on to count every problem (docs/replica.md, "Import").
  SealedQueue queue;
  StagedImport staged;
  std::atomic<bool> stop_reading{false};
  auto stage = [&]() -> Status {
    ProblemList problems;
    SeenKeys seen(lines_received);  // a row per line at most (CSV, JSON Lines)
    // One key for the whole import (a rotation starting meanwhile is caught by its re-encryption).
    std::optional<ImportSealer> sealer;
    sealer.emplace(keys_->seal->Snapshot(), keys_->ad_prefix + tm + std::string(1, '\0'), queue);
    std::vector<layout::FieldProblem> field_problems;
    std::vector<uint8_t> plain;
    const std::span<const size_t> key_idx = version->key_item_indexes();
    const size_t key_idx_end =
        key_idx.empty() ? 0 : *std::max_element(key_idx.begin(), key_idx.end()) + 1;
    bool writing = true;
    RowView row;
    std::optional<RowProblem> row_problem;
    int64_t rows_read = 0;
    // The file's first problem: nothing more is queued, and the writer is told to roll back.
    auto refuse = [&] {
      if (!writing) return;
      writing = false;
      queue.Abandon();
      sealer.reset();  // drops and wipes what it still held
    };
    while (true) {
      if (stop_reading.load(std::memory_order_relaxed)) {
        return CancelledError("import: the writer stopped");
      }
      Result<bool> more = rows->Next(row, row_problem);
      if (!more.ok()) {
        // The file cannot be read further (broken quoting, bad Shift_JIS …): one problem, stop.
        // Anything else (a disk error) fails the import.
        if (!IsFileProblem(more.status())) return more.status();
        problems.Add(MalformedFile(more.status()));
        refuse();
        break;
      }
      if (!*more) break;
      ++rows_read;
      if (request.progress && rows_read % kProgressRows == 0) {
        request.progress(ImportPhase::kApplying, rows_read);
      }
      if (row_problem) {
        problems.Add(ToProblem(*row_problem));
        refuse();
        continue;
      }
      // The key's hash first, and its slot in the repeat check fetched from memory while the
      // values are checked (used only once they pass; a row without all its values has none).
      const bool hashable = key_idx_end <= row.values.size();
      Hash16 key_hash{};
      if (hashable) {
        key_hash = keys_->KeyHash(tm, row.atena_no, row.values, key_idx);
        seen.Prefetch(key_hash);
      }
      bool row_ok = true;
      if (!layout::IsValidAtenaNo(row.atena_no)) {
        problems.Add(RowProblemAt(row, "atena_no", "bad_atena_no",
                                  "atena_no (団体内統合宛名番号): expected 15 digits"));
        row_ok = false;
      }
      if (row.remove && request.mode != ImportMode::kUpsert) {
        problems.Add(
            RowProblemAt(row, "SegmentOfRegistrationDelete", "remove_needs_upsert",
                         "a record to delete (登録削除区分 2) needs the import mode upsert"));
        row_ok = false;
      }
      const bool check_all = request.mode != ImportMode::kDelete && !row.remove;
      if (check_all && layout::CheckRecord(*version, row.values, field_problems) > 0) {
        for (const layout::FieldProblem& fp : field_problems) {
          if (fp.error == layout::ValueError::kFieldCount) {
            problems.Add(RowProblemAt(row, "", "field_count", "wrong number of values"));
            continue;
          }
          const layout::Item& item = version->item(fp.index);
          problems.Add(
              RowProblemAt(row, item.code(), std::string(layout::ValueErrorName(fp.error)),
                           layout::DescribeValueError(item, fp.error, row.values[fp.index])));
        }
        row_ok = false;
      }
      if (!row_ok) {
        refuse();
        continue;
      }
      if (!hashable) return InternalError("import: a row passed its checks without its values");
      if (const int64_t first = seen.InsertOrGet(key_hash, row.line); first != 0) {
        problems.Add(RowProblemAt(
            row, "", "duplicate_key",
            "the record key (atena_no and key items) repeats line " + std::to_string(first)));
        refuse();
        continue;
      }
      if (!writing) continue;  // keep validating to count every problem, but queue nothing more
      if (request.mode == ImportMode::kDelete || row.remove) {
        RETURN_IF_ERROR(sealer->AddDeletion(key_hash));
        continue;
      }
      EncodeRecord(row.atena_no, row.values, row.envelope, plain);
      const Status added = sealer->Add(key_hash, plain, row.publish_from, row.publish_until);
      std::fill(plain.begin(), plain.end(), 0);
      RETURN_IF_ERROR(added);
    }
    if (writing) RETURN_IF_ERROR(sealer->Finish());
    sealer.reset();
    RETURN_IF_ERROR(factory.Drain());
    // Published to the writer by the queue's Close (below), which it reads after.
    staged.rows = rows_read;
    staged.file_hash = factory.FileHash();
    staged.problem_count = problems.count;
    staged.problems = std::move(problems.list);
    return Status();
  };
  if (request.progress) request.progress(ImportPhase::kApplying, 0);
  Status read_status;
  std::thread reader([&] {
    NameThisThread("import-check");
    try {
      read_status = stage();
    } catch (const std::exception&) {
      // (std::bad_alloc …): the import fails, not the process. Not what(): it may quote input.
      read_status = InternalError("import: reading the rows ended in an exception");
    }
    queue.Close(read_status);
  });
  Result<bool> applied = request.test_mode ? CountChanges(request, queue, report)
                                           : Apply(request, *version, report.import_id, now, queue,
                                                   staged, report, audit);
  if (!applied.ok()) {
    stop_reading.store(true, std::memory_order_relaxed);
    queue.Cancel(applied.status());
  }
  reader.join();
  if (!applied.ok()) return applied.status();
  RETURN_IF_ERROR(read_status);
  report.rows = staged.rows;
  report.file_hash = staged.file_hash;
  report.problem_count = staged.problem_count;
  report.problems = std::move(staged.problems);
  if (report.problem_count > 0) {
    // Nothing was written: the writer rolled back at the first problem.
    report.inserted = report.updated = report.deleted = report.not_found = 0;
    report.committed = false;
    if (audit) RETURN_IF_ERROR(audit(nullptr, report));
    return report;
  }
  if (!*applied) return InternalError("import: the file ended without every record written");
  if (request.test_mode) {
    report.test_mode = true;
    report.committed = false;
    if (audit) RETURN_IF_ERROR(audit(nullptr, report));
  }
  return report;
}

Result<bool> ReplicaStore::CountChanges(const ImportRequest& request, SealedQueue& queue,
                                        ImportReport& report) {
  // One snapshot: what the import would have found had it been applied now.
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  Hash16 key_hash;
  std::vector<uint8_t> sealed;
  std::string from, until;
  if (request.mode == ImportMode::kReplace) {
    ASSIGN_OR_RETURN(report.deleted, Count(request.tm));
  }
  while (true) {
    ASSIGN_OR_RETURN(bool more, queue.Next(key_hash, sealed, from, until));
    if (!more) break;
    ASSIGN_OR_RETURN(std::optional<store::Row> found,
                     tx->QueryOne("SELECT 1 FROM replica_record WHERE key_hash = ?",
                                  {store::Bytes(key_hash.begin(), key_hash.end())}));
    if (request.mode == ImportMode::kDelete || sealed.empty()) {
      (found ? report.deleted : report.not_found)++;
    } else if (request.mode == ImportMode::kReplace) {
      // Replace drops every record first: a key the file brings back counts as inserted.
      report.inserted++;
    } else {
      (found ? report.updated : report.inserted)++;
    }
  }
  return queue.complete();
}

Result<bool> ReplicaStore::Apply(const ImportRequest& request, const layout::LayoutVersion& version,
                                 const std::string& import_id, int64_t now, SealedQueue& queue,
                                 const StagedImport& staged, ImportReport& report,
                                 const AuditHook& audit) {
  const std::string tm = request.tm.str();
  // Gives the writer connection its page cache size back when the import is over (declared
  // before `tx`, so it runs after `tx` has ended and returned the connection). The pool keeps
  // that connection: the import's 64 MiB cache had stayed with every later write of the tenant
  // and filled as its database grew (a provider's server holding 60 MiB more after 30,000
  // linkages).
  struct CacheRestore {
    store::Database* db = nullptr;  // set once the cache was raised
    int64_t size = 0;               // the size to restore (PRAGMA cache_size units)
    ~CacheRestore() {
      if (db == nullptr) return;
      Status s;
      if (Result<std::unique_ptr<store::Transaction>> t = db->Begin(); !t.ok()) {
        s = t.status();
      } else if (s = (*t)->Exec("PRAGMA cache_size = " + std::to_string(size)); s.ok()) {
        s = (*t)->Commit();
      }
      if (!s.ok()) log::Warn("replica.cache_restore_failed", {log::StatusField(s)});
      // SQLite frees the pages beyond the smaller cache, but glibc keeps freed heap memory
      // mapped, so the process kept the import's high-water mark — which rose with the
      // database at each import (a provider's server +0.75 MiB per re-import of 1,000 records
      // in a soak, docs/performance.md "Soak"). Hand the free pages back to the system.
      malloc_trim(0);
    }
  } cache_restore;
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  if (tx->backend() == store::Backend::kSqlite) {
    // The random-order key_hash index is the import's working set: give the writer connection a
    // cache that holds it (64 MiB; SQLite's default is 2 MiB), or every insert rereads pages.
    ASSIGN_OR_RETURN(std::optional<store::Row> before, tx->QueryOne("PRAGMA cache_size"));
    if (!before) return InternalError("PRAGMA cache_size returned no row");
    ASSIGN_OR_RETURN(cache_restore.size, before->GetInt(0));
    RETURN_IF_ERROR(tx->Exec("PRAGMA cache_size = -65536"));
    cache_restore.db = db_.get();
  }
  // Replace: every record of the TM goes to the history as deleted, in one statement, and
  // then the set is dropped. The records the file brings back under the same key are marked
  // "update" once written (below); the history rows this import wrote are the ones past
  // `history_floor`.
  int64_t history_floor = 0;
  if (request.mode == ImportMode::kReplace) {
    ASSIGN_OR_RETURN(std::optional<store::Row> top,
                     tx->QueryOne("SELECT COALESCE(MAX(id), 0) FROM replica_history"));
    if (!top) return InternalError("replica_history: MAX(id) returned no row");
    ASSIGN_OR_RETURN(history_floor, top->GetInt(0));
    RETURN_IF_ERROR(
        tx->Exec("INSERT INTO replica_history (key_hash, tm, version, sealed, import_id, "
                 "valid_from_us, superseded_by, valid_until_us, end_reason, publish_from, "
                 "publish_until) "
                 "SELECT key_hash, tm, version, sealed, import_id, updated_at_us, ?, ?, 'delete', "
                 "publish_from, publish_until FROM replica_record WHERE tm = ?",
                 {import_id, now, tm}));
    ASSIGN_OR_RETURN(report.deleted,
                     tx->ExecCount("DELETE FROM replica_record WHERE tm = ?", {tm}));
  }
  // SQLite: one prepared single-row INSERT per record. A multi-row INSERT is a multi-row write
  // that may abort, so SQLite keeps a statement journal for it: the old image of every page the
  // statement touches (with the random key index, ~one page per row) is copied into a temporary
  // file, ~2 pwrite calls per row. A single-row statement needs none, and with no network round
  // trip to save, batching bought SQLite nothing else.
  // PostgreSQL: each chunk of kStagingRows records is copied into a temporary staging table (one
  // binary COPY, store CopyRows: the rows stream while the server stores them, and no value is a
  // statement parameter) and moved by set-based statements: the versions of the keys that exist
  // to the history, those keys overwritten, the others inserted in file order. Six round trips
  // per chunk where 256-row INSERTs took one per 256 records, and a re-import no longer
  // costs an UPDATE round trip per record (docs/replica.md, docs/performance.md).
  const bool row_at_a_time = tx->backend() == store::Backend::kSqlite;
  // SQLite: the history of an updated record is written by a trigger for the time of the writes
  // (kHistoryTriggerSql), so each record is one statement when it is written the way the record
  // before it was: an UPDATE first after a key that existed, an INSERT first after one that did
  // not. A re-import is then one UPDATE a record, a first import one INSERT a record; only where
  // the file switches from one to the other does a record take both. SQLite runs one writer at a
  // time, so a key the first statement did not find (or found) stays so for the second.
  const bool history_trigger = row_at_a_time;
  if (history_trigger) RETURN_IF_ERROR(tx->Exec(kHistoryTriggerSql));
  // SQLite, a first import: when replica_record holds no record at all — of any TM, after a
  // replace's drop above — the key_hash index is dropped, the records appended with no index to
  // seek, and the index built from them, sorted, before the commit (docs/replica.md, "First
  // import into an empty table"). Safe because this transaction holds the tenant database's one
  // write lock (BEGIN IMMEDIATE) from before the look-up until it ends: no other import or write
  // can add a record meanwhile, readers see the committed table, index included, until the
  // commit, and a rollback brings the index back with the rest. Nothing can conflict: the table
  // was empty and the reader refuses a file whose record keys repeat (SeenKeys) — and should a
  // duplicate slip through, building the unique index fails the import. A table with any record
  // keeps its index: its writes need the look-ups, and rebuilding would cost the whole table.
  bool index_after_load = false;
  if (row_at_a_time && request.mode != ImportMode::kDelete) {
    ASSIGN_OR_RETURN(std::optional<store::Row> any,
                     tx->QueryOne("SELECT 1 FROM replica_record LIMIT 1"));
    if (!any) {
      RETURN_IF_ERROR(tx->Exec(kDropKeyIndexSql));
      index_after_load = true;
    }
  }
  // The positions in the file (from 1) of the deletions met while the index was away: they found
  // nothing (the table was empty, and the file's keys are distinct), and they shift the mapping
  // from a record's id to its position should the index build fail.
  std::vector<int64_t> deletions_unindexed;
  bool last_existed = false;
  std::vector<store::Value> params;
  auto write_rows = [&](const SealedBatch& batch) -> Status {
    if (params.size() != 8) {
      params.assign({store::Bytes(), tm, version.version(), store::Bytes(), import_id, now, nullptr,
                     nullptr});
    }
    // Assigned in place: the two buffers keep their capacity from row to row.
    store::Bytes& key = std::get<store::Bytes>(params[0]);
    store::Bytes& sealed = std::get<store::Bytes>(params[3]);
    for (size_t i = 0; i < batch.size(); ++i) {
      const Hash16& kh = batch.key_hash(i);
      const std::span<const uint8_t> sb = batch.sealed(i);
      key.assign(kh.begin(), kh.end());
      sealed.assign(sb.begin(), sb.end());
      params[6] = DateValue(batch.publish_from(i));
      params[7] = DateValue(batch.publish_until(i));
      if (index_after_load) {
        ASSIGN_OR_RETURN(const int64_t written, tx->ExecCount(kInsertNewSql, params));
        if (written != 1) return InternalError("replica_record: a record was not inserted");
        report.inserted++;
        continue;
      }
      // The statement the previous record needed first; if it wrote nothing, the other one.
      bool exists = last_existed;
      ASSIGN_OR_RETURN(int64_t written,
                       tx->ExecCount(exists ? kUpdateOneSql : kInsertOneSql, params));
      if (written == 0) {
        exists = !exists;
        ASSIGN_OR_RETURN(written, tx->ExecCount(exists ? kUpdateOneSql : kInsertOneSql, params));
      }
      if (written != 1) {
        return InternalError("replica_record: a record was neither inserted nor updated");
      }
      (exists ? report.updated : report.inserted)++;
      last_existed = exists;
    }
    return Status();
  };
  const std::vector<std::string> staging_columns = {"seq", "key_hash", "sealed", "publish_from",
                                                    "publish_until"};
  // PostgreSQL: a chunk (at most kStagingRows records) through the staging table.
  bool staging_made = false;
  // PostgreSQL, a TM that holds no record in this transaction's view (its first import, or a
  // replace after its records were dropped above): no key can exist, so each chunk is copied
  // straight into replica_record — no staging table, no look-up of existing keys and no
  // ON CONFLICT check (whose speculative insertion costs PostgreSQL a fifth more per row).
  // An import of the same TM committing meanwhile with one of these keys makes the copy fail
  // with a duplicate key, reported as the same retryable conflict as below.
  bool tm_empty = false;
  if (!row_at_a_time) {
    if (request.mode == ImportMode::kReplace) {
      tm_empty = true;
    } else {
      ASSIGN_OR_RETURN(std::optional<store::Row> count,
                       tx->QueryOne("SELECT records FROM replica_count WHERE tm = ?", {tm}));
      if (!count) {
        tm_empty = true;
      } else {
        ASSIGN_OR_RETURN(const int64_t records, count->GetInt(0));
        tm_empty = records == 0;
      }
    }
  }
  const std::vector<std::string> record_columns = {"key_hash",     "tm",           "version",
                                                   "sealed",       "import_id",    "updated_at_us",
                                                   "publish_from", "publish_until"};
  auto copy_new = [&](const SealedBatch& batch) -> Status {
    size_t next = 0;
    Result<int64_t> copied = tx->CopyRows("replica_record", record_columns,
                                          [&](std::vector<store::Value>& row) -> Result<bool> {
                                            if (next == batch.size()) return false;
                                            const Hash16& kh = batch.key_hash(next);
                                            const std::span<const uint8_t> sb = batch.sealed(next);
                                            row.emplace_back(store::Bytes(kh.begin(), kh.end()));
                                            row.emplace_back(tm);
                                            row.emplace_back(version.version());
                                            row.emplace_back(store::Bytes(sb.begin(), sb.end()));
                                            row.emplace_back(import_id);
                                            row.emplace_back(now);
                                            row.push_back(DateValue(batch.publish_from(next)));
                                            row.push_back(DateValue(batch.publish_until(next)));
                                            ++next;
                                            return true;
                                          });
    if (!copied.ok()) {
      if (copied.status().code() == StatusCode::kAlreadyExists) {
        return AbortedError(kKeysChangedMessage);
      }
      return copied.status();
    }
    if (*copied != static_cast<int64_t>(batch.size())) {
      return InternalError("replica_record: the copy wrote another number of records");
    }
    report.inserted += *copied;
    return Status();
  };
  auto write_staged = [&](const SealedBatch& batch) -> Status {
    if (tm_empty) return copy_new(batch);
    if (!staging_made) {
      RETURN_IF_ERROR(tx->ExecScript(kCreateStagingSql));
      RETURN_IF_ERROR(tx->ExecScript(kStagingJoinsSql));
      staging_made = true;
    }
    size_t next = 0;
    ASSIGN_OR_RETURN(const int64_t copied_in,
                     tx->CopyRows("replica_import_staging", staging_columns,
                                  [&](std::vector<store::Value>& row) -> Result<bool> {
                                    if (next == batch.size()) return false;
                                    const Hash16& kh = batch.key_hash(next);
                                    const std::span<const uint8_t> sb = batch.sealed(next);
                                    row.emplace_back(static_cast<int64_t>(next));
                                    row.emplace_back(store::Bytes(kh.begin(), kh.end()));
                                    row.emplace_back(store::Bytes(sb.begin(), sb.end()));
                                    row.push_back(DateValue(batch.publish_from(next)));
                                    row.push_back(DateValue(batch.publish_until(next)));
                                    ++next;
                                    return true;
                                  }));
    // The keys that exist first: their versions to the history, then overwritten; then the rest
    // inserted (the updated keys conflict and are skipped).
    ASSIGN_OR_RETURN(const int64_t kept, tx->ExecCount(kHistoryOfStagedSql, {import_id, now}));
    ASSIGN_OR_RETURN(const int64_t updated,
                     tx->ExecCount(kUpdateFromStagedSql, {version.version(), import_id, now}));
    ASSIGN_OR_RETURN(const int64_t inserted,
                     tx->ExecCount(kInsertStagedSql, {tm, version.version(), import_id, now}));
    // Under READ COMMITTED another import may have inserted or deleted one of these records
    // between the statements: the counts would not add up, and neither would replica_count.
    if (kept != updated || updated + inserted != copied_in) {
      return AbortedError(kKeysChangedMessage);
    }
    report.updated += updated;
    report.inserted += inserted;
    return tx->Exec(kTruncateStagingSql);
  };
  auto write_batch = [&](const SealedBatch& batch) -> Status {
    if (batch.empty()) return Status();
    if (row_at_a_time) return write_rows(batch);
    return write_staged(batch);
  };
  SealedBatch batch;
  Hash16 key_hash;
  std::vector<uint8_t> sealed;
  std::string from, until;
  int64_t applied = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool more, queue.Next(key_hash, sealed, from, until));
    if (!more) break;
    ++applied;
    // A deletion: delete mode, or a DBM_20113 record of 登録削除区分 2 (sealed records are never
    // empty: a nonce and a tag at least).
    if (request.mode == ImportMode::kDelete || sealed.empty()) {
      if (index_after_load) {
        // Nothing to delete, and without the index the look-up would scan the table.
        deletions_unindexed.push_back(applied);
        report.not_found++;
        continue;
      }
      ASSIGN_OR_RETURN(
          std::optional<store::Row> gone,
          tx->QueryOne(kDeleteReturningSql, {store::Bytes(key_hash.begin(), key_hash.end())}));
      if (!gone) {
        report.not_found++;
      } else {
        RETURN_IF_ERROR(WriteHistoryRow(*tx, *gone, import_id, now, "delete"));
        report.deleted++;
      }
      continue;
    }
    batch.Add(key_hash, sealed, from, until);
    if (batch.size() == (row_at_a_time ? kInsertBatch : kStagingRows)) {
      RETURN_IF_ERROR(write_batch(batch));
      batch.Clear();
    }
  }
  // The file had a problem (the reader abandoned the queue): nothing of it is committed — the
  // transaction rolls back as it ends here, and the lock is free while the reader counts on.
  // (The problem count too, read only once the queue is complete — closed, so `staged` is
  // published: a file with a problem is never committed, whether or not it abandoned the queue.)
  if (!queue.complete() || staged.problem_count > 0) return false;
  RETURN_IF_ERROR(write_batch(batch));
  // What the reader found, published by the queue's Close before Next() returned the end.
  report.rows = staged.rows;
  report.file_hash = staged.file_hash;
  if (index_after_load) {
    // The build sorts every key. With the import's 64 MiB cache SQLite's sorter sorts them all in
    // memory on this thread; with a cache of 8 MiB it sorts runs and merges them, and with
    // `threads` it sorts the runs on the machine's other core: 1.24–1.43 s → 0.79–0.92 s for a
    // million keys (docs/performance.md, "The key index sorted on two threads"). CacheRestore
    // gives the connection its own cache size back; `threads` is reset here.
    RETURN_IF_ERROR(tx->Exec("PRAGMA cache_size = -8192"));
    RETURN_IF_ERROR(tx->Exec("PRAGMA threads = 2"));
    const Status built = BuildKeyIndex(*tx, deletions_unindexed);
    const Status reset = tx->Exec("PRAGMA threads = 0");
    RETURN_IF_ERROR(built);
    RETURN_IF_ERROR(reset);
  }
  if (history_trigger) RETURN_IF_ERROR(tx->Exec(kDropHistoryTriggerSql));
  if (request.mode == ImportMode::kReplace && report.deleted > 0) {
    // The dropped records the file brought back under the same key were updated, not deleted.
    RETURN_IF_ERROR(tx->Exec(
        "UPDATE replica_history SET end_reason = 'update' WHERE id > ? AND superseded_by = ? AND "
        "EXISTS (SELECT 1 FROM replica_record r WHERE r.key_hash = replica_history.key_hash)",
        {history_floor, import_id}));
  }
  if (request.progress) request.progress(ImportPhase::kCommitting, applied);
  if (report.inserted != report.deleted) {
    RETURN_IF_ERROR(tx->Exec(
        "INSERT INTO replica_count (tm, records) VALUES (?, ?) ON CONFLICT (tm) DO UPDATE SET "
        "records = replica_count.records + excluded.records",
        {tm, report.inserted - report.deleted}));
  }
  const Status recorded = tx->Exec(
      "INSERT INTO replica_import (import_id, idempotency_key, file_hash, tm, version, mode, "
      "rows_total, inserted, updated, deleted, not_found, actor, created_at_us) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {import_id,
       request.idempotency_key.empty() ? store::Value(nullptr)
                                       : store::Value(request.idempotency_key),
       report.file_hash, tm, report.version, report.mode, report.rows, report.inserted,
       report.updated, report.deleted, report.not_found, request.actor, now});
  if (recorded.code() == StatusCode::kAlreadyExists) {
    return AbortedError("the same idempotency key is being imported concurrently; retry");
  }
  RETURN_IF_ERROR(recorded);
  report.committed = true;
  if (audit) RETURN_IF_ERROR(audit(tx.get(), report));
  RETURN_IF_ERROR(tx->Commit());
  return true;
}

Result<std::vector<Record>> ReplicaStore::Find(const AtenaNo& atena_no,
                                               const std::optional<TmCode>& tm) {
  const std::array<uint8_t, 8> prefix = keys_->AtenaPrefix(atena_no.str());
  store::Bytes lo(prefix.begin(), prefix.end());
  store::Bytes hi = lo;
  lo.resize(kHashBytes, 0x00);
  hi.resize(kHashBytes, 0xff);
  ASSIGN_OR_RETURN(auto tx, db_->BeginReadOnce());
  std::vector<store::Row> rows;
  if (tm) {
    ASSIGN_OR_RETURN(rows, tx->Query("SELECT tm, key_hash, version, sealed, publish_from, "
                                     "publish_until FROM replica_record "
                                     "WHERE key_hash >= ? AND key_hash <= ? AND tm = ? "
                                     "ORDER BY tm, id",
                                     {lo, hi, tm->str()}));
  } else {
    ASSIGN_OR_RETURN(rows, tx->Query("SELECT tm, key_hash, version, sealed, publish_from, "
                                     "publish_until FROM replica_record "
                                     "WHERE key_hash >= ? AND key_hash <= ? ORDER BY tm, id",
                                     {lo, hi}));
  }
  std::vector<Record> out;
  std::vector<uint8_t> ad;
  for (const store::Row& row : rows) {
    Record r;
    ASSIGN_OR_RETURN(r.tm, row.GetText(0));
    ASSIGN_OR_RETURN(store::Bytes kh, row.GetBlob(1));
    ASSIGN_OR_RETURN(r.version, row.GetText(2));
    ASSIGN_OR_RETURN(store::Bytes sealed, row.GetBlob(3));
    ASSIGN_OR_RETURN(r.publish_from, DateText(row, 4));
    ASSIGN_OR_RETURN(r.publish_until, DateText(row, 5));
    if (kh.size() != kHashBytes) return DataLossError("replica record: bad key hash");
    Hash16 key_hash;
    std::copy(kh.begin(), kh.end(), key_hash.begin());
    keys_->Ad(r.tm, key_hash, ad);
    ASSIGN_OR_RETURN(crypto::SecretBytes plain, keys_->seal->Open(sealed, ad));
    ASSIGN_OR_RETURN(std::vector<std::string> values, DecodeRecord(plain.span(), &r.envelope));
    // A 128-bit hash collision on atena_no is not a practical concern, but check anyway.
    if (values[0] != atena_no.str()) continue;
    r.atena_no = std::move(values[0]);
    r.values.assign(std::make_move_iterator(values.begin() + 1),
                    std::make_move_iterator(values.end()));
    out.push_back(std::move(r));
  }
  return out;
}

Result<bool> ReplicaStore::HistoryDue(store::Transaction& tx, int64_t before_us) {
  ASSIGN_OR_RETURN(
      std::optional<store::Row> row,
      tx.QueryOne("SELECT 1 FROM replica_history WHERE valid_until_us < ? LIMIT 1", {before_us}));
  return row.has_value();
}

Result<int64_t> ReplicaStore::PurgeHistory(store::Transaction& tx, int64_t before_us,
                                           int64_t limit) {
  if (limit < 1) return InvalidArgumentError("replica history purge: limit must be positive");
  return tx.ExecCount("DELETE FROM replica_history WHERE " +
                          store::KeyIn(tx.backend(), "id",
                                       "SELECT id FROM replica_history"
                                       " WHERE valid_until_us < ? ORDER BY valid_until_us LIMIT ?"),
                      {before_us, limit});
}

Result<std::vector<RecordVersion>> ReplicaStore::History(const AtenaNo& atena_no,
                                                         const std::optional<TmCode>& tm) {
  const std::array<uint8_t, 8> prefix = keys_->AtenaPrefix(atena_no.str());
  const store::Bytes resident(prefix.begin(), prefix.end());
  // The expression is the index's (replica_history_resident), so that the index is used.
  const std::string columns =
      "SELECT tm, key_hash, version, sealed, import_id, valid_from_us, superseded_by, "
      "valid_until_us, end_reason, publish_from, publish_until FROM replica_history "
      "WHERE substr(key_hash, 1, 8) = ? ";
  const std::string limit = " ORDER BY id DESC LIMIT " + std::to_string(kMaxHistoryVersions);
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  std::vector<store::Row> rows;
  if (tm) {
    ASSIGN_OR_RETURN(rows, tx->Query(columns + "AND tm = ?" + limit, {resident, tm->str()}));
  } else {
    ASSIGN_OR_RETURN(rows, tx->Query(columns + limit, {resident}));
  }
  std::vector<RecordVersion> out;
  std::vector<uint8_t> ad;
  for (const store::Row& row : rows) {
    RecordVersion v;
    ASSIGN_OR_RETURN(v.record.tm, row.GetText(0));
    ASSIGN_OR_RETURN(store::Bytes kh, row.GetBlob(1));
    ASSIGN_OR_RETURN(v.record.version, row.GetText(2));
    ASSIGN_OR_RETURN(store::Bytes sealed, row.GetBlob(3));
    ASSIGN_OR_RETURN(v.import_id, row.GetText(4));
    ASSIGN_OR_RETURN(v.valid_from_us, row.GetInt(5));
    ASSIGN_OR_RETURN(v.superseded_by, row.GetText(6));
    ASSIGN_OR_RETURN(v.valid_until_us, row.GetInt(7));
    ASSIGN_OR_RETURN(std::string end, row.GetText(8));
    ASSIGN_OR_RETURN(v.record.publish_from, DateText(row, 9));
    ASSIGN_OR_RETURN(v.record.publish_until, DateText(row, 10));
    if (end == "update") {
      v.end = VersionEnd::kUpdated;
    } else if (end == "delete") {
      v.end = VersionEnd::kDeleted;
    } else {
      return DataLossError("replica history: bad end_reason");
    }
    if (kh.size() != kHashBytes) return DataLossError("replica history: bad key hash");
    Hash16 key_hash;
    std::copy(kh.begin(), kh.end(), key_hash.begin());
    keys_->Ad(v.record.tm, key_hash, ad);
    ASSIGN_OR_RETURN(crypto::SecretBytes plain, keys_->seal->Open(sealed, ad));
    ASSIGN_OR_RETURN(std::vector<std::string> values,
                     DecodeRecord(plain.span(), &v.record.envelope));
    if (values[0] != atena_no.str()) continue;  // another resident's prefix (a 64-bit collision)
    v.record.atena_no = std::move(values[0]);
    v.record.values.assign(std::make_move_iterator(values.begin() + 1),
                           std::make_move_iterator(values.end()));
    out.push_back(std::move(v));
  }
  return out;
}

Status ReplicaStore::CheckExportable(const TmCode& tm, const std::string& version) {
  // An empty version means "the latest with records", else the latest the catalogue has: both
  // resolve whenever the TM is known.
  return FindVersion(tm, version).status();
}

Result<std::vector<AtenaNo>> ReplicaStore::FindResidentsWith(const TmCode& tm,
                                                             std::string_view item_code,
                                                             std::string_view value, size_t max) {
  const layout::InfoName* info = catalogue_->Find(tm);
  if (info == nullptr)
    return NotFoundError("tm " + tm.str() + " is not in the data standard layout");
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());  // one snapshot for the whole scan
  std::vector<AtenaNo> out;
  int64_t after = -1;
  std::vector<uint8_t> ad;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                     tx->Query("SELECT key_hash, sealed, id, version FROM replica_record"
                               " WHERE id > ? AND tm = ? ORDER BY id LIMIT ?",
                               {after, tm.str(), kScanPage}));
    if (rows.empty()) break;
    for (const store::Row& row : rows) {
      ASSIGN_OR_RETURN(store::Bytes kh, row.GetBlob(0));
      ASSIGN_OR_RETURN(store::Bytes sealed, row.GetBlob(1));
      ASSIGN_OR_RETURN(after, row.GetInt(2));
      ASSIGN_OR_RETURN(std::string version, row.GetText(3));
      const layout::LayoutVersion* v = info->Version(version);
      std::optional<size_t> index = v ? v->ItemIndex(item_code) : std::nullopt;
      if (!index) continue;
      if (kh.size() != kHashBytes) return DataLossError("replica record: bad key hash");
      Hash16 key_hash;
      std::copy(kh.begin(), kh.end(), key_hash.begin());
      keys_->Ad(tm.str(), key_hash, ad);
      ASSIGN_OR_RETURN(crypto::SecretBytes plain, keys_->seal->Open(sealed, ad));
      ASSIGN_OR_RETURN(std::vector<std::string> values, DecodeRecord(plain.span()));
      // values[0] is the atena_no, then the items in the version's order.
      if (*index + 1 >= values.size() || values[*index + 1] != value) continue;
      Result<AtenaNo> atena = AtenaNo::Parse(values[0]);
      if (!atena.ok()) return DataLossError("replica record: bad atena_no");
      if (out.size() == max) {
        return ResourceExhaustedError("more than " + std::to_string(max) + " records match");
      }
      out.push_back(*std::move(atena));
    }
  }
  return out;
}

Result<int64_t> ReplicaStore::Export(const TmCode& tm, const std::string& version_in,
                                     const ChunkSink& sink, ExportFormat format) {
  std::string version = version_in;
  if (version.empty()) {
    ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
    ASSIGN_OR_RETURN(
        std::optional<store::Row> row,
        tx->QueryOne("SELECT MAX(version) FROM replica_record WHERE tm = ?", {tm.str()}));
    if (row && !row->IsNull(0)) {
      ASSIGN_OR_RETURN(version, row->GetText(0));
    }
  }
  ASSIGN_OR_RETURN(const layout::LayoutVersion* v, FindVersion(tm, version));
  if (format == ExportFormat::kDbm20113) return ExportDbm20113(tm, *v, sink);
  std::string chunk;
  std::vector<std::string_view> fields;
  fields.push_back("atena_no");
  for (const layout::Item* item : v->items()) fields.push_back(item->code());
  replica_io::AppendCsvRecord(chunk, fields);

  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());  // one snapshot for the whole export
  int64_t count = 0;
  int64_t after = -1;
  std::vector<uint8_t> ad;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                     tx->Query("SELECT key_hash, sealed, id FROM replica_record WHERE id > ? AND "
                               "tm = ? AND version = ? ORDER BY id LIMIT ?",
                               {after, tm.str(), v->version(), kScanPage}));
    if (rows.empty()) break;
    for (const store::Row& row : rows) {
      ASSIGN_OR_RETURN(store::Bytes kh, row.GetBlob(0));
      ASSIGN_OR_RETURN(store::Bytes sealed, row.GetBlob(1));
      ASSIGN_OR_RETURN(after, row.GetInt(2));
      if (kh.size() != kHashBytes) return DataLossError("replica record: bad key hash");
      Hash16 key_hash;
      std::copy(kh.begin(), kh.end(), key_hash.begin());
      keys_->Ad(tm.str(), key_hash, ad);
      ASSIGN_OR_RETURN(crypto::SecretBytes plain, keys_->seal->Open(sealed, ad));
      ASSIGN_OR_RETURN(std::vector<std::string> values, DecodeRecord(plain.span()));
      fields.assign(values.begin(), values.end());
      replica_io::AppendCsvRecord(chunk, fields);
      ++count;
      if (chunk.size() >= (256 << 10)) {
        RETURN_IF_ERROR(sink(chunk));
        chunk.clear();
      }
    }
  }
  if (!chunk.empty()) RETURN_IF_ERROR(sink(chunk));
  return count;
}

namespace {

// The day (Japan time, as municipal systems date their data) of a Unix µs time: YYYY-MM-DD.
std::string JstDay(int64_t unix_us) {
  const std::time_t t = static_cast<std::time_t>(unix_us / 1000000 + 9 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

}  // namespace

Result<int64_t> ReplicaStore::ExportDbm20113(const TmCode& tm, const layout::LayoutVersion& v,
                                             const ChunkSink& sink) {
  using F = replica_io::Dbm20113Field;
  std::string chunk;
  replica_io::AppendDbm20113Head(chunk);
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());  // one snapshot for the whole export
  int64_t count = 0;
  int64_t after = -1;
  std::vector<uint8_t> ad;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                     tx->Query("SELECT key_hash, sealed, id, publish_from, publish_until, "
                               "updated_at_us FROM replica_record WHERE id > ? AND tm = ? AND "
                               "version = ? ORDER BY id LIMIT ?",
                               {after, tm.str(), v.version(), kScanPage}));
    if (rows.empty()) break;
    for (const store::Row& row : rows) {
      ASSIGN_OR_RETURN(store::Bytes kh, row.GetBlob(0));
      ASSIGN_OR_RETURN(store::Bytes sealed, row.GetBlob(1));
      ASSIGN_OR_RETURN(after, row.GetInt(2));
      ASSIGN_OR_RETURN(std::string from, DateText(row, 3));
      ASSIGN_OR_RETURN(std::string until, DateText(row, 4));
      ASSIGN_OR_RETURN(int64_t updated_at, row.GetInt(5));
      if (kh.size() != kHashBytes) return DataLossError("replica record: bad key hash");
      Hash16 key_hash;
      std::copy(kh.begin(), kh.end(), key_hash.begin());
      keys_->Ad(tm.str(), key_hash, ad);
      ASSIGN_OR_RETURN(crypto::SecretBytes plain, keys_->seal->Open(sealed, ad));
      std::optional<RegistrationEnvelope> env;
      ASSIGN_OR_RETURN(std::vector<std::string> values, DecodeRecord(plain.span(), &env));
      ++count;
      const std::string seq = std::to_string(count);
      const std::string day = JstDay(updated_at);
      replica_io::Dbm20113EntryOut e;
      auto set = [&e](F f, std::string_view value) { e.fields[static_cast<size_t>(f)] = value; };
      set(F::kRecordIdentificationNumber, env ? std::string_view(env->record_id) : seq);
      set(F::kIntegratedAddressNumber, values[0]);
      set(F::kSpecificPersonalInformationCode, tm.str());
      set(F::kDataSetIdentificationItemCode,
          env ? std::string_view(env->data_set_item_code) : std::string_view());
      set(F::kDataSetRecordKey, env ? std::string_view(env->record_key) : std::string_view());
      set(F::kSpiMajorVersion, v.version());
      set(F::kParentDataSetRecordKey,
          env ? std::string_view(env->parent_record_key) : std::string_view());
      set(F::kPublicationDate, from);
      set(F::kPublishedEndDate, until);
      set(F::kAdministrativeRegionCode,
          env ? std::string_view(env->region_code) : std::string_view());
      e.copy_root = tm.str();
      auto value_of = [&](size_t i) -> std::string_view {
        return i + 1 < values.size() ? std::string_view(values[i + 1]) : std::string_view();
      };
      if (env) {
        for (const RegistrationItem& it : env->items) {
          const std::optional<size_t> idx = v.ItemIndex(it.code);
          if (!idx) return DataLossError("replica record: an envelope item not in its version");
          e.items.push_back(
              {it.code, value_of(*idx), it.nil, it.reason_of_null, it.version, it.updated});
        }
      } else {
        for (size_t i = 0; i < v.item_count(); ++i) {
          const std::string_view value = value_of(i);
          e.items.push_back({v.item(i).code(), value, value.empty(), "", v.version(), day});
        }
      }
      replica_io::AppendDbm20113Entry(chunk, e);
      if (chunk.size() >= (256 << 10)) {
        RETURN_IF_ERROR(sink(chunk));
        chunk.clear();
      }
    }
  }
  replica_io::AppendDbm20113Tail(chunk);
  RETURN_IF_ERROR(sink(chunk));
  return count;
}

Result<ReconcileReport> ReplicaStore::Reconcile(const TmCode& tm, const std::string& version,
                                                RecordSourceFactory& factory) {
  ASSIGN_OR_RETURN(const layout::LayoutVersion* v, FindVersion(tm, version));
  ASSIGN_OR_RETURN(std::unique_ptr<RecordSource> rows, factory.Open(*v));
  ReconcileReport report;
  ProblemList problems;
  SeenKeys seen;
  const std::span<const size_t> key_idx = v->key_item_indexes();
  const std::string tms = tm.str();
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  RowView row;
  std::optional<RowProblem> row_problem;
  std::vector<uint8_t> ad;
  while (true) {
    Result<bool> more = rows->Next(row, row_problem);
    if (!more.ok()) {
      if (!IsFileProblem(more.status())) return more.status();
      problems.Add(MalformedFile(more.status()));
      break;
    }
    if (!*more) break;
    report.rows++;
    if (row_problem) {
      problems.Add(ToProblem(*row_problem));
      continue;
    }
    if (!layout::IsValidAtenaNo(row.atena_no)) {
      problems.Add(Problem{row.line, "atena_no", "bad_atena_no",
                           "atena_no (団体内統合宛名番号): expected 15 digits"});
      continue;
    }
    const Hash16 key_hash = keys_->KeyHash(tms, row.atena_no, row.values, key_idx);
    seen.InsertOrGet(key_hash, row.line);
    ASSIGN_OR_RETURN(std::optional<store::Row> stored,
                     tx->QueryOne("SELECT sealed FROM replica_record WHERE key_hash = ?",
                                  {store::Bytes(key_hash.begin(), key_hash.end())}));
    if (!stored) {
      report.missing++;
      if (report.missing_lines.size() < kMaxReportedProblems) {
        report.missing_lines.push_back(row.line);
      }
      continue;
    }
    ASSIGN_OR_RETURN(store::Bytes sealed, stored->GetBlob(0));
    keys_->Ad(tms, key_hash, ad);
    ASSIGN_OR_RETURN(crypto::SecretBytes plain, keys_->seal->Open(sealed, ad));
    ASSIGN_OR_RETURN(std::vector<std::string> values, DecodeRecord(plain.span()));
    ReconcileDifference diff{row.line, {}};
    for (size_t i = 0; i < v->item_count(); ++i) {
      const std::string_view stored_value =
          i + 1 < values.size() ? std::string_view(values[i + 1]) : std::string_view();
      if (!layout::ValuesEqual(v->item(i), stored_value, row.values[i])) {
        diff.fields.push_back(v->item(i).code());
      }
    }
    if (diff.fields.empty()) {
      report.matching++;
    } else {
      report.different++;
      if (report.differences.size() < kMaxReportedProblems) {
        report.differences.push_back(std::move(diff));
      }
    }
  }
  RETURN_IF_ERROR(factory.Drain());
  // Records in the replica that the original does not have.
  int64_t after = -1;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<store::Row> page,
                     tx->Query("SELECT key_hash, sealed, id FROM replica_record WHERE tm = ? AND "
                               "id > ? ORDER BY id LIMIT ?",
                               {tms, after, kScanPage}));
    if (page.empty()) break;
    for (const store::Row& r : page) {
      ASSIGN_OR_RETURN(store::Bytes kh, r.GetBlob(0));
      ASSIGN_OR_RETURN(after, r.GetInt(2));
      if (kh.size() != kHashBytes) return DataLossError("replica record: bad key hash");
      Hash16 key_hash;
      std::copy(kh.begin(), kh.end(), key_hash.begin());
      if (seen.Contains(key_hash)) continue;
      report.extra++;
      if (report.extra_atena_nos.size() < kMaxReportedProblems) {
        ASSIGN_OR_RETURN(store::Bytes sealed, r.GetBlob(1));
        keys_->Ad(tms, key_hash, ad);
        ASSIGN_OR_RETURN(crypto::SecretBytes plain, keys_->seal->Open(sealed, ad));
        ASSIGN_OR_RETURN(std::vector<std::string> values, DecodeRecord(plain.span()));
        report.extra_atena_nos.push_back(values[0]);
      }
    }
  }
  report.problem_count = problems.count;
  report.problems = std::move(problems.list);
  return report;
}

Result<bool> ReplicaStore::HoldsResident(store::Transaction& tx, const AtenaNo& atena_no) const {
  const std::array<uint8_t, 8> prefix = keys_->AtenaPrefix(atena_no.str());
  store::Bytes lo(prefix.begin(), prefix.end());
  // The history's index is of the prefix itself (replica_history_resident).
  ASSIGN_OR_RETURN(auto past, tx.QueryOne("SELECT 1 FROM replica_history"
                                          " WHERE substr(key_hash, 1, 8) = ? LIMIT 1",
                                          {lo}));
  if (past) return true;
  store::Bytes hi = lo;
  lo.resize(kHashBytes, 0x00);
  hi.resize(kHashBytes, 0xff);
  ASSIGN_OR_RETURN(auto now, tx.QueryOne("SELECT 1 FROM replica_record"
                                         " WHERE key_hash >= ? AND key_hash <= ? LIMIT 1",
                                         {lo, hi}));
  return now.has_value();
}

Result<int64_t> ReplicaStore::Count(const std::optional<TmCode>& tm) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tm ? tx->QueryOne("SELECT records FROM replica_count WHERE tm = ?", {tm->str()})
                      : tx->QueryOne("SELECT COALESCE(SUM(records), 0) FROM replica_count"));
  if (!row) return int64_t{0};
  return row->GetInt(0);
}

}  // namespace chukan::replica
