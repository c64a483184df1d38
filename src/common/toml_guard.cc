#include "common/toml_guard.h"

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace chukan {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// toml++'s is_bare_key_character (TOML 1.0: A-Za-z0-9_-).
bool IsBareKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Quotes at `i`: how many of the same `q` in a row (at most `n`).
size_t Run(std::string_view t, size_t i, char q) {
  size_t n = 0;
  while (i + n < t.size() && t[i + n] == q) ++n;
  return n;
}

// The offset toml++'s parse_table_header would hand to parse_key for the header at `i` (a
// '['), or npos when toml++ reports that header's problem itself (or it has none).
size_t BadHeaderKeyAt(std::string_view t, size_t i) {
  ++i;
  const size_t after_bracket = i;
  while (i < t.size() && IsBlank(t[i])) ++i;
  if (i == t.size()) return std::string_view::npos;
  if (t[i] == '[') {
    if (i != after_bracket) return std::string_view::npos;  // "[ [": toml++ refuses it
    ++i;
    while (i < t.size() && IsBlank(t[i])) ++i;
    if (i == t.size()) return std::string_view::npos;
  }
  const char c = t[i];
  if (c == ']' || c == '"' || c == '\'' || IsBareKeyChar(c)) return std::string_view::npos;
  return i;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Whether a date-time starts at `i` whose 'T' is not followed by a digit ("2026-12-04T:41"):
// toml++ 3.3 then asserts in parse_time (`is_decimal_digit(*cp)`; assumed away with NDEBUG:
// undefined behaviour). Found by a long run of fuzz/config_toml_fuzz.cc.
bool DateTimeWithoutTimeAt(std::string_view t, size_t i) {
  static constexpr std::string_view kShape = "dddd-dd-ddT";
  if (i + kShape.size() >= t.size()) {
    return false;
  }
  for (size_t k = 0; k < kShape.size(); ++k) {
    const char c = t[i + k];
    const char want = kShape[k];
    if (want == 'd' ? !IsDigit(c) : want == 'T' ? (c != 'T' && c != 't') : c != want) return false;
  }
  return !IsDigit(t[i + kShape.size()]);
}

// The code point of the valid UTF-8 sequence at `i` (its length in `len`), or -1 when the bytes
// there are not one (toml++'s reader refuses those itself).
long DecodeUtf8At(std::string_view t, size_t i, size_t& len) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(t[i + k]); };
  const unsigned char lead = b(0);
  long cp = 0;
  long min = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2, cp = lead & 0x1F, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3, cp = lead & 0x0F, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (i + len > t.size()) return -1;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  return cp;
}

// A character written as its TOML escape at byte `at` of the text, in place of `len` bytes.
struct Escape {
  size_t at;
  size_t len;
  long code_point;
};

// `t` with each escape applied.
std::string Apply(std::string_view t, const std::vector<Escape>& escapes) {
  std::string out;
  out.reserve(t.size() + escapes.size() * 6);
  size_t from = 0;
  for (const Escape& e : escapes) {
    out.append(t.substr(from, e.at - from));
    char buf[24];
    if (e.code_point <= 0xFFFF) {
      std::snprintf(buf, sizeof buf, "\\u%04lX", e.code_point);
    } else {
      std::snprintf(buf, sizeof buf, "\\U%08lX", e.code_point);
    }
    out += buf;
    from = e.at + e.len;
  }
  out.append(t.substr(from));
  return out;
}

// toml++'s is_value_terminator for ASCII: whitespace, ']', '}', ',' or '#'.
bool IsValueTerminator(char c) {
  return c == ' ' || c == '\t' || (c >= '\n' && c <= '\r') || c == ']' || c == '}' || c == ',' ||
         c == '#';
}

// Where a bare value starting at `i` (a number, date-time, boolean, inf or nan) runs into a
// byte outside ASCII before a value terminator, or npos. toml++ 3.3 reads such a value ahead,
// quotes and all, asking of each character whether it ends the value (is it whitespace?), and
// reads on past a blank followed by a digit (a date-time with a space for its 'T'). A value
// followed by anything but a terminator is never valid TOML.
size_t NonAsciiInBareValue(std::string_view t, size_t i) {
  for (size_t j = i; j < t.size(); ++j) {
    if (static_cast<unsigned char>(t[j]) >= 0x80) return j;
    if (IsValueTerminator(t[j]) && !(t[j] == ' ' && j + 1 < t.size() && IsDigit(t[j + 1]))) {
      return std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

}  // namespace

Result<std::string> PrecheckToml(std::string_view t, std::string_view source) {
  enum class State { kTop, kBasic, kLiteral, kMlBasic, kMlLiteral };
  State state = State::kTop;
  std::vector<Escape> escapes;
  // '[' and '{' open outside strings, innermost last: a header is only where none is open.
  std::string open;
  std::vector<bool> array;  // for each of `open`: a '[' that opened an array (not a header)
  // Whether the next token is a value: after '=', and after '[' or ',' in an array.
  bool value_next = false;
  size_t line = 1;
  size_t line_start = 0;
  size_t i = 0;
  if (t.starts_with("\xEF\xBB\xBF")) i = line_start = 3;  // toml++ skips a byte order mark
  bool at_line_start = true;
  while (i < t.size()) {
    const char c = t[i];
    if (state == State::kTop && at_line_start) {
      at_line_start = false;
      while (i < t.size() && IsBlank(t[i])) ++i;
      if (i < t.size() && t[i] == '[' && open.empty()) {
        if (const size_t bad = BadHeaderKeyAt(t, i); bad != std::string_view::npos) {
          return InvalidArgumentError(std::string(source) + ":" + std::to_string(line) + ":" +
                                      std::to_string(bad - line_start + 1) +
                                      ": table header does not start with a key");
        }
      }
      continue;
    }
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      // Single-line strings end at the line end (toml++ has refused an unclosed one by then).
      if (state == State::kBasic || state == State::kLiteral) state = State::kTop;
      at_line_start = state == State::kTop;
      ++i;
      continue;
    }
    switch (state) {
      case State::kTop:
        if (c == '#') {
          while (i < t.size() && t[i] != '\n') ++i;
          continue;
        }
        if (c == '"' || c == '\'') {
          value_next = false;
          const size_t n = Run(t, i, c);
          if (n >= 3) {
            state = c == '"' ? State::kMlBasic : State::kMlLiteral;
            i += 3;
          } else if (n == 2) {
            i += 2;  // an empty string
          } else {
            state = c == '"' ? State::kBasic : State::kLiteral;
            ++i;
          }
          continue;
        }
        // TOML 1.0 allows characters outside ASCII only in strings and comments; toml++ 3.3
        // asks whether one here is whitespace, and for some (U+02D6, found by
        // fuzz/config_toml_fuzz.cc) reaches __builtin_unreachable: undefined behaviour.
        if (static_cast<unsigned char>(c) >= 0x80) {
          return InvalidArgumentError(std::string(source) + ":" + std::to_string(line) + ":" +
                                      std::to_string(i - line_start + 1) +
                                      ": a character outside ASCII outside a string or comment");
        }
        if (value_next && !IsValueTerminator(c) && c != '[' && c != '{') {
          value_next = false;
          // Found by a fuzz run (result_layout, 6 December 2026): `a = 1*"\\<U+FEFD>"` —
          // toml++ reads the bare value ahead into what looks like a string.
          if (const size_t bad = NonAsciiInBareValue(t, i); bad != std::string_view::npos) {
            return InvalidArgumentError(std::string(source) + ":" + std::to_string(line) + ":" +
                                        std::to_string(bad - line_start + 1) +
                                        ": a character outside ASCII in a value");
          }
        }
        if (IsDigit(c) && (i == 0 || !IsBareKeyChar(t[i - 1])) && DateTimeWithoutTimeAt(t, i)) {
          return InvalidArgumentError(std::string(source) + ":" + std::to_string(line) + ":" +
                                      std::to_string(i + 11 - line_start + 1) +
                                      ": a date-time needs a time (hh:mm:ss) after 'T'");
        }
        if (c == '=') value_next = true;
        if (c == ',') value_next = !array.empty() && array.back();
        if (c == '[' || c == '{') {
          open.push_back(c);
          array.push_back(c == '[' && value_next);
          value_next = array.back();
        }
        if (c == ']' || c == '}') {
          value_next = false;
          // A closer of the other kind (`[}` where an array wants a value): never valid TOML,
          // and toml++ 3.3 asserts on it (assumes it away with NDEBUG: undefined behaviour;
          // found by fuzz/config_toml_fuzz.cc).
          const char opener = c == ']' ? '[' : '{';
          if (!open.empty() && open.back() != opener) {
            return InvalidArgumentError(std::string(source) + ":" + std::to_string(line) + ":" +
                                        std::to_string(i - line_start + 1) + ": '" +
                                        std::string(1, c) + "' closes a '" +
                                        std::string(1, open.back()) + "'");
          }
          if (!open.empty()) {
            open.pop_back();
            array.pop_back();
          }
        }
        break;
      case State::kBasic:
        if (c == '\\' && i + 1 < t.size() && t[i + 1] != '\n') {
          i += 2;
          continue;
        }
        if (c == '"') state = State::kTop;
        break;
      case State::kLiteral:
        if (c == '\'') state = State::kTop;
        break;
      case State::kMlBasic:
        if (c == '\\' && i + 1 < t.size()) {
          // A backslash then (after blanks, for a line-ending backslash) a character outside
          // ASCII: never valid TOML, and toml++ 3.3 asks whether that character is whitespace
          // and for some (U+FEFD, found by a long run of fuzz/result_layout_fuzz.cc) reaches
          // __builtin_unreachable: undefined behaviour.
          size_t j = i + 1;
          while (j < t.size() && IsBlank(t[j])) ++j;
          if (j < t.size() && static_cast<unsigned char>(t[j]) >= 0x80) {
            return InvalidArgumentError(std::string(source) + ":" + std::to_string(line) + ":" +
                                        std::to_string(j - line_start + 1) +
                                        ": a character outside ASCII after a backslash");
          }
          if (j < t.size() && (t[j] == '\r' || t[j] == '\n')) {
            // A line-ending backslash: toml++ skips blanks and line ends, then asks of the
            // first other character whether it is whitespace (undefined behaviour for some
            // outside ASCII, hiragana among them). Hand that one over as its escape.
            size_t k = j;
            while (k < t.size() && (IsBlank(t[k]) || t[k] == '\r' || t[k] == '\n')) ++k;
            size_t len = 0;
            if (k < t.size() && static_cast<unsigned char>(t[k]) >= 0x80) {
              if (const long cp = DecodeUtf8At(t, k, len); cp >= 0) {
                escapes.push_back(Escape{k, len, cp});
              }
            }
          }
          if (t[i + 1] == '\n') {
            ++i;  // the line end is counted above
          } else {
            i += 2;
          }
          continue;
        }
        if (c == '"' && Run(t, i, '"') >= 3) {
          i += Run(t, i, '"');  // up to two quotes before the closing three belong to the string
          state = State::kTop;
          continue;
        }
        break;
      case State::kMlLiteral:
        if (c == '\'' && Run(t, i, '\'') >= 3) {
          i += Run(t, i, '\'');
          state = State::kTop;
          continue;
        }
        break;
    }
    ++i;
  }
  if (escapes.empty()) return std::string(t);
  return Apply(t, escapes);
}

}  // namespace chukan
