// ImportSealer and SealedQueue: records reach the writer in the order they were added, sealed
// under the key with the record's associated data, with distinct nonces, deletions and dates
// kept; stopping early, a cancelled writer and an abandoned file hang nobody.
#include "replica/import_sealer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status_matchers.h"
#include "crypto/bytes.h"
#include "crypto/data_keys.h"
#include "crypto/secret_bytes.h"

namespace chukan::replica {
namespace {

SealedQueue::KeyHash KeyOf(size_t i) {
  SealedQueue::KeyHash k{};
  for (size_t b = 0; b < 8; ++b) k[b] = static_cast<uint8_t>(i >> (8 * b));
  k[15] = 0xa5;
  return k;
}

// A record as the writer takes it from the queue.
struct Taken {
  SealedQueue::KeyHash key{};
  std::vector<uint8_t> sealed;
  std::string from, until;
};

// Takes every record until the queue ends (the writer's side), on the calling thread.
Result<std::vector<Taken>> TakeAll(SealedQueue& q) {
  std::vector<Taken> out;
  while (true) {
    Taken t;
    ASSIGN_OR_RETURN(const bool more, q.Next(t.key, t.sealed, t.from, t.until));
    if (!more) return out;
    out.push_back(std::move(t));
  }
}

std::string PlainOf(size_t i) { return "record " + std::to_string(i) + std::string(i % 37, 'x'); }

class ImportSealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<crypto::DataKeys> keys,
                         crypto::DataKeys::Create(1, crypto::SecretBytes::Random(32)));
    keys_ = keys->Snapshot();
  }
  std::vector<uint8_t> Ad(const SealedQueue::KeyHash& k) const {
    std::vector<uint8_t> ad(head_.begin(), head_.end());
    ad.insert(ad.end(), k.begin(), k.end());
    return ad;
  }
  const std::string head_ = std::string("chukan-replica-v1\0t1\0TM01\0", 26);
  std::shared_ptr<const crypto::DataKeySet> keys_;
  SealedQueue queue_;
};

TEST_F(ImportSealerTest, SealsEveryRecordInOrderUnderItsAssociatedData) {
  // Several batches (256 records each, more than the queue holds) and a partial last one; every
  // 100th record a deletion. The writer takes them on another thread as they come.
  constexpr size_t kRecords = 11 * ImportSealer::kBatchRecords + 17;
  Result<std::vector<Taken>> taken = InternalError("not taken");
  std::thread writer([&] { taken = TakeAll(queue_); });
  {
    ImportSealer sealer(keys_, head_, queue_);
    for (size_t i = 0; i < kRecords; ++i) {
      if (i % 100 == 99) {
        ASSERT_OK(sealer.AddDeletion(KeyOf(i)));
        continue;
      }
      const std::string plain = PlainOf(i);
      ASSERT_OK(sealer.Add(KeyOf(i), crypto::AsBytes(plain), i % 2 == 0 ? "2026-04-01" : "",
                           i % 3 == 0 ? "2027-03-31" : ""));
    }
    ASSERT_OK(sealer.Finish());
  }
  queue_.Close(Status());
  writer.join();
  ASSERT_OK(taken.status());
  EXPECT_TRUE(queue_.complete());
  ASSERT_EQ(taken->size(), kRecords);
  std::set<std::vector<uint8_t>> nonces;
  for (size_t i = 0; i < kRecords; ++i) {
    const Taken& t = (*taken)[i];
    EXPECT_EQ(t.key, KeyOf(i)) << i;
    if (i % 100 == 99) {
      EXPECT_TRUE(t.sealed.empty()) << i;
      EXPECT_EQ(t.from, "");
      EXPECT_EQ(t.until, "");
      continue;
    }
    EXPECT_EQ(t.from, i % 2 == 0 ? "2026-04-01" : "") << i;
    EXPECT_EQ(t.until, i % 3 == 0 ? "2027-03-31" : "") << i;
    ASSERT_OK_AND_ASSIGN(const crypto::SecretBytes plain, keys_->Open(t.sealed, Ad(KeyOf(i))));
    EXPECT_EQ(plain.AsStringView(), PlainOf(i)) << i;
    // Bound to its own key: another record's associated data does not open it.
    EXPECT_THAT(keys_->Open(t.sealed, Ad(KeyOf(i + 1))), StatusIs(StatusCode::kDataLoss));
    nonces.emplace(t.sealed.begin(), t.sealed.begin() + 24);
  }
  EXPECT_EQ(nonces.size(), kRecords - kRecords / 100);  // no nonce used twice
}

TEST_F(ImportSealerTest, TwoSealersDrawDifferentNonces) {
  std::vector<std::vector<uint8_t>> first_nonce;
  for (int run = 0; run < 2; ++run) {
    SealedQueue queue;
    ImportSealer sealer(keys_, head_, queue);
    ASSERT_OK(sealer.Add(KeyOf(1), crypto::AsBytes(std::string_view("same")), "", ""));
    ASSERT_OK(sealer.Finish());
    queue.Close(Status());
    ASSERT_OK_AND_ASSIGN(std::vector<Taken> taken, TakeAll(queue));
    ASSERT_EQ(taken.size(), 1u);
    first_nonce.emplace_back(taken[0].sealed.begin(), taken[0].sealed.begin() + 24);
  }
  EXPECT_NE(first_nonce[0], first_nonce[1]);
}

TEST_F(ImportSealerTest, DestroyedWithoutFinishStopsAndQueuesNoMore) {
  // Three batches (the queue holds four), then dropped without Finish: the destructor must not
  // wait for a writer, and what was queued is whole batches.
  {
    ImportSealer sealer(keys_, head_, queue_);
    for (size_t i = 0; i < 3 * ImportSealer::kBatchRecords; ++i) {
      ASSERT_OK(sealer.Add(KeyOf(i), crypto::AsBytes(std::string_view("plain")), "", ""));
    }
  }
  queue_.Close(Status());
  ASSERT_OK_AND_ASSIGN(std::vector<Taken> taken, TakeAll(queue_));
  EXPECT_LE(taken.size(), 3 * ImportSealer::kBatchRecords);
  EXPECT_EQ(taken.size() % ImportSealer::kBatchRecords, 0u);  // whole batches
}

// The writer's transaction failed while the reader and the sealer wait on a full queue: both
// are told, with the writer's error, instead of waiting for a writer that is gone.
TEST_F(ImportSealerTest, AWriterThatCancelsStopsASealerWaitingOnAFullQueue) {
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    queue_.Cancel(UnavailableError("database: disk full"));
  });
  Status added;
  {
    ImportSealer sealer(keys_, head_, queue_);
    for (size_t i = 0; i < 100 * ImportSealer::kBatchRecords && added.ok(); ++i) {
      added = sealer.Add(KeyOf(i), crypto::AsBytes(std::string_view("plain")), "", "");
    }
  }
  writer.join();
  EXPECT_THAT(added, StatusIs(StatusCode::kUnavailable, ::testing::HasSubstr("disk full")));
}

// The reader found a problem: the writer's Next ends at once, whatever is queued, and the queue
// is not complete; a reader's error closes it with that error once the queue is taken.
TEST_F(ImportSealerTest, AnAbandonedQueueEndsAtOnceAndAnErrorReachesTheWriter) {
  {
    ImportSealer sealer(keys_, head_, queue_);
    for (size_t i = 0; i < 2 * ImportSealer::kBatchRecords; ++i) {
      ASSERT_OK(sealer.Add(KeyOf(i), crypto::AsBytes(std::string_view("plain")), "", ""));
    }
    ASSERT_OK(sealer.Finish());
  }
  queue_.Abandon();
  ASSERT_OK_AND_ASSIGN(std::vector<Taken> taken, TakeAll(queue_));
  EXPECT_TRUE(taken.empty());
  EXPECT_FALSE(queue_.complete());
  EXPECT_THAT(queue_.Push(queue_.Empty()), StatusIs(StatusCode::kCancelled));

  SealedQueue failed;
  {
    ImportSealer sealer(keys_, head_, failed);
    ASSERT_OK(sealer.Add(KeyOf(1), crypto::AsBytes(std::string_view("plain")), "", ""));
    ASSERT_OK(sealer.Finish());
  }
  failed.Close(DataLossError("temporary stream: authentication failed (chunk 3)"));
  SealedQueue::KeyHash key{};
  std::vector<uint8_t> sealed;
  std::string from, until;
  ASSERT_OK_AND_ASSIGN(const bool first, failed.Next(key, sealed, from, until));
  EXPECT_TRUE(first);  // what was queued before the error
  EXPECT_THAT(failed.Next(key, sealed, from, until),
              StatusIs(StatusCode::kDataLoss, ::testing::HasSubstr("chunk 3")));
  EXPECT_FALSE(failed.complete());
}

}  // namespace
}  // namespace chukan::replica
