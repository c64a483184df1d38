#include "crypto/key_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

TEST(KeyFileTest, CreatesOnceWithMode0600AndReloadsTheSameKey) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("keys/master.key");
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes a, LoadOrCreateKeyFile(path, 32, true));
  EXPECT_EQ(a.size(), 32u);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir.File("keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes b, LoadOrCreateKeyFile(path, 32, false));
  EXPECT_TRUE(a.ConstantTimeEquals(b));
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.size(), 64u);
}

TEST(KeyFileTest, MissingWithoutCreateIsNotFound) {
  chukan::testing::TempDir dir;
  EXPECT_THAT(LoadOrCreateKeyFile(dir.File("none.key"), 32, false),
              StatusIs(StatusCode::kNotFound, HasSubstr("none.key")));
}

TEST(KeyFileTest, RefusesFilesReadableByOthers) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("k.key");
  ASSERT_OK(LoadOrCreateKeyFile(path, 32, true));
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_THAT(LoadOrCreateKeyFile(path, 32, false),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("must be 0600")));
}

TEST(KeyFileTest, RejectsWrongLengthAndBadHex) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("k.key");
  {
    std::ofstream out(path);
    out << "abcd\n";
  }
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  EXPECT_THAT(LoadOrCreateKeyFile(path, 32, false),
              StatusIs(StatusCode::kDataLoss, HasSubstr("64 hex characters")));
  {
    std::ofstream out(path);
    out << std::string(64, 'z') << "\n";
  }
  EXPECT_THAT(LoadOrCreateKeyFile(path, 32, false),
              StatusIs(StatusCode::kDataLoss, HasSubstr("not valid hex")));
}

}  // namespace
}  // namespace chukan::crypto
