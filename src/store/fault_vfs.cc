#include "store/fault_vfs.h"

#include <sqlite3.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "store/database_internal.h"

namespace chukan::store {
namespace {

// Our file object: SQLite allocates szOsFile bytes for it; the real (unix) file object lives
// right behind ours in the same allocation.
struct FaultFile {
  sqlite3_file base;   // must be first: SQLite sees this
  sqlite3_file* real;  // the wrapped file, inside the same allocation
  const char* path;    // SQLite keeps the name valid until xClose; null for temp files
};

constexpr int RealOffset() { return static_cast<int>((sizeof(FaultFile) + 7) / 8 * 8); }

sqlite3_vfs* g_real_vfs = nullptr;  // set once, before the VFS is registered

sqlite3_file* Real(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->real; }
const char* PathOf(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->path; }

int FaultClose(sqlite3_file* f) {
  sqlite3_file* r = Real(f);
  return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}
int FaultRead(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xRead(r, buf, amt, off);
}
int FaultWrite(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  sqlite3_file* r = Real(f);
  FaultVfs& vfs = FaultVfs::Get();
  if (vfs.ShouldFail(FaultVfs::Op::kFull, PathOf(f))) return SQLITE_FULL;
  if (vfs.ShouldFail(FaultVfs::Op::kShortWrite, PathOf(f))) {
    // A pwrite that stored part of the buffer, then failed (EIO): the unix VFS answers
    // SQLITE_IOERR_WRITE and the bytes already written stay in the file.
    const int part = amt / 2;
    if (part > 0) r->pMethods->xWrite(r, buf, part, off);
    return SQLITE_IOERR_WRITE;
  }
  return r->pMethods->xWrite(r, buf, amt, off);
}
int FaultTruncate(sqlite3_file* f, sqlite3_int64 size) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xTruncate(r, size);
}
int FaultSync(sqlite3_file* f, int flags) {
  sqlite3_file* r = Real(f);
  if (FaultVfs::Get().ShouldFail(FaultVfs::Op::kSync, PathOf(f))) return SQLITE_IOERR_FSYNC;
  return r->pMethods->xSync(r, flags);
}
int FaultFileSize(sqlite3_file* f, sqlite3_int64* size) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xFileSize(r, size);
}
int FaultLock(sqlite3_file* f, int lock) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xLock(r, lock);
}
int FaultUnlock(sqlite3_file* f, int lock) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xUnlock(r, lock);
}
int FaultCheckReservedLock(sqlite3_file* f, int* out) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xCheckReservedLock(r, out);
}
int FaultFileControl(sqlite3_file* f, int op, void* arg) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xFileControl(r, op, arg);
}
int FaultSectorSize(sqlite3_file* f) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xSectorSize(r);
}
int FaultDeviceCharacteristics(sqlite3_file* f) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xDeviceCharacteristics(r);
}
int FaultShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xShmMap(r, page, size, extend, out);
}
int FaultShmLock(sqlite3_file* f, int offset, int n, int flags) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xShmLock(r, offset, n, flags);
}
void FaultShmBarrier(sqlite3_file* f) {
  sqlite3_file* r = Real(f);
  r->pMethods->xShmBarrier(r);
}
int FaultShmUnmap(sqlite3_file* f, int delete_flag) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xShmUnmap(r, delete_flag);
}
int FaultFetch(sqlite3_file* f, sqlite3_int64 off, int amt, void** out) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xFetch(r, off, amt, out);
}
int FaultUnfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  sqlite3_file* r = Real(f);
  return r->pMethods->xUnfetch(r, off, p);
}

const sqlite3_io_methods kFaultIo = {
    3,
    FaultClose,
    FaultRead,
    FaultWrite,
    FaultTruncate,
    FaultSync,
    FaultFileSize,
    FaultLock,
    FaultUnlock,
    FaultCheckReservedLock,
    FaultFileControl,
    FaultSectorSize,
    FaultDeviceCharacteristics,
    FaultShmMap,
    FaultShmLock,
    FaultShmBarrier,
    FaultShmUnmap,
    FaultFetch,
    FaultUnfetch,
};

int FaultOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* ff = reinterpret_cast<FaultFile*>(f);
  ff->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + RealOffset());
  ff->path = name;
  ff->base.pMethods = nullptr;  // SQLite must not call our xClose if the open fails
  const int rc = g_real_vfs->xOpen(g_real_vfs, name, ff->real, flags, out_flags);
  if (rc == SQLITE_OK) {
    // The unix VFS's methods are version 3 (WAL needs shared memory, version 2 and up).
    if (ff->real->pMethods == nullptr || ff->real->pMethods->iVersion < 3) {
      if (ff->real->pMethods) ff->real->pMethods->xClose(ff->real);
      return SQLITE_CANTOPEN;
    }
    ff->base.pMethods = &kFaultIo;
  } else if (ff->real->pMethods) {
    ff->real->pMethods->xClose(ff->real);
  }
  return rc;
}

int FaultDelete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real_vfs->xDelete(g_real_vfs, name, sync_dir);
}
int FaultAccess(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real_vfs->xAccess(g_real_vfs, name, flags, out);
}
int FaultFullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real_vfs->xFullPathname(g_real_vfs, name, n, out);
}
void* FaultDlOpen(sqlite3_vfs*, const char* name) { return g_real_vfs->xDlOpen(g_real_vfs, name); }
void FaultDlError(sqlite3_vfs*, int n, char* out) { g_real_vfs->xDlError(g_real_vfs, n, out); }
void (*FaultDlSym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_real_vfs->xDlSym(g_real_vfs, h, sym);
}
void FaultDlClose(sqlite3_vfs*, void* h) { g_real_vfs->xDlClose(g_real_vfs, h); }
int FaultRandomness(sqlite3_vfs*, int n, char* out) {
  return g_real_vfs->xRandomness(g_real_vfs, n, out);
}
int FaultSleep(sqlite3_vfs*, int us) { return g_real_vfs->xSleep(g_real_vfs, us); }
int FaultCurrentTime(sqlite3_vfs*, double* out) {
  return g_real_vfs->xCurrentTime(g_real_vfs, out);
}
int FaultGetLastError(sqlite3_vfs*, int n, char* out) {
  return g_real_vfs->xGetLastError(g_real_vfs, n, out);
}
int FaultCurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real_vfs->xCurrentTimeInt64(g_real_vfs, out);
}

sqlite3_vfs g_fault_vfs;  // filled by Register()

void Register() {
  internal::ConfigureSqliteOnce();         // before sqlite3_vfs_find initialises SQLite
  g_real_vfs = sqlite3_vfs_find(nullptr);  // the default: "unix" on Linux
  if (g_real_vfs == nullptr || g_real_vfs->iVersion < 2) std::abort();
  g_fault_vfs = sqlite3_vfs{};
  g_fault_vfs.iVersion = 2;
  g_fault_vfs.szOsFile = RealOffset() + g_real_vfs->szOsFile;
  g_fault_vfs.mxPathname = g_real_vfs->mxPathname;
  g_fault_vfs.zName = FaultVfs::kName;
  g_fault_vfs.xOpen = FaultOpen;
  g_fault_vfs.xDelete = FaultDelete;
  g_fault_vfs.xAccess = FaultAccess;
  g_fault_vfs.xFullPathname = FaultFullPathname;
  g_fault_vfs.xDlOpen = FaultDlOpen;
  g_fault_vfs.xDlError = FaultDlError;
  g_fault_vfs.xDlSym = FaultDlSym;
  g_fault_vfs.xDlClose = FaultDlClose;
  g_fault_vfs.xRandomness = FaultRandomness;
  g_fault_vfs.xSleep = FaultSleep;
  g_fault_vfs.xCurrentTime = FaultCurrentTime;
  g_fault_vfs.xGetLastError = FaultGetLastError;
  g_fault_vfs.xCurrentTimeInt64 = FaultCurrentTimeInt64;
  if (sqlite3_vfs_register(&g_fault_vfs, /*makeDflt=*/0) != SQLITE_OK) std::abort();
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

FaultVfs& FaultVfs::Get() {
  // Registered once, before anyone can reach the controller (and so the file methods).
  static FaultVfs* const vfs = [] {
    Register();
    return new FaultVfs();  // lives as long as the process: SQLite may call it until exit
  }();
  return *vfs;
}

void FaultVfs::Arm(Fault fault) {
  MutexLock lock(mu_);
  armed_ = true;
  fault_ = std::move(fault);
  matched_ = 0;
  injected_ = 0;
}

void FaultVfs::Disarm() {
  MutexLock lock(mu_);
  armed_ = false;
}

int64_t FaultVfs::injected() const {
  MutexLock lock(mu_);
  return injected_;
}

int64_t FaultVfs::matched() const {
  MutexLock lock(mu_);
  return matched_;
}

bool FaultVfs::ShouldFail(Op op, const char* path) {
  MutexLock lock(mu_);
  if (!armed_ || op != fault_.op) return false;
  const std::string_view p = path ? path : "";
  if (!fault_.file_suffix.empty() && !EndsWith(p, fault_.file_suffix)) return false;
  if (!fault_.path_contains.empty() && p.find(fault_.path_contains) == std::string_view::npos) {
    return false;
  }
  const int64_t n = matched_++;
  if (n < fault_.skip) return false;
  if (fault_.times >= 0 && n - fault_.skip >= fault_.times) return false;
  ++injected_;
  return true;
}

}  // namespace chukan::store
