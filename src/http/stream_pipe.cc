#include "http/stream_pipe.h"

#include <algorithm>
#include <cstring>

namespace chukan::http {

BodyReader::~BodyReader() = default;
BodyWriter::~BodyWriter() = default;

namespace internal {

bool StreamPipe::PoppableLocked() const {
  if (chunks_.empty()) return false;
  return chunks_.size() > 1 || chunks_.front().size() >= chunk_bytes_ || flush_ || producer_closed_;
}

bool StreamPipe::TakeArmLocked() {
  if (!armed_) return false;
  armed_ = false;
  return true;
}

void StreamPipe::WakeIfArmed() {
  if (!TakeArmLocked()) return;
  // The caller's MutexLock still owns mu_ and releases it at the end of its scope: mu_ is
  // released here only for the call and taken again before returning.
  mu_.Unlock();
  if (wake_) wake_();
  mu_.Lock();
}

Result<size_t> StreamPipe::Read(char* buf, size_t n) {
  if (n == 0) return size_t{0};
  MutexLock lock(mu_);
  while (chunks_.empty() && !producer_closed_ && !consumer_closed_) cv_.Wait(lock);
  if (consumer_closed_) return consumer_status_.ok() ? Result<size_t>(size_t{0}) : consumer_status_;
  if (chunks_.empty()) {
    if (!producer_status_.ok()) return producer_status_;
    return size_t{0};
  }
  std::string& front = chunks_.front();
  const size_t k = std::min(n, front.size() - front_offset_);
  std::memcpy(buf, front.data() + front_offset_, k);
  front_offset_ += k;
  if (front_offset_ == front.size()) {
    buffered_ -= front.size();
    chunks_.pop_front();
    front_offset_ = 0;
    cv_.SignalAll();
    WakeIfArmed();
  }
  return k;
}

Status StreamPipe::Write(std::string_view data) {
  MutexLock lock(mu_);
  while (!data.empty()) {
    if (consumer_closed_) return consumer_status_;
    if (producer_closed_) return FailedPreconditionError("http: body already closed");
    if (!chunks_.empty() && chunks_.back().size() < chunk_bytes_) {
      std::string& back = chunks_.back();
      const size_t k = std::min(data.size(), chunk_bytes_ - back.size());
      back.append(data.data(), k);
      data.remove_prefix(k);
      buffered_ += k;
      produced_ += k;
      peak_ = std::max(peak_, buffered_);
      continue;
    }
    if (chunks_.size() + out_chunks_ >= max_chunks_) {
      if (PoppableLocked()) WakeIfArmed();
      while (!consumer_closed_ && !producer_closed_ &&
             chunks_.size() + out_chunks_ >= max_chunks_) {
        cv_.Wait(lock);
      }
      continue;
    }
    chunks_.emplace_back();
    chunks_.back().reserve(chunk_bytes_);
  }
  if (PoppableLocked()) WakeIfArmed();
  return Status::Ok();
}

void StreamPipe::Flush() {
  MutexLock lock(mu_);
  if (chunks_.empty()) return;
  flush_ = true;
  WakeIfArmed();
}

void StreamPipe::CloseProducer(Status status) {
  MutexLock lock(mu_);
  if (producer_closed_) return;
  producer_closed_ = true;
  producer_status_ = std::move(status);
  cv_.SignalAll();
  WakeIfArmed();
}

void StreamPipe::CloseConsumer(Status status) {
  MutexLock lock(mu_);
  if (consumer_closed_) return;
  consumer_closed_ = true;
  consumer_status_ = std::move(status);
  for (const std::string& c : chunks_) buffered_ -= c.size();
  chunks_.clear();
  front_offset_ = 0;
  cv_.SignalAll();
  WakeIfArmed();
}

void StreamPipe::Abort(Status status) {
  MutexLock lock(mu_);
  if (!consumer_closed_) {
    consumer_closed_ = true;
    consumer_status_ = status;
  }
  if (!producer_closed_ || producer_status_.ok()) {
    producer_closed_ = true;
    producer_status_ = status;
  }
  for (const std::string& c : chunks_) buffered_ -= c.size();
  chunks_.clear();
  front_offset_ = 0;
  cv_.SignalAll();
  WakeIfArmed();
}

StreamPipe::IoState StreamPipe::CanPush(bool arm) {
  MutexLock lock(mu_);
  if (consumer_closed_) return IoState::kClosed;
  if (buffered_ + chunk_bytes_ <= chunk_bytes_ * max_chunks_) return IoState::kReady;
  if (arm) armed_ = true;
  return IoState::kWait;
}

void StreamPipe::Push(std::string chunk) {
  MutexLock lock(mu_);
  if (consumer_closed_ || chunk.empty()) return;
  buffered_ += chunk.size();
  produced_ += chunk.size();
  peak_ = std::max(peak_, buffered_);
  chunks_.push_back(std::move(chunk));
  cv_.SignalAll();
}

StreamPipe::IoState StreamPipe::Pop(std::string& out, bool arm) {
  MutexLock lock(mu_);
  if (producer_closed_ && !producer_status_.ok()) return IoState::kClosed;
  if (PoppableLocked()) {
    out = std::move(chunks_.front());
    chunks_.pop_front();
    ++out_chunks_;
    if (chunks_.empty()) flush_ = false;
    return IoState::kReady;
  }
  if (producer_closed_ && chunks_.empty()) return IoState::kClosed;
  if (arm) armed_ = true;
  return IoState::kWait;
}

void StreamPipe::Release(size_t n) {
  MutexLock lock(mu_);
  buffered_ -= n;
  --out_chunks_;
  cv_.SignalAll();
}

StreamPipe::IoState StreamPipe::ConsumerClosed(bool arm) {
  MutexLock lock(mu_);
  if (consumer_closed_) return IoState::kClosed;
  if (arm) armed_ = true;
  return IoState::kWait;
}

StreamPipe::IoState StreamPipe::ProducerClosed(bool arm) {
  MutexLock lock(mu_);
  if (producer_closed_) return IoState::kClosed;
  if (arm) armed_ = true;
  return IoState::kWait;
}

Status StreamPipe::producer_status() const {
  MutexLock lock(mu_);
  return producer_status_;
}

Status StreamPipe::consumer_status() const {
  MutexLock lock(mu_);
  return consumer_status_;
}

size_t StreamPipe::peak_bytes() const {
  MutexLock lock(mu_);
  return peak_;
}

size_t StreamPipe::buffered_bytes() const {
  MutexLock lock(mu_);
  return buffered_;
}

uint64_t StreamPipe::produced_bytes() const {
  MutexLock lock(mu_);
  return produced_;
}

}  // namespace internal
}  // namespace chukan::http
