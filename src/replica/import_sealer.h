// ImportSealer: the second stage of an import's staging phase. The import's own thread reads,
// checks and encodes each record; this stage seals the encoded records under the tenant's data key
// (XChaCha20-Poly1305, associated data binding tenant, TM and record key) and appends them to the
// import's spool, on a thread of its own, so that sealing and the spool's writes run beside the
// parsing and checking of the rows that follow (docs/performance.md, "First import: sealing
// beside the checks").
//
// Records travel in batches of plaintext, at most kMaxBatches queued, so memory stays bounded
// whatever the file; a batch's plaintext is wiped as soon as it is sealed, and whatever is still
// queued is wiped when the sealer stops. A batch's buffer is reserved up front and wiped before
// it is ever reallocated, so no plaintext is left behind in freed heap blocks either. Records reach
// the spool in the order they were added.
//
// Nonces: 16 random bytes drawn once per sealer, then a 64-bit counter (as before this stage
// existed: unique under the tenant key with overwhelming probability across imports, and no
// getrandom() call per record).
//
// Thread-compatible: one import's thread calls Add*, Finish and the destructor. The spool is the
// sealer's from construction until Finish() or the destructor returns.
#ifndef CHUKAN_REPLICA_IMPORT_SEALER_H_
#define CHUKAN_REPLICA_IMPORT_SEALER_H_

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
#include "replica/import_spool.h"

namespace chukan::replica {

class ImportSealer {
 public:
  static constexpr size_t kBatchRecords = 256;
  static constexpr size_t kMaxBatches = 4;  // queued, not counting the one being filled

  // `keys`: the key set the whole import seals under. `ad_head`: the associated data that
  // precedes each record's 16-byte key hash (prefix, tenant, TM, each NUL-terminated). Starts the
  // sealing thread. `spool` must outlive the sealer.
  ImportSealer(std::shared_ptr<const crypto::DataKeySet> keys, std::string ad_head,
               ImportSpool& spool);
  // Stops the thread (records still queued are dropped and wiped) and waits for it.
  ~ImportSealer();
  ImportSealer(const ImportSealer&) = delete;
  ImportSealer& operator=(const ImportSealer&) = delete;

  // Queues a record to seal: `plain` is copied (the caller may reuse and wipe its buffer). Blocks
  // while kMaxBatches batches wait. Errors: the first error of the sealing thread (sealing, or the
  // spool's kUnavailable), after which nothing more is sealed.
  Status Add(const ImportSpool::KeyHash& key_hash, std::span<const uint8_t> plain,
             std::string_view publish_from, std::string_view publish_until);
  // Queues a deletion: the key hash alone goes to the spool (an empty record). Errors: as Add.
  Status AddDeletion(const ImportSpool::KeyHash& key_hash);

  // Hands over the last batch and waits until every record is in the spool. Call once; the
  // spool is the caller's again afterwards. Errors: as Add.
  Status Finish();

 private:
  // Plaintext bytes reserved per record of a batch (a CSV record of the bench's 18 items is ~100
  // bytes): a batch's plaintext buffer is allocated once at this size and, when a batch needs
  // more, grown by crypto::AppendWiping, which wipes the block it leaves. Batches are reused
  // (Clear() keeps the capacity), so an import's plaintext is never left in freed heap memory.
  static constexpr size_t kReservedPlainBytes = 512;

  struct Batch {
    Batch();
    std::vector<ImportSpool::KeyHash> keys;
    std::vector<uint8_t> plain;  // the records back to back
    std::vector<size_t> ends;    // ends[i]: the end of record i in `plain`
    std::vector<bool> deletion;
    std::vector<std::array<char, 2 * ImportSpool::kDateBytes>> dates;  // NUL-filled when absent
    size_t size() const { return keys.size(); }
    void Clear();  // wipes the plaintext
  };

  Status Queue(const ImportSpool::KeyHash& key_hash, std::span<const uint8_t> plain, bool deletion,
               std::string_view publish_from, std::string_view publish_until);
  Status HandOver() EXCLUDES(mu_);
  void Run() EXCLUDES(mu_);
  Status SealBatch(const Batch& b);

  const std::shared_ptr<const crypto::DataKeySet> keys_;
  const std::string ad_head_;
  ImportSpool& spool_;               // the thread's until Finish() or Stop
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
