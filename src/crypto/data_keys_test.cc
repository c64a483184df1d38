#include "crypto/data_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "crypto/aead.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;

const Bytes kAd = ToBytes("tenant\ntable\nrow-1");
const Bytes kPlain = ToBytes("061234567890123");

std::shared_ptr<DataKeys> Keys(const SecretBytes& key) {
  Result<std::shared_ptr<DataKeys>> k = DataKeys::Create(1, key.Clone());
  EXPECT_TRUE(k.ok()) << k.status();
  return *k;
}

TEST(DataKeysTest, SealsUnderTheCurrentKeyAndOpensBoth) {
  const SecretBytes old_key = SecretBytes::Random(kDataKeyBytes);
  const SecretBytes new_key = SecretBytes::Random(kDataKeyBytes);
  std::shared_ptr<DataKeys> keys = Keys(old_key);
  Result<Bytes> before = keys->Seal(kPlain, kAd);
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(keys->Rotate(2, new_key.Clone()).ok());
  EXPECT_EQ(keys->Snapshot()->version(), 2);
  Result<Bytes> after = keys->Seal(kPlain, kAd);
  ASSERT_TRUE(after.ok());
  // New writes are under the new key only.
  EXPECT_TRUE(Decrypt(new_key, *after, kAd).ok());
  EXPECT_THAT(Decrypt(old_key, *after, kAd).status(), StatusIs(StatusCode::kDataLoss));
  // Both stay readable, and the holder says which key opened a row.
  bool under_previous = false;
  Result<SecretBytes> a = keys->Snapshot()->Open(*before, kAd, &under_previous);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(under_previous);
  EXPECT_EQ(a->AsStringView(), "061234567890123");
  Result<SecretBytes> b = keys->Snapshot()->Open(*after, kAd, &under_previous);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(under_previous);
  EXPECT_THAT(keys->Snapshot()->OpenCurrent(*before, kAd).status(),
              StatusIs(StatusCode::kDataLoss));
  // Finished: the old rows no longer open.
  keys->DropPrevious();
  EXPECT_FALSE(keys->Snapshot()->has_previous());
  EXPECT_THAT(keys->Open(*before, kAd).status(), StatusIs(StatusCode::kDataLoss));
  EXPECT_TRUE(keys->Open(*after, kAd).ok());
}

// Another process started a rotation and sealed under its new key before this holder reloaded:
// Open asks for a reload once and opens under the key it then holds.
TEST(DataKeysTest, AValueUnderAKeyNotLoadedYetOpensAfterOneRefresh) {
  const SecretBytes new_key = SecretBytes::Random(kDataKeyBytes);
  std::shared_ptr<DataKeys> keys = Keys(SecretBytes::Random(kDataKeyBytes));
  Result<Bytes> elsewhere = Encrypt(new_key, kPlain, kAd);
  ASSERT_TRUE(elsewhere.ok());
  // No refresh function: nothing to ask.
  EXPECT_THAT(keys->Open(*elsewhere, kAd).status(), StatusIs(StatusCode::kDataLoss));
  int refreshes = 0;
  DataKeys* holder = keys.get();
  keys->SetRefresh([&] {
    ++refreshes;
    ASSERT_TRUE(holder->Rotate(2, new_key.Clone()).ok());
  });
  Result<SecretBytes> plain = keys->Open(*elsewhere, kAd);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->AsStringView(), "061234567890123");
  EXPECT_EQ(refreshes, 1);
  EXPECT_EQ(keys->Snapshot()->version(), 2);
  // Values that open, or a failure while a rotation is known here, ask for nothing.
  ASSERT_TRUE(keys->Open(*elsewhere, kAd).ok());
  EXPECT_THAT(keys->Open(*elsewhere, ToBytes("another row")).status(),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_EQ(refreshes, 1);
  // A refresh that changes nothing: the first error stands, one call per failing Open.
  keys->DropPrevious();
  keys->SetRefresh([&] { ++refreshes; });
  EXPECT_THAT(keys->Open(*elsewhere, ToBytes("another row")).status(),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_EQ(refreshes, 2);
}

TEST(DataKeysTest, AnOldSnapshotKeepsItsKeysAfterTheHolderMovesOn) {
  std::shared_ptr<DataKeys> keys = Keys(SecretBytes::Random(kDataKeyBytes));
  std::shared_ptr<const DataKeySet> old = keys->Snapshot();
  Result<Bytes> sealed = keys->Seal(kPlain, kAd);
  ASSERT_TRUE(sealed.ok());
  ASSERT_TRUE(keys->Rotate(2, SecretBytes::Random(kDataKeyBytes)).ok());
  keys->DropPrevious();
  EXPECT_EQ(old->version(), 1);
  EXPECT_TRUE(old->Open(*sealed, kAd).ok());
}

TEST(DataKeysTest, OneRotationAtATimeAndVersionsGrow) {
  std::shared_ptr<DataKeys> keys = Keys(SecretBytes::Random(kDataKeyBytes));
  EXPECT_THAT(keys->Rotate(1, SecretBytes::Random(kDataKeyBytes)),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(keys->Rotate(2, SecretBytes::Random(16)), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_TRUE(keys->Rotate(2, SecretBytes::Random(kDataKeyBytes)).ok());
  EXPECT_THAT(keys->Rotate(3, SecretBytes::Random(kDataKeyBytes)),
              StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(DataKeys::Create(1, SecretBytes::Random(31)).status(),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(DataKeysTest, AnotherRowsAdOpensUnderNeitherKey) {
  std::shared_ptr<DataKeys> keys = Keys(SecretBytes::Random(kDataKeyBytes));
  Result<Bytes> sealed = keys->Seal(kPlain, kAd);
  ASSERT_TRUE(sealed.ok());
  ASSERT_TRUE(keys->Rotate(2, SecretBytes::Random(kDataKeyBytes)).ok());
  EXPECT_THAT(keys->Open(*sealed, ToBytes("tenant\ntable\nrow-2")).status(),
              StatusIs(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace chukan::crypto
