// UTF-8 validation for untrusted text (strict: no overlongs, no surrogates, ≤ U+10FFFF).
// Pure functions; thread-safe.
#ifndef CHUKAN_COMMON_UTF8_H_
#define CHUKAN_COMMON_UTF8_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace chukan {

// Length (1..4) of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid there.
// Precondition: i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

// True iff all of `s` is valid UTF-8.
bool IsValidUtf8(std::string_view s);

// The end of the run, from s[i], of bytes a JSON string holds as they are: printable ASCII other
// than '"' and '\\' — and other than DEL (0x7f) unless `del_as_is`. Returns i when s[i] is not
// one. For writers that copy such a run with one append rather than a byte at a time, and for
// readers that look for the next quote or escape. Precondition: i <= s.size().
//
// Eight bytes at a time (a JSON body's strings are mostly long runs of base64url): each byte's
// top bit in `m` is set when the byte ends the run, and the lowest such byte is the end. The
// tests work on the low 7 bits of each byte, whose sums stay inside the byte (no carry into the
// next), so every flag is exact; bytes with the top bit set are flagged by that bit itself.
inline size_t PlainJsonRunEnd(std::string_view s, size_t i, bool del_as_is) {
  constexpr uint64_t kOnes = 0x0101010101010101u;
  constexpr uint64_t kLow7 = 0x7f * kOnes;
  constexpr uint64_t kTop = 0x80 * kOnes;
  // Top bit set in each byte of the low-7-bit lanes `v` that is zero.
  const auto zero_lanes = [](uint64_t v) { return ~((v + kLow7) | v) & kTop; };
  while (s.size() - i >= 8) {
    uint64_t x;
    std::memcpy(&x, s.data() + i, 8);
    if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
    const uint64_t v = x & kLow7;
    uint64_t m = x | ~(v + 0x60 * kOnes);  // >= 0x80, or < 0x20 (v + 0x60 below 0x80)
    m |= zero_lanes(v ^ ('"' * kOnes)) | zero_lanes(v ^ ('\\' * kOnes));
    if (!del_as_is) m |= zero_lanes(v ^ (0x7f * kOnes));
    m &= kTop;
    if (m != 0) return i + static_cast<size_t>(std::countr_zero(m)) / 8;
    i += 8;
  }
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c > 0x7f || c == '"' || c == '\\' || (c == 0x7f && !del_as_is)) break;
    ++i;
  }
  return i;
}

}  // namespace chukan

#endif  // CHUKAN_COMMON_UTF8_H_
