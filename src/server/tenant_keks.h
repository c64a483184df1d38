// TenantKeks: each tenant's key-encryption key (KEK) — the one owner of the files that hold
// them. The key hierarchy (docs/crypto.md, "Key hierarchy"):
//
//   master key (keys/master.key)
//     └ a KEK per tenant (keys/tenants/<tenant id>.kek: the KEK wrapped under the master key)
//         └ the tenant's data key (platform database, tenants.wrapped_key: wrapped under the KEK)
//             └ everything of the tenant sealed at rest
//
// The KEK files live with the keys, apart from the data: a copy of the databases (their free
// pages, their WAL, a backup) holds a tenant's data key only wrapped under a KEK that is not in
// it. Deleting a tenant destroys its KEK file, and with it every copy of its data key the
// databases may still hold somewhere — readable only with that KEK, which is gone, whoever has
// the master key.
//
// A file is one line of hex (mode 0600, like key_file.h): WrapKey(master, kek,
// "tenant-kek:<tenant id>:v1"). Written to a temporary name, synced and renamed into place (the
// directory synced too), so a crash leaves the old file or the new one, never half of one.
//
// The master key is read from its file for each operation, never kept: a master-key rotation
// (RotateMaster) done by another process — `chukan key rotate-master` while the server runs —
// is seen by the next operation of this one, with nothing to reload. Every operation holds a
// shared lock (flock) on keys/master.lock, a rotation an exclusive one, so no operation sees a
// half-rotated key directory. During a rotation, and after one that was interrupted, the new
// master key waits in keys/master.key.next and a KEK file opens under either key.
//
// Thread-safety: thread-safe (each call works on files only, under the lock above).
#ifndef CHUKAN_SERVER_TENANT_KEKS_H_
#define CHUKAN_SERVER_TENANT_KEKS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace chukan::server {

class TenantKeks {
 public:
  static constexpr size_t kKekBytes = 32;

  // `master_path` is the master key file (keys/master.key, which must exist); `dir` (created
  // 0700 on first write) holds the KEK files.
  TenantKeks(std::string master_path, std::string dir);

  // A new KEK for one registration of the tenant, in a file of its own named
  // "<tenant id>.<16 random hex digits>.kek" (created exclusively), which the registration's
  // row names (tenants.kek_file). Two processes registering the same tenant at once thus never
  // write the same file: the one whose row loses destroys its own. Errors: kInternal (I/O,
  // naming the file).
  struct NewKek {
    std::string file;  // the file name, without directory
    crypto::SecretBytes kek;
  };
  Result<NewKek> Create(const TenantId& tenant) const;
  // The tenant's KEK in `file` (as named by its row; "" for "<tenant id>.kek", the name of the
  // registrations made before files were per registration). Errors: kNotFound (no file: "the
  // tenant's key-encryption key is missing"), kPermissionDenied (group/other access),
  // kDataLoss (not a KEK wrapped under this master key for this tenant; a file name that is not
  // one of the tenant's), kInternal — each naming the file.
  Result<crypto::SecretBytes> Load(const TenantId& tenant, std::string_view file) const;
  // Overwrites the file with zeros, syncs it, unlinks it and syncs the directory. OK when there
  // is no file. What the file system does with the freed blocks is outside the process's reach
  // (docs/storage.md). Errors: kInternal naming the file; kDataLoss for a file name that is not
  // one of the tenant's.
  Status Destroy(const TenantId& tenant, std::string_view file) const;

  // The platform's transfer key (tenant_transfer.h): the X25519 secret that tenant exports
  // to this platform are sealed to, kept like a KEK — "transfer.kek" in the same directory,
  // wrapped under the master key for "tenant-kek:transfer:v1" — so a master-key rotation
  // rewraps it with the KEKs (RotateMaster takes the part of a name before its first dot as the
  // owner, and no tenant id is "transfer"). Made on first use when `create` (`*created` set).
  // Errors: kNotFound (missing and !create: "the platform has no transfer key"), else as Load.
  Result<crypto::SecretBytes> LoadOrCreateTransferKey(bool create, bool* created = nullptr) const;

  // Unwraps a key wrapped under the master key itself for `key_id` (the data keys of tenants of
  // the old key scheme, platform.h). Errors: those of the key files; kDataLoss (opens under no
  // master key).
  Result<crypto::SecretBytes> UnwrapUnderMaster(std::span<const uint8_t> wrapped,
                                                std::string_view key_id) const;

  struct Rotation {
    int64_t rewrapped = 0;  // KEK files moved from the old master key to the new one
    int64_t already = 0;    // KEK files found under the new key (an interrupted run's work)
  };
  struct RotateOptions {
    // Tests: return kAborted after this many files were rewrapped, as a crash there would leave
    // the directory. Negative: no stop.
    int64_t stop_after = -1;
  };
  // Master-key rotation: a new master key (keys/master.key.next, kept until the end), every KEK
  // file rewrapped under it (each atomically), then the new key written over master.key in place
  // (so the old key's bytes are overwritten, not left in a freed block) and master.key.next
  // destroyed. Holds the exclusive lock throughout: the other processes' KEK operations wait
  // (one fsync per KEK file — about a second for a thousand tenants). Interrupted anywhere, it
  // leaves a directory in which every KEK opens under one of the two keys; running it again
  // finishes the job with the same new key. Stray temporary files of interrupted writes are
  // destroyed. Errors: those of the key files; kDataLoss naming a KEK file that opens under
  // neither key (the rotation stops there, both keys kept).
  Result<Rotation> RotateMaster(const RotateOptions& options) const;

  // The path of `file` ("" as for Load), or kDataLoss when `file` is not a KEK file name of
  // `tenant` (a row naming another tenant's file, or a path).
  Result<std::string> PathFor(const TenantId& tenant, std::string_view file) const;
  std::string NextMasterPath() const { return master_path_ + ".next"; }

 private:
  // The master keys a KEK may be wrapped under: master.key's, then master.key.next's while a
  // rotation is unfinished. Call with the lock held.
  Result<std::vector<crypto::SecretBytes>> Masters() const;
  // Reads and unwraps a KEK file. Call with the lock held.
  Result<crypto::SecretBytes> LoadLocked(const std::string& path, const std::string& tenant,
                                         const std::vector<crypto::SecretBytes>& masters) const;

  const std::string master_path_;
  const std::string lock_path_;
  const std::string dir_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_TENANT_KEKS_H_
