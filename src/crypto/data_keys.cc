#include "crypto/data_keys.h"

#include "crypto/aead.h"
#include "crypto/hash.h"

namespace chukan::crypto {

DataKeySet::DataKeySet(int64_t version, SecretBytes current, std::optional<SecretBytes> previous)
    : version_(version), current_(std::move(current)), previous_(std::move(previous)) {}

Result<Bytes> DataKeySet::Seal(std::span<const uint8_t> plaintext,
                               std::span<const uint8_t> ad) const {
  return Encrypt(current_, plaintext, ad);
}

Result<Bytes> DataKeySet::SealWithNonce(std::span<const uint8_t> nonce,
                                        std::span<const uint8_t> plaintext,
                                        std::span<const uint8_t> ad) const {
  return EncryptWithNonce(current_, nonce, plaintext, ad);
}

Result<SecretBytes> DataKeySet::Open(std::span<const uint8_t> sealed, std::span<const uint8_t> ad,
                                     bool* under_previous) const {
  if (under_previous != nullptr) *under_previous = false;
  Result<SecretBytes> plain = Decrypt(current_, sealed, ad);
  if (plain.ok() || !previous_ || plain.status().code() != StatusCode::kDataLoss) return plain;
  Result<SecretBytes> old = Decrypt(*previous_, sealed, ad);
  if (!old.ok()) return plain.status();  // the current key's error: one message for both
  if (under_previous != nullptr) *under_previous = true;
  return old;
}

Result<SecretBytes> DataKeySet::OpenCurrent(std::span<const uint8_t> sealed,
                                            std::span<const uint8_t> ad) const {
  return Decrypt(current_, sealed, ad);
}

SecretBytes DataKeySet::DeriveFromCurrent(std::span<const uint8_t> message) const {
  Bytes derived = Blake2bKeyed(current_, message, 32);
  SecretBytes key = SecretBytes::FromBytes(derived);
  WipeBytes(derived);
  return key;
}

Result<std::shared_ptr<DataKeys>> DataKeys::Create(int64_t version, SecretBytes current,
                                                   std::optional<SecretBytes> previous) {
  if (current.size() != kDataKeyBytes || (previous && previous->size() != kDataKeyBytes)) {
    return InvalidArgumentError("a data key must be " + std::to_string(kDataKeyBytes) + " bytes");
  }
  auto set = std::make_shared<const DataKeySet>(version, std::move(current), std::move(previous));
  return std::shared_ptr<DataKeys>(new DataKeys(std::move(set)));
}

std::shared_ptr<const DataKeySet> DataKeys::Snapshot() const {
  MutexLock lock(mu_);
  return set_;
}

Result<SecretBytes> DataKeys::Open(std::span<const uint8_t> sealed,
                                   std::span<const uint8_t> ad) const {
  const std::shared_ptr<const DataKeySet> held = Snapshot();
  Result<SecretBytes> plain = held->Open(sealed, ad);
  if (plain.ok() || plain.status().code() != StatusCode::kDataLoss || held->has_previous()) {
    return plain;
  }
  // Perhaps sealed under a rotation's new key by a process that started it (or re-encrypted
  // the row) before this holder's next reload.
  {
    MutexLock lock(refresh_mu_);
    if (!refresh_) return plain;
    refresh_();
  }
  const std::shared_ptr<const DataKeySet> now = Snapshot();
  if (now == held) return plain;
  return now->Open(sealed, ad);
}

void DataKeys::SetRefresh(std::function<void()> refresh) {
  MutexLock lock(refresh_mu_);
  refresh_ = std::move(refresh);
}

Status DataKeys::Rotate(int64_t version, SecretBytes next) {
  if (next.size() != kDataKeyBytes) {
    return InvalidArgumentError("a data key must be " + std::to_string(kDataKeyBytes) + " bytes");
  }
  MutexLock lock(mu_);
  if (set_->has_previous()) {
    return FailedPreconditionError("a data-key rotation is already in progress (version " +
                                   std::to_string(set_->version()) + ")");
  }
  if (version <= set_->version()) {
    return FailedPreconditionError("data key version " + std::to_string(version) +
                                   " is not newer than " + std::to_string(set_->version()));
  }
  // The old set's current key becomes the previous one: copied once (the old set stays intact
  // for the snapshots still in use, and wipes its copy when the last of them goes).
  set_ = std::make_shared<const DataKeySet>(version, std::move(next), set_->current_.Clone());
  return Status();
}

void DataKeys::DropPrevious() {
  MutexLock lock(mu_);
  if (!set_->has_previous()) return;
  set_ = std::make_shared<const DataKeySet>(set_->version(), set_->current_.Clone(), std::nullopt);
}

}  // namespace chukan::crypto
