// CodeRetention: the retention of the tenant's subject codes (機関別符号 / 符号, table
// subject_codes). A code is deleted once nothing needs it any more: no inquiry or provision row
// names it (those rows are the records of provision and have a retention of their own), the
// tenant's replica (副本) holds nothing of the resident — no current record and no version in
// the history (ReplicaStore::HoldsResident) — and it was last registered (FGU; registering the
// same pair again counts) at least `code_days` ago. A resident whose code went is registered
// again (FGU) before the next inquiry or when records of them are imported again.
//
// The check unseals each candidate's atena_no, so it is not run every second: a walk over the
// candidates (registered at least `code_days` ago, in order of registration, through the index
// subject_codes_registered) starts at most once per `interval` per tenant and examines at most
// `checks` codes per sweep, continuing from a cursor (kept in memory: a restarted server starts a
// new walk). The deletion of the codes found free runs in one short transaction through the
// tenant's group committer and checks every condition again there, so a code that an inquiry,
// a provision, an import or a registration took up meanwhile stays.
//
// Thread-safety: thread-safe. Sweeps of one tenant are meant to come from one thread (the
// housekeeping thread); concurrent ones are safe but may examine the same codes twice.
#ifndef CHUKAN_SERVER_CODE_RETENTION_H_
#define CHUKAN_SERVER_CODE_RETENTION_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status.h"
#include "server/tenant_context.h"

namespace chukan::server {

class CodeRetention {
 public:
  struct Options {
    int64_t code_days = 365;
    // Codes examined per sweep while a walk is under way.
    int64_t checks = 1000;
    // A walk starts at most this often per tenant (measured from the previous walk's start).
    Duration interval = std::chrono::hours(24);
  };
  struct Outcome {
    int64_t checked = 0;  // codes examined by this sweep
    int64_t deleted = 0;
  };

  // `clock` must outlive this.
  CodeRetention(const Options& options, const Clock& clock) : options_(options), clock_(clock) {}

  // One step of the tenant's walk (nothing when none is due). Errors: from the store, and
  // kFailedPrecondition when the context has no replica store. A code whose atena_no does not
  // open is kept and logged ("linkage.code_unreadable"). Blocks.
  Result<Outcome> Sweep(TenantContext& st) EXCLUDES(mu_);

 private:
  struct Walk {
    int64_t generation = 0;  // of the tenant context the walk was for
    bool active = false;
    TimePoint started{};
    // The cursor: the last code examined, by (registered_at_us, subject_code).
    int64_t after_registered = 0;
    std::string after_code;
  };

  const Options options_;
  const Clock& clock_;
  Mutex mu_;
  std::map<std::string, Walk> walks_ GUARDED_BY(mu_);  // by tenant id
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_CODE_RETENTION_H_
