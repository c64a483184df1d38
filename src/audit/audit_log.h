// AuditLog: the append-only, hash-chained audit log (監査ログ) kept in one database — the platform
// database or one tenant's — with signed checkpoints. Every login, API call of an existing system,
// import, export, approval and configuration change appends one entry.
//
// Each entry is (seq, time, scope, actor, action, target, outcome, request_id, prev_hash, hash):
// `hash` is BLAKE2b-256 over a length-prefixed encoding of every other field including
// `prev_hash`, the previous entry's hash (docs/audit.md). So an edit, a deletion, an insertion or
// a reordering breaks the chain at a specific entry, which Verify() names. Every
// `checkpoint_every` entries (and on demand) a checkpoint records (seq, hash, time) signed with
// the platform's Ed25519 key; checkpoints catch a chain rewritten wholesale after the fact.
//
// Entries carry identifiers and outcomes, never personal data: `target` names an object
// ("inquiry 0123…", "tenant t…"), not a resident's values.
//
// Thread-safety: thread-safe. Appends are serialised by the database (the head row is updated
// first in each appending transaction, which takes its row lock).
#ifndef CHUKAN_AUDIT_AUDIT_LOG_H_
#define CHUKAN_AUDIT_AUDIT_LOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
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

class AuditLog {
 public:
  struct Options {
    // Signs checkpoints when set (not owned; must outlive the AuditLog). Without it no
    // checkpoints are written.
    const crypto::SigningKey* checkpoint_key = nullptr;
    // Write a checkpoint automatically after every this many entries (0: only on demand).
    int64_t checkpoint_every = 1000;
    const Clock* clock = &SystemClock::Get();
  };

  // Applies the audit migrations to `db` and returns a log over it.
  // Errors: from the store (migrations).
  static Result<std::unique_ptr<AuditLog>> Open(std::shared_ptr<store::Database> db,
                                                Options options);

  // Appends `event` inside the caller's transaction `tx`, so the entry commits (or rolls back)
  // together with the operation it records. Returns the entry's seq. `tx` must be a write
  // transaction of this log's database.
  // Errors: kInvalidArgument (a field over its limit or not valid UTF-8), store errors.
  Result<int64_t> Append(store::Transaction& tx, const AuditEvent& event);

  // Appends `event` in a transaction of its own and commits it (durably). Returns the seq.
  Result<int64_t> Append(const AuditEvent& event);

  // Writes a signed checkpoint of the current head, in its own transaction. Returns its seq
  // (0 when the log is empty: nothing to checkpoint). kFailedPrecondition without a key.
  Result<int64_t> Checkpoint();

 private:
  AuditLog(std::shared_ptr<store::Database> db, Options options)
      : db_(std::move(db)), options_(options) {}
  Status WriteCheckpoint(store::Transaction& tx, int64_t seq, const std::vector<uint8_t>& hash);

  std::shared_ptr<store::Database> db_;
  Options options_;
};

// What Verify() found.
struct VerifyReport {
  bool ok = false;
  int64_t entries = 0;        // entries read
  int64_t checkpoints = 0;    // checkpoints checked
  int64_t last_seq = 0;       // last entry's seq (0 if empty)
  int64_t first_bad_seq = 0;  // the first entry (or checkpoint) found wrong; 0 when ok
  std::string problem;        // what is wrong there, in English; empty when ok
  bool keys_pinned = false;   // checkpoint keys were checked against trusted_keys
};

struct VerifyOptions {
  // Trusted checkpoint verify keys. When empty, each checkpoint is checked against the key
  // stored with it (which shows the chain is self-consistent but not who signed it).
  std::vector<crypto::VerifyKey> trusted_keys;
  // Entries read per query (bounded memory).
  int page_size = 10000;
};

// Reads the whole chain in order and checks: seq contiguous from 1; each prev_hash equals the
// previous entry's hash; each hash recomputes; the head row agrees with the last entry; every
// checkpoint matches the entry at its seq and carries a valid signature (by a trusted key when
// given). Stops at the first problem and names it in the report.
// Errors (as Status): only failures to read the database; a broken chain is a report with
// ok == false.
Result<VerifyReport> Verify(store::Database& db, const VerifyOptions& options = {});

}  // namespace chukan::audit

#endif  // CHUKAN_AUDIT_AUDIT_LOG_H_
