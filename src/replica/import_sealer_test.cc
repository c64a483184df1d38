// ImportSealer: records reach the spool in the order they were added, sealed under the key with
// the record's associated data, with distinct nonces; deletions and dates as ImportSpool keeps
// them; stopping early does not hang on a full queue.
#include "replica/import_sealer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "crypto/bytes.h"
#include "crypto/data_keys.h"
#include "crypto/secret_bytes.h"

namespace chukan::replica {
namespace {

ImportSpool::KeyHash KeyOf(size_t i) {
  ImportSpool::KeyHash k{};
  for (size_t b = 0; b < 8; ++b) k[b] = static_cast<uint8_t>(i >> (8 * b));
  k[15] = 0xa5;
  return k;
}

std::string PlainOf(size_t i) { return "record " + std::to_string(i) + std::string(i % 37, 'x'); }

class ImportSealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<crypto::DataKeys> keys,
                         crypto::DataKeys::Create(1, crypto::SecretBytes::Random(32)));
    keys_ = keys->Snapshot();
    ASSERT_OK_AND_ASSIGN(spool_, ImportSpool::Create());
  }
  std::vector<uint8_t> Ad(const ImportSpool::KeyHash& k) const {
    std::vector<uint8_t> ad(head_.begin(), head_.end());
    ad.insert(ad.end(), k.begin(), k.end());
    return ad;
  }
  const std::string head_ = std::string("chukan-replica-v1\0t1\0TM01\0", 26);
  std::shared_ptr<const crypto::DataKeySet> keys_;
  std::unique_ptr<ImportSpool> spool_;
};

TEST_F(ImportSealerTest, SealsEveryRecordInOrderUnderItsAssociatedData) {
  // Several batches (256 records each) and a partial last one; every 100th record a deletion.
  constexpr size_t kRecords = 5 * ImportSealer::kBatchRecords + 17;
  {
    ImportSealer sealer(keys_, head_, *spool_);
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
  EXPECT_EQ(spool_->records(), static_cast<int64_t>(kRecords));
  ASSERT_OK(spool_->Rewind());
  ImportSpool::KeyHash key{};
  std::vector<uint8_t> sealed;
  std::string from, until;
  std::set<std::vector<uint8_t>> nonces;
  for (size_t i = 0; i < kRecords; ++i) {
    ASSERT_OK_AND_ASSIGN(const bool more, spool_->Next(key, sealed, from, until));
    ASSERT_TRUE(more) << i;
    EXPECT_EQ(key, KeyOf(i)) << i;
    if (i % 100 == 99) {
      EXPECT_TRUE(sealed.empty()) << i;
      EXPECT_EQ(from, "");
      EXPECT_EQ(until, "");
      continue;
    }
    EXPECT_EQ(from, i % 2 == 0 ? "2026-04-01" : "") << i;
    EXPECT_EQ(until, i % 3 == 0 ? "2027-03-31" : "") << i;
    ASSERT_OK_AND_ASSIGN(const crypto::SecretBytes plain, keys_->Open(sealed, Ad(KeyOf(i))));
    EXPECT_EQ(plain.AsStringView(), PlainOf(i)) << i;
    // Bound to its own key: another record's associated data does not open it.
    EXPECT_THAT(keys_->Open(sealed, Ad(KeyOf(i + 1))), StatusIs(StatusCode::kDataLoss));
    nonces.emplace(sealed.begin(), sealed.begin() + 24);
  }
  ASSERT_OK_AND_ASSIGN(const bool more, spool_->Next(key, sealed, from, until));
  EXPECT_FALSE(more);
  EXPECT_EQ(nonces.size(), kRecords - kRecords / 100);  // no nonce used twice
}

TEST_F(ImportSealerTest, TwoSealersDrawDifferentNonces) {
  std::vector<std::vector<uint8_t>> first_nonce;
  for (int run = 0; run < 2; ++run) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ImportSpool> spool, ImportSpool::Create());
    ImportSealer sealer(keys_, head_, *spool);
    ASSERT_OK(sealer.Add(KeyOf(1), crypto::AsBytes(std::string_view("same")), "", ""));
    ASSERT_OK(sealer.Finish());
    ASSERT_OK(spool->Rewind());
    ImportSpool::KeyHash key{};
    std::vector<uint8_t> sealed;
    std::string from, until;
    ASSERT_OK_AND_ASSIGN(const bool more, spool->Next(key, sealed, from, until));
    ASSERT_TRUE(more);
    first_nonce.emplace_back(sealed.begin(), sealed.begin() + 24);
  }
  EXPECT_NE(first_nonce[0], first_nonce[1]);
}

TEST_F(ImportSealerTest, DestroyedWithoutFinishStopsAndWritesNoMore) {
  // More than the queue holds, then dropped: the destructor must not wait for the queue to drain
  // into the spool, and the caller must not block forever on a full queue.
  int64_t at_drop = 0;
  {
    ImportSealer sealer(keys_, head_, *spool_);
    for (size_t i = 0; i < 20 * ImportSealer::kBatchRecords; ++i) {
      ASSERT_OK(sealer.Add(KeyOf(i), crypto::AsBytes(std::string_view("plain")), "", ""));
    }
  }
  at_drop = spool_->records();
  EXPECT_LE(at_drop, static_cast<int64_t>(20 * ImportSealer::kBatchRecords));
  EXPECT_EQ(at_drop % static_cast<int64_t>(ImportSealer::kBatchRecords), 0);  // whole batches
}

}  // namespace
}  // namespace chukan::replica
