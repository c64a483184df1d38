// Process-wide protection of the secrets a chukan process holds in memory.
//
// SecretBytes wipes each secret when it is freed; this covers the other ways memory leaves the
// process: core dumps and same-user debuggers (ptrace). Call HardenProcess() once at the start of
// `chukan server` / `chukan hub`, before any key is loaded. Thread-safe; idempotent.
#ifndef CHUKAN_CRYPTO_PROCESS_HARDENING_H_
#define CHUKAN_CRYPTO_PROCESS_HARDENING_H_

#include "common/status.h"

namespace chukan::crypto {

// Sets RLIMIT_CORE to 0 (no core files) and marks the process non-dumpable
// (prctl PR_SET_DUMPABLE 0: no core dumps even via a core_pattern pipe, no ptrace attach by
// other processes of the same user, /proc/<pid>/mem unreadable to them).
// Errors: kInternal naming the failing call and errno's text.
Status HardenProcess();

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_PROCESS_HARDENING_H_
