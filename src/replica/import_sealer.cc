#include "replica/import_sealer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/thread_name.h"
#include "crypto/bytes.h"

namespace chukan::replica {

ImportSealer::Batch::Batch() {
  keys.reserve(kBatchRecords);
  plain.reserve(kBatchRecords * kReservedPlainBytes);
  ends.reserve(kBatchRecords);
  deletion.reserve(kBatchRecords);
  dates.reserve(kBatchRecords);
}

void ImportSealer::Batch::Clear() {
  crypto::WipeBytes(plain);  // before clear(): the bytes stay in the reused capacity
  keys.clear();
  plain.clear();
  ends.clear();
  deletion.clear();
  dates.clear();
}

ImportSealer::ImportSealer(std::shared_ptr<const crypto::DataKeySet> keys, std::string ad_head,
                           ImportSpool& spool)
    : keys_(std::move(keys)),
      ad_head_(std::move(ad_head)),
      spool_(spool),
      filling_(std::make_unique<Batch>()) {
  const crypto::Bytes r = crypto::RandomBytes(16);
  std::copy(r.begin(), r.end(), nonce_.begin());
  thread_ = std::thread([this] {
    NameThisThread("import-seal");
    Run();
  });
}

ImportSealer::~ImportSealer() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  ready_.SignalAll();
  space_.SignalAll();
  if (thread_.joinable()) thread_.join();
  MutexLock lock(mu_);
  for (std::unique_ptr<Batch>& b : full_) b->Clear();
  full_.clear();
  if (filling_ != nullptr) filling_->Clear();
}

Status ImportSealer::Add(const ImportSpool::KeyHash& key_hash, std::span<const uint8_t> plain,
                         std::string_view publish_from, std::string_view publish_until) {
  return Queue(key_hash, plain, false, publish_from, publish_until);
}

Status ImportSealer::AddDeletion(const ImportSpool::KeyHash& key_hash) {
  return Queue(key_hash, {}, true, {}, {});
}

Status ImportSealer::Queue(const ImportSpool::KeyHash& key_hash, std::span<const uint8_t> plain,
                           bool deletion, std::string_view publish_from,
                           std::string_view publish_until) {
  Batch& b = *filling_;
  b.keys.push_back(key_hash);
  // Not insert(): growing the buffer must not free a block with plaintext in it.
  crypto::AppendWiping(b.plain, plain);
  b.ends.push_back(b.plain.size());
  b.deletion.push_back(deletion);
  std::array<char, 2 * ImportSpool::kDateBytes>& d = b.dates.emplace_back();
  d.fill('\0');
  // string_view::copy, not memcpy: an absent date's data() may be null.
  publish_from.copy(d.data(), ImportSpool::kDateBytes);
  publish_until.copy(d.data() + ImportSpool::kDateBytes, ImportSpool::kDateBytes);
  if (b.size() < kBatchRecords) return Status();
  return HandOver();
}

Status ImportSealer::HandOver() {
  MutexLock lock(mu_);
  while (full_.size() >= kMaxBatches && error_.ok() && !ended_) space_.Wait(lock);
  if (!error_.ok()) return error_;
  if (ended_) return InternalError("import sealer: the sealing thread has ended");
  if (!filling_->keys.empty()) {
    full_.push_back(std::move(filling_));
    if (!free_.empty()) {
      filling_ = std::move(free_.back());
      free_.pop_back();
    } else {
      filling_ = std::make_unique<Batch>();
    }
  }
  ready_.Signal();
  return Status();
}

Status ImportSealer::Finish() {
  RETURN_IF_ERROR(HandOver());
  {
    MutexLock lock(mu_);
    finishing_ = true;
  }
  ready_.Signal();
  if (thread_.joinable()) thread_.join();
  MutexLock lock(mu_);
  return error_;
}

void ImportSealer::Run() {
  for (;;) {
    std::unique_ptr<Batch> b;
    {
      MutexLock lock(mu_);
      while (full_.empty() && !finishing_ && !stop_) ready_.Wait(lock);
      if (stop_ || full_.empty()) {
        ended_ = true;
        space_.SignalAll();
        return;
      }
      b = std::move(full_.front());
      full_.pop_front();
    }
    Status s = SealBatch(*b);
    b->Clear();
    MutexLock lock(mu_);
    free_.push_back(std::move(b));
    if (!s.ok()) {
      error_ = std::move(s);
      ended_ = true;
      space_.SignalAll();
      return;
    }
    space_.Signal();
  }
}

Status ImportSealer::SealBatch(const Batch& b) {
  std::vector<uint8_t> sealed;
  for (size_t i = 0; i < b.size(); ++i) {
    const std::string_view from(b.dates[i].data(),
                                strnlen(b.dates[i].data(), ImportSpool::kDateBytes));
    const std::string_view until(
        b.dates[i].data() + ImportSpool::kDateBytes,
        strnlen(b.dates[i].data() + ImportSpool::kDateBytes, ImportSpool::kDateBytes));
    if (b.deletion[i]) {
      RETURN_IF_ERROR(spool_.Append(b.keys[i], {}, from, until));
      continue;
    }
    const size_t begin = i == 0 ? 0 : b.ends[i - 1];
    const std::span<const uint8_t> plain =
        std::span<const uint8_t>(b.plain).subspan(begin, b.ends[i] - begin);
    ad_.assign(ad_head_.begin(), ad_head_.end());
    ad_.insert(ad_.end(), b.keys[i].begin(), b.keys[i].end());
    for (size_t k = 0; k < 8; ++k) nonce_[16 + k] = static_cast<uint8_t>(counter_ >> (8 * k));
    ++counter_;
    ASSIGN_OR_RETURN(crypto::Bytes body, keys_->SealWithNonce(nonce_, plain, ad_));
    // nonce || ciphertext || tag: the format crypto::Decrypt reads.
    sealed.resize(nonce_.size() + body.size());
    std::copy(nonce_.begin(), nonce_.end(), sealed.begin());
    std::copy(body.begin(), body.end(), sealed.begin() + static_cast<ptrdiff_t>(nonce_.size()));
    RETURN_IF_ERROR(spool_.Append(b.keys[i], sealed, from, until));
  }
  return Status();
}

}  // namespace chukan::replica
