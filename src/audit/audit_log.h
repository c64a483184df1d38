// AuditLog: the append-only, hash-chained audit log (監査ログ) kept in one database — the platform
// database or one tenant's — with signed checkpoints. Every login, API call of an existing system,
// import, export, approval and configuration change appends one entry.
//
// Each entry is (seq, time, scope, actor, action, target, outcome, request_id, prev_hash, hash):
// `hash` is BLAKE2b-256 over a length-prefixed encoding of every other field including
// `prev_hash`, the previous entry's hash (docs/audit.md). So an edit, a deletion, an insertion or
// a reordering breaks the chain at a specific entry, which Verify() names.
//
// The chain alone does not stop someone who can write the database from rewriting it and
// recomputing every hash. Checkpoints do: a checkpoint records (seq, hash, time) signed with the
// platform's Ed25519 key, which is not in the database. The log signs its head
//   - when an append finds the newest checkpoint `checkpoint_interval` (5 s) old or older, or
//     none at all (the checkpoint covers the entry being appended, in its transaction);
//   - every `checkpoint_every` entries;
//   - when the owner calls CheckpointIfBehind(): the server does so from a timer (every few
//     seconds) and at shutdown, so the head is signed soon after the last append even when no
//     further append comes;
//   - on demand, Checkpoint().
// Verify() requires a checkpoint covering the head (VerifyOptions::max_unprotected). Checkpoints
// can also be copied to a CheckpointSink outside the database (checkpoint_export.h); Verify()
// checked against that copy also notices deleted checkpoint rows and truncation down to an older
// checkpoint.
//
// Entries carry identifiers and outcomes, never personal data: `target` names an object
// ("inquiry 0123…", "tenant t…"), not a resident's values.
//
// Thread-safety: thread-safe. Appends are serialised by the database (the head row is updated
// first in each appending transaction, which takes its row lock); the head the log keeps in
// memory, and exports, by mutexes of the log.
#ifndef CHUKAN_AUDIT_AUDIT_LOG_H_
#define CHUKAN_AUDIT_AUDIT_LOG_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/checkpoint_export.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "store/database.h"
#include "store/migrations.h"

namespace chukan::audit {

// Limits on field sizes, in bytes.
inline constexpr size_t kMaxScopeBytes = 64;
inline constexpr size_t kMaxActorBytes = 256;
inline constexpr size_t kMaxActionBytes = 128;
inline constexpr size_t kMaxTargetBytes = 512;
inline constexpr size_t kMaxOutcomeBytes = 64;
inline constexpr size_t kMaxRequestIdBytes = 64;

// What happened. `scope` is the tenant id ("t" + org code) or "platform".
struct AuditEvent {
  std::string scope;
  std::string actor;       // "client:<name>", "staff:<user>", "cli:<os user>", "system"
  std::string action;      // "tenant.create", "replica.import", …
  std::string target;      // the object acted on, by identifier
  std::string outcome;     // "ok", "denied", "error:<CODE>"
  std::string request_id;  // may be empty for actions without a request
};

// One stored entry.
struct AuditEntry {
  int64_t seq = 0;
  int64_t time_us = 0;
  AuditEvent event;
  std::vector<uint8_t> prev_hash;  // 32 bytes
  std::vector<uint8_t> hash;       // 32 bytes
};

// The migrations creating audit_log, audit_head and audit_checkpoint (component "audit").
const std::vector<store::Migration>& AuditMigrations();

// The entry hash (docs/audit.md): BLAKE2b-256("chukan-audit-v1\0" || be64(seq) || be64(time_us)
// || for each of scope, actor, action, target, outcome, request_id: be32(len) || bytes
// || prev_hash).
std::vector<uint8_t> EntryHash(int64_t seq, int64_t time_us, const AuditEvent& event,
                               const std::vector<uint8_t>& prev_hash);

// The bytes a checkpoint signature covers: "chukan-audit-checkpoint-v1\0" || be64(seq) || hash
// || be64(time_us).
std::vector<uint8_t> CheckpointMessage(int64_t seq, const std::vector<uint8_t>& hash,
                                       int64_t time_us);

// What AuditLog::Prune did.
struct AuditPrune {
  int64_t deleted = 0;         // entries deleted now
  int64_t anchor_seq = 0;      // the chain now starts after this entry (0: nothing pruned yet)
  int64_t anchor_time_us = 0;  // the time of the anchor's checkpoint (set when deleted > 0)
};

class AuditLog {
 public:
  struct Options {
    // Signs checkpoints when set (not owned; must outlive the AuditLog). Without it no
    // checkpoints are written (and Verify() with its defaults will refuse the chain).
    const crypto::SigningKey* checkpoint_key = nullptr;
    // Write a checkpoint automatically after every this many entries (0: not by count).
    int64_t checkpoint_every = 1000;
    // An append that finds the newest checkpoint at least this old — by `clock`, or with a time
    // after now (the clock was set back) — or finds none, writes a checkpoint of the entry it
    // appends (0: not by time). Must be >= 0.
    Duration checkpoint_interval = std::chrono::seconds(5);
    // Where committed checkpoints are copied (optional; shared with whoever else holds it).
    // Only committed rows are exported, read back from the database, so a checkpoint written in
    // a caller's transaction that later rolls back is never exported: exports happen after
    // Append(event) commits (when it wrote a checkpoint), and in Checkpoint() and
    // CheckpointIfBehind(), which also catch up on rows written inside callers' transactions,
    // by other processes, or whose export failed earlier.
    std::shared_ptr<CheckpointSink> checkpoint_sink = nullptr;
    const Clock* clock = &SystemClock::Get();
  };

  // Applies the audit migrations to `db` and returns a log over it. Does not export.
  // Errors: kInvalidArgument (no database, negative checkpoint_every or checkpoint_interval),
  // from the store (migrations).
  static Result<std::unique_ptr<AuditLog>> Open(std::shared_ptr<store::Database> db,
                                                Options options);

  // Appends `event` inside the caller's transaction `tx`, so the entry commits (or rolls back)
  // together with the operation it records. Returns the entry's seq. `tx` must be a write
  // transaction of this log's database. When a checkpoint is due (by count or by time, see
  // Options) it is written in `tx` too and covers this entry; it is exported later (Options).
  // Errors: kInvalidArgument (a field over its limit or not valid UTF-8), store errors.
  Result<int64_t> Append(store::Transaction& tx, const AuditEvent& event) EXCLUDES(head_mu_);

  // Appends `event` in a transaction of its own and commits it (durably). Returns the seq. When
  // that transaction wrote a checkpoint and a sink is set, exports it after the commit; an export
  // failure does not fail the append (the entry is committed): it is logged
  // ("audit.checkpoint_export_failed") and retried by the next CheckpointIfBehind().
  // Errors: as Append(tx, event), and from the commit.
  Result<int64_t> Append(const AuditEvent& event) EXCLUDES(export_mu_);

  // Retention: deletes the oldest entries, up to a signed checkpoint, inside the caller's write
  // transaction `tx`. The chain then starts after that checkpoint — the anchor (audit_anchor),
  // kept with its signature, so Verify() still checks the rest from a signed hash. Picks the
  // newest checkpoint at most `max_entries` after the current anchor whose entry and signature
  // are older than `before_us` (or, when checkpoints lie further apart, the first such one), and
  // only if every entry up to it is older than `before_us`; deletes those entries and the
  // checkpoints up to it. The caller records the prune in the log (in `tx`). Nothing is due: a
  // result with deleted == 0. Errors: kInvalidArgument (max_entries < 1), store errors.
  Result<AuditPrune> Prune(store::Transaction& tx, int64_t before_us, int64_t max_entries)
      EXCLUDES(head_mu_);
  // Prune(), and when it deleted something, the prune recorded in the log in the same `tx`:
  // action "audit.prune" by "system" in `scope`, target "N entries up to seq S" (what every
  // owner of a log — a tenant's sweep, the hub's, the platform's — writes). Errors: Prune's and
  // Append's.
  Result<AuditPrune> PruneRecorded(store::Transaction& tx, const std::string& scope,
                                   int64_t before_us, int64_t max_entries);
  // Whether Prune may find something: the oldest checkpoint left was signed before
  // `before_us`. One indexed read; for a sweep that writes only when something is due.
  static Result<bool> PruneDue(store::Transaction& tx, int64_t before_us);

  // Signs the current head when no checkpoint covers it yet, in a transaction of its own, then
  // exports every committed checkpoint the sink does not hold yet. Returns true when it signed
  // the head now; false when the head was already covered or the log is empty (it may still
  // have exported). Meant for the owner of the log: call it from a timer every few seconds (at
  // most checkpoint_interval) and once at shutdown after the last append, so that entries
  // appended after the last time-based checkpoint are signed without waiting for another append.
  // Blocks for one short write transaction and the sink's I/O. Do not call it while this thread
  // holds a write transaction of the same SQLite database (it would wait for itself).
  // Errors: kFailedPrecondition without a key; store errors; the sink's error, prefixed with
  // "audit log: exporting checkpoints: " (the checkpoint itself is then committed; calling again
  // retries the export).
  Result<bool> CheckpointIfBehind() EXCLUDES(export_mu_);

  // Like CheckpointIfBehind(), returning the seq of the head, which is now covered (0 when the
  // log is empty: nothing to checkpoint). Errors as CheckpointIfBehind().
  Result<int64_t> Checkpoint() EXCLUDES(export_mu_);

 private:
  AuditLog(std::shared_ptr<store::Database> db, Options options)
      : db_(std::move(db)), options_(std::move(options)) {}
  // Writes a signed checkpoint of (seq, hash) in `tx`; returns its time (microseconds).
  Result<int64_t> WriteCheckpoint(store::Transaction& tx, int64_t seq,
                                  const std::vector<uint8_t>& hash);
  // Signs the head unless covered; sets *seq to the head's seq. Returns whether it signed.
  Result<bool> SignHead(int64_t* seq);
  // Copies committed checkpoints after the sink's last one to the sink (no-op without a sink).
  Status ExportPending() EXCLUDES(export_mu_);

  std::shared_ptr<store::Database> db_;
  const Options options_;
  // The head as this log last wrote or read it, and the newest checkpoint's time as known with
  // it (nullopt: none). Append() moves the database's head from it by compare-and-set.
  struct Head {
    int64_t seq = 0;
    std::vector<uint8_t> hash;
    std::optional<int64_t> newest_checkpoint_us;
  };
  Mutex head_mu_;
  std::optional<Head> head_ GUARDED_BY(head_mu_);
  // Set when this process wrote a checkpoint row that may not be exported yet.
  std::atomic<bool> export_pending_{false};
  // Serialises ExportPending() and so every call into the sink (it guards no member: the sink
  // itself is the shared state).
  Mutex export_mu_;
};

// What Verify() found.
struct VerifyReport {
  bool ok = false;
  int64_t entries = 0;        // entries read
  int64_t checkpoints = 0;    // checkpoints in the database checked
  int64_t last_seq = 0;       // last entry's seq (0 if empty)
  int64_t first_bad_seq = 0;  // the first entry (or checkpoint) found wrong; 0 when ok
  std::string problem;        // what is wrong there, in English; empty when ok
  bool keys_pinned = false;   // checkpoint keys were checked against trusted_keys
  // Set once the chain itself checked out (0 otherwise):
  int64_t last_checkpoint_seq = 0;  // the last checkpoint in the database (0 if none)
  // Entries after the last checkpoint: last_seq - last_checkpoint_seq (all when there is none).
  // Nothing signed vouches for them.
  int64_t unprotected_entries = 0;
  // True when the only finding is unprotected_entries > max_unprotected (the chain and every
  // checkpoint check out): the head is not signed yet, e.g. a server stopped without its
  // shutdown checkpoint, or entries were removed or rewritten back to the last checkpoint.
  bool head_unprotected = false;
  int64_t external_checkpoints = 0;  // distinct exported checkpoints checked
  // Pruned by retention (AuditLog::Prune): the chain starts after this entry, whose signed
  // checkpoint (the anchor, made at anchor_time_us) was checked like any other. 0: not pruned.
  int64_t anchor_seq = 0;
  int64_t anchor_time_us = 0;
};

struct VerifyOptions {
  // Trusted checkpoint verify keys. When empty, each checkpoint is checked against the key
  // stored with it (which shows the chain is self-consistent but not who signed it).
  std::vector<crypto::VerifyKey> trusted_keys;
  // Entries read per query (bounded memory).
  int page_size = 10000;
  // How many trailing entries may lack a covering checkpoint before the chain is refused. 0: the
  // head must be signed (a chain with entries and no checkpoint at all is refused). Raise it to
  // check a database while its server runs (entries of the last few seconds are not signed yet).
  int64_t max_unprotected = 0;
  // An exported copy of the checkpoints (ReadCheckpointFile), or empty. Each must carry a valid
  // signature (by a trusted key when given), match the chain's entry at its seq, and still be in
  // the database; the chain must reach the last of them.
  std::vector<CheckpointRecord> external_checkpoints = {};
  // A pruned chain (anchor_seq > 0) is refused when its anchor was signed at or after this time
  // (microseconds since the epoch): entries were pruned before the retention allowed. 0: not
  // checked. `chukan audit verify` sets it from --retention-days (7 years by default).
  int64_t pruned_not_after_us = 0;
};

// Reads the whole chain in order and checks: seq contiguous from 1 — or, for a pruned chain,
// from the entry after the anchor, whose signature is checked like a checkpoint's and whose
// hash is the first entry's prev_hash; each prev_hash equals the previous entry's hash; each hash
// recomputes; the head row agrees with the last entry; every checkpoint matches the entry at its
// seq and carries a valid signature (by a trusted key when given); every external checkpoint as
// described in VerifyOptions; and at most max_unprotected entries follow the last checkpoint. Stops
// at the first problem and names it in the report (docs/audit.md lists the messages). Memory: one
// page of entries plus every checkpoint. Errors (as Status): kInvalidArgument for a page_size <= 0
// or a negative max_unprotected; failures to read the database. A broken or unprotected chain is a
// report with ok == false.
Result<VerifyReport> Verify(store::Database& db, const VerifyOptions& options = {});

}  // namespace chukan::audit

#endif  // CHUKAN_AUDIT_AUDIT_LOG_H_
