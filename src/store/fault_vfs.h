// FaultVfs: a SQLite VFS for tests that wraps the default ("unix") VFS and fails chosen file
// operations on demand — an fsync that fails (SQLITE_IOERR_FSYNC), a write that finds the disk
// full (ENOSPC: SQLITE_FULL), a short write (part of the buffer stored, then an I/O error, as
// the unix VFS reports an EIO after a partial pwrite). It is how the store's tests prove that
// nothing is lost or half-written under disk faults (docs/storage.md, "Faults and recovery").
//
// Test support only: linked into test binaries (library chukan_store_faults), never into chukan.
// A database uses it when opened with SqliteOptions::vfs / StoreOptions::sqlite_vfs =
// FaultVfs::kName; the VFS is registered (not as the default) by FaultVfs::Get().
//
//   store::FaultVfs& vfs = store::FaultVfs::Get();
//   vfs.Arm({.op = FaultVfs::Op::kSync, .file_suffix = "-wal"});
//   EXPECT_THAT(txn->Commit(), StatusIs(StatusCode::kUnavailable, HasSubstr("fsync")));
//   vfs.Disarm();
//
// Thread-safety: thread-safe. The fault armed is process-wide (one VFS per process): tests that
// arm it must not run concurrently with other tests of the same process that use the VFS
// (GoogleTest runs a binary's tests one after another), and should restrict the fault to their
// own files with `path_contains`.
#ifndef CHUKAN_STORE_FAULT_VFS_H_
#define CHUKAN_STORE_FAULT_VFS_H_

#include <cstdint>
#include <string>

#include "common/mutex.h"

namespace chukan::store {

class FaultVfs {
 public:
  // The name to give SqliteOptions::vfs.
  static constexpr const char* kName = "chukan-fault";

  enum class Op {
    kSync,        // xSync returns SQLITE_IOERR_FSYNC (the data written stays in the file)
    kFull,        // xWrite stores nothing and returns SQLITE_FULL (ENOSPC)
    kShortWrite,  // xWrite stores the first half of the buffer and returns SQLITE_IOERR_WRITE
  };

  struct Fault {
    Op op = Op::kSync;
    // Only files whose path ends with this ("-wal", "-journal", ".db" for a main database file
    // named *.db); empty: every file.
    std::string file_suffix;
    // Only files whose path contains this (a test's temp dir, one tenant's file); empty: any.
    std::string path_contains;
    // The first `skip` matching calls succeed; the fault hits from the next one.
    int64_t skip = 0;
    // How many matching calls fail once it hits; < 0: every one until Disarm().
    int64_t times = -1;
  };

  // Registers the VFS on first use (sqlite3_vfs_register, not as the default) and returns it.
  // Aborts if SQLite cannot register it (out of memory): a test could not run without it.
  static FaultVfs& Get();

  // Replaces any armed fault and resets the counters.
  void Arm(Fault fault) EXCLUDES(mu_);
  // No fault from now on; the counters stay readable.
  void Disarm() EXCLUDES(mu_);

  // Faults injected since the last Arm().
  int64_t injected() const EXCLUDES(mu_);
  // Calls of the armed fault's operation on matching files since the last Arm() (failed or not).
  int64_t matched() const EXCLUDES(mu_);

  // Called by the VFS for each sync/write: true if this call must fail with `op`.
  bool ShouldFail(Op op, const char* path) EXCLUDES(mu_);

 private:
  FaultVfs() = default;

  mutable Mutex mu_;
  bool armed_ GUARDED_BY(mu_) = false;
  Fault fault_ GUARDED_BY(mu_);
  int64_t matched_ GUARDED_BY(mu_) = 0;
  int64_t injected_ GUARDED_BY(mu_) = 0;
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_FAULT_VFS_H_
