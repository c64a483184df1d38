#include "store/outbox.h"

#include <algorithm>
#include <bit>

#include "store/sql_util.h"

namespace chukan::store {
namespace {

// The item's columns in `outbox`; its payload lives in `outbox_payload` (written once, deleted
// when the item is done), so the claims and acknowledgements that rewrite an item's row do not
// rewrite its payload.
constexpr std::string_view kColumns =
    "id, topic, dedupe_key, attempts, not_before, lease_until, state, last_error";

// When an open item is next due: a leased item when its lease ends, a pending one at not_before.
// The one index over open items is on (state, this); queries name it exactly as written here
// and repeat the index's condition, so that SQLite and PostgreSQL both use the index.
constexpr std::string_view kDue = "COALESCE(lease_until, not_before)";
constexpr std::string_view kOpen = "state IN ('pending', 'leased')";

Result<OutboxState> ParseState(std::string_view s) {
  if (s == "pending") return OutboxState::kPending;
  if (s == "leased") return OutboxState::kLeased;
  if (s == "done") return OutboxState::kDone;
  if (s == "dead") return OutboxState::kDead;
  return DataLossError("outbox: unknown state \"" + std::string(s.substr(0, 16)) + "\"");
}

Result<OutboxItem> ItemFromRow(const Row& r) {
  OutboxItem item;
  ASSIGN_OR_RETURN(item.id, r.GetInt(0));
  ASSIGN_OR_RETURN(item.topic, r.GetText(1));
  ASSIGN_OR_RETURN(item.dedupe_key, r.GetText(2));
  ASSIGN_OR_RETURN(int64_t attempts, r.GetInt(3));
  item.attempts = static_cast<int>(attempts);
  ASSIGN_OR_RETURN(int64_t not_before, r.GetInt(4));
  item.not_before = FromUnixMicros(not_before);
  ASSIGN_OR_RETURN(std::optional<int64_t> lease_until, r.GetOptionalInt(5));
  if (lease_until) item.lease_until = FromUnixMicros(*lease_until);
  ASSIGN_OR_RETURN(std::string state, r.GetText(6));
  ASSIGN_OR_RETURN(item.state, ParseState(state));
  ASSIGN_OR_RETURN(std::optional<std::string> err, r.GetOptionalText(7));
  item.last_error = err.value_or("");
  return item;
}

}  // namespace

// Migration 2 after the payload table is created: the same SQL on both backends.
constexpr std::string_view kMigration2Rest =
    "INSERT INTO outbox_payload (id, payload) SELECT id, payload FROM outbox"
    " WHERE state <> 'done';"
    "DROP INDEX outbox_pending;"
    "DROP INDEX outbox_leased;"
    "ALTER TABLE outbox DROP COLUMN payload;"
    "CREATE INDEX outbox_open ON outbox (state, COALESCE(lease_until, not_before))"
    " WHERE state IN ('pending', 'leased');";

constexpr std::string_view kMigration4 =
    "DROP INDEX outbox_open;"
    "CREATE INDEX outbox_open ON outbox (state, COALESCE(lease_until, not_before), id)"
    " WHERE state IN ('pending', 'leased');"
    "DROP INDEX outbox_finished;"
    "CREATE INDEX outbox_finished ON outbox (state, updated_at, id)"
    " WHERE state IN ('done', 'dead');";

const std::vector<Migration>& OutboxMigrations() {
  static const std::vector<Migration>* const kMigrations = new std::vector<Migration>{
      // NOLINT
      {1, "create outbox",
       "CREATE TABLE outbox ("
       " id INTEGER PRIMARY KEY AUTOINCREMENT,"
       " topic TEXT NOT NULL,"
       " dedupe_key TEXT NOT NULL,"
       " payload BLOB NOT NULL,"
       " state TEXT NOT NULL DEFAULT 'pending',"
       " attempts INTEGER NOT NULL DEFAULT 0,"
       " not_before BIGINT NOT NULL,"
       " lease_owner TEXT,"
       " lease_until BIGINT,"
       " last_error TEXT,"
       " updated_at BIGINT NOT NULL,"
       " UNIQUE (topic, dedupe_key));"
       "CREATE INDEX outbox_pending ON outbox (state, not_before);"
       "CREATE INDEX outbox_leased ON outbox (state, lease_until);",
       "CREATE TABLE outbox ("
       " id BIGSERIAL PRIMARY KEY,"
       " topic TEXT NOT NULL,"
       " dedupe_key TEXT NOT NULL,"
       " payload BYTEA NOT NULL,"
       " state TEXT NOT NULL DEFAULT 'pending',"
       " attempts INTEGER NOT NULL DEFAULT 0,"
       " not_before BIGINT NOT NULL,"
       " lease_owner TEXT,"
       " lease_until BIGINT,"
       " last_error TEXT,"
       " updated_at BIGINT NOT NULL,"
       " UNIQUE (topic, dedupe_key));"
       "CREATE INDEX outbox_pending ON outbox (state, not_before);"
       "CREATE INDEX outbox_leased ON outbox (state, lease_until);"},
      // The payload moves to a table of its own, written once and deleted when the item is done
      // (a claim or an acknowledgement rewrote the whole row, payload included, each time); the
      // two indexes become one over open items only, so that an item entering or leaving a
      // state touches one index entry, not four.
      {2, "outbox payloads apart, one index of open items",
       "CREATE TABLE outbox_payload (id INTEGER PRIMARY KEY, payload BLOB NOT NULL);" +
           std::string(kMigration2Rest),
       "CREATE TABLE outbox_payload (id BIGINT PRIMARY KEY, payload BYTEA NOT NULL);" +
           std::string(kMigration2Rest)},
      // Finished items by age, for Purge: without it a purge reads every row of the table.
      {3, "index of finished outbox items",
       "CREATE INDEX outbox_finished ON outbox (state, updated_at)"
       " WHERE state IN ('done', 'dead');",
       "CREATE INDEX outbox_finished ON outbox (state, updated_at)"
       " WHERE state IN ('done', 'dead');"},
      // Claims and purges take items in (time, id) order. SQLite's index entries end with the
      // rowid (= id), so its indexes gave that order; PostgreSQL's do not, and every claim
      // sorted the whole due backlog to take its first few (1,641 rows sorted for 64 in the
      // hub's benchmark, 1 ms of a 3.5 ms claim). With id in the index, a claim reads its own
      // items only, and a purge its batch (docs/storage.md).
      {4, "id in the outbox's indexes: claims and purges read no backlog", std::string(kMigration4),
       std::string(kMigration4)},
  };
  return *kMigrations;
}

std::string_view OutboxStateName(OutboxState s) {
  switch (s) {
    case OutboxState::kPending:
      return "pending";
    case OutboxState::kLeased:
      return "leased";
    case OutboxState::kDone:
      return "done";
    case OutboxState::kDead:
      return "dead";
  }
  return "unknown";
}

namespace {

DeliveryPolicy DefaultPolicy(const OutboxOptions& options) {
  DeliveryPolicy p;
  p.max_attempts = options.max_attempts;
  p.backoff_base = options.backoff_base;
  p.backoff_cap = options.backoff_cap;
  return p;
}

Status CheckRetry(int max_attempts, Duration base, Duration cap, std::string_view where) {
  if (max_attempts < 1) {
    return InvalidArgumentError("outbox" + std::string(where) + ": max_attempts must be >= 1");
  }
  if (base <= Duration::zero() || cap < base) {
    return InvalidArgumentError("outbox" + std::string(where) +
                                ": need 0 < backoff_base <= backoff_cap");
  }
  return Status();
}

}  // namespace

Outbox::Outbox(const OutboxOptions& options, const Clock& clock)
    : options_(options),
      default_policy_(DefaultPolicy(options)),
      clock_(clock),
      rng_(options.seed ? options.seed : std::random_device()()) {}

Result<std::unique_ptr<Outbox>> Outbox::Create(const OutboxOptions& options, const Clock& clock) {
  RETURN_IF_ERROR(CheckRetry(options.max_attempts, options.backoff_base, options.backoff_cap, ""));
  for (const auto& [topic, p] : options.topics) {
    const std::string where = " topic \"" + topic + "\"";
    RETURN_IF_ERROR(CheckRetry(p.max_attempts, p.backoff_base, p.backoff_cap, where));
    if (p.poll_interval <= Duration::zero() || p.batch < 1 || p.lease <= Duration::zero()) {
      return InvalidArgumentError("outbox" + where +
                                  ": poll_interval, batch and lease must be positive");
    }
  }
  if (!(options.jitter >= 0.0 && options.jitter <= 1.0)) {
    return InvalidArgumentError("outbox: jitter must be in [0, 1]");
  }
  return std::unique_ptr<Outbox>(new Outbox(options, clock));  // private constructor
}

const DeliveryPolicy& Outbox::Policy(std::string_view topic) const {
  auto it = options_.topics.find(topic);
  return it == options_.topics.end() ? default_policy_ : it->second;
}

namespace {

Duration BackoffOf(int attempts, const DeliveryPolicy& p) {
  Duration d = p.backoff_base;
  for (int i = 1; i < attempts && d < p.backoff_cap; ++i) {
    d = d > p.backoff_cap / 2 ? p.backoff_cap : d * 2;
  }
  return std::min(d, p.backoff_cap);
}

}  // namespace

Duration Outbox::BackoffBeforeJitter(int attempts, std::string_view topic) const {
  return BackoffOf(attempts, Policy(topic));
}

Duration Outbox::Backoff(int attempts, const DeliveryPolicy& policy) const {
  const Duration d = BackoffOf(attempts, policy);
  if (options_.jitter == 0.0) return d;
  double u;
  {
    MutexLock lock(rng_mu_);
    u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }
  const auto cut =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double, Duration::period>(
          static_cast<double>(d.count()) * options_.jitter * u));
  return d - cut;
}

namespace {

// The topic and key rules Enqueue and EnqueueLeased share.
Status CheckTopicAndKey(std::string_view topic, std::string_view dedupe_key) {
  if (topic.empty() || topic.size() > 200 || dedupe_key.empty() || dedupe_key.size() > 200) {
    return InvalidArgumentError("outbox: topic and dedupe key must be 1..200 bytes");
  }
  return Status();
}

// Adds one item: `insert` is an "INSERT INTO outbox … ON CONFLICT (topic, dedupe_key) DO
// NOTHING RETURNING id" taking `params`; its payload row follows. On PostgreSQL both are one
// statement (SQLite has no INSERT inside WITH), sent without waiting for its answer (which a
// group commit can pipeline) unless `want_id`. The new item's id; nullopt when the key was
// there already, or when the id was not asked for on PostgreSQL.
Result<std::optional<int64_t>> InsertItem(Transaction& txn, std::string_view insert,
                                          std::vector<Value> params, const Bytes& payload,
                                          bool want_id) {
  if (txn.backend() == Backend::kPostgres) {
    params.push_back(payload);
    const std::string with = "WITH added AS (" + std::string(insert) + ") ";
    if (!want_id) {
      RETURN_IF_ERROR(txn.Exec(
          with + "INSERT INTO outbox_payload (id, payload) SELECT id, ? FROM added", params));
      return std::optional<int64_t>();
    }
    ASSIGN_OR_RETURN(std::vector<Row> added,
                     txn.Query(with + ", stored AS (INSERT INTO outbox_payload (id, payload)"
                                      " SELECT id, ? FROM added) SELECT id FROM added",
                               params));
    if (added.empty()) return std::optional<int64_t>();
    ASSIGN_OR_RETURN(int64_t id, added[0].GetInt(0));
    return std::optional<int64_t>(id);
  }
  ASSIGN_OR_RETURN(std::vector<Row> added, txn.Query(std::string(insert), params));
  if (added.empty()) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(int64_t id, added[0].GetInt(0));
  RETURN_IF_ERROR(
      txn.Exec("INSERT INTO outbox_payload (id, payload) VALUES (?, ?)", {id, payload}));
  return std::optional<int64_t>(id);
}

}  // namespace

Status Outbox::Enqueue(Transaction& txn, std::string_view topic, std::string_view dedupe_key,
                       const Bytes& payload, TimePoint not_before) const {
  RETURN_IF_ERROR(CheckTopicAndKey(topic, dedupe_key));
  return InsertItem(txn,
                    "INSERT INTO outbox (topic, dedupe_key, state, attempts, not_before,"
                    " updated_at) VALUES (?, ?, 'pending', 0, ?, ?)"
                    " ON CONFLICT (topic, dedupe_key) DO NOTHING RETURNING id",
                    {std::string(topic), std::string(dedupe_key), ToUnixMicros(not_before),
                     ToUnixMicros(clock_.Now())},
                    payload, /*want_id=*/false)
      .status();
}

Result<std::optional<OutboxItem>> Outbox::EnqueueLeased(Transaction& txn, std::string_view topic,
                                                        std::string_view dedupe_key,
                                                        const Bytes& payload,
                                                        std::string_view owner,
                                                        Duration lease) const {
  RETURN_IF_ERROR(CheckTopicAndKey(topic, dedupe_key));
  if (owner.empty() || lease <= Duration::zero()) {
    return InvalidArgumentError("outbox: EnqueueLeased needs an owner and a positive lease");
  }
  const TimePoint now = clock_.Now();
  const TimePoint until = now + lease;
  ASSIGN_OR_RETURN(
      std::optional<int64_t> id,
      InsertItem(txn,
                 "INSERT INTO outbox (topic, dedupe_key, state, attempts, not_before, lease_owner,"
                 " lease_until, updated_at) VALUES (?, ?, 'leased', 1, ?, ?, ?, ?)"
                 " ON CONFLICT (topic, dedupe_key) DO NOTHING RETURNING id",
                 {std::string(topic), std::string(dedupe_key), ToUnixMicros(now),
                  std::string(owner), ToUnixMicros(until), ToUnixMicros(now)},
                 payload, /*want_id=*/true));
  if (!id) return std::optional<OutboxItem>();  // already there
  OutboxItem item;
  item.id = *id;
  item.topic = std::string(topic);
  item.dedupe_key = std::string(dedupe_key);
  item.payload = payload;
  item.attempts = 1;
  // As stored: whole microseconds.
  item.not_before = FromUnixMicros(ToUnixMicros(now));
  item.lease_until = FromUnixMicros(ToUnixMicros(until));
  item.state = OutboxState::kLeased;
  return std::optional<OutboxItem>(std::move(item));
}

Result<std::vector<OutboxItem>> Outbox::Claim(Database& db, std::string_view owner, int limit,
                                              Duration lease, std::string_view topic) const {
  if (owner.empty() || limit < 1 || lease <= Duration::zero()) {
    return InvalidArgumentError("outbox: Claim needs an owner, limit >= 1 and a positive lease");
  }
  ASSIGN_OR_RETURN(auto txn, db.Begin());
  ASSIGN_OR_RETURN(std::vector<OutboxItem> items, Claim(*txn, owner, limit, lease, topic));
  RETURN_IF_ERROR(txn->Commit());
  return items;
}

Result<std::vector<OutboxItem>> Outbox::Claim(Transaction& tx, std::string_view owner, int limit,
                                              Duration lease, std::string_view topic) const {
  if (owner.empty() || limit < 1 || lease <= Duration::zero()) {
    return InvalidArgumentError("outbox: Claim needs an owner, limit >= 1 and a positive lease");
  }
  const int64_t now = ToUnixMicros(clock_.Now());
  const int64_t until = ToUnixMicros(clock_.Now() + lease);
  // Expired leases: looked for at most once per min(1 s, lease / 2) (a clock set back looks at
  // once), unless the last look filled its batch with them.
  const int64_t look_every_us = std::min<int64_t>(
      1'000'000, std::chrono::duration_cast<std::chrono::microseconds>(lease).count() / 2);
  bool look_for_expired = true;
  {
    MutexLock hold(looked_mu_);
    if (auto it = expired_looked_us_.find(topic); it != expired_looked_us_.end()) {
      look_for_expired = now < it->second || now - it->second >= look_every_us;
    }
  }
  // Expired leases after the last attempt: dead, by the max_attempts of each item's topic.
  auto bury_expired = [&](const std::string& topic_cond, std::vector<Value> params,
                          int max_attempts) -> Status {
    std::vector<Value> all = {now, now, static_cast<int64_t>(max_attempts)};
    for (Value& v : params) all.push_back(std::move(v));
    return tx.Exec(
        "UPDATE outbox SET state = 'dead', lease_owner = NULL, updated_at = ?,"
        " last_error = 'lease expired after the last attempt'"
        " WHERE " +
            std::string(kOpen) + " AND state = 'leased' AND " + std::string(kDue) +
            " <= ? AND attempts >= ?" + topic_cond,
        all);
  };
  if (!look_for_expired) {
    // pending items only (below)
  } else if (!topic.empty()) {
    RETURN_IF_ERROR(
        bury_expired(" AND topic = ?", {std::string(topic)}, Policy(topic).max_attempts));
  } else {
    std::string others;
    std::vector<Value> listed;
    for (const auto& [name, p] : options_.topics) {
      RETURN_IF_ERROR(bury_expired(" AND topic = ?", {name}, p.max_attempts));
      others += others.empty() ? "?" : ", ?";
      listed.emplace_back(name);
    }
    RETURN_IF_ERROR(bury_expired(others.empty() ? "" : " AND topic NOT IN (" + others + ")",
                                 std::move(listed), default_policy_.max_attempts));
  }
  // SQLite serialises writers, so a plain subquery suffices; PostgreSQL claimers skip each
  // other's locked rows instead of waiting for them or claiming them twice.
  const std::string lock = tx.backend() == Backend::kPostgres ? " FOR UPDATE SKIP LOCKED" : "";
  std::vector<OutboxItem> items;
  // Expired leases first, then pending items: each an ordered walk of the index, so a claim
  // costs its own items, whatever the backlog behind them.
  for (const char* state : {"leased", "pending"}) {
    const int64_t want = static_cast<int64_t>(limit) - static_cast<int64_t>(items.size());
    if (want <= 0) break;
    const bool expired = std::string_view(state) == "leased";
    if (expired && !look_for_expired) continue;
    const std::string where = std::string(kOpen) + " AND state = ? AND " + std::string(kDue) +
                              " <= ?" + (topic.empty() ? "" : " AND topic = ?");
    std::vector<Value> find = {std::string(state), now};
    if (!topic.empty()) find.emplace_back(std::string(topic));
    // SQLite: a look first. An UPDATE … WHERE id IN (subquery) … RETURNING builds two ephemeral
    // tables (the id list, the returned rows) even when it finds nothing: 29 µs against 2.3 µs
    // for the SELECT of the same items, and most claims find nothing (a topic woken with the
    // other, an idle tenant). PostgreSQL keeps the one statement (a look would be a round trip).
    if (tx.backend() == Backend::kSqlite) {
      ASSIGN_OR_RETURN(std::optional<Row> any,
                       tx.QueryOne("SELECT 1 FROM outbox WHERE " + where + " LIMIT 1", find));
      if (!any) {
        if (expired) {
          MutexLock hold(looked_mu_);
          expired_looked_us_.insert_or_assign(std::string(topic), now);
        }
        continue;
      }
    }
    std::vector<Value> params = {std::string(owner), until, now};
    for (Value& v : find) params.push_back(std::move(v));
    params.emplace_back(want);
    ASSIGN_OR_RETURN(
        std::vector<Row> rows,
        tx.Query(std::string("UPDATE outbox SET state = 'leased', lease_owner = ?, lease_until = ?,"
                             " attempts = attempts + 1, updated_at = ? WHERE ") +
                     KeyIn(tx.backend(), "id",
                           "SELECT id FROM outbox WHERE " + where + " ORDER BY " +
                               std::string(kDue) + ", id LIMIT ?" + lock) +
                     " RETURNING " + std::string(kColumns) +
                     ", (SELECT payload FROM outbox_payload p WHERE p.id = outbox.id)",
                 params));
    // The payload comes with its item (column 8), not in a statement of its own per item.
    for (const Row& r : rows) {
      ASSIGN_OR_RETURN(OutboxItem item, ItemFromRow(r));
      ASSIGN_OR_RETURN(std::optional<Bytes> payload, r.GetOptionalBlob(8));
      if (!payload) {
        return DataLossError("outbox: item " + std::to_string(item.id) + " has no payload");
      }
      item.payload = std::move(*payload);
      items.push_back(std::move(item));
    }
    // A look that filled the batch may have left more: look again at the next claim.
    if (expired && static_cast<int64_t>(rows.size()) < want) {
      MutexLock hold(looked_mu_);
      expired_looked_us_.insert_or_assign(std::string(topic), now);
    }
  }
  std::sort(items.begin(), items.end(), [](const OutboxItem& a, const OutboxItem& b) {
    return a.not_before != b.not_before ? a.not_before < b.not_before : a.id < b.id;
  });
  return items;
}

Status Outbox::Finish(Transaction& tx, int64_t id, std::string_view owner, Outcome outcome,
                      std::string_view error) const {
  Transaction* txn = &tx;
  const int64_t now = ToUnixMicros(clock_.Now());
  if (outcome == Outcome::kDone) {
    // The common case in one statement (one round trip on PostgreSQL; the payload's DELETE goes
    // with the next): only when it changes nothing is the row read, to say why.
    ASSIGN_OR_RETURN(const int64_t changed,
                     txn->ExecCount("UPDATE outbox SET state = 'done', lease_owner = NULL,"
                                    " lease_until = NULL, updated_at = ?"
                                    " WHERE id = ? AND state = 'leased' AND lease_owner = ?",
                                    {now, id, std::string(owner)}));
    if (changed == 1) return txn->Exec("DELETE FROM outbox_payload WHERE id = ?", {id});
  }
  ASSIGN_OR_RETURN(
      auto row,
      txn->QueryOne("SELECT attempts, state, lease_owner, topic FROM outbox WHERE id = ?", {id}));
  if (!row) return NotFoundError("outbox: no item " + std::to_string(id));
  ASSIGN_OR_RETURN(int64_t attempts, row->GetInt(0));
  ASSIGN_OR_RETURN(std::string state, row->GetText(1));
  ASSIGN_OR_RETURN(std::optional<std::string> holder, row->GetOptionalText(2));
  ASSIGN_OR_RETURN(std::string topic, row->GetText(3));
  auto not_held = [&] {
    return FailedPreconditionError("outbox: item " + std::to_string(id) + " is " + state +
                                   (holder ? ", leased by another owner" : "") +
                                   ", not leased by this owner");
  };
  if (state != "leased" || holder != std::string(owner)) return not_held();
  if (outcome == Outcome::kDone) {
    // Leased by `owner` now, but not when the UPDATE above ran (PostgreSQL: it expired and was
    // claimed again by the same owner in between): that claim delivers it again.
    return FailedPreconditionError("outbox: item " + std::to_string(id) +
                                   " was not leased by this owner when acknowledged");
  }
  int64_t changed = 0;
  {
    const DeliveryPolicy& policy = Policy(topic);
    const bool dead = outcome == Outcome::kDead || attempts >= policy.max_attempts;
    const int64_t next =
        dead ? now : ToUnixMicros(clock_.Now() + Backoff(static_cast<int>(attempts), policy));
    ASSIGN_OR_RETURN(
        changed, txn->ExecCount("UPDATE outbox SET state = ?, lease_owner = NULL,"
                                " lease_until = NULL, not_before = ?,"
                                " last_error = ?, updated_at = ?"
                                " WHERE id = ? AND state = 'leased'"
                                " AND lease_owner = ?",
                                {std::string(dead ? "dead" : "pending"), next,
                                 std::string(error.substr(0, 1000)), now, id, std::string(owner)}));
  }
  // PostgreSQL: another claimer may have taken the row between our read and our update.
  if (changed != 1) return not_held();
  return Status();
}

Status Outbox::Finish(Database& db, int64_t id, std::string_view owner, Outcome outcome,
                      std::string_view error) const {
  ASSIGN_OR_RETURN(auto txn, db.Begin());
  RETURN_IF_ERROR(Finish(*txn, id, owner, outcome, error));
  return txn->Commit();
}

Status Outbox::Ack(Transaction& tx, int64_t id, std::string_view owner) const {
  return Finish(tx, id, owner, Outcome::kDone, {});
}

Status Outbox::Fail(Transaction& tx, int64_t id, std::string_view owner,
                    std::string_view error) const {
  return Finish(tx, id, owner, Outcome::kRetry, error);
}

Result<int64_t> CountOpenOutboxItems(Database& db, int64_t at_most) {
  if (at_most < 1) return InvalidArgumentError("outbox: count at most must be >= 1");
  ASSIGN_OR_RETURN(auto tx, db.BeginReadOnce());
  ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE " +
                                              std::string(kOpen) + " LIMIT ?) AS open_items",
                                          {at_most}));
  if (!row) return InternalError("outbox: COUNT returned no row");
  return row->GetInt(0);
}

Status Outbox::Defer(Transaction& tx, int64_t id, std::string_view owner, TimePoint not_before,
                     std::string_view error) const {
  // The claim counted an attempt; a busy receiver is not a failure, so it is taken back.
  ASSIGN_OR_RETURN(const int64_t changed,
                   tx.ExecCount("UPDATE outbox SET state = 'pending', lease_owner = NULL,"
                                " lease_until = NULL, not_before = ?,"
                                " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
                                " last_error = ?, updated_at = ?"
                                " WHERE id = ? AND state = 'leased' AND lease_owner = ?",
                                {ToUnixMicros(not_before), std::string(error.substr(0, 1000)),
                                 ToUnixMicros(clock_.Now()), id, std::string(owner)}));
  if (changed == 1) return Status();
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT state FROM outbox WHERE id = ?", {id}));
  if (!row) return NotFoundError("outbox: no item " + std::to_string(id));
  return FailedPreconditionError("outbox: item " + std::to_string(id) +
                                 " is not leased by this owner");
}

Result<std::vector<int64_t>> Outbox::AckAll(Transaction& tx, const std::vector<int64_t>& ids,
                                            std::string_view owner) const {
  // Statements of at most this many ids (far below either backend's limit on parameters).
  constexpr size_t kPerStatement = 512;
  // `n` ids as placeholders "?, ?, …", padded to a power of two by repeating the last id (an id
  // twice in IN changes nothing): a connection then prepares at most ten shapes of each
  // statement, not one per batch size.
  auto in_list = [](const int64_t* first, size_t n, std::string* list, std::vector<Value>* args) {
    const size_t shape = std::bit_ceil(n);
    for (size_t i = 0; i < shape; ++i) {
      *list += i == 0 ? "?" : ", ?";
      args->emplace_back(first[std::min(i, n - 1)]);
    }
  };
  std::vector<int64_t> acked;
  const int64_t now = ToUnixMicros(clock_.Now());
  for (size_t from = 0; from < ids.size(); from += kPerStatement) {
    const size_t to = std::min(ids.size(), from + kPerStatement);
    std::string list;
    std::vector<Value> args = {now};
    in_list(ids.data() + from, to - from, &list, &args);
    args.emplace_back(std::string(owner));
    // An item not leased by `owner` any more is simply not returned (its lease passed to
    // another claimer, which delivers it again).
    ASSIGN_OR_RETURN(std::vector<Row> rows,
                     tx.Query("UPDATE outbox SET state = 'done', lease_owner = NULL,"
                              " lease_until = NULL, updated_at = ?"
                              " WHERE id IN (" +
                                  list +
                                  ") AND state = 'leased'"
                                  " AND lease_owner = ? RETURNING id",
                              args));
    if (rows.empty()) continue;
    const size_t before = acked.size();
    for (const Row& r : rows) {
      ASSIGN_OR_RETURN(const int64_t id, r.GetInt(0));
      acked.push_back(id);
    }
    std::string done;
    std::vector<Value> done_args;
    in_list(acked.data() + before, acked.size() - before, &done, &done_args);
    // Delivered: the payloads have no further use (as Ack).
    RETURN_IF_ERROR(tx.Exec("DELETE FROM outbox_payload WHERE id IN (" + done + ")", done_args));
  }
  std::sort(acked.begin(), acked.end());
  return acked;
}

Status Outbox::Bury(Transaction& tx, int64_t id, std::string_view owner,
                    std::string_view error) const {
  return Finish(tx, id, owner, Outcome::kDead, error);
}

Result<std::optional<TimePoint>> Outbox::NextDue(Transaction& tx, std::string_view topic,
                                                 std::string_view owner) const {
  ASSIGN_OR_RETURN(
      std::optional<Row> row,
      tx.QueryOne("SELECT MIN(" + std::string(kDue) + ") FROM outbox WHERE " + std::string(kOpen) +
                      " AND topic = ? AND (lease_owner IS NULL OR lease_owner <> ?)",
                  {std::string(topic), std::string(owner)}));
  if (!row || row->IsNull(0)) return std::optional<TimePoint>();
  ASSIGN_OR_RETURN(const int64_t us, row->GetInt(0));
  return std::optional<TimePoint>(FromUnixMicros(us));
}

Result<bool> Outbox::Renew(Transaction& tx, int64_t id, std::string_view owner,
                           Duration lease) const {
  if (lease <= Duration::zero())
    return InvalidArgumentError("outbox: Renew needs a positive lease");
  const TimePoint now = clock_.Now();
  ASSIGN_OR_RETURN(int64_t n, tx.ExecCount("UPDATE outbox SET lease_until = ?, updated_at = ?"
                                           " WHERE id = ? AND state = 'leased'"
                                           " AND lease_owner = ?",
                                           {ToUnixMicros(now + lease), ToUnixMicros(now), id,
                                            std::string(owner)}));
  return n == 1;
}

Result<int64_t> Outbox::ReleaseLeases(Database& db, std::string_view owner_prefix) const {
  if (owner_prefix.empty()) return InvalidArgumentError("outbox: empty owner prefix");
  ASSIGN_OR_RETURN(auto txn, db.Begin());
  ASSIGN_OR_RETURN(int64_t n, ReleaseLeases(*txn, owner_prefix));
  RETURN_IF_ERROR(txn->Commit());
  return n;
}

Result<int64_t> Outbox::ReleaseLeases(Transaction& tx, std::string_view owner_prefix) const {
  if (owner_prefix.empty()) return InvalidArgumentError("outbox: empty owner prefix");
  const int64_t now = ToUnixMicros(clock_.Now());
  // Attempts stay counted: a delivery cut short by a crash still used one attempt.
  return tx.ExecCount(
      "UPDATE outbox SET state = 'pending', lease_owner = NULL,"
      " lease_until = NULL, not_before = ?, updated_at = ?"
      " WHERE state = 'leased' AND substr(lease_owner, 1, ?) = ?",
      {now, now, static_cast<int64_t>(owner_prefix.size()), std::string(owner_prefix)});
}

Status Outbox::Ack(Database& db, int64_t id, std::string_view owner) const {
  return Finish(db, id, owner, Outcome::kDone, {});
}

Status Outbox::Fail(Database& db, int64_t id, std::string_view owner,
                    std::string_view error) const {
  return Finish(db, id, owner, Outcome::kRetry, error);
}

Result<OutboxItem> Outbox::Get(Database& db, int64_t id) const {
  ASSIGN_OR_RETURN(auto txn, db.BeginRead());
  ASSIGN_OR_RETURN(
      auto row,
      txn->QueryOne("SELECT " + std::string(kColumns) + " FROM outbox WHERE id = ?", {id}));
  if (!row) return NotFoundError("outbox: no item " + std::to_string(id));
  ASSIGN_OR_RETURN(OutboxItem item, ItemFromRow(*row));
  ASSIGN_OR_RETURN(auto p, txn->QueryOne("SELECT payload FROM outbox_payload WHERE id = ?", {id}));
  if (p) {
    ASSIGN_OR_RETURN(item.payload, p->GetBlob(0));
  }
  return item;
}

Result<int64_t> Outbox::Purge(Database& db, TimePoint done_before, TimePoint dead_before,
                              int64_t limit) const {
  ASSIGN_OR_RETURN(auto txn, db.Begin());
  ASSIGN_OR_RETURN(int64_t n, Purge(*txn, done_before, dead_before, limit));
  RETURN_IF_ERROR(txn->Commit());
  return n;
}

namespace {

// The finished items of `state` last updated before a bound, oldest first: the queries repeat
// the index's condition (kFinished) so that both engines walk outbox_finished.
constexpr std::string_view kFinished = "state IN ('done', 'dead')";
std::string FinishedBefore(std::string_view state) {
  return "SELECT id FROM outbox WHERE " + std::string(kFinished) + " AND state = '" +
         std::string(state) + "' AND updated_at < ? ORDER BY updated_at, id";
}

}  // namespace

Result<int64_t> Outbox::Purge(Transaction& tx, TimePoint done_before, TimePoint dead_before,
                              int64_t limit) const {
  if (limit < 1) return InvalidArgumentError("outbox: Purge needs limit >= 1");
  // Done items have no payload (Finish deletes it with the acknowledgement, and migration 2 moved
  // none of theirs), so only their rows go.
  ASSIGN_OR_RETURN(int64_t done,
                   tx.ExecCount("DELETE FROM outbox WHERE " +
                                    KeyIn(tx.backend(), "id", FinishedBefore("done") + " LIMIT ?"),
                                {ToUnixMicros(done_before), limit}));
  if (done >= limit) return done;
  // A dead item is final (nothing updates it again), so the same subquery names the same items
  // twice within this transaction: first their payloads go, then their rows.
  const std::string dead = KeyIn(tx.backend(), "id", FinishedBefore("dead") + " LIMIT ?");
  const std::vector<Value> args = {ToUnixMicros(dead_before), limit - done};
  RETURN_IF_ERROR(tx.Exec("DELETE FROM outbox_payload WHERE " + dead, args));
  ASSIGN_OR_RETURN(int64_t buried, tx.ExecCount("DELETE FROM outbox WHERE " + dead, args));
  return done + buried;
}

Result<bool> Outbox::PurgeDue(Transaction& tx, TimePoint done_before, TimePoint dead_before) const {
  for (auto [state, before] : {std::pair{"done", done_before}, std::pair{"dead", dead_before}}) {
    ASSIGN_OR_RETURN(auto row,
                     tx.QueryOne(FinishedBefore(state) + " LIMIT 1", {ToUnixMicros(before)}));
    if (row) return true;
  }
  return false;
}

}  // namespace chukan::store
