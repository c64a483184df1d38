#include "crypto/hash.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chukan::crypto {
namespace {

// RFC 7693 appendix A: BLAKE2b-512("abc").
constexpr char kAbc512[] =
    "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc"
    "9518d38aa8dbf1925ab92386edd4009923";

TEST(Blake2bTest, Rfc7693AppendixA) { EXPECT_EQ(ToHex(Blake2b(AsBytes("abc"), 64)), kAbc512); }

TEST(Blake2bTest, DefaultLengthIs32AndDiffersFromTruncation) {
  const Bytes h = Blake2b(AsBytes("abc"));
  EXPECT_EQ(h.size(), 32u);
  // The output length is a parameter of BLAKE2b, so a 32-byte digest is not a prefix of the
  // 64-byte one.
  EXPECT_NE(ToHex(h), std::string(kAbc512).substr(0, 64));
}

TEST(Blake2bTest, IncrementalMatchesOneShotForEverySplit) {
  const std::string data = "audit entry 000042: login staff=yamada outcome=ok";
  const Bytes expected = Blake2b(AsBytes(data));
  for (size_t split = 0; split <= data.size(); ++split) {
    Blake2bHasher h;
    h.Update(std::string_view(data).substr(0, split)).Update(std::string_view(data).substr(split));
    EXPECT_EQ(h.Finish(), expected) << split;
  }
  Blake2bHasher h512(64);
  h512.Update(AsBytes("a")).Update(AsBytes("bc"));
  EXPECT_EQ(ToHex(h512.Finish()), kAbc512);
}

TEST(Blake2bTest, FinishIntoASpanGivesTheSameDigest) {
  Blake2bHasher h(64);
  h.Update("abc");
  std::array<uint8_t, 64> out{};
  h.Finish(out);
  EXPECT_EQ(ToHex(out), kAbc512);
}

TEST(Blake2bDeathTest, FinishIntoASpanOfAnotherLengthAborts) {
  Blake2bHasher wrong(32);
  std::array<uint8_t, 16> small{};
  EXPECT_DEATH(wrong.Finish(small), "not the digest length");
}

TEST(Blake2bTest, CopiedHasherContinuesIndependently) {
  Blake2bHasher a;
  a.Update("prefix|");
  Blake2bHasher b = a;
  a.Update("one");
  b.Update("two");
  EXPECT_EQ(a.Finish(), Blake2b(AsBytes("prefix|one")));
  EXPECT_EQ(b.Finish(), Blake2b(AsBytes("prefix|two")));
}

TEST(Blake2bTest, KeyedDependsOnKey) {
  const SecretBytes k1 = SecretBytes::FromString("0123456789abcdef0123456789abcdef");
  const SecretBytes k2 = SecretBytes::FromString("0123456789abcdef0123456789abcdeF");
  const Bytes m1 = Blake2bKeyed(k1, AsBytes("atena 123456789012345"));
  EXPECT_EQ(m1.size(), 32u);
  EXPECT_NE(m1, Blake2bKeyed(k2, AsBytes("atena 123456789012345")));
  EXPECT_NE(m1, Blake2b(AsBytes("atena 123456789012345")));
  EXPECT_EQ(m1, Blake2bKeyed(k1, AsBytes("atena 123456789012345")));
  Blake2bHasher h(k1, 32);
  h.Update("atena ").Update("123456789012345");
  EXPECT_EQ(h.Finish(), m1);
}

// The replica store keeps a keyed hasher with its label fed in and copies it per record (the key's
// block is compressed once, not per hash): each copy must give the one-shot keyed digest, 16 bytes
// as the blind index uses, however many copies were taken before.
TEST(Blake2bTest, CopiesOfAKeyedHasherGiveTheOneShotKeyedDigest) {
  const SecretBytes key = SecretBytes::FromString("0123456789abcdef0123456789abcdef");
  Blake2bHasher base(key, 16);
  base.Update(std::string_view("atena\0", 6));
  for (const char* atena : {"123456789012345", "000000000000001", "123456789012345"}) {
    Blake2bHasher h = base;
    h.Update(atena);
    const Bytes expected = Blake2bKeyed(key, AsBytes(std::string("atena", 5) + '\0' + atena), 16);
    EXPECT_EQ(h.Finish(), expected) << atena;
  }
}

TEST(Blake2bDeathTest, PreconditionsAbort) {
  EXPECT_DEATH(Blake2b(AsBytes("x"), 15), "digest length");
  EXPECT_DEATH(Blake2b(AsBytes("x"), 65), "digest length");
  EXPECT_DEATH(Blake2bKeyed(SecretBytes::Random(15), AsBytes("x")), "key length");
  EXPECT_DEATH(
      {
        Blake2bHasher h;
        (void)h.Finish();
        (void)h.Finish();
      },
      "Finish called twice");
}

TEST(HashTest, Sha256MatchesFips180Vector) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace chukan::crypto
