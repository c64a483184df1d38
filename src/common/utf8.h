// UTF-8 validation for untrusted text (strict: no overlongs, no surrogates, ≤ U+10FFFF).
// Pure functions; thread-safe.
#ifndef CHUKAN_COMMON_UTF8_H_
#define CHUKAN_COMMON_UTF8_H_

#include <cstddef>
#include <string_view>

namespace chukan {

// Length (1..4) of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid there.
// Precondition: i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

// True iff all of `s` is valid UTF-8.
bool IsValidUtf8(std::string_view s);

// The end of the run, from s[i], of bytes a JSON string holds as they are: printable ASCII other
// than '"' and '\\' — and other than DEL (0x7f) unless `del_as_is`. Returns i when s[i] is not
// one. For writers that copy such a run with one append rather than a byte at a time.
inline size_t PlainJsonRunEnd(std::string_view s, size_t i, bool del_as_is) {
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c > 0x7f || c == '"' || c == '\\' || (c == 0x7f && !del_as_is)) break;
    ++i;
  }
  return i;
}

}  // namespace chukan

#endif  // CHUKAN_COMMON_UTF8_H_
