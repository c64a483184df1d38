// StreamPipe (internal to chukan_http): a bounded queue of byte chunks between an io coroutine,
// which must never block, and an ordinary thread (a server stream worker or a client caller),
// which blocks for backpressure. Either side may be the producer. The io side polls with
// non-blocking calls; when it would have to wait it "arms" the pipe, and the next state change
// made by the thread side calls the wake function once (which resumes the coroutine through
// its executor). No Boost here, so the logic is testable and cheap to compile.
//
// Memory bound: at most max_chunks × chunk_bytes bytes are buffered (queued or being written
// by the io side); the peak is recorded for tests and metrics.
//
// Thread-safety: every member is safe to call from any thread; Read/Write/Wait* block.
#ifndef CHUKAN_HTTP_STREAM_PIPE_H_
#define CHUKAN_HTTP_STREAM_PIPE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "common/status.h"
#include "http/body.h"

namespace chukan::http::internal {

inline constexpr size_t kStreamChunkBytes = 256 * 1024;
inline constexpr size_t kStreamMaxChunks = 4;

class StreamPipe final : public BodyReader, public BodyWriter {
 public:
  StreamPipe(size_t chunk_bytes = kStreamChunkBytes, size_t max_chunks = kStreamMaxChunks)
      : chunk_bytes_(chunk_bytes), max_chunks_(max_chunks) {}

  // Set once by the io side before the pipe is shared. Called without the lock held, at most
  // once per arming.
  void SetWake(std::function<void()> wake) { wake_ = std::move(wake); }

  // ---- blocking side -------------------------------------------------------------------------
  // Consumer: blocks until bytes, the end (0) or an error (the producer's close status, or the
  // consumer-side close status if the pipe was aborted).
  Result<size_t> Read(char* buf, size_t n) override EXCLUDES(mu_);
  // Producer: blocks while the buffer is full; fails with the consumer's close status.
  Status Write(std::string_view data) override EXCLUDES(mu_);
  void Flush() override EXCLUDES(mu_);

  // Ends the producer side: OK = end of data, else an error the consumer will see.
  void CloseProducer(Status status) EXCLUDES(mu_);
  // Ends the consumer side: the producer's later writes fail with `status` (must not be OK).
  void CloseConsumer(Status status) EXCLUDES(mu_);
  // Both sides fail with `status` (server stopping).
  void Abort(Status status) EXCLUDES(mu_);

  // ---- io side (never blocks) ------------------------------------------------------------------
  enum class IoState { kReady, kWait, kClosed };
  // Producer: kReady if one more chunk fits, kClosed if the consumer closed (see
  // consumer_status), else kWait (armed when `arm`).
  IoState CanPush(bool arm) EXCLUDES(mu_);
  // Producer: appends a chunk (not empty). Call only after CanPush returned kReady.
  void Push(std::string chunk) EXCLUDES(mu_);
  // Consumer: kReady with a chunk in `out` (call Release(out.size()) after it is written);
  // kClosed when the producer closed and everything was taken (see producer_status);
  // else kWait (armed when `arm`).
  IoState Pop(std::string& out, bool arm) EXCLUDES(mu_);
  void Release(size_t n) EXCLUDES(mu_);
  // kClosed once the consumer / producer side is closed, else kWait (armed when `arm`).
  IoState ConsumerClosed(bool arm) EXCLUDES(mu_);
  IoState ProducerClosed(bool arm) EXCLUDES(mu_);

  Status producer_status() const EXCLUDES(mu_);
  Status consumer_status() const EXCLUDES(mu_);
  size_t peak_bytes() const EXCLUDES(mu_);
  size_t buffered_bytes() const EXCLUDES(mu_);
  uint64_t produced_bytes() const EXCLUDES(mu_);  // total bytes pushed/written

 private:
  bool PoppableLocked() const REQUIRES(mu_);
  // Disarms; returns whether the io side was armed.
  bool TakeArmLocked() REQUIRES(mu_);
  // If the io side was armed: releases mu_, calls the wake function, takes mu_ again.
  void WakeIfArmed() REQUIRES(mu_);

  const size_t chunk_bytes_;
  const size_t max_chunks_;
  std::function<void()> wake_;

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<std::string> chunks_ GUARDED_BY(mu_);
  size_t front_offset_ GUARDED_BY(mu_) = 0;  // bytes of chunks_.front() already read
  size_t buffered_ GUARDED_BY(mu_) = 0;      // queued + popped-not-released bytes
  size_t out_chunks_ GUARDED_BY(mu_) = 0;    // popped, not yet released
  size_t peak_ GUARDED_BY(mu_) = 0;
  uint64_t produced_ GUARDED_BY(mu_) = 0;
  bool flush_ GUARDED_BY(mu_) = false;
  bool producer_closed_ GUARDED_BY(mu_) = false;
  bool consumer_closed_ GUARDED_BY(mu_) = false;
  Status producer_status_ GUARDED_BY(mu_);
  Status consumer_status_ GUARDED_BY(mu_);
  bool armed_ GUARDED_BY(mu_) = false;
};

}  // namespace chukan::http::internal

#endif  // CHUKAN_HTTP_STREAM_PIPE_H_
