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
// Thread-safety: thread-safe (each call works on files only); two processes creating the same
// tenant's KEK at once agree on one (LoadOrCreate: O_EXCL, the loser loads the winner's).
#ifndef CHUKAN_SERVER_TENANT_KEKS_H_
#define CHUKAN_SERVER_TENANT_KEKS_H_

#include <string>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace chukan::server {

class TenantKeks {
 public:
  static constexpr size_t kKekBytes = 32;

  // `dir` (created 0700 on first write) holds the files; `master` must outlive this.
  TenantKeks(std::string dir, const crypto::SecretBytes& master)
      : dir_(std::move(dir)), master_(master) {}

  // The tenant's KEK: loaded when its file exists, else a new one written. For a tenant that
  // has (or is being given) a data key wrapped under it.
  // Errors: kInternal (I/O, naming the file), those of Load.
  Result<crypto::SecretBytes> LoadOrCreate(const TenantId& tenant) const;
  // A new KEK, replacing the file if there is one (whose KEK is destroyed as by Destroy first).
  // For a tenant registered anew: never reuse a KEK that a deletion was meant to destroy.
  Result<crypto::SecretBytes> CreateFresh(const TenantId& tenant) const;
  // The tenant's KEK. Errors: kNotFound (no file: "the tenant's key-encryption key is missing"),
  // kPermissionDenied (group/other access), kDataLoss (not a KEK wrapped under this master key
  // for this tenant), kInternal — each naming the file.
  Result<crypto::SecretBytes> Load(const TenantId& tenant) const;
  // Overwrites the file with zeros, syncs it, unlinks it and syncs the directory. OK when there
  // is no file. What the file system does with the freed blocks is outside the process's reach
  // (docs/storage.md). Errors: kInternal naming the file.
  Status Destroy(const TenantId& tenant) const;

  std::string PathFor(const TenantId& tenant) const { return dir_ + "/" + tenant.str() + ".kek"; }

 private:
  // Writes the wrapped KEK to a temporary file and renames it over `path` (or, with
  // `exclusive`, links it there only if no file is there yet: kAlreadyExists otherwise).
  Status Write(const TenantId& tenant, const crypto::SecretBytes& kek, bool exclusive) const;

  const std::string dir_;
  const crypto::SecretBytes& master_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_TENANT_KEKS_H_
