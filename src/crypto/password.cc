#include "crypto/password.h"

#include <sodium.h>

#include <cerrno>
#include <string>

#include "crypto/sodium_init.h"

namespace chukan::crypto {

namespace {

constexpr std::string_view kArgon2idPrefix = "$argon2id$";

// libsodium is not documented to accept a null pointer for an empty password.
const char* PasswordPtr(std::string_view password) {
  return password.empty() ? "" : password.data();
}

Status CheckLimits(const PwhashLimits& limits) {
  if (limits.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
      limits.opslimit > crypto_pwhash_OPSLIMIT_MAX ||
      limits.memlimit < crypto_pwhash_MEMLIMIT_MIN ||
      limits.memlimit > crypto_pwhash_MEMLIMIT_MAX) {
    return InvalidArgumentError("argon2id limits out of range (opslimit " +
                                std::to_string(limits.opslimit) + ", memlimit " +
                                std::to_string(limits.memlimit) + ")");
  }
  return Status::Ok();
}

Status CheckPassword(std::string_view password) {
  if (password.size() > kPasswordMaxBytes) {
    return InvalidArgumentError("password longer than 4096 bytes");
  }
  return Status::Ok();
}

}  // namespace

PwhashLimits PwhashLimits::Interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}
PwhashLimits PwhashLimits::Moderate() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}
PwhashLimits PwhashLimits::Sensitive() {
  return {crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_SENSITIVE};
}
PwhashLimits PwhashLimits::MinimumForTests() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

Result<std::string> HashPassword(std::string_view password, PwhashLimits limits) {
  RETURN_IF_ERROR(EnsureInitialized());
  RETURN_IF_ERROR(CheckPassword(password));
  RETURN_IF_ERROR(CheckLimits(limits));
  char out[crypto_pwhash_STRBYTES] = {};
  if (crypto_pwhash_str_alg(out, PasswordPtr(password), password.size(), limits.opslimit,
                            limits.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    // Limits were checked, so the remaining cause is a failed allocation.
    return ResourceExhaustedError("argon2id: cannot allocate " + std::to_string(limits.memlimit) +
                                  " bytes");
  }
  return std::string(out);
}

Status VerifyPassword(std::string_view encoded, std::string_view password) {
  RETURN_IF_ERROR(EnsureInitialized());
  RETURN_IF_ERROR(CheckPassword(password));
  // crypto_pwhash_str_verify needs a NUL-terminated string of less than STRBYTES, and reports a
  // malformed string and a wrong password alike; tell them apart first.
  if (encoded.size() >= crypto_pwhash_STRBYTES ||
      encoded.substr(0, kArgon2idPrefix.size()) != kArgon2idPrefix) {
    return InvalidArgumentError("not an argon2id password hash");
  }
  const std::string str(encoded);
  // needs_rehash parses the whole string and returns -1 when it is malformed.
  if (crypto_pwhash_str_needs_rehash(str.c_str(), crypto_pwhash_OPSLIMIT_MIN,
                                     crypto_pwhash_MEMLIMIT_MIN) < 0) {
    return InvalidArgumentError("malformed argon2id password hash");
  }
  errno = 0;
  if (crypto_pwhash_str_verify(str.c_str(), PasswordPtr(password), password.size()) != 0) {
    if (errno == ENOMEM) return ResourceExhaustedError("argon2id: out of memory");
    return UnauthenticatedError("password does not match");
  }
  return Status::Ok();
}

bool PasswordNeedsRehash(std::string_view encoded, PwhashLimits limits) {
  if (!EnsureInitialized().ok()) return true;
  if (encoded.size() >= crypto_pwhash_STRBYTES ||
      encoded.substr(0, kArgon2idPrefix.size()) != kArgon2idPrefix) {
    return true;  // VerifyPassword would refuse it: replace it
  }
  const std::string str(encoded);
  return crypto_pwhash_str_needs_rehash(str.c_str(), limits.opslimit, limits.memlimit) != 0;
}

Result<SecretBytes> DeriveKey(std::string_view password, std::span<const uint8_t> salt,
                              size_t out_len, PwhashLimits limits) {
  RETURN_IF_ERROR(EnsureInitialized());
  RETURN_IF_ERROR(CheckPassword(password));
  RETURN_IF_ERROR(CheckLimits(limits));
  if (salt.size() != crypto_pwhash_SALTBYTES) {
    return InvalidArgumentError("argon2id salt must be 16 bytes, got " +
                                std::to_string(salt.size()));
  }
  if (out_len < 16 || out_len > 1024) {
    return InvalidArgumentError("argon2id output must be 16..1024 bytes, got " +
                                std::to_string(out_len));
  }
  SecretBytes out(out_len);
  if (crypto_pwhash(out.data(), out.size(), PasswordPtr(password), password.size(), salt.data(),
                    limits.opslimit, limits.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return ResourceExhaustedError("argon2id: cannot allocate " + std::to_string(limits.memlimit) +
                                  " bytes");
  }
  return out;
}

}  // namespace chukan::crypto
