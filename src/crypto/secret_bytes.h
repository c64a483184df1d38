// SecretBytes: owner of secret material (keys, seeds, decrypted personal data, passwords).
//
// - The buffer is wiped with sodium_memzero when the owner is destroyed or assigned over; a
//   moved-from SecretBytes is empty (the buffer moves with the ownership, nothing is left behind).
// - It is NOT locked in RAM per object (sodium_mlock). Measured: the two extra system calls cost
//   ~6 us per SecretBytes (an AEAD decryption of 1 KiB went from 1.5 us to 8 us), and mlock is
//   page-granular and not reference-counted, so unlocking one short-lived secret would silently
//   unlock a long-lived key that shares its heap page: per-object locking promises more than it
//   delivers. Instead, a process that holds keys calls HardenProcess() (process_hardening.h) to
//   disable core dumps, and deployments use encrypted or no swap (docs/crypto.md).
// - Not copyable: duplicating a secret must be visible in the code (Clone()).
// - Never printed: there is no operator<<, and GoogleTest's PrintTo shows only the size
//   ("SecretBytes[32 bytes]"), so a failing test cannot leak a key into a CI log.
// - Compared only in constant time (ConstantTimeEquals); there is no operator==.
//
// Thread-compatible: const methods may be called concurrently; mutation needs external locking.
#ifndef CHUKAN_CRYPTO_SECRET_BYTES_H_
#define CHUKAN_CRYPTO_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace chukan::crypto {

class SecretBytes {
 public:
  // An empty secret (size() == 0).
  SecretBytes() = default;
  // `n` zero bytes, to be filled in place through data() (e.g. by a decryption routine).
  explicit SecretBytes(size_t n);

  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // `n` bytes from the CSPRNG. Aborts only if libsodium cannot initialise (see sodium_init.h).
  static SecretBytes Random(size_t n);
  // Copies `bytes`. The caller remains responsible for wiping its own copy.
  static SecretBytes FromBytes(std::span<const uint8_t> bytes);
  // Copies the bytes of `text` (e.g. a password read from a request).
  static SecretBytes FromString(std::string_view text);
  // Decodes hex / unpadded base64url (as in bytes.h) straight into wiped memory, so that no
  // unwiped intermediate copy of the secret is left behind.
  // Errors: kInvalidArgument on malformed input (the message never contains the input).
  static Result<SecretBytes> FromHex(std::string_view hex);
  static Result<SecretBytes> FromBase64Url(std::string_view text);

  // An explicit copy.
  SecretBytes Clone() const;

  size_t size() const { return buf_.size(); }
  bool empty() const { return buf_.empty(); }
  // nullptr when empty.
  uint8_t* data() { return buf_.data(); }
  const uint8_t* data() const { return buf_.data(); }
  std::span<const uint8_t> span() const { return {buf_.data(), buf_.size()}; }
  // The bytes as text (e.g. a decrypted JSON document). The view is valid while *this lives and
  // is not modified; do not copy it into an ordinary std::string unless it must outlive *this.
  std::string_view AsStringView() const {
    return {reinterpret_cast<const char*>(buf_.data()), buf_.size()};
  }

  // Constant-time comparison (bytes.h ConstantTimeEquals): false if the sizes differ.
  bool ConstantTimeEquals(const SecretBytes& other) const;

  // GoogleTest printer: "SecretBytes[<n> bytes]", never the contents.
  friend void PrintTo(const SecretBytes& s, std::ostream* os);

 private:
  // Wipes the buffer and leaves *this empty.
  void Wipe() noexcept;

  // Never resized after construction, so the buffer never moves and leaves no stale copy.
  std::vector<uint8_t> buf_;
};

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_SECRET_BYTES_H_
