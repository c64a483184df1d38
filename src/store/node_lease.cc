#include "store/node_lease.h"

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

}  // namespace chukan::store
