#include "crypto/key_wrap.h"

#include <cstring>
#include <string>

#include "crypto/aead.h"
#include "crypto/sodium_init.h"

namespace chukan::crypto {

namespace {

constexpr std::string_view kKeyWrapLabel = "chukan/key-wrap";

Bytes AssociatedData(uint8_t version, std::string_view key_id) {
  // Sized up front and filled with memcpy: GCC 12 at -O2 warns (-Wstringop-overflow, a false
  // positive) on the equivalent vector::insert sequence.
  Bytes ad(kKeyWrapLabel.size() + 1 + key_id.size());
  std::memcpy(ad.data(), kKeyWrapLabel.data(), kKeyWrapLabel.size());
  ad[kKeyWrapLabel.size()] = version;
  if (!key_id.empty()) {
    std::memcpy(ad.data() + kKeyWrapLabel.size() + 1, key_id.data(), key_id.size());
  }
  return ad;
}

Status CheckMasterAndKeyId(const SecretBytes& master, std::string_view key_id) {
  if (master.size() != kAeadKeyBytes) {
    return InvalidArgumentError("key wrap: master key must be 32 bytes, got " +
                                std::to_string(master.size()));
  }
  if (key_id.empty() || key_id.size() > kKeyWrapMaxKeyIdBytes) {
    return InvalidArgumentError("key wrap: key_id must be 1..255 bytes, got " +
                                std::to_string(key_id.size()));
  }
  return Status::Ok();
}

}  // namespace

Result<Bytes> WrapKey(const SecretBytes& master, const SecretBytes& data_key,
                      std::string_view key_id) {
  RETURN_IF_ERROR(EnsureInitialized());
  RETURN_IF_ERROR(CheckMasterAndKeyId(master, key_id));
  if (data_key.empty() || data_key.size() > kKeyWrapMaxDataKeyBytes) {
    return InvalidArgumentError("key wrap: data key must be 1..1024 bytes, got " +
                                std::to_string(data_key.size()));
  }
  ASSIGN_OR_RETURN(Bytes sealed,
                   Encrypt(master, data_key.span(), AssociatedData(kKeyWrapVersion1, key_id)));
  Bytes out(1 + sealed.size());
  out[0] = kKeyWrapVersion1;
  std::memcpy(out.data() + 1, sealed.data(), sealed.size());
  return out;
}

Result<SecretBytes> UnwrapKey(const SecretBytes& master, std::span<const uint8_t> wrapped,
                              std::string_view key_id) {
  RETURN_IF_ERROR(EnsureInitialized());
  RETURN_IF_ERROR(CheckMasterAndKeyId(master, key_id));
  if (wrapped.empty()) return InvalidArgumentError("key wrap: empty wrapped key");
  if (wrapped[0] != kKeyWrapVersion1) {
    return InvalidArgumentError("key wrap: unknown format version " + std::to_string(wrapped[0]));
  }
  if (wrapped.size() < kKeyWrapOverheadBytes + 1) {
    return DataLossError("key wrap: wrapped key truncated (" + std::to_string(wrapped.size()) +
                         " bytes)");
  }
  Result<SecretBytes> key =
      Decrypt(master, wrapped.subspan(1), AssociatedData(kKeyWrapVersion1, key_id));
  if (!key.ok()) {
    // Decrypt's only possible error here is kDataLoss: lengths were checked above.
    return DataLossError(
        "key wrap: wrapped key altered, or wrapped under another master key or key_id");
  }
  return key;
}

}  // namespace chukan::crypto
