#include "replica_io/byte_source.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan::replica_io {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

std::string Drain(ByteSource& src, size_t n) {
  std::string out;
  std::string buf(n, '\0');
  for (;;) {
    Result<size_t> r = src.Read(buf.data(), n);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || *r == 0) return out;
    out.append(buf, 0, *r);
  }
}

TEST(StringSourceTest, ReadsEverythingThenZeroForever) {
  StringSource src(std::string_view("hello, world"));
  EXPECT_EQ(Drain(src, 5), "hello, world");
  char c;
  ASSERT_OK_AND_ASSIGN(size_t n, src.Read(&c, 1));
  EXPECT_EQ(n, 0u);
}

TEST(StringSourceTest, OwningConstructorKeepsTheData) {
  std::string data = "owned bytes";
  StringSource src(std::move(data));
  EXPECT_EQ(Drain(src, 3), "owned bytes");
}

TEST(FileSourceTest, ReadsAFile) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("in.csv");
  std::ofstream(path) << "a,b\n1,2\n";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FileSource> src, FileSource::Open(path));
  EXPECT_EQ(Drain(*src, 4), "a,b\n1,2\n");
}

TEST(FileSourceTest, MissingFileIsNotFoundNamingThePath) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("missing.csv");
  EXPECT_THAT(FileSource::Open(path), StatusIs(StatusCode::kNotFound, path + ": no such file"));
}

TEST(FileSourceTest, DirectoryIsInvalidArgument) {
  chukan::testing::TempDir dir;
  EXPECT_THAT(FileSource::Open(dir.path()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("is a directory")));
}

TEST(FileSourceTest, ReadErrorNamesTheSource) {
  // A write-only descriptor cannot be read: read(2) fails with EBADF.
  chukan::testing::TempDir dir;
  const int fd = ::open(dir.File("w").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  std::unique_ptr<FileSource> src = FileSource::FromFd(fd, "upload.csv");
  char buf[4];
  EXPECT_THAT(src->Read(buf, sizeof buf),
              StatusIs(StatusCode::kInternal, HasSubstr("upload.csv: read: ")));
}

}  // namespace
}  // namespace chukan::replica_io
