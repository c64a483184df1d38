#include "server/tenant_keks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

const TenantId kA = TenantId::ForOrg(OrgCode::Parse("0000000000000131").value());
const TenantId kB = TenantId::ForOrg(OrgCode::Parse("0000000000000132").value());

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TenantKeksTest, LoadOrCreateKeepsOneKekPerTenantAndCreateFreshReplacesIt) {
  chukan::testing::TempDir dir;
  const crypto::SecretBytes master = crypto::SecretBytes::Random(32);
  TenantKeks keks(dir.File("tenants"), master);
  EXPECT_THAT(keks.Load(kA), StatusIs(StatusCode::kNotFound,
                                      HasSubstr(kA.str() + ".kek: the tenant's key-encryption key "
                                                           "is missing")));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes a1, keks.LoadOrCreate(kA));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes a2, keks.LoadOrCreate(kA));
  EXPECT_TRUE(a1.ConstantTimeEquals(a2));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes b, keks.LoadOrCreate(kB));
  EXPECT_FALSE(a1.ConstantTimeEquals(b));
  // On disk: only the wrapped KEK, as hex, mode 0600, in a 0700 directory; no temporary left.
  const std::string text = Slurp(keks.PathFor(kA));
  EXPECT_EQ(text.size(), 2 * (32 + 41) + 1u);
  EXPECT_EQ(text.find(crypto::ToHex(a1.span())), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(keks.PathFor(kA).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir.File("tenants").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.File("tenants")),
                          std::filesystem::directory_iterator()),
            2);

  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes a3, keks.CreateFresh(kA));
  EXPECT_FALSE(a3.ConstantTimeEquals(a1));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes loaded, keks.Load(kA));
  EXPECT_TRUE(loaded.ConstantTimeEquals(a3));
  EXPECT_NE(Slurp(keks.PathFor(kA)), text);
}

TEST(TenantKeksTest, AKekFileOpensOnlyUnderItsMasterKeyForItsTenant) {
  chukan::testing::TempDir dir;
  const crypto::SecretBytes master = crypto::SecretBytes::Random(32);
  TenantKeks keks(dir.File("tenants"), master);
  ASSERT_OK(keks.LoadOrCreate(kA).status());
  const crypto::SecretBytes other = crypto::SecretBytes::Random(32);
  EXPECT_THAT(TenantKeks(dir.File("tenants"), other).Load(kA),
              StatusIs(StatusCode::kDataLoss, HasSubstr("does not open under the master key")));
  // A's file under B's name (a swapped file) does not open either.
  std::filesystem::copy_file(keks.PathFor(kA), keks.PathFor(kB));
  EXPECT_THAT(keks.Load(kB), StatusIs(StatusCode::kDataLoss, HasSubstr(kB.str() + ".kek")));
  std::ofstream(keks.PathFor(kB), std::ios::trunc) << "zz\n";
  EXPECT_THAT(keks.Load(kB), StatusIs(StatusCode::kDataLoss, HasSubstr("not a key-encryption")));
  ::chmod(keks.PathFor(kA).c_str(), 0644);
  EXPECT_THAT(keks.Load(kA), StatusIs(StatusCode::kPermissionDenied, HasSubstr("0600")));
}

TEST(TenantKeksTest, DestroyRemovesTheFileAndIsIdempotent) {
  chukan::testing::TempDir dir;
  const crypto::SecretBytes master = crypto::SecretBytes::Random(32);
  TenantKeks keks(dir.File("tenants"), master);
  ASSERT_OK(keks.LoadOrCreate(kA).status());
  ASSERT_OK(keks.LoadOrCreate(kB).status());
  ASSERT_OK(keks.Destroy(kA));
  EXPECT_FALSE(std::filesystem::exists(keks.PathFor(kA)));
  EXPECT_THAT(keks.Load(kA), StatusIs(StatusCode::kNotFound));
  EXPECT_OK(keks.Destroy(kA));
  EXPECT_OK(keks.Load(kB).status());
}

}  // namespace
}  // namespace chukan::server
