// ImportSealer and SealedQueue: the middle of an import's pipeline (docs/performance.md, "An
// import read, checked and written at once"). The import's reading thread reads, checks and
// encodes each record; the sealer seals the encoded records under the tenant's data key
// (XChaCha20-Poly1305, associated data binding tenant, TM and record key) on a thread of its own
// and queues them, in batches, for the thread that writes them into the import's transaction
// (SealedQueue). Reading, sealing and writing run side by side.
//
// Records travel in batches of plaintext, at most kMaxBatches queued, so memory stays bounded
// whatever the file; a batch's plaintext is wiped as soon as it is sealed, and whatever is still
// queued is wiped when the sealer stops. A batch's buffer is reserved up front and wiped before
// it is ever reallocated, so no plaintext is left behind in freed heap blocks either. Records reach
// the queue in the order they were added.
//
// Nonces: 16 random bytes drawn once per sealer, then a 64-bit counter (unique under the tenant
// key with overwhelming probability across imports, and no getrandom() call per record).
//
// Thread-safety: ImportSealer is thread-compatible (one import's reading thread calls Add*,
// Finish and the destructor); SealedQueue is thread-safe between its one producer (the sealer),
// the reading thread (Close, Abandon) and its one consumer (Next, Cancel).
#ifndef CHUKAN_REPLICA_IMPORT_SEALER_H_
#define CHUKAN_REPLICA_IMPORT_SEALER_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "crypto/data_keys.h"

namespace chukan::replica {

// The sealed records of an import between the sealer and the writer. Sealed records and key
// hashes are what the database stores anyway; the dates (公開開始日 / 公開終了日) are stored in
// the clear there too.
class SealedQueue {
 public:
  using KeyHash = std::array<uint8_t, 16>;
  static constexpr size_t kDateBytes = 10;
  static constexpr size_t kMaxBatches = 4;  // queued

  struct Batch {
    std::vector<KeyHash> keys;
    std::vector<uint8_t> bytes;  // the sealed records back to back (a deletion: none)
    std::vector<size_t> ends;    // ends[i]: the end of record i in `bytes`
    std::vector<std::array<char, 2 * kDateBytes>> dates;  // NUL-filled when absent
    size_t size() const { return keys.size(); }
    void Clear();
  };

  SealedQueue() = default;
  SealedQueue(const SealedQueue&) = delete;
  SealedQueue& operator=(const SealedQueue&) = delete;

  // The producer: an empty batch to fill (reused), and the filled batch queued — blocks while
  // kMaxBatches wait. Errors: the status the consumer gave Cancel(); kCancelled once closed or
  // abandoned.
  std::unique_ptr<Batch> Empty() EXCLUDES(mu_);
  Status Push(std::unique_ptr<Batch> batch) EXCLUDES(mu_);

  // The reading thread: no batch follows those queued. `end` OK: every record of the file was
  // queued (complete()); an error: the consumer's Next() returns it once the queue is empty.
  void Close(Status end) EXCLUDES(mu_);
  // The reading thread: the file has a problem and nothing of it may be written. The consumer's
  // Next() ends at once (false), dropping what is queued; complete() stays false.
  void Abandon() EXCLUDES(mu_);

  // The consumer: the next record into `key_hash`, `sealed` (empty: a deletion) and the dates;
  // false at the end (closed, or abandoned). Blocks while the queue is empty and open.
  // Errors: the status given to Close().
  Result<bool> Next(KeyHash& key_hash, std::vector<uint8_t>& sealed, std::string& publish_from,
                    std::string& publish_until) EXCLUDES(mu_);
  // After Next() returned false: whether the queue was closed with every record (not abandoned).
  bool complete() const EXCLUDES(mu_);
  // The consumer stops (its transaction failed): the producer's Push() returns `why` from now on,
  // and whatever is queued is dropped.
  void Cancel(Status why) EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  CondVar ready_;  // a batch was queued, or closed / abandoned
  CondVar space_;  // a batch was taken, or cancelled / closed
  std::deque<std::unique_ptr<Batch>> full_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Batch>> free_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  bool abandoned_ GUARDED_BY(mu_) = false;
  Status end_ GUARDED_BY(mu_);      // Close()'s status
  Status cancel_ GUARDED_BY(mu_);   // Cancel()'s status (an error once cancelled)
  std::unique_ptr<Batch> reading_;  // the consumer's current batch
  size_t next_ = 0;                 // the consumer's next record in reading_
};

class ImportSealer {
 public:
  static constexpr size_t kBatchRecords = 256;
  static constexpr size_t kMaxBatches = 4;  // queued, not counting the one being filled

  // `keys`: the key set the whole import seals under. `ad_head`: the associated data that
  // precedes each record's 16-byte key hash (prefix, tenant, TM, each NUL-terminated). Starts the
  // sealing thread. `out` must outlive the sealer.
  ImportSealer(std::shared_ptr<const crypto::DataKeySet> keys, std::string ad_head,
               SealedQueue& out);
  // Stops the thread (records still queued are dropped and wiped) and waits for it.
  ~ImportSealer();
  ImportSealer(const ImportSealer&) = delete;
  ImportSealer& operator=(const ImportSealer&) = delete;

  // Queues a record to seal: `plain` is copied (the caller may reuse and wipe its buffer). Blocks
  // while kMaxBatches batches wait. Errors: the first error of the sealing thread (sealing, or the
  // queue's Push), after which nothing more is sealed.
  Status Add(const SealedQueue::KeyHash& key_hash, std::span<const uint8_t> plain,
             std::string_view publish_from, std::string_view publish_until);
  // Queues a deletion: the key hash alone goes out (an empty record). Errors: as Add.
  Status AddDeletion(const SealedQueue::KeyHash& key_hash);

  // Hands over the last batch and waits until every record is in `out` (it does not close it).
  // Call once. Errors: as Add.
  Status Finish();

 private:
  // Plaintext bytes reserved per record of a batch (a CSV record of the bench's 18 items is ~100
  // bytes): a batch's plaintext buffer is allocated once at this size and, when a batch needs
  // more, grown by crypto::AppendWiping, which wipes the block it leaves. Batches are reused
  // (Clear() keeps the capacity), so an import's plaintext is never left in freed heap memory.
  static constexpr size_t kReservedPlainBytes = 512;

  struct Batch {
    Batch();
    std::vector<SealedQueue::KeyHash> keys;
    std::vector<uint8_t> plain;  // the records back to back
    std::vector<size_t> ends;    // ends[i]: the end of record i in `plain`
    std::vector<bool> deletion;
    std::vector<std::array<char, 2 * SealedQueue::kDateBytes>> dates;  // NUL-filled when absent
    size_t size() const { return keys.size(); }
    void Clear();  // wipes the plaintext
  };

  Status Queue(const SealedQueue::KeyHash& key_hash, std::span<const uint8_t> plain, bool deletion,
               std::string_view publish_from, std::string_view publish_until);
  Status HandOver() EXCLUDES(mu_);
  void Run() EXCLUDES(mu_);
  Status SealBatch(const Batch& b);

  const std::shared_ptr<const crypto::DataKeySet> keys_;
  const std::string ad_head_;
  SealedQueue& out_;
  std::unique_ptr<Batch> filling_;   // the caller's
  std::array<uint8_t, 24> nonce_{};  // the thread's: random prefix, then the counter
  uint64_t counter_ = 0;             // the thread's
  std::vector<uint8_t> ad_;          // the thread's
  Mutex mu_;
  CondVar ready_;  // a batch was queued, or stop / finish
  CondVar space_;  // a batch was taken or the thread ended
  std::deque<std::unique_ptr<Batch>> full_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Batch>> free_ GUARDED_BY(mu_);
  bool finishing_ GUARDED_BY(mu_) = false;  // no batch will follow those queued
  bool stop_ GUARDED_BY(mu_) = false;       // drop what is queued and end
  bool ended_ GUARDED_BY(mu_) = false;      // the thread has returned
  Status error_ GUARDED_BY(mu_);            // the thread's first error
  std::thread thread_;
};

}  // namespace chukan::replica

#endif  // CHUKAN_REPLICA_IMPORT_SEALER_H_
