// Checks run on TOML text before toml++ parses it, for input toml++ 3.3 (Debian's) cannot
// refuse by itself:
//  - a table header whose key starts with a character that cannot start a key (`[=`,
//    `[[[a]]]`, `[` then a NUL or a line end): toml++ asserts on it in a debug build and, built
//    by clang with NDEBUG, assumes it away (undefined behaviour) — marzer/tomlplusplus#301,
//    fixed upstream after 3.3;
//  - a character outside ASCII outside strings and comments (never valid TOML 1.0): toml++'s
//    is_non_ascii_horizontal_whitespace reaches __builtin_unreachable for some (U+02D6);
//  - a `}` closing a `[` (or `]` a `{`): toml++'s parse_value asserts that it is not given one
//    (`[}` in an array).
// And one valid construct it mishandles: in a multi-line basic string, after a line-ending
// backslash, toml++ asks of the first character after the skipped blanks and line ends
// whether it is whitespace — for a character outside ASCII in U+00A1–U+0499, U+2C8E–U+3087
// (hiragana, 「」、。) or U+FB26–U+FEFE that reaches __builtin_unreachable. That character is
// handed to toml++ as its escape (\uXXXX or \UXXXXXXXX), the same string by TOML 1.0, on the
// same line.
// Every chukan caller of toml::parse (the configuration, the layout catalogue, the result
// layouts) parses what this returns; drop it once the library is fixed.
// Pure function; thread-safe.
#ifndef CHUKAN_COMMON_TOML_GUARD_H_
#define CHUKAN_COMMON_TOML_GUARD_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace chukan {

// Scans `text` as toml++ would (outside strings and comments; headers only at the top level,
// outside arrays) and checks that, after `[` or `[[` and blanks, each table header starts with
// a bare-key character, a quote or `]` (the cases toml++ reports itself), and that no byte
// outside ASCII stands outside a string or comment. Ok for anything else, valid or not:
// toml++ still judges the document.
// Returns the text to give toml++: `text`, with the first character after each line-ending
// backslash's skipped whitespace written as its escape when it is outside ASCII (valid UTF-8
// only; toml++ refuses the rest itself). Line numbers are unchanged.
// Errors: kInvalidArgument "<source>:<line>:<column>: table header does not start with a key"
// or "…: a character outside ASCII outside a string or comment" or "…: '}' closes a '['"
// (line and byte column 1-based, of the offending character).
Result<std::string> PrecheckToml(std::string_view text, std::string_view source);

}  // namespace chukan

#endif  // CHUKAN_COMMON_TOML_GUARD_H_
