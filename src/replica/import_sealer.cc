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
                           SealedQueue& out)
    : keys_(std::move(keys)),
      ad_head_(std::move(ad_head)),
      out_(out),
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

Status ImportSealer::Add(const SealedQueue::KeyHash& key_hash, std::span<const uint8_t> plain,
                         std::string_view publish_from, std::string_view publish_until) {
  return Queue(key_hash, plain, false, publish_from, publish_until);
}

Status ImportSealer::AddDeletion(const SealedQueue::KeyHash& key_hash) {
  return Queue(key_hash, {}, true, {}, {});
}

Status ImportSealer::Queue(const SealedQueue::KeyHash& key_hash, std::span<const uint8_t> plain,
                           bool deletion, std::string_view publish_from,
                           std::string_view publish_until) {
  Batch& b = *filling_;
  b.keys.push_back(key_hash);
  // Not insert(): growing the buffer must not free a block with plaintext in it.
  crypto::AppendWiping(b.plain, plain);
  b.ends.push_back(b.plain.size());
  b.deletion.push_back(deletion);
  std::array<char, 2 * SealedQueue::kDateBytes>& d = b.dates.emplace_back();
  d.fill('\0');
  // string_view::copy, not memcpy: an absent date's data() may be null.
  publish_from.copy(d.data(), SealedQueue::kDateBytes);
  publish_until.copy(d.data() + SealedQueue::kDateBytes, SealedQueue::kDateBytes);
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
  lock.Unlock();  // before the signal: the woken thread must not wake into a held lock
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
    lock.Unlock();
    space_.Signal();
  }
}

Status ImportSealer::SealBatch(const Batch& b) {
  std::unique_ptr<SealedQueue::Batch> out = out_.Empty();
  for (size_t i = 0; i < b.size(); ++i) {
    out->keys.push_back(b.keys[i]);
    out->dates.push_back(b.dates[i]);
    if (b.deletion[i]) {
      out->ends.push_back(out->bytes.size());
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
    out->bytes.insert(out->bytes.end(), nonce_.begin(), nonce_.end());
    out->bytes.insert(out->bytes.end(), body.begin(), body.end());
    out->ends.push_back(out->bytes.size());
  }
  return out_.Push(std::move(out));
}

void SealedQueue::Batch::Clear() {
  keys.clear();
  bytes.clear();
  ends.clear();
  dates.clear();
}

std::unique_ptr<SealedQueue::Batch> SealedQueue::Empty() {
  MutexLock lock(mu_);
  if (free_.empty()) return std::make_unique<Batch>();
  std::unique_ptr<Batch> b = std::move(free_.back());
  free_.pop_back();
  return b;
}

Status SealedQueue::Push(std::unique_ptr<Batch> batch) {
  MutexLock lock(mu_);
  while (full_.size() >= kMaxBatches && cancel_.ok() && !closed_ && !abandoned_) {
    space_.Wait(lock);
  }
  if (!cancel_.ok()) return cancel_;
  if (closed_ || abandoned_) return CancelledError("sealed queue: closed");
  full_.push_back(std::move(batch));
  lock.Unlock();
  ready_.Signal();
  return Status();
}

void SealedQueue::Close(Status end) {
  {
    MutexLock lock(mu_);
    closed_ = true;
    end_ = std::move(end);
  }
  ready_.SignalAll();
  space_.SignalAll();
}

void SealedQueue::Abandon() {
  {
    MutexLock lock(mu_);
    abandoned_ = true;
    full_.clear();
  }
  ready_.SignalAll();
  space_.SignalAll();
}

void SealedQueue::Cancel(Status why) {
  {
    MutexLock lock(mu_);
    cancel_ = why.ok() ? CancelledError("sealed queue: cancelled") : std::move(why);
    full_.clear();
  }
  space_.SignalAll();
}

bool SealedQueue::complete() const {
  MutexLock lock(mu_);
  return closed_ && end_.ok() && !abandoned_;
}

Result<bool> SealedQueue::Next(KeyHash& key_hash, std::vector<uint8_t>& sealed,
                               std::string& publish_from, std::string& publish_until) {
  if (reading_ == nullptr || next_ == reading_->size()) {
    MutexLock lock(mu_);
    if (reading_ != nullptr) {
      reading_->Clear();
      free_.push_back(std::move(reading_));
    }
    while (full_.empty() && !closed_ && !abandoned_) ready_.Wait(lock);
    if (abandoned_) return false;
    if (full_.empty()) {
      if (!end_.ok()) return end_;
      return false;
    }
    reading_ = std::move(full_.front());
    full_.pop_front();
    next_ = 0;
    lock.Unlock();
    space_.Signal();
  }
  const size_t i = next_++;
  key_hash = reading_->keys[i];
  const size_t begin = i == 0 ? 0 : reading_->ends[i - 1];
  sealed.assign(reading_->bytes.begin() + static_cast<ptrdiff_t>(begin),
                reading_->bytes.begin() + static_cast<ptrdiff_t>(reading_->ends[i]));
  const char* d = reading_->dates[i].data();
  publish_from.assign(d, strnlen(d, kDateBytes));
  publish_until.assign(d + kDateBytes, strnlen(d + kDateBytes, kDateBytes));
  return true;
}

}  // namespace chukan::replica
