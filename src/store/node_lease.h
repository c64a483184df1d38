// Node leases: which one of several processes sharing a database runs a job now. A sweep, a
// re-encryption or any other work that must run once across the nodes of a cluster (several
// `chukan server` or `chukan hub` processes on one PostgreSQL) is led by whichever node holds its
// lease; the holder renews it while it runs, and when it dies another node takes the job over
// once the lease has run out.
//
// A lease is one row of the table `node_lease` (name, owner, since_us, until_us), created by
// NodeLeaseMigrations() (component "node_lease"). Taking or renewing it is one upsert that
// succeeds only when the row is absent, already the caller's, or expired — atomic on both
// backends (SQLite serialises writers; PostgreSQL's INSERT … ON CONFLICT locks the row), so two
// nodes never both hold a lease.
//
// Times are the caller's clock (a FakeClock in tests). Nodes' clocks must agree to well within
// the lease's length (`chukan doctor` checks the skew against the hub).
//
// Thread-safety: the functions are thread-safe (they use the database's own transactions).
#ifndef CHUKAN_STORE_NODE_LEASE_H_
#define CHUKAN_STORE_NODE_LEASE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/database.h"
#include "store/migrations.h"

namespace chukan::store {

// The migration creating node_lease (component "node_lease").
const std::vector<Migration>& NodeLeaseMigrations();

// Limits on the names: a lease name and an owner are 1–128 bytes without control characters
// (a node's name lease is "node:<instance>", and an instance is any name of up to 64 bytes).
inline constexpr size_t kMaxLeaseNameBytes = 128;
inline constexpr size_t kMaxLeaseOwnerBytes = 128;

// Takes the lease `name` for `owner` until now + ttl, or renews it when `owner` holds it.
// Returns true when `owner` holds it afterwards, false when another owner's lease is still
// running (nothing changes then). kInvalidArgument for a bad name or owner or ttl <= 0; store
// errors (kUnavailable when the database cannot be reached: the caller does not hold it).
Result<bool> AcquireNodeLease(Database& db, std::string_view name, std::string_view owner,
                              Duration ttl, const Clock& clock);

// Gives the lease up when `owner` holds it (a node stopping cleanly lets another take the job at
// once). Returns whether it held it. Errors as AcquireNodeLease.
Result<bool> ReleaseNodeLease(Database& db, std::string_view name, std::string_view owner);

// Who holds `name` (an expired lease included: `until_us` tells). std::nullopt when no node ever
// took it.
struct NodeLease {
  std::string name;
  std::string owner;
  int64_t since_us = 0;  // when `owner` first took it (renewals keep it)
  int64_t until_us = 0;
};
Result<std::optional<NodeLease>> ReadNodeLease(Database& db, std::string_view name);

}  // namespace chukan::store

#endif  // CHUKAN_STORE_NODE_LEASE_H_
