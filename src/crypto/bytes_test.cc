#include "crypto/bytes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "common/status_matchers.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HexTest, RoundTripLowerCase) {
  const Bytes b = {0x00, 0x01, 0xab, 0xff, 0x7f};
  EXPECT_EQ(ToHex(b), "0001abff7f");
  ASSERT_OK_AND_ASSIGN(const Bytes back, FromHex("0001abff7f"));
  EXPECT_EQ(back, b);
  ASSERT_OK_AND_ASSIGN(const Bytes upper, FromHex("0001ABFF7F"));
  EXPECT_EQ(upper, b);
  EXPECT_EQ(ToHex({}), "");
  ASSERT_OK_AND_ASSIGN(const Bytes empty, FromHex(""));
  EXPECT_TRUE(empty.empty());
}

TEST(HexTest, RejectsMalformed) {
  EXPECT_THAT(FromHex("abc"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd length")));
  EXPECT_THAT(FromHex("0g"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset 1")));
  EXPECT_THAT(FromHex("00 11"), StatusIs(StatusCode::kInvalidArgument));  // odd: 5
  EXPECT_THAT(FromHex("00:1"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset 2")));
  EXPECT_THAT(FromHex("0x00"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(Base64UrlTest, KnownValuesWithoutPadding) {
  // RFC 4648 section 10 vectors, in the URL-safe alphabet without padding.
  EXPECT_EQ(ToBase64Url(AsBytes("")), "");
  EXPECT_EQ(ToBase64Url(AsBytes("f")), "Zg");
  EXPECT_EQ(ToBase64Url(AsBytes("fo")), "Zm8");
  EXPECT_EQ(ToBase64Url(AsBytes("foo")), "Zm9v");
  EXPECT_EQ(ToBase64Url(AsBytes("foob")), "Zm9vYg");
  EXPECT_EQ(ToBase64Url(AsBytes("fooba")), "Zm9vYmE");
  EXPECT_EQ(ToBase64Url(AsBytes("foobar")), "Zm9vYmFy");
  // The URL-safe alphabet: 0xfb 0xff -> "-_8" (standard base64 would be "+/8=").
  EXPECT_EQ(ToBase64Url(Bytes{0xfb, 0xff}), "-_8");
}

TEST(Base64UrlTest, RoundTripAllLengths) {
  for (size_t n = 0; n < 70; ++n) {
    const Bytes b = RandomBytes(n);
    ASSERT_OK_AND_ASSIGN(const Bytes back, FromBase64Url(ToBase64Url(b)));
    EXPECT_EQ(back, b) << n;
  }
}

TEST(Base64UrlTest, RejectsNonCanonicalAndForeignForms) {
  EXPECT_THAT(FromBase64Url("Zg=="), StatusIs(StatusCode::kInvalidArgument));  // padding
  EXPECT_THAT(FromBase64Url("+/8"), StatusIs(StatusCode::kInvalidArgument));   // std alphabet
  EXPECT_THAT(FromBase64Url("Zm9v Yg"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(FromBase64Url("Zm9vY"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("impossible length")));
  // "Zh" decodes to "f" like "Zg" but has non-zero unused bits.
  EXPECT_THAT(FromBase64Url("Zh"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(FromBase64Url("Zm9"), StatusIs(StatusCode::kInvalidArgument));  // "Zm8" canonical
  ASSERT_OK_AND_ASSIGN(const Bytes f, FromBase64Url("Zg"));
  EXPECT_THAT(f, ElementsAre('f'));
}

// FromBase64Url decodes public data with a table; SecretBytes::FromBase64Url with libsodium's
// constant-time decoder. Both accept exactly the same texts with the same bytes: every text of
// up to 3 characters over an alphabet with foreign characters, and random texts of every length
// up to 70 with one character changed. (libsodium alone accepted some bytes above 0x7f — "A\x80A"
// decoded — which both now refuse.)
TEST(Base64UrlTest, TheTableDecoderAcceptsWhatLibsodiumDoes) {
  EXPECT_THAT(FromBase64Url("A\x80"
                            "A"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SecretBytes::FromBase64Url("A\x80"
                                         "A"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SecretBytes::FromBase64Url("AAA\xff"), StatusIs(StatusCode::kInvalidArgument));
  auto same = [](const std::string& text) {
    Result<Bytes> table = FromBase64Url(text);
    Result<SecretBytes> sodium = SecretBytes::FromBase64Url(text);
    ASSERT_EQ(table.ok(), sodium.ok()) << "\"" << text << "\"";
    if (table.ok()) {
      EXPECT_EQ(Bytes(sodium->data(), sodium->data() + sodium->size()), *table) << text;
    }
  };
  const std::string alphabet = "AZaz09-_+/=. \x80\xff";
  same("");
  for (char a : alphabet) {
    same(std::string(1, a));
    for (char b : alphabet) {
      same(std::string{a, b});
      for (char c : alphabet) same(std::string{a, b, c});
    }
  }
  const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n";
  for (size_t n = 0; n < 70; ++n) {
    std::string text = ToBase64Url(RandomBytes(n));
    same(text);
    for (size_t at = 0; at < text.size(); ++at) {
      std::string changed = text;
      changed[at] = chars[RandomBytes(1)[0] % chars.size()];
      same(changed);
    }
  }
}

// The error names the offset of the first character outside the alphabet — in a whole group of
// four or in the last two or three — and, for unused bits that are not zero, the last character.
TEST(Base64UrlTest, AnErrorNamesTheOffsetOfTheFirstBadCharacter) {
  const auto offset_of = [](std::string_view text) {
    Result<Bytes> r = FromBase64Url(text);
    EXPECT_FALSE(r.ok()) << text;
    const std::string m(r.status().message());
    const size_t at = m.rfind(' ');
    return at == std::string::npos ? std::string("?") : m.substr(at + 1);
  };
  EXPECT_EQ(offset_of("AAAAA*A="), "5");
  EXPECT_EQ(offset_of("AAAA.AAA"), "4");
  EXPECT_EQ(offset_of("AAAAAAA*AAAA"), "7");
  EXPECT_EQ(offset_of("AAAAA*"), "5");
  EXPECT_EQ(offset_of("AAAAAA*"), "6");
  EXPECT_EQ(offset_of("AAAAAB"), "5");   // 2 characters: 4 unused bits, not zero
  EXPECT_EQ(offset_of("AAAAAAB"), "6");  // 3 characters: 2 unused bits, not zero
  EXPECT_THAT(FromBase64Url("AAAAA*A="),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("base64url: invalid character or padding near offset 5")));
  // And what is accepted decodes to the bytes encoded, over every length of the last group.
  for (size_t n = 0; n < 40; ++n) {
    const Bytes bytes = RandomBytes(n);
    ASSERT_OK_AND_ASSIGN(Bytes back, FromBase64Url(ToBase64Url(bytes)));
    EXPECT_EQ(back, bytes) << n;
  }
}

TEST(RandomBytesTest, SizeAndDistinct) {
  EXPECT_TRUE(RandomBytes(0).empty());
  const Bytes a = RandomBytes(32);
  const Bytes b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abd")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("xbc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abcd")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes(""), AsBytes("a")));
  EXPECT_TRUE(ConstantTimeEquals(AsBytes(""), AsBytes("")));
}

// Heap blocks a vector handed back, and how many of them still held a non-zero byte. Blocks are
// zeroed when allocated, so every byte read at deallocation is defined.
struct FreedBlocks {
  int freed = 0;
  int dirty = 0;
};

template <class T>
struct InspectingAllocator {
  using value_type = T;
  explicit InspectingAllocator(FreedBlocks* l) : log(l) {}
  template <class U>
  InspectingAllocator(const InspectingAllocator<U>& other) : log(other.log) {}  // NOLINT
  T* allocate(size_t n) {
    T* p = std::allocator<T>().allocate(n);
    std::memset(static_cast<void*>(p), 0, n * sizeof(T));
    return p;
  }
  void deallocate(T* p, size_t n) {
    log->freed++;
    const auto* b = reinterpret_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n * sizeof(T); ++i) {
      if (b[i] != 0) {
        log->dirty++;
        break;
      }
    }
    std::allocator<T>().deallocate(p, n);
  }
  bool operator==(const InspectingAllocator& other) const { return log == other.log; }
  FreedBlocks* log;
};

using InspectedBytes = std::vector<uint8_t, InspectingAllocator<uint8_t>>;

TEST(AppendWipingTest, GrowthLeavesNoContentsInFreedBlocks) {
  FreedBlocks freed;
  const Bytes record(100, 0xab);
  {
    InspectedBytes v{InspectingAllocator<uint8_t>(&freed)};
    for (int i = 0; i < 50; ++i) AppendWiping(v, record);
    ASSERT_EQ(v.size(), 5000u);
    EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0xab; }));
    EXPECT_GE(freed.freed, 5);  // it did grow: 100, 200, 400 … 6400 bytes
    WipeMemory(v.data(), v.size());
  }
  EXPECT_EQ(freed.dirty, 0);
}

TEST(AppendWipingTest, ThePlainInsertItReplacesLeftContentsBehind) {
  // The inspection above can fail: an insert that reallocates frees a block with the bytes in it.
  FreedBlocks freed;
  const Bytes record(100, 0xab);
  {
    InspectedBytes v{InspectingAllocator<uint8_t>(&freed)};
    for (int i = 0; i < 50; ++i) v.insert(v.end(), record.begin(), record.end());
    WipeMemory(v.data(), v.size());
  }
  EXPECT_GT(freed.dirty, 0);
}

TEST(ReserveWipingTest, KeepsContentsAndReservesAtLeastTheSizeAsked) {
  FreedBlocks freed;
  {
    InspectedBytes v{InspectingAllocator<uint8_t>(&freed)};
    v.assign({1, 2, 3});
    const size_t cap = v.capacity();
    ReserveWiping(v, 1000);
    EXPECT_GE(v.capacity(), 1000u);
    EXPECT_THAT(v, ElementsAre(1, 2, 3));
    const uint8_t* const data = v.data();
    ReserveWiping(v, cap);  // no smaller: nothing moves
    EXPECT_EQ(v.data(), data);
    WipeMemory(v.data(), v.size());
  }
  EXPECT_EQ(freed.freed, 2);
  EXPECT_EQ(freed.dirty, 0);
}

}  // namespace
}  // namespace chukan::crypto
