// ReadSax: a strict JSON reader (RFC 8259) that drives a SAX handler with the events, and the
// arguments, of nlohmann::json::sax_parse in strict mode — several times faster on the text chukan
// reads most, the signed documents of a linkage: their strings (base64url of seals and
// signatures, codes, ids) are copied a run of plain bytes at a time, where nlohmann's lexer
// appends them byte by byte.
//
// It is a fast path, not a second definition of JSON: it returns false for anything it does not
// accept — a syntax error, or a handler that stopped — and the caller then reads the same text
// with nlohmann, which decides and gives every error its message. So the one property it must
// keep is: **what ReadSax accepts, nlohmann accepts, with the same events.** fuzz/json_reader
// checks exactly that against nlohmann. A few things nlohmann accepts are left to it on purpose:
// a leading byte order mark, and numbers too small for a double (1e-400, which nlohmann reads
// as 0; one too large it refuses).
//
// Handler (as nlohmann's json_sax, duck-typed): null(), boolean(bool), number_integer(int64_t)
// (negative integers), number_unsigned(uint64_t) (the others), number_float(double, std::string&
// raw) (fractions, exponents, and integers too large for 64 bits, with their text),
// string(std::string&), key(std::string&), start_object(size_t) and start_array(size_t) (given
// size_t(-1), as nlohmann does), end_object(), end_array(); each returns false to stop. A string
// or key handed over may be moved from. It nests without recursion: depth is the handler's to
// limit.
//
// Thread-safety: a pure function of its arguments.
#ifndef CHUKAN_JSON_SAX_READER_H_
#define CHUKAN_JSON_SAX_READER_H_

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/utf8.h"

namespace chukan::json {

namespace sax_internal {

inline bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The value of 4 hex digits at p (p + 4 <= end), or -1.
inline int Hex4(const char* p) {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

inline void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Reads the string whose opening quote is at *pp into `out` (cleared first); *pp ends past the
// closing quote. False for anything RFC 8259 and nlohmann refuse: a raw control character, an
// unknown escape, a \u escape that is not 4 hex digits, an unpaired surrogate, invalid UTF-8.
inline bool ReadString(std::string_view text, const char** pp, std::string& out) {
  const char* p = *pp + 1;
  const char* const end = text.data() + text.size();
  out.clear();
  for (;;) {
    const char* run = p;
    p = text.data() + PlainJsonRunEnd(text, static_cast<size_t>(p - text.data()),
                                      /*del_as_is=*/true);
    out.append(run, p);
    if (p == end) return false;
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') {
      *pp = p + 1;
      return true;
    }
    if (c < 0x20) return false;
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(text, static_cast<size_t>(p - text.data()));
      if (n == 0) return false;
      out.append(p, n);
      p += n;
      continue;
    }
    // A backslash.
    if (end - p < 2) return false;
    const char e = p[1];
    p += 2;
    switch (e) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        if (end - p < 4) return false;
        const int u = Hex4(p);
        if (u < 0) return false;
        p += 4;
        uint32_t cp = static_cast<uint32_t>(u);
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate first
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A high surrogate: "\uDC00".."\uDFFF" must follow.
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return false;
          const int low = Hex4(p + 2);
          if (low < 0xDC00 || low > 0xDFFF) return false;
          p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(low) - 0xDC00);
        }
        AppendUtf8(out, cp);
        break;
      }
      default:
        return false;
    }
  }
}

// Reads the number at *pp and hands it to `h` as nlohmann does. False for a malformed number,
// a double out of range (left to nlohmann), or the handler's false.
template <class Handler>
bool ReadNumber(const char** pp, const char* end, std::string& raw, Handler& h) {
  const char* const start = *pp;
  const char* p = start;
  const bool negative = *p == '-';
  if (negative) ++p;
  if (p == end) return false;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p != end && IsDigit(*p)) ++p;
  } else {
    return false;
  }
  bool integral = true;
  if (p != end && *p == '.') {
    integral = false;
    ++p;
    if (p == end || !IsDigit(*p)) return false;
    while (p != end && IsDigit(*p)) ++p;
  }
  if (p != end && (*p == 'e' || *p == 'E')) {
    integral = false;
    ++p;
    if (p != end && (*p == '+' || *p == '-')) ++p;
    if (p == end || !IsDigit(*p)) return false;
    while (p != end && IsDigit(*p)) ++p;
  }
  *pp = p;
  if (integral) {
    // nlohmann: a negative integer is number_integer, any other number_unsigned, and one that
    // does not fit 64 bits is a float.
    if (negative) {
      int64_t v = 0;
      const auto r = std::from_chars(start, p, v);
      if (r.ec == std::errc() && r.ptr == p) return h.number_integer(v);
    } else {
      uint64_t v = 0;
      const auto r = std::from_chars(start, p, v);
      if (r.ec == std::errc() && r.ptr == p) return h.number_unsigned(v);
    }
  }
  double d = 0;
  const auto r = std::from_chars(start, p, d);
  if (r.ec != std::errc() || r.ptr != p) return false;  // out of a double's range: nlohmann's
  raw.assign(start, p);
  return h.number_float(d, raw);
}

}  // namespace sax_internal

template <class Handler>
bool ReadSax(std::string_view text, Handler& h) {
  using sax_internal::IsSpace;
  const char* p = text.data();
  const char* const end = p + text.size();
  // A byte order mark, which nlohmann skips: left to it.
  if (p != end && static_cast<unsigned char>(*p) == 0xEF) return false;
  std::string buf;              // the string, key or float text handed to the handler
  std::vector<bool> in_object;  // the open containers, innermost last
  const auto skip = [&] {
    while (p != end && IsSpace(*p)) ++p;
  };
  // At a key (after '{' or ','): the key, its colon; false if either is missing.
  const auto key = [&] {
    skip();
    if (p == end || *p != '"' || !sax_internal::ReadString(text, &p, buf) || !h.key(buf)) {
      return false;
    }
    skip();
    if (p == end || *p != ':') return false;
    ++p;
    return true;
  };
  const auto literal = [&](std::string_view word) {
    if (static_cast<size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) {
      return false;
    }
    p += word.size();
    return true;
  };
  for (;;) {
    // A value.
    skip();
    if (p == end) return false;
    switch (*p) {
      case '{':
        ++p;
        if (!h.start_object(static_cast<size_t>(-1))) return false;
        skip();
        if (p != end && *p == '}') {
          ++p;
          if (!h.end_object()) return false;
          break;
        }
        in_object.push_back(true);
        if (!key()) return false;
        continue;
      case '[':
        ++p;
        if (!h.start_array(static_cast<size_t>(-1))) return false;
        skip();
        if (p != end && *p == ']') {
          ++p;
          if (!h.end_array()) return false;
          break;
        }
        in_object.push_back(false);
        continue;
      case '"':
        if (!sax_internal::ReadString(text, &p, buf) || !h.string(buf)) return false;
        break;
      case 't':
        if (!literal("true") || !h.boolean(true)) return false;
        break;
      case 'f':
        if (!literal("false") || !h.boolean(false)) return false;
        break;
      case 'n':
        if (!literal("null") || !h.null()) return false;
        break;
      default:
        if (*p != '-' && !sax_internal::IsDigit(*p)) return false;
        if (!sax_internal::ReadNumber(&p, end, buf, h)) return false;
        break;
    }
    // After a value: close what ends here, then the next value (or the end of the text).
    for (;;) {
      skip();
      if (in_object.empty()) return p == end;
      if (p == end) return false;
      const bool object = in_object.back();
      if (*p == ',') {
        ++p;
        if (object && !key()) return false;
        break;
      }
      if (*p != (object ? '}' : ']')) return false;
      ++p;
      in_object.pop_back();
      if (!(object ? h.end_object() : h.end_array())) return false;
    }
  }
}

}  // namespace chukan::json

#endif  // CHUKAN_JSON_SAX_READER_H_
