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

#include <atomic>
#include <cstdint>
#include <memory>
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

// NodeProbe: a node's lease of its own name, "node:<instance>", renewed by Probe() every second
// on a thread of its owner's — a write that tells /readyz the node's database takes writes, lists
// the live nodes in node_lease, and finds another live node using the same instance name (two
// such nodes would release each other's outbox leases). The intermediate server and the hub
// each keep one.
//
// Thread-safety: Probe() from one thread at a time; Readiness() from any thread (it reads two
// atomics and never blocks: an io thread answers /readyz with it).
class NodeProbe {
 public:
  // `kind` ("server", "hub") names the node's configuration section in answers and its log
  // events ("<kind>.probe_failed", "<kind>.instance_in_use", "<kind>.instance_free"). `db`
  // must stay open while probing; `clock` must outlive the probe.
  NodeProbe(std::shared_ptr<Database> db, std::string kind, std::string instance, std::string owner,
            const Clock& clock);

  // Takes or renews the name's lease for 15 s. Failures are logged (readiness then lapses).
  void Probe();
  // OK while the last probe's write is at most 5 s old and the name is this node's; otherwise
  // kUnavailable saying why (starting, no write for N s, or the name held by another node).
  Status Readiness() const;
  // Gives the name up at a clean stop (when this node holds it), so the next run is ready at
  // once.
  void Release();

 private:
  const std::shared_ptr<Database> db_;
  const std::string kind_;
  const std::string instance_;
  const std::string owner_;
  const Clock& clock_;
  std::atomic<int64_t> last_write_ms_{0};  // steady clock; 0: never
  std::atomic<bool> name_taken_{false};
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_NODE_LEASE_H_
