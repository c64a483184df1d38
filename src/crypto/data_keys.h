// DataKeys: the one holder in memory of a tenant's data keys — the key that seals personal data
// at rest (XChaCha20-Poly1305, aead.h) and, while a rotation of that key runs, the previous key
// that still opens the rows not yet re-encrypted (docs/crypto.md "Data-key rotation").
//
// Seal always uses the current key. Open tries the current key and, only when that fails to
// authenticate and a previous key is held, the previous one: a row costs a second tag check only
// while it is still under the old key during a rotation. Ciphertexts carry no key id (the format
// of aead.h is unchanged), so rows written before rotations existed need no migration.
//
// A rotation is seen by the holder as two steps: Rotate (a new current key, the old one kept
// as previous) and DropPrevious (the old key released; its bytes are wiped when the last
// snapshot that uses it goes). Every operation takes a snapshot (a shared pointer to an
// immutable key set) under a short lock and does the cryptography outside it.
//
// Another process may start a rotation and seal values under its new key before this holder
// has loaded it (its owner reloads every second). So Open, when a value opens under none of the
// keys held and no rotation is known here, asks its owner once to reload (SetRefresh) and tries
// the keys it then holds. A damaged value therefore costs one reload (an indexed read of the
// platform database) per failed Open.
//
// Thread-safety: thread-safe.
#ifndef CHUKAN_CRYPTO_DATA_KEYS_H_
#define CHUKAN_CRYPTO_DATA_KEYS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "common/mutex.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

inline constexpr size_t kDataKeyBytes = 32;

// An immutable set of keys: the current one (with its version) and possibly the previous one.
class DataKeySet {
 public:
  DataKeySet(int64_t version, SecretBytes current, std::optional<SecretBytes> previous);
  DataKeySet(const DataKeySet&) = delete;
  DataKeySet& operator=(const DataKeySet&) = delete;

  // Encrypts under the current key (nonce || ciphertext || tag). Errors: those of Encrypt.
  Result<Bytes> Seal(std::span<const uint8_t> plaintext, std::span<const uint8_t> ad) const;
  // The same with the caller's 24-byte nonce (the replica import's nonce sequence).
  Result<Bytes> SealWithNonce(std::span<const uint8_t> nonce, std::span<const uint8_t> plaintext,
                              std::span<const uint8_t> ad) const;
  // Decrypts under the current key, then the previous one. kDataLoss when neither opens it.
  // `*under_previous` (optional) tells which key opened it.
  Result<SecretBytes> Open(std::span<const uint8_t> sealed, std::span<const uint8_t> ad,
                           bool* under_previous = nullptr) const;
  // Decrypts under the current key only (the check before a rotation finishes).
  Result<SecretBytes> OpenCurrent(std::span<const uint8_t> sealed,
                                  std::span<const uint8_t> ad) const;

  // Keyed BLAKE2b-256 of `message` under the current key: the keys a tenant derived from its
  // data key before they were stored (tenant_keys.h). Meaningful only for a tenant's first key.
  SecretBytes DeriveFromCurrent(std::span<const uint8_t> message) const;

  // A copy of the current key, for the one place a data key leaves its holder: a tenant export,
  // which carries it sealed to the destination (server/tenant_transfer.h).
  SecretBytes CloneCurrentForExport() const { return current_.Clone(); }

  int64_t version() const { return version_; }
  bool has_previous() const { return previous_.has_value(); }

 private:
  friend class DataKeys;  // copies the current key into the next set
  const int64_t version_;
  const SecretBytes current_;
  const std::optional<SecretBytes> previous_;
};

class DataKeys {
 public:
  // `current` must be kDataKeyBytes long, as `previous` when given. kInvalidArgument otherwise.
  static Result<std::shared_ptr<DataKeys>> Create(int64_t version, SecretBytes current,
                                                  std::optional<SecretBytes> previous = {});

  // The keys as they are now; never null. Cheap (a lock and a shared_ptr copy): take one per
  // batch of rows to seal with one key.
  std::shared_ptr<const DataKeySet> Snapshot() const EXCLUDES(mu_);

  Result<Bytes> Seal(std::span<const uint8_t> plaintext, std::span<const uint8_t> ad) const {
    return Snapshot()->Seal(plaintext, ad);
  }
  // Opens under the keys held (DataKeySet::Open); when that fails with kDataLoss while no
  // previous key is held, calls the refresh function (if any) once and, if the keys changed,
  // opens under the new ones. Errors: kDataLoss when no key opens it. Blocks on storage only in
  // the refresh (a value this holder cannot open): not for an I/O thread.
  Result<SecretBytes> Open(std::span<const uint8_t> sealed, std::span<const uint8_t> ad) const
      EXCLUDES(mu_, refresh_mu_);

  // The function Open calls when a value opens under none of the keys held: it brings these
  // keys in line with their stored registration (Rotate, DropPrevious), as the owner's periodic
  // reload does, and may block on storage. One call at a time (serialised here); it must not
  // call SetRefresh. Null: none (the default).
  void SetRefresh(std::function<void()> refresh) EXCLUDES(refresh_mu_);

  // Installs `next` (version `version`, greater than the current one) as the current key and
  // keeps the current one as previous. kFailedPrecondition when a previous key is still held
  // (one rotation at a time) or the version does not grow; kInvalidArgument for a bad length.
  Status Rotate(int64_t version, SecretBytes next) EXCLUDES(mu_);
  // Forgets the previous key (a finished rotation). Idempotent.
  void DropPrevious() EXCLUDES(mu_);

 private:
  explicit DataKeys(std::shared_ptr<const DataKeySet> set) : set_(std::move(set)) {}
  // Held while the refresh runs (which takes mu_ through Rotate): concurrent readers that fail
  // wait for one reload instead of each doing their own.
  mutable Mutex refresh_mu_ ACQUIRED_BEFORE(mu_);
  std::function<void()> refresh_ GUARDED_BY(refresh_mu_);
  mutable Mutex mu_;
  std::shared_ptr<const DataKeySet> set_ GUARDED_BY(mu_);
};

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_DATA_KEYS_H_
