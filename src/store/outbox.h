// Outbox: durable messages written in the same transaction as the state change that causes them,
// then delivered by workers with leases, retries and exponential backoff. Later issues use it for
// every message between servers and hub ("a crash at any point loses nothing and duplicates
// nothing": the sender re-delivers until acknowledged, receivers are idempotent).
//
// States of an item:
//   pending  waiting until not_before, then claimable
//   leased   claimed by one owner until lease_until; if not acknowledged by then, claimable again
//   done     acknowledged (kept for dedupe until purged; its payload is deleted at once)
//   dead     failed max_attempts times; kept for an operator until purged, never claimed again
// `attempts` counts claims. Fail() after the n-th attempt schedules the next one at
//   now + d·(1 − jitter·u),  d = min(backoff_cap, backoff_base · 2^(n−1)),  u uniform in [0, 1)
// and after max_attempts the item is dead. A lease that expires after the last attempt makes the
// item dead at the next Claim(). max_attempts, backoff_base and backoff_cap are those of the
// item's topic (OutboxOptions::topics, a DeliveryPolicy each), or of OutboxOptions for a topic
// without a policy of its own; Bury() makes an item dead at once (a permanent failure).
// store::OutboxPump (outbox_pump.h) is the one loop that claims, delivers and finishes items.
//
// The tables `outbox` (one row per item) and `outbox_payload` (its payload, written once) are
// created by OutboxMigrations() (component "outbox"); apply them with
// ApplyMigrations(db, "outbox", OutboxMigrations()) on each database that uses an outbox.
//
// Thread-safety: Outbox is thread-safe. Several processes may claim from one database at once:
// on PostgreSQL Claim uses FOR UPDATE SKIP LOCKED; SQLite serialises writers. Two claimers never
// hold the same item.
#ifndef CHUKAN_STORE_OUTBOX_H_
#define CHUKAN_STORE_OUTBOX_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "store/database.h"
#include "store/migrations.h"
#include "store/value.h"

namespace chukan::store {

// The migrations creating the outbox table (component "outbox").
const std::vector<Migration>& OutboxMigrations();

enum class OutboxState { kPending, kLeased, kDone, kDead };
std::string_view OutboxStateName(OutboxState s);  // "pending", "leased", "done", "dead"

struct OutboxItem {
  int64_t id = 0;
  std::string topic;
  std::string dedupe_key;
  Bytes payload;
  int attempts = 0;       // including the current claim
  TimePoint not_before;   // when it became claimable
  TimePoint lease_until;  // end of the current lease
  OutboxState state = OutboxState::kPending;
  std::string last_error;  // from the last Fail()
};

// How the items of one topic are delivered: how OutboxPump looks for them and claims them, and
// how Outbox::Fail retries them.
struct DeliveryPolicy {
  // How often the pump looks for due items when nothing woke it (OutboxPump::Notify).
  Duration poll_interval = std::chrono::milliseconds(200);
  // Items claimed at once, per database.
  int batch = 256;
  // How long a claim holds an item; the pump renews the leases of the items it still holds
  // when half of it has passed.
  Duration lease = std::chrono::seconds(60);
  // Attempts before the item is dead, and the retry delays between them (see above).
  int max_attempts = 10;
  Duration backoff_base = std::chrono::seconds(1);
  Duration backoff_cap = std::chrono::hours(1);
};

struct OutboxOptions {
  // The retry of topics without a policy in `topics` (their poll interval, batch and lease are
  // DeliveryPolicy's defaults).
  int max_attempts = 10;
  Duration backoff_base = std::chrono::seconds(1);
  Duration backoff_cap = std::chrono::hours(1);
  double jitter = 0.2;  // in [0, 1]; 0 = deterministic
  uint64_t seed = 0;    // jitter RNG seed; 0 = from std::random_device
  // Per-topic policies.
  std::map<std::string, DeliveryPolicy, std::less<>> topics;
};

// How many items of the outbox in `db` are not yet delivered (pending or leased), counting at
// most `at_most` (the count walks the open items' index: its cost is bounded by `at_most`,
// whatever the backlog). kInvalidArgument for at_most < 1.
Result<int64_t> CountOpenOutboxItems(Database& db, int64_t at_most);

class Outbox {
 public:
  // `clock` must outlive the Outbox. kInvalidArgument for max_attempts < 1, a non-positive base,
  // cap < base, or jitter outside [0, 1] (in the options or in a topic's policy), or a topic
  // policy with a non-positive poll interval, batch or lease.
  static Result<std::unique_ptr<Outbox>> Create(const OutboxOptions& options, const Clock& clock);

  // Adds an item inside `txn` (it becomes visible when txn commits). An item with the same
  // (topic, dedupe_key) already present — in any state — is left as it is and nothing is added
  // (returns OK). kInvalidArgument for an empty topic or dedupe key (or longer than 200 bytes).
  Status Enqueue(Transaction& txn, std::string_view topic, std::string_view dedupe_key,
                 const Bytes& payload, TimePoint not_before) const;
  // As Enqueue, due now, but added already leased by `owner` until now + lease, its first attempt
  // counted: for a claimer that delivers it without claiming it (OutboxHandoff). Returns the item
  // as a claim would (payload included), or nullopt when an item with the same (topic, dedupe_key)
  // is present (nothing added). Errors as Enqueue, and kInvalidArgument for an empty owner or
  // lease <= 0. On PostgreSQL one statement, whose answer the write waits for (Enqueue's is not).
  Result<std::optional<OutboxItem>> EnqueueLeased(Transaction& txn, std::string_view topic,
                                                  std::string_view dedupe_key, const Bytes& payload,
                                                  std::string_view owner, Duration lease) const;

  // Claims up to `limit` claimable items (pending and due, or leased with an expired lease) for
  // `owner` until now + lease, in one transaction of its own; items whose lease expired first,
  // then pending ones, oldest not_before first (the result is sorted by not_before, id). Items
  // whose lease expired after their last attempt become dead instead. Expired leases are rare
  // (a claimer that died or stalled), so this Outbox looks for them at most once per
  // min(1 s, lease / 2) of its clock and topic — and again at the next claim while one look
  // found a full batch of them; other claims look at pending items only (PostgreSQL: two
  // statements fewer). An empty vector when nothing is due. kInvalidArgument for an empty owner,
  // limit < 1 or lease <= 0.
  // A non-empty `topic` claims only items of that topic.
  Result<std::vector<OutboxItem>> Claim(Database& db, std::string_view owner, int limit,
                                        Duration lease, std::string_view topic = {}) const;
  // As Claim, inside the caller's write transaction `tx`, so that a claim can share a group
  // commit: the items are leased only once `tx` commits, so they must not be sent before.
  Result<std::vector<OutboxItem>> Claim(Transaction& tx, std::string_view owner, int limit,
                                        Duration lease, std::string_view topic = {}) const;

  // When the next item of `topic` may be claimable that nobody but `owner` holds: the earliest
  // not_before of its pending items, or lease_until of items another claimer holds (claimable
  // when that lease runs out). nullopt when there is none. For a claimer that found nothing
  // and holds nothing, to sleep until then (OutboxPump's quiet pairs); it walks the open items,
  // so it is not for a claimer with a backlog in hand.
  Result<std::optional<TimePoint>> NextDue(Transaction& tx, std::string_view topic,
                                           std::string_view owner) const;

  // Extends the lease of an item `owner` still holds to now + lease. Returns false (and changes
  // nothing) when the item is no longer leased by `owner`. kInvalidArgument for lease <= 0.
  Result<bool> Renew(Transaction& tx, int64_t id, std::string_view owner, Duration lease) const;

  // Marks a leased item done. kFailedPrecondition if it is not leased by `owner` (the lease was
  // lost to another claimer, or it was already acknowledged); kNotFound if no such id.
  Status Ack(Database& db, int64_t id, std::string_view owner) const;

  // Records a failed delivery: pending again after the backoff, or dead after max_attempts.
  // Errors as Ack.
  Status Fail(Database& db, int64_t id, std::string_view owner, std::string_view error) const;

  // As Ack/Fail, inside the caller's write transaction `tx` (committed by the caller), so many
  // acknowledgements can share one durable commit (e.g. through a GroupCommitter).
  Status Ack(Transaction& tx, int64_t id, std::string_view owner) const;
  Status Fail(Transaction& tx, int64_t id, std::string_view owner, std::string_view error) const;
  // As Ack for many items, in one statement per 512 (plus one deleting their payloads): returns
  // the ids acknowledged, ascending; an id missing from it was not leased by `owner` (lost to
  // another claimer, already acknowledged, or unknown).
  Result<std::vector<int64_t>> AckAll(Transaction& tx, const std::vector<int64_t>& ids,
                                      std::string_view owner) const;
  // Records that the receiver was busy (it answered 429, or 503 BUSY): the item is pending again
  // from `not_before`, and the attempt its claim counted is taken back — an item is never dead for
  // waiting out an overload. One statement. Errors as Ack.
  Status Defer(Transaction& tx, int64_t id, std::string_view owner, TimePoint not_before,
               std::string_view error) const;
  // Records a permanent failure: the item is dead at once, whatever its attempts (kept for an
  // operator with `error`, never claimed again). Errors as Ack.
  Status Bury(Transaction& tx, int64_t id, std::string_view owner, std::string_view error) const;
  // Makes every item leased by an owner whose name starts with `owner_prefix` claimable at once
  // (pending, due now), and returns how many. For a process restarting after a crash: the
  // leases its previous incarnation held would otherwise block those items until they expire.
  // Only use a prefix no other live claimer shares. kInvalidArgument for an empty prefix.
  Result<int64_t> ReleaseLeases(Database& db, std::string_view owner_prefix) const;
  Result<int64_t> ReleaseLeases(Transaction& tx, std::string_view owner_prefix) const;
  // Reads one item (any state; a done item's payload is empty). kNotFound if absent.
  Result<OutboxItem> Get(Database& db, int64_t id) const;

  // Deletes, oldest first, done items acknowledged before `done_before` and dead items buried
  // before `dead_before` (with their payloads), at most `limit` in all; returns how many. Walks
  // the index of finished items (migration 3), so its cost is that of the rows it deletes,
  // whatever the table holds. A purged done item no longer dedupes: Enqueue with its (topic,
  // dedupe_key) adds a new item — callers purge only items whose keys cannot come again.
  // kInvalidArgument for limit < 1. The first form runs in a transaction of its own, the second
  // inside the caller's write transaction `tx` (committed by the caller).
  Result<int64_t> Purge(Database& db, TimePoint done_before, TimePoint dead_before,
                        int64_t limit) const;
  Result<int64_t> Purge(Transaction& tx, TimePoint done_before, TimePoint dead_before,
                        int64_t limit) const;
  // Whether Purge(…, done_before, dead_before, …) would delete anything: two indexed reads.
  Result<bool> PurgeDue(Transaction& tx, TimePoint done_before, TimePoint dead_before) const;

  // The delay Fail() applies after `attempts` attempts of an item of `topic`, before jitter
  // (for docs and tests).
  Duration BackoffBeforeJitter(int attempts, std::string_view topic = {}) const;

  // The policy of `topic`: its own from OutboxOptions::topics, or the default one.
  const DeliveryPolicy& Policy(std::string_view topic) const;
  // The clock the outbox reads time from.
  const Clock& clock() const { return clock_; }

 private:
  enum class Outcome { kDone, kRetry, kDead };
  Outbox(const OutboxOptions& options, const Clock& clock);
  Duration Backoff(int attempts, const DeliveryPolicy& policy) const;
  Status Finish(Database& db, int64_t id, std::string_view owner, Outcome outcome,
                std::string_view error) const;
  Status Finish(Transaction& tx, int64_t id, std::string_view owner, Outcome outcome,
                std::string_view error) const;

  const OutboxOptions options_;
  const DeliveryPolicy default_policy_;
  const Clock& clock_;
  mutable Mutex rng_mu_;
  mutable std::mt19937_64 rng_ GUARDED_BY(rng_mu_);
  // When (clock_, µs) a claim of each topic ("": of every topic) last looked for expired leases
  // and found fewer than it could take. Per topic, so that the pumps of two topics sharing this
  // Outbox cannot keep each other from ever looking.
  mutable Mutex looked_mu_;
  mutable std::map<std::string, int64_t, std::less<>> expired_looked_us_ GUARDED_BY(looked_mu_);
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_OUTBOX_H_
