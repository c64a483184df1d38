#include "audit/audit_log.h"

#include <limits>
#include <map>
#include <utility>

#include "common/log.h"
#include "common/utf8.h"
#include "crypto/hash.h"

namespace chukan::audit {
namespace {

constexpr size_t kHashBytes = 32;
constexpr std::string_view kEntryDomain{"chukan-audit-v1\0", 16};
constexpr std::string_view kCheckpointDomain{"chukan-audit-checkpoint-v1\0", 27};

void PutBe64(std::vector<uint8_t>& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void PutBe32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void PutString(std::vector<uint8_t>& out, std::string_view s) {
  PutBe32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

Status CheckField(std::string_view name, const std::string& value, size_t max, bool required) {
  if (required && value.empty()) {
    return InvalidArgumentError("audit event: field \"" + std::string(name) + "\" is required");
  }
  if (value.size() > max) {
    return InvalidArgumentError("audit event: field \"" + std::string(name) + "\" is " +
                                std::to_string(value.size()) + " bytes, over the limit of " +
                                std::to_string(max));
  }
  if (!IsValidUtf8(value)) {
    return InvalidArgumentError("audit event: field \"" + std::string(name) +
                                "\" is not valid UTF-8");
  }
  return Status();
}

Status CheckEvent(const AuditEvent& e) {
  RETURN_IF_ERROR(CheckField("scope", e.scope, kMaxScopeBytes, true));
  RETURN_IF_ERROR(CheckField("actor", e.actor, kMaxActorBytes, true));
  RETURN_IF_ERROR(CheckField("action", e.action, kMaxActionBytes, true));
  RETURN_IF_ERROR(CheckField("target", e.target, kMaxTargetBytes, false));
  RETURN_IF_ERROR(CheckField("outcome", e.outcome, kMaxOutcomeBytes, true));
  RETURN_IF_ERROR(CheckField("request_id", e.request_id, kMaxRequestIdBytes, false));
  return Status();
}

const char kSqliteSchema[] = R"sql(
CREATE TABLE audit_log (
  seq        INTEGER PRIMARY KEY,
  time_us    INTEGER NOT NULL,
  scope      TEXT    NOT NULL,
  actor      TEXT    NOT NULL,
  action     TEXT    NOT NULL,
  target     TEXT    NOT NULL,
  outcome    TEXT    NOT NULL,
  request_id TEXT    NOT NULL,
  prev_hash  BLOB    NOT NULL,
  hash       BLOB    NOT NULL
);
CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash BLOB    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
CREATE TABLE audit_checkpoint (
  seq        INTEGER PRIMARY KEY,
  time_us    INTEGER NOT NULL,
  hash       BLOB    NOT NULL,
  verify_key BLOB    NOT NULL,
  signature  BLOB    NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)sql";

const char kPostgresSchema[] = R"sql(
CREATE TABLE audit_log (
  seq        BIGINT PRIMARY KEY,
  time_us    BIGINT NOT NULL,
  scope      TEXT   NOT NULL,
  actor      TEXT   NOT NULL,
  action     TEXT   NOT NULL,
  target     TEXT   NOT NULL,
  outcome    TEXT   NOT NULL,
  request_id TEXT   NOT NULL,
  prev_hash  BYTEA  NOT NULL,
  hash       BYTEA  NOT NULL
);
CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  BIGINT  NOT NULL,
  hash BYTEA   NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
CREATE TABLE audit_checkpoint (
  seq        BIGINT PRIMARY KEY,
  time_us    BIGINT NOT NULL,
  hash       BYTEA  NOT NULL,
  verify_key BYTEA  NOT NULL,
  signature  BYTEA  NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
$fn$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $fn$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
)sql";

// The reading side (the console's 操作履歴 and 取込 history, docs/console.md): without these a
// screen over a tenant's year of entries scanned the whole log (a million entries: 0.15–0.6 s a
// page). By time (the alert window, a period), by action (one kind, newest first) and by the
// 38-character resident reference a target starts with ("atena#" + 32 hex). time_us and seq grow
// together and (action, seq) mostly appends, so an append adds little random writing; the
// resident index does add one random page per entry that names a resident.
const char kReadIndexesSql[] = R"sql(
CREATE INDEX audit_log_time ON audit_log (time_us);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_resident ON audit_log (substr(target, 1, 38), seq);
)sql";

// Pruning (AuditLog::Prune): audit_anchor holds the signed checkpoint a pruned chain starts
// after (seq 0: nothing pruned). Entries up to it may be deleted, and only those: the
// append-only triggers now let a DELETE through at or below the anchor's seq and refuse every
// other change as before.
const char kSqliteAnchor[] = R"sql(
CREATE TABLE audit_anchor (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  seq        INTEGER NOT NULL,
  time_us    INTEGER NOT NULL,
  hash       BLOB    NOT NULL,
  verify_key BLOB    NOT NULL,
  signature  BLOB    NOT NULL
);
INSERT INTO audit_anchor (id, seq, time_us, hash, verify_key, signature)
VALUES (1, 0, 0, zeroblob(32), x'', x'');
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > (SELECT seq FROM audit_anchor WHERE id = 1)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)sql";

const char kPostgresAnchor[] = R"sql(
CREATE TABLE audit_anchor (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  seq        BIGINT  NOT NULL,
  time_us    BIGINT  NOT NULL,
  hash       BYTEA   NOT NULL,
  verify_key BYTEA   NOT NULL,
  signature  BYTEA   NOT NULL
);
INSERT INTO audit_anchor (id, seq, time_us, hash, verify_key, signature)
VALUES (1, 0, 0, decode(repeat('00', 32), 'hex'), ''::bytea, ''::bytea);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
$fn$ BEGIN
  IF TG_OP = 'DELETE' AND OLD.seq <= (SELECT seq FROM audit_anchor WHERE id = 1) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only';
END $fn$;
)sql";

}  // namespace

const std::vector<store::Migration>& AuditMigrations() {
  static const auto* const kMigrations = new std::vector<store::Migration>{
      {1, "create audit_log, audit_head, audit_checkpoint", kSqliteSchema, kPostgresSchema},
      {2, "index audit_log by time, action and resident", kReadIndexesSql, kReadIndexesSql},
      {3, "audit_anchor: a pruned chain starts after a signed checkpoint", kSqliteAnchor,
       kPostgresAnchor},
  };
  return *kMigrations;
}

std::vector<uint8_t> EntryHash(int64_t seq, int64_t time_us, const AuditEvent& event,
                               const std::vector<uint8_t>& prev_hash) {
  std::vector<uint8_t> buf;
  buf.reserve(128 + event.target.size() + event.actor.size());
  buf.insert(buf.end(), kEntryDomain.begin(), kEntryDomain.end());
  PutBe64(buf, static_cast<uint64_t>(seq));
  PutBe64(buf, static_cast<uint64_t>(time_us));
  PutString(buf, event.scope);
  PutString(buf, event.actor);
  PutString(buf, event.action);
  PutString(buf, event.target);
  PutString(buf, event.outcome);
  PutString(buf, event.request_id);
  buf.insert(buf.end(), prev_hash.begin(), prev_hash.end());
  return crypto::Blake2b(buf, kHashBytes);
}

std::vector<uint8_t> CheckpointMessage(int64_t seq, const std::vector<uint8_t>& hash,
                                       int64_t time_us) {
  std::vector<uint8_t> buf(kCheckpointDomain.begin(), kCheckpointDomain.end());
  PutBe64(buf, static_cast<uint64_t>(seq));
  buf.insert(buf.end(), hash.begin(), hash.end());
  PutBe64(buf, static_cast<uint64_t>(time_us));
  return buf;
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(std::shared_ptr<store::Database> db,
                                                 Options options) {
  if (db == nullptr) return InvalidArgumentError("audit log: no database");
  if (options.clock == nullptr) options.clock = &SystemClock::Get();
  if (options.checkpoint_every < 0) {
    return InvalidArgumentError("audit log: checkpoint_every must be >= 0");
  }
  if (options.checkpoint_interval < Duration::zero()) {
    return InvalidArgumentError("audit log: checkpoint_interval must be >= 0");
  }
  RETURN_IF_ERROR(store::ApplyMigrations(*db, "audit", AuditMigrations(), *options.clock));
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(db), std::move(options)));
}

Result<int64_t> AuditLog::Append(store::Transaction& tx, const AuditEvent& event) {
  RETURN_IF_ERROR(CheckEvent(event));
  const bool by_time =
      options_.checkpoint_key != nullptr && options_.checkpoint_interval > Duration::zero();
  int64_t seq = 0;
  int64_t time_us = 0;
  std::vector<uint8_t> hash;
  std::optional<int64_t> newest;  // the newest checkpoint's time, as last known
  bool appended = false;
  auto insert_entry = [&](const std::vector<uint8_t>& prev) {
    return tx.Exec(
        "INSERT INTO audit_log (seq, time_us, scope, actor, action, target, outcome, request_id, "
        "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {seq, time_us, event.scope, event.actor, event.action, event.target, event.outcome,
         event.request_id, prev, hash});
  };
  // The head as this log last wrote or read it (docs/audit.md, "The head kept in memory"): one
  // compare-and-set moves the head from it to the new entry, and the entry is inserted — two
  // statements where reading the head first takes three. The set matches only while the
  // database's head is still exactly that (seq and hash): after a rollback, another appender
  // (another node on PostgreSQL), a prune or an edit it matches nothing, and the head is read.
  // On PostgreSQL the update waits for the head's row lock as the read below does, and compares
  // against the row as committed by the lock's previous holder.
  std::optional<Head> cached;
  {
    MutexLock lock(head_mu_);
    cached = head_;
  }
  if (cached) {
    seq = cached->seq + 1;
    time_us = ToUnixMicros(options_.clock->Now());
    hash = EntryHash(seq, time_us, event, cached->hash);
    ASSIGN_OR_RETURN(const int64_t moved, tx.ExecCount("UPDATE audit_head SET seq = ?, hash = ? "
                                                       "WHERE id = 1 AND seq = ? AND hash = ?",
                                                       {seq, hash, cached->seq, cached->hash}));
    if (moved == 1) {
      RETURN_IF_ERROR(insert_entry(cached->hash));
      newest = cached->newest_checkpoint_us;
      appended = true;
    }
  }
  if (!appended) {
    // Updating the head first takes its row lock, which serialises concurrent appenders on
    // PostgreSQL; SQLite write transactions are already exclusive. When checkpoints are due by
    // time, the same statement returns the newest checkpoint's time (column 2). On PostgreSQL
    // that read uses the statement's snapshot, taken before any wait for the head's lock, so it
    // may miss a checkpoint the previous holder of the lock just committed: when it says a
    // checkpoint is due, the newest is read again (below).
    ASSIGN_OR_RETURN(
        std::optional<store::Row> head,
        tx.QueryOne(by_time
                        ? "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash,"
                          " (SELECT time_us FROM audit_checkpoint ORDER BY seq DESC LIMIT 1)"
                        : "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"));
    if (!head) return DataLossError("audit log: the head row is missing (table altered)");
    ASSIGN_OR_RETURN(seq, head->GetInt(0));
    ASSIGN_OR_RETURN(std::vector<uint8_t> prev, head->GetBlob(1));
    if (by_time) {
      ASSIGN_OR_RETURN(newest, head->GetOptionalInt(2));
    }
    time_us = ToUnixMicros(options_.clock->Now());
    hash = EntryHash(seq, time_us, event, prev);
    RETURN_IF_ERROR(insert_entry(prev));
    RETURN_IF_ERROR(tx.Exec("UPDATE audit_head SET hash = ? WHERE id = 1", {hash}));
  }
  bool due = false;
  if (options_.checkpoint_key != nullptr) {
    due = options_.checkpoint_every > 0 && seq % options_.checkpoint_every == 0;
    if (!due && by_time) {
      const int64_t interval_us =
          std::chrono::duration_cast<std::chrono::microseconds>(options_.checkpoint_interval)
              .count();
      // Due when nothing is signed yet (the first entry, or an old unsigned chain), when the
      // newest checkpoint is "in the future" (a clock set back), or once the interval has
      // passed.
      auto due_after = [&](const std::optional<int64_t>& newest_us) {
        return !newest_us || time_us < *newest_us || time_us - *newest_us >= interval_us;
      };
      due = due_after(newest);
      if (due && (appended || tx.backend() == store::Backend::kPostgres)) {
        // Asked again before a checkpoint is signed: the time this log remembers may be older
        // than the newest checkpoint (one signed by CheckpointIfBehind() or another node), and
        // on PostgreSQL the head's subquery saw its statement's snapshot, which may predate a
        // checkpoint that the previous holder of the head's lock committed while this one
        // waited (a new statement sees that commit). Only when a checkpoint seems due, which is
        // rare; so no checkpoint is signed twice over.
        ASSIGN_OR_RETURN(std::optional<store::Row> fresh,
                         tx.QueryOne("SELECT time_us FROM audit_checkpoint ORDER BY seq DESC"
                                     " LIMIT 1"));
        newest.reset();
        if (fresh) {
          ASSIGN_OR_RETURN(newest, fresh->GetOptionalInt(0));
        }
        due = due_after(newest);
      }
    }
    // The checkpoint covers this entry and commits or rolls back with it: a checkpoint never
    // signs an entry that does not exist, and no separate transaction (or fsync) is needed.
    if (due) {
      ASSIGN_OR_RETURN(newest, WriteCheckpoint(tx, seq, hash));
    }
  }
  // What the head now is, in this transaction. Should it roll back, the next append's
  // compare-and-set finds another head and reads it; the checkpoint time remembered here is
  // trusted only while the head matches, which it does only after this transaction committed.
  MutexLock lock(head_mu_);
  head_ = Head{seq, std::move(hash), newest};
  return seq;
}

Result<int64_t> AuditLog::Append(const AuditEvent& event) {
  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, db_->Begin());
  ASSIGN_OR_RETURN(const int64_t seq, Append(*tx, event));
  RETURN_IF_ERROR(tx->Commit());
  if (options_.checkpoint_sink != nullptr && export_pending_.load()) {
    Status exported = ExportPending();
    if (!exported.ok()) {
      // The entry is committed, so the append succeeded; the next CheckpointIfBehind() retries.
      log::Warn("audit.checkpoint_export_failed", {log::StatusField(exported)});
    }
  }
  return seq;
}

Result<AuditPrune> AuditLog::Prune(store::Transaction& tx, int64_t before_us, int64_t max_entries) {
  if (max_entries < 1) return InvalidArgumentError("audit log: prune batch must be >= 1");
  AuditPrune out;
  ASSIGN_OR_RETURN(std::optional<store::Row> anchor,
                   tx.QueryOne("SELECT seq FROM audit_anchor WHERE id = 1"));
  if (!anchor) return DataLossError("audit log: the anchor row is missing (table altered)");
  ASSIGN_OR_RETURN(const int64_t from, anchor->GetInt(0));
  out.anchor_seq = from;
  // The newest checkpoint within the batch whose entry and signature are both older than
  // `before_us`; failing that (checkpoints further apart than the batch), the first such one.
  const char* kCandidate =
      "SELECT c.seq, c.time_us, c.hash, c.verify_key, c.signature FROM audit_checkpoint c "
      "JOIN audit_log l ON l.seq = c.seq WHERE c.seq > ? AND c.seq <= ? AND l.time_us < ? "
      "AND c.time_us < ? ORDER BY c.seq ";
  ASSIGN_OR_RETURN(std::optional<store::Row> cp,
                   tx.QueryOne(std::string(kCandidate) + "DESC LIMIT 1",
                               {from, from + max_entries, before_us, before_us}));
  if (!cp) {
    ASSIGN_OR_RETURN(
        cp, tx.QueryOne(std::string(kCandidate) + "ASC LIMIT 1",
                        {from, std::numeric_limits<int64_t>::max(), before_us, before_us}));
  }
  if (!cp) return out;  // nothing signed is old enough
  ASSIGN_OR_RETURN(const int64_t to, cp->GetInt(0));
  // Every entry it removes must be older than `before_us` (times can step back with the clock).
  ASSIGN_OR_RETURN(
      std::optional<store::Row> newest,
      tx.QueryOne("SELECT MAX(time_us) FROM audit_log WHERE seq > ? AND seq <= ?", {from, to}));
  if (newest && !newest->IsNull(0)) {
    ASSIGN_OR_RETURN(const int64_t newest_us, newest->GetInt(0));
    if (newest_us >= before_us) return out;
  }
  ASSIGN_OR_RETURN(const int64_t time_us, cp->GetInt(1));
  ASSIGN_OR_RETURN(std::vector<uint8_t> hash, cp->GetBlob(2));
  ASSIGN_OR_RETURN(std::vector<uint8_t> verify_key, cp->GetBlob(3));
  ASSIGN_OR_RETURN(std::vector<uint8_t> signature, cp->GetBlob(4));
  // The checkpoints it deletes may include the newest, which the head kept in memory remembers:
  // the next append reads the head (and the newest checkpoint) again.
  {
    MutexLock lock(head_mu_);
    head_.reset();
  }
  // The anchor first: the trigger lets a delete through only at or below it.
  RETURN_IF_ERROR(
      tx.Exec("UPDATE audit_anchor SET seq = ?, time_us = ?, hash = ?, "
              "verify_key = ?, signature = ? WHERE id = 1",
              {to, time_us, hash, verify_key, signature}));
  ASSIGN_OR_RETURN(out.deleted,
                   tx.ExecCount("DELETE FROM audit_log WHERE seq > ? AND seq <= ?", {from, to}));
  RETURN_IF_ERROR(tx.Exec("DELETE FROM audit_checkpoint WHERE seq <= ?", {to}));
  out.anchor_seq = to;
  out.anchor_time_us = time_us;
  return out;
}

Result<AuditPrune> AuditLog::PruneRecorded(store::Transaction& tx, const std::string& scope,
                                           int64_t before_us, int64_t max_entries) {
  ASSIGN_OR_RETURN(const AuditPrune pruned, Prune(tx, before_us, max_entries));
  if (pruned.deleted == 0) return pruned;
  RETURN_IF_ERROR(Append(tx, {scope, "system", "audit.prune",
                              std::to_string(pruned.deleted) + " entries up to seq " +
                                  std::to_string(pruned.anchor_seq),
                              "ok", ""})
                      .status());
  return pruned;
}

Result<bool> AuditLog::PruneDue(store::Transaction& tx, int64_t before_us) {
  ASSIGN_OR_RETURN(std::optional<store::Row> oldest,
                   tx.QueryOne("SELECT time_us FROM audit_checkpoint ORDER BY seq LIMIT 1"));
  if (!oldest) return false;
  ASSIGN_OR_RETURN(const int64_t time_us, oldest->GetInt(0));
  return time_us < before_us;
}

Result<int64_t> AuditLog::WriteCheckpoint(store::Transaction& tx, int64_t seq,
                                          const std::vector<uint8_t>& hash) {
  const int64_t time_us = ToUnixMicros(options_.clock->Now());
  const crypto::SigningKey& key = *options_.checkpoint_key;
  std::vector<uint8_t> signature = key.Sign(CheckpointMessage(seq, hash, time_us));
  RETURN_IF_ERROR(
      tx.Exec("INSERT INTO audit_checkpoint (seq, time_us, hash, verify_key, signature) "
              "VALUES (?, ?, ?, ?, ?)",
              {seq, time_us, hash, key.verify_key().bytes(), signature}));
  export_pending_.store(true);
  return time_us;
}

Result<bool> AuditLog::SignHead(int64_t* seq) {
  *seq = 0;
  if (options_.checkpoint_key == nullptr) {
    return FailedPreconditionError("audit log: no checkpoint signing key configured");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, db_->Begin());
  // A no-op update that takes the head's row lock, as Append does: on PostgreSQL no append (and
  // no other CheckpointIfBehind) can move the head or sign it while this transaction runs.
  ASSIGN_OR_RETURN(
      std::optional<store::Row> head,
      tx->QueryOne("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash"));
  if (!head) return DataLossError("audit log: the head row is missing (table altered)");
  ASSIGN_OR_RETURN(*seq, head->GetInt(0));
  if (*seq == 0) return false;
  ASSIGN_OR_RETURN(std::optional<store::Row> existing,
                   tx->QueryOne("SELECT seq FROM audit_checkpoint WHERE seq = ?", {*seq}));
  if (existing) return false;  // the head is already covered
  ASSIGN_OR_RETURN(std::vector<uint8_t> hash, head->GetBlob(1));
  RETURN_IF_ERROR(WriteCheckpoint(*tx, *seq, hash).status());
  RETURN_IF_ERROR(tx->Commit());
  return true;
}

Result<bool> AuditLog::CheckpointIfBehind() {
  int64_t seq = 0;
  ASSIGN_OR_RETURN(const bool signed_now, SignHead(&seq));
  RETURN_IF_ERROR(ExportPending());
  return signed_now;
}

Result<int64_t> AuditLog::Checkpoint() {
  int64_t seq = 0;
  RETURN_IF_ERROR(SignHead(&seq).status());
  RETURN_IF_ERROR(ExportPending());
  return seq;
}

Status AuditLog::ExportPending() {
  if (options_.checkpoint_sink == nullptr) return Status();
  MutexLock lock(export_mu_);
  // Cleared before reading, so a checkpoint committed while this runs sets it again.
  export_pending_.store(false);
  Status s = [&]() -> Status {
    ASSIGN_OR_RETURN(const int64_t last, options_.checkpoint_sink->LastExportedSeq());
    std::vector<store::Row> rows;
    {
      // Committed rows only: a read transaction never sees a caller's open transaction.
      ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, db_->BeginRead());
      ASSIGN_OR_RETURN(rows, tx->Query("SELECT c.seq, c.time_us, c.hash, c.verify_key, "
                                       "c.signature, l.scope FROM audit_checkpoint c "
                                       "JOIN audit_log l ON l.seq = c.seq WHERE c.seq > ? "
                                       "ORDER BY c.seq",
                                       {last}));
    }
    for (const store::Row& row : rows) {
      CheckpointRecord r;
      ASSIGN_OR_RETURN(r.seq, row.GetInt(0));
      ASSIGN_OR_RETURN(r.time_us, row.GetInt(1));
      ASSIGN_OR_RETURN(r.hash, row.GetBlob(2));
      ASSIGN_OR_RETURN(r.verify_key, row.GetBlob(3));
      ASSIGN_OR_RETURN(r.signature, row.GetBlob(4));
      ASSIGN_OR_RETURN(r.scope, row.GetText(5));
      RETURN_IF_ERROR(options_.checkpoint_sink->Export(r));
    }
    return Status();
  }();
  if (!s.ok()) {
    export_pending_.store(true);
    return s.WithContext("audit log: exporting checkpoints");
  }
  return Status();
}

namespace {

struct StoredCheckpoint {
  int64_t time_us = 0;
  std::vector<uint8_t> hash;
  std::vector<uint8_t> verify_key;
  std::vector<uint8_t> signature;
};

VerifyReport Bad(VerifyReport r, int64_t seq, std::string problem) {
  r.ok = false;
  r.first_bad_seq = seq;
  r.problem = std::move(problem);
  return r;
}

// Checks a checkpoint's signature; returns the problem, or "" when it is good. `what` names the
// checkpoint in the problem: "checkpoint at seq C" or "exported checkpoint at seq C".
std::string CheckSignature(const std::string& what, int64_t seq, int64_t time_us,
                           const std::vector<uint8_t>& hash, const std::vector<uint8_t>& verify_key,
                           const std::vector<uint8_t>& signature, const VerifyOptions& options) {
  Result<crypto::VerifyKey> key = crypto::VerifyKey::FromBytes(verify_key);
  if (!key.ok()) return what + " has a malformed key";
  if (!options.trusted_keys.empty()) {
    bool trusted = false;
    for (const crypto::VerifyKey& k : options.trusted_keys) {
      if (k.bytes() == key->bytes()) trusted = true;
    }
    if (!trusted) return what + " is signed by an untrusted key";
  }
  if (!key->Verify(CheckpointMessage(seq, hash, time_us), signature).ok()) {
    return what + " has an invalid signature";
  }
  return "";
}

std::string At(int64_t seq) { return "checkpoint at seq " + std::to_string(seq); }

// "N trailing entries (seq A..B) are not covered by a signed checkpoint".
std::string Unprotected(int64_t first, int64_t last) {
  const int64_t n = last - first + 1;
  if (n == 1) {
    return "1 trailing entry (seq " + std::to_string(first) +
           ") is not covered by a signed checkpoint";
  }
  return std::to_string(n) + " trailing entries (seq " + std::to_string(first) + ".." +
         std::to_string(last) + ") are not covered by a signed checkpoint";
}

}  // namespace

Result<VerifyReport> Verify(store::Database& db, const VerifyOptions& options) {
  VerifyReport report;
  report.keys_pinned = !options.trusted_keys.empty();
  if (options.page_size <= 0) return InvalidArgumentError("audit verify: page_size must be > 0");
  if (options.max_unprotected < 0) {
    return InvalidArgumentError("audit verify: max_unprotected must be >= 0");
  }

  // The exported copy first: it does not depend on the database, and a forged line is a finding
  // of its own.
  std::map<int64_t, const CheckpointRecord*> external;
  for (const CheckpointRecord& r : options.external_checkpoints) {
    auto [it, inserted] = external.emplace(r.seq, &r);
    if (!inserted && !(*it->second == r)) {
      return Bad(
          report, r.seq,
          "the exported copy holds two different checkpoints at seq " + std::to_string(r.seq));
    }
  }
  for (const auto& [seq, r] : external) {
    std::string problem = CheckSignature("exported " + At(seq), seq, r->time_us, r->hash,
                                         r->verify_key, r->signature, options);
    if (!problem.empty()) return Bad(report, seq, std::move(problem));
  }

  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, db.BeginRead());
  std::map<int64_t, StoredCheckpoint> checkpoints;
  {
    ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                     tx->Query("SELECT seq, time_us, hash, verify_key, signature "
                               "FROM audit_checkpoint ORDER BY seq"));
    for (const store::Row& row : rows) {
      StoredCheckpoint cp;
      ASSIGN_OR_RETURN(const int64_t seq, row.GetInt(0));
      ASSIGN_OR_RETURN(cp.time_us, row.GetInt(1));
      ASSIGN_OR_RETURN(cp.hash, row.GetBlob(2));
      ASSIGN_OR_RETURN(cp.verify_key, row.GetBlob(3));
      ASSIGN_OR_RETURN(cp.signature, row.GetBlob(4));
      checkpoints.emplace(seq, std::move(cp));
    }
  }

  std::vector<uint8_t> prev(kHashBytes, 0);
  int64_t expected = 1;
  int64_t last_checkpoint = 0;
  // A pruned chain starts after its anchor (a database from before migration 3 has none).
  ASSIGN_OR_RETURN(std::optional<store::Row> has_anchor,
                   tx->QueryOne("SELECT 1 FROM schema_migrations WHERE component = 'audit' AND "
                                "version = 3"));
  if (has_anchor) {
    ASSIGN_OR_RETURN(std::optional<store::Row> anchor,
                     tx->QueryOne("SELECT seq, time_us, hash, verify_key, signature "
                                  "FROM audit_anchor WHERE id = 1"));
    if (!anchor) return Bad(report, 1, "the anchor row is missing");
    ASSIGN_OR_RETURN(const int64_t seq, anchor->GetInt(0));
    if (seq > 0) {
      ASSIGN_OR_RETURN(const int64_t time_us, anchor->GetInt(1));
      ASSIGN_OR_RETURN(std::vector<uint8_t> hash, anchor->GetBlob(2));
      ASSIGN_OR_RETURN(std::vector<uint8_t> verify_key, anchor->GetBlob(3));
      ASSIGN_OR_RETURN(std::vector<uint8_t> signature, anchor->GetBlob(4));
      const std::string what = "the prune anchor at seq " + std::to_string(seq);
      std::string problem =
          CheckSignature(what, seq, time_us, hash, verify_key, signature, options);
      if (!problem.empty()) return Bad(report, seq, std::move(problem));
      if (options.pruned_not_after_us > 0 && time_us >= options.pruned_not_after_us) {
        return Bad(report, seq,
                   "entries up to seq " + std::to_string(seq) +
                       " were pruned before the retention period ended (" + what +
                       " is too recent)");
      }
      if (auto ext = external.find(seq); ext != external.end() && ext->second->hash != hash) {
        return Bad(report, seq, "exported " + At(seq) + " does not match " + what);
      }
      prev = std::move(hash);
      expected = seq + 1;
      last_checkpoint = seq;
      report.last_seq = seq;  // an empty rest is a chain that ends at its anchor
      report.anchor_seq = seq;
      report.anchor_time_us = time_us;
    }
  }
  while (true) {
    ASSIGN_OR_RETURN(
        std::vector<store::Row> rows,
        tx->Query("SELECT seq, time_us, scope, actor, action, target, outcome, request_id, "
                  "prev_hash, hash FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?",
                  {expected, int64_t{options.page_size}}));
    if (rows.empty()) break;
    for (const store::Row& row : rows) {
      AuditEntry e;
      ASSIGN_OR_RETURN(e.seq, row.GetInt(0));
      ASSIGN_OR_RETURN(e.time_us, row.GetInt(1));
      ASSIGN_OR_RETURN(e.event.scope, row.GetText(2));
      ASSIGN_OR_RETURN(e.event.actor, row.GetText(3));
      ASSIGN_OR_RETURN(e.event.action, row.GetText(4));
      ASSIGN_OR_RETURN(e.event.target, row.GetText(5));
      ASSIGN_OR_RETURN(e.event.outcome, row.GetText(6));
      ASSIGN_OR_RETURN(e.event.request_id, row.GetText(7));
      ASSIGN_OR_RETURN(e.prev_hash, row.GetBlob(8));
      ASSIGN_OR_RETURN(e.hash, row.GetBlob(9));
      if (e.seq != expected) {
        return Bad(report, expected,
                   "entry " + std::to_string(expected) + " is missing (the next entry is " +
                       std::to_string(e.seq) + "): entries were deleted");
      }
      if (e.prev_hash != prev) {
        return Bad(report, e.seq,
                   "entry " + std::to_string(e.seq) +
                       ": its previous-hash link does not match entry " +
                       std::to_string(e.seq - 1) + " (entries inserted, deleted or reordered)");
      }
      if (EntryHash(e.seq, e.time_us, e.event, e.prev_hash) != e.hash) {
        return Bad(report, e.seq,
                   "entry " + std::to_string(e.seq) +
                       ": its content does not match its hash (the entry was edited)");
      }
      const auto cp = checkpoints.find(e.seq);
      if (auto ext = external.find(e.seq); ext != external.end()) {
        const CheckpointRecord& r = *ext->second;
        if (r.hash != e.hash) {
          return Bad(report, e.seq,
                     "exported " + At(e.seq) +
                         " does not match the chain (entries up to it were rewritten)");
        }
        if (r.scope != e.event.scope) {
          return Bad(report, e.seq,
                     "exported " + At(e.seq) + " names another scope than the entry there");
        }
        if (cp == checkpoints.end()) {
          return Bad(report, e.seq,
                     At(e.seq) + " is in the exported copy but missing from the database");
        }
        if (cp->second.time_us != r.time_us || cp->second.verify_key != r.verify_key ||
            cp->second.signature != r.signature) {
          return Bad(report, e.seq, At(e.seq) + " in the database differs from the exported copy");
        }
        ++report.external_checkpoints;
      }
      if (cp != checkpoints.end()) {
        if (cp->second.hash != e.hash) {
          return Bad(report, e.seq,
                     At(e.seq) + " does not match the chain (entries up to it were rewritten)");
        }
        std::string problem = CheckSignature(At(e.seq), e.seq, cp->second.time_us, cp->second.hash,
                                             cp->second.verify_key, cp->second.signature, options);
        if (!problem.empty()) return Bad(report, e.seq, std::move(problem));
        ++report.checkpoints;
        last_checkpoint = e.seq;
      }
      prev = e.hash;
      report.entries++;
      report.last_seq = e.seq;
      ++expected;
    }
  }

  if (!external.empty() && external.rbegin()->first > report.last_seq) {
    return Bad(report, report.last_seq + 1,
               At(external.rbegin()->first) + " is in the exported copy but the chain ends at " +
                   std::to_string(report.last_seq) + ": entries were removed from the end");
  }
  if (!checkpoints.empty() && checkpoints.rbegin()->first > report.last_seq) {
    return Bad(report, report.last_seq + 1,
               "a checkpoint exists at seq " + std::to_string(checkpoints.rbegin()->first) +
                   " but the chain ends at " + std::to_string(report.last_seq) +
                   ": entries were removed from the end");
  }
  ASSIGN_OR_RETURN(std::optional<store::Row> head,
                   tx->QueryOne("SELECT seq, hash FROM audit_head WHERE id = 1"));
  if (!head) return Bad(report, report.last_seq + 1, "the head row is missing");
  ASSIGN_OR_RETURN(const int64_t head_seq, head->GetInt(0));
  ASSIGN_OR_RETURN(std::vector<uint8_t> head_hash, head->GetBlob(1));
  if (head_seq > report.last_seq) {
    return Bad(report, report.last_seq + 1,
               "the head records " + std::to_string(head_seq) + " entries but the chain ends at " +
                   std::to_string(report.last_seq) + ": entries were removed from the end");
  }
  if (head_seq < report.last_seq) {
    return Bad(report, head_seq + 1,
               "entries after " + std::to_string(head_seq) +
                   " were added outside the log (the head does not know them)");
  }
  if (head_hash != prev) {
    return Bad(report, report.last_seq,
               "the head's hash does not match entry " + std::to_string(report.last_seq));
  }

  // Coverage: nothing signed vouches for entries after the last checkpoint. Someone who can
  // write the database can delete, edit or append them and recompute the chain back to it.
  report.last_checkpoint_seq = last_checkpoint;
  report.unprotected_entries = report.last_seq - last_checkpoint;
  if (report.unprotected_entries > options.max_unprotected) {
    std::string problem = Unprotected(last_checkpoint + 1, report.last_seq);
    if (options.max_unprotected > 0) {
      problem += " (at most " + std::to_string(options.max_unprotected) + " allowed)";
    }
    report = Bad(report, last_checkpoint + 1, std::move(problem));
    report.head_unprotected = true;
    return report;
  }
  report.ok = true;
  return report;
}

}  // namespace chukan::audit
