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

}  // namespace chukan

#endif  // CHUKAN_COMMON_UTF8_H_
