#include "store/node_lease.h"

#include <chrono>
#include <utility>

#include "common/log.h"

namespace chukan::store {
namespace {

constexpr std::string_view kCreate =
    "CREATE TABLE node_lease ("
    " name TEXT PRIMARY KEY,"
    " owner TEXT NOT NULL,"
    " since_us BIGINT NOT NULL,"
    " until_us BIGINT NOT NULL);";

bool HasControl(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

Status CheckName(std::string_view name) {
  if (name.empty() || name.size() > kMaxLeaseNameBytes || HasControl(name)) {
    return InvalidArgumentError("node lease: the name must be 1–128 bytes, no control characters");
  }
  return Status();
}

Status CheckOwner(std::string_view owner) {
  if (owner.empty() || owner.size() > kMaxLeaseOwnerBytes || HasControl(owner)) {
    return InvalidArgumentError("node lease: the owner must be 1–128 bytes, no control characters");
  }
  return Status();
}

}  // namespace

const std::vector<Migration>& NodeLeaseMigrations() {
  static const std::vector<Migration>* const kMigrations = new std::vector<Migration>{
      {1, "create node_lease", std::string(kCreate), std::string(kCreate)},
  };
  return *kMigrations;
}

Result<bool> AcquireNodeLease(Database& db, std::string_view name, std::string_view owner,
                              Duration ttl, const Clock& clock) {
  RETURN_IF_ERROR(CheckName(name));
  RETURN_IF_ERROR(CheckOwner(owner));
  if (ttl <= Duration::zero()) return InvalidArgumentError("node lease: ttl must be positive");
  const int64_t now = ToUnixMicros(clock.Now());
  const int64_t until = now + std::chrono::duration_cast<std::chrono::microseconds>(ttl).count();
  ASSIGN_OR_RETURN(std::unique_ptr<Transaction> tx, db.Begin());
  // The row is taken over only when it is the caller's or has run out; `since_us` is kept on a
  // renewal. RETURNING yields a row only when the insert or the update happened.
  ASSIGN_OR_RETURN(
      std::optional<Row> row,
      tx->QueryOne("INSERT INTO node_lease (name, owner, since_us, until_us) VALUES (?, ?, ?, ?)"
                   " ON CONFLICT (name) DO UPDATE SET"
                   " since_us = CASE WHEN node_lease.owner = excluded.owner"
                   " THEN node_lease.since_us ELSE excluded.since_us END,"
                   " owner = excluded.owner, until_us = excluded.until_us"
                   " WHERE node_lease.owner = excluded.owner OR node_lease.until_us <= ?"
                   " RETURNING owner",
                   {Value(std::string(name)), Value(std::string(owner)), Value(now), Value(until),
                    Value(now)}));
  RETURN_IF_ERROR(tx->Commit());
  return row.has_value();
}

Result<bool> ReleaseNodeLease(Database& db, std::string_view name, std::string_view owner) {
  RETURN_IF_ERROR(CheckName(name));
  RETURN_IF_ERROR(CheckOwner(owner));
  ASSIGN_OR_RETURN(std::unique_ptr<Transaction> tx, db.Begin());
  ASSIGN_OR_RETURN(int64_t n, tx->ExecCount("DELETE FROM node_lease WHERE name = ? AND owner = ?",
                                            {Value(std::string(name)), Value(std::string(owner))}));
  RETURN_IF_ERROR(tx->Commit());
  return n > 0;
}

Result<std::optional<NodeLease>> ReadNodeLease(Database& db, std::string_view name) {
  RETURN_IF_ERROR(CheckName(name));
  ASSIGN_OR_RETURN(std::unique_ptr<Transaction> tx, db.BeginRead());
  ASSIGN_OR_RETURN(std::optional<Row> row,
                   tx->QueryOne("SELECT owner, since_us, until_us FROM node_lease WHERE name = ?",
                                {Value(std::string(name))}));
  if (!row) return std::optional<NodeLease>();
  NodeLease lease;
  lease.name = std::string(name);
  ASSIGN_OR_RETURN(lease.owner, row->GetText(0));
  ASSIGN_OR_RETURN(lease.since_us, row->GetInt(1));
  ASSIGN_OR_RETURN(lease.until_us, row->GetInt(2));
  return std::optional<NodeLease>(std::move(lease));
}

namespace {

// How long a node's name lease lasts (renewed every second) and how old the last renewal may be
// for /readyz to answer 200.
constexpr std::chrono::seconds kNameLease(15);
constexpr int64_t kReadyWithinMs = 5000;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

NodeProbe::NodeProbe(std::shared_ptr<Database> db, std::string kind, std::string instance,
                     std::string owner, const Clock& clock)
    : db_(std::move(db)),
      kind_(std::move(kind)),
      instance_(std::move(instance)),
      owner_(std::move(owner)),
      clock_(clock) {}

void NodeProbe::Probe() {
  Result<bool> mine = AcquireNodeLease(*db_, "node:" + instance_, owner_, kNameLease, clock_);
  if (!mine.ok()) {
    log::Warn(kind_ + ".probe_failed", {log::StatusField(mine.status())});
    return;
  }
  last_write_ms_.store(SteadyMs());
  if (*mine == !name_taken_.load()) return;
  name_taken_.store(!*mine);
  if (!*mine) {
    log::Error(kind_ + ".instance_in_use", {{"instance", instance_}, {"node", owner_}});
  } else {
    log::Info(kind_ + ".instance_free", {{"instance", instance_}});
  }
}

Status NodeProbe::Readiness() const {
  if (name_taken_.load()) {
    return UnavailableError("another running node uses [" + kind_ + "] instance \"" + instance_ +
                            "\": give each node a name of its own");
  }
  const int64_t last = last_write_ms_.load();
  if (last == 0) return UnavailableError("starting: the database has not taken a write yet");
  const int64_t ago = SteadyMs() - last;
  if (ago > kReadyWithinMs) {
    return UnavailableError("the database has not taken a write for " + std::to_string(ago / 1000) +
                            " s");
  }
  return Status();
}

void NodeProbe::Release() {
  if (name_taken_.load()) return;  // not ours to give up
  if (Result<bool> r = ReleaseNodeLease(*db_, "node:" + instance_, owner_); !r.ok()) {
    log::Warn(kind_ + ".job_release_failed", {{"job", "node"}, log::StatusField(r.status())});
  }
}

}  // namespace chukan::store
