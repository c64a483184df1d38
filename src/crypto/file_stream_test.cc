#include "crypto/file_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/hash.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

class FileStreamTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_.File(name); }
  chukan::testing::TempDir dir_;
  SecretBytes key_ = SecretBytes::Random(kFileStreamKeyBytes);
};

TEST_F(FileStreamTest, RoundTripsEverySizeAroundChunkBoundaries) {
  const Bytes random = RandomBytes(3 * kFileStreamChunkBytes + 5);
  const std::string all(random.begin(), random.end());
  for (size_t size : {size_t{0}, size_t{1}, kFileStreamChunkBytes - 1, kFileStreamChunkBytes,
                      kFileStreamChunkBytes + 1, 2 * kFileStreamChunkBytes, all.size()}) {
    SCOPED_TRACE(size);
    const std::string plain = all.substr(0, size);
    Write(Path("in"), plain);
    ASSERT_OK_AND_ASSIGN(FileStreamInfo enc,
                         EncryptFileStream(Path("in"), Path("enc"), key_, "file-a"));
    EXPECT_EQ(enc.plain_bytes, static_cast<int64_t>(size));
    const std::string cipher = Read(Path("enc"));
    EXPECT_EQ(enc.cipher_bytes, static_cast<int64_t>(cipher.size()));
    // Magic, version, header, and 17 bytes per chunk (the last, possibly empty, included).
    EXPECT_EQ(cipher.size(), 33 + size + 17 * (size / kFileStreamChunkBytes + 1));
    EXPECT_EQ(enc.cipher_blake2b, Blake2b(AsBytes(cipher)));
    EXPECT_EQ(std::filesystem::status(Path("enc")).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    ASSERT_OK_AND_ASSIGN(FileStreamInfo h, HashFile(Path("enc")));
    EXPECT_EQ(h.cipher_blake2b, enc.cipher_blake2b);
    ASSERT_OK_AND_ASSIGN(FileStreamInfo dec,
                         DecryptFileStream(Path("enc"), Path("out"), key_, "file-a"));
    EXPECT_EQ(Read(Path("out")), plain);
    EXPECT_EQ(dec.cipher_blake2b, enc.cipher_blake2b);
    std::filesystem::remove(Path("enc"));
    std::filesystem::remove(Path("out"));
  }
}

TEST_F(FileStreamTest, EveryAlterationIsRefusedAndLeavesNoOutput) {
  const Bytes random = RandomBytes(kFileStreamChunkBytes + 100);
  Write(Path("in"), std::string(random.begin(), random.end()));
  ASSERT_OK(EncryptFileStream(Path("in"), Path("enc"), key_, "file-a").status());
  const std::string good = Read(Path("enc"));
  auto refused = [&](const std::string& bytes, const SecretBytes& key, std::string_view ad,
                     const std::string& why) {
    SCOPED_TRACE(why);
    Write(Path("bad"), bytes);
    EXPECT_THAT(DecryptFileStream(Path("bad"), Path("out"), key, ad),
                StatusIs(StatusCode::kDataLoss, HasSubstr(Path("bad"))));
    EXPECT_FALSE(std::filesystem::exists(Path("out")));
  };
  for (size_t pos :
       {size_t{0}, size_t{8}, size_t{20}, size_t{40}, good.size() / 2, good.size() - 1}) {
    std::string b = good;
    b[pos] = static_cast<char>(b[pos] ^ 0x01);
    refused(b, key_, "file-a", "flipped byte " + std::to_string(pos));
  }
  refused(good.substr(0, 33 + kFileStreamChunkBytes + 17), key_, "file-a",
          "cut at the chunk boundary");
  refused(good.substr(0, good.size() - 1), key_, "file-a", "last byte cut");
  refused(good + "x", key_, "file-a", "byte appended");
  refused(good, SecretBytes::Random(kFileStreamKeyBytes), "file-a", "another key");
  refused(good, key_, "file-b", "another associated data");
}

TEST_F(FileStreamTest, RefusesToOverwriteAndNamesAMissingInput) {
  Write(Path("in"), "x");
  Write(Path("enc"), "old");
  EXPECT_THAT(EncryptFileStream(Path("in"), Path("enc"), key_, ""),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr(Path("enc"))));
  EXPECT_EQ(Read(Path("enc")), "old");
  EXPECT_THAT(EncryptFileStream(Path("none"), Path("enc2"), key_, ""),
              StatusIs(StatusCode::kNotFound, HasSubstr(Path("none"))));
  EXPECT_THAT(EncryptFileStream(Path("in"), Path("enc3"), SecretBytes::Random(16), ""),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(FileStreamTest, WriterAfterAPrefixAndReaderAtItsOffsetRoundTripInSmallPieces) {
  const Bytes random = RandomBytes(2 * kFileStreamChunkBytes + 7);
  for (size_t size : {size_t{0}, kFileStreamChunkBytes, random.size()}) {
    SCOPED_TRACE(size);
    std::filesystem::remove(Path("out"));
    Write(Path("out"), "HEADER\n");
    ASSERT_OK_AND_ASSIGN(auto w, FileStreamWriter::Open(Path("out"), key_, "ad", /*append=*/true));
    for (size_t at = 0; at < size; at += 1000) {
      ASSERT_OK(w->Write(
          std::span<const uint8_t>(random.data() + at, std::min<size_t>(1000, size - at))));
    }
    ASSERT_OK_AND_ASSIGN(FileStreamInfo enc, w->Finish());
    const std::string file = Read(Path("out"));
    ASSERT_EQ(file.substr(0, 7), "HEADER\n");
    // The same bytes EncryptFileStream makes of the same plaintext, apart from the nonce.
    EXPECT_EQ(file.size(), 7 + 33 + size + 17 * (size / kFileStreamChunkBytes + 1));
    EXPECT_EQ(enc.cipher_blake2b, Blake2b(AsBytes(std::string_view(file).substr(7))));
    ASSERT_OK_AND_ASSIGN(auto r, FileStreamReader::Open(Path("out"), 7, key_, "ad"));
    Bytes back;
    uint8_t buf[333];
    while (true) {
      ASSERT_OK_AND_ASSIGN(size_t n, r->Read(buf));
      back.insert(back.end(), buf, buf + n);
      if (n < sizeof(buf)) break;
    }
    EXPECT_EQ(back, Bytes(random.begin(), random.begin() + static_cast<std::ptrdiff_t>(size)));
    EXPECT_EQ(r->info().cipher_blake2b, enc.cipher_blake2b);
    EXPECT_THAT(FileStreamReader::Open(Path("out"), 6, key_, "ad"),
                StatusIs(StatusCode::kDataLoss, HasSubstr("magic")));
  }
  // A writer that never finished leaves no file.
  {
    ASSERT_OK_AND_ASSIGN(auto w, FileStreamWriter::Open(Path("gone"), key_, "ad"));
    ASSERT_OK(w->Write(random));
  }
  EXPECT_FALSE(std::filesystem::exists(Path("gone")));
}

// The import's upload spool: what goes in comes back, in pieces of any size, around chunk
// boundaries; the file never holds it in plaintext; a changed byte is refused.
TEST(TempStreamTest, ReadsBackWhatWasWrittenAtEverySizeAroundChunkBoundaries) {
  chukan::testing::TempDir dir;
  for (size_t size : {size_t{0}, size_t{1}, kFileStreamChunkBytes - 1, kFileStreamChunkBytes,
                      kFileStreamChunkBytes + 1, 2 * kFileStreamChunkBytes + 7}) {
    const Bytes data = RandomBytes(size);
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<TempStream> t, TempStream::Create(dir.path()));
    // Written in uneven pieces (1, 1000, 70,000 … bytes).
    size_t at = 0;
    for (size_t piece = 1; at < size; piece = piece * 37 + 963) {
      const size_t n = std::min(piece, size - at);
      ASSERT_OK(t->Write(std::span<const uint8_t>(data).subspan(at, n)));
      at += n;
    }
    EXPECT_EQ(t->plain_bytes(), static_cast<int64_t>(size));
    ASSERT_OK(t->Rewind());
    Bytes back;
    std::vector<uint8_t> buf(5000);
    while (true) {
      ASSERT_OK_AND_ASSIGN(size_t n, t->Read(buf));
      back.insert(back.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
      if (n < buf.size()) break;
    }
    EXPECT_EQ(back, data) << size;
    ASSERT_OK_AND_ASSIGN(size_t after, t->Read(buf));
    EXPECT_EQ(after, 0u) << size;
    // The file: every chunk sealed (17 bytes more each, the final one possibly empty).
    const off_t file_size = ::lseek(t->descriptor_for_test(), 0, SEEK_END);
    EXPECT_EQ(
        static_cast<size_t>(file_size),
        size + (size / kFileStreamChunkBytes + 1) * crypto_secretstream_xchacha20poly1305_ABYTES)
        << size;
  }
}

TEST(TempStreamTest, TheFileHoldsNoPlaintextAndAChangedByteIsRefused) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TempStream> t, TempStream::Create(dir.path()));
  std::string text;
  while (text.size() < 3 * kFileStreamChunkBytes) text += "707070707070707,山田太郎,\n";
  ASSERT_OK(t->Write(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
  ASSERT_OK(t->Rewind());
  // No name in the directory, and no plaintext in the file.
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  std::string raw(text.size() + 1024, '\0');
  const ssize_t got = ::pread(t->descriptor_for_test(), raw.data(), raw.size(), 0);
  ASSERT_GT(got, static_cast<ssize_t>(text.size()));
  raw.resize(static_cast<size_t>(got));
  EXPECT_EQ(raw.find("707070707070707"), std::string::npos);
  EXPECT_EQ(raw.find("山田"), std::string::npos);
  // One byte of the second chunk changed: the first chunk reads, the second is refused.
  const off_t second = static_cast<off_t>(kFileStreamChunkBytes +
                                          crypto_secretstream_xchacha20poly1305_ABYTES + 100);
  uint8_t b = 0;
  ASSERT_EQ(::pread(t->descriptor_for_test(), &b, 1, second), 1);
  b ^= 0x01;
  ASSERT_EQ(::pwrite(t->descriptor_for_test(), &b, 1, second), 1);
  std::vector<uint8_t> buf(kFileStreamChunkBytes);
  ASSERT_OK_AND_ASSIGN(size_t first, t->Read(buf));
  EXPECT_EQ(first, buf.size());
  EXPECT_THAT(t->Read(buf), StatusIs(StatusCode::kDataLoss, HasSubstr("chunk 1")));
}

TEST(TempStreamTest, OrderIsWriteRewindReadAndAMissingDirectoryIsNamed) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TempStream> t, TempStream::Create(dir.path()));
  std::vector<uint8_t> buf(10);
  EXPECT_THAT(t->Read(buf), StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_OK(t->Write(buf));
  ASSERT_OK(t->Rewind());
  EXPECT_THAT(t->Write(buf), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(t->Rewind(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(TempStream::Create(dir.File("missing")),
              StatusIs(StatusCode::kUnavailable, HasSubstr(dir.File("missing"))));
}

// A write the disk refuses (full, or here over the process's file-size limit: RLIMIT_FSIZE, its
// signal ignored, makes write() fail with EFBIG) fails with kUnavailable naming the directory and
// the cause; the stream then refuses every call instead of going on with a hole in it.
TEST(TempStreamTest, AWriteTheDiskRefusesNamesTheDirectoryAndEndsTheStream) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TempStream> t, TempStream::Create(dir.path()));
  const std::vector<uint8_t> data(4 * kFileStreamChunkBytes, 0x41);
  struct rlimit before {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  void (*const handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = before;
  small.rlim_cur = kFileStreamChunkBytes;  // the first chunk's end is past it
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const Status first = t->Write(data);
  const Status second = t->Write(data);
  ::setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, handler);
  EXPECT_THAT(first, StatusIs(StatusCode::kUnavailable,
                              AllOf(HasSubstr("temporary file in " + dir.path() + ": write"),
                                    HasSubstr(std::strerror(EFBIG)))));
  EXPECT_THAT(second, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("a write failed")));
  EXPECT_THAT(t->Rewind(), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("a write failed")));
  std::vector<uint8_t> buf(10);
  EXPECT_THAT(t->Read(buf), StatusIs(StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace chukan::crypto
