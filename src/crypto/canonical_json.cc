#include "crypto/canonical_json.h"

#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/utf8.h"
#include "json/sax_reader.h"

namespace chukan::crypto {

namespace {

using Json = nlohmann::json;

constexpr uint64_t kMaxMagnitude = static_cast<uint64_t>(kCanonicalJsonMaxInteger);

// Appends `s` as a canonical JSON string literal. Returns false on invalid UTF-8.
bool AppendQuoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    // A run of ASCII written as it is (not '"', '\\' or a control character) goes in with one
    // append — most of a signed document: base64url, codes, ids, times.
    const size_t run = PlainJsonRunEnd(s, i, /*del_as_is=*/true);
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(s, i);
      if (len == 0) return false;
      out.append(s.substr(i, len));
      i += len;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0x0f]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return true;
}

// A key is named in an error message only when that cannot leak data or garble a log line.
std::string DescribeKey(std::string_view key) {
  const bool printable = key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char ch) {
                           return ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
                         });
  return printable ? "\"" + std::string(key) + "\"" : "(not shown)";
}

// nlohmann SAX handler that writes the canonical form as the parser goes. Arrays are written
// straight into their frame's text; object members are collected as (key, canonical value) and
// sorted when the object closes. Each value is therefore copied once per enclosing level, which
// the depth limit bounds.
class CanonicalWriter {
 public:
  bool null() { return Value("null"); }
  bool boolean(bool b) { return Value(b ? "true" : "false"); }

  bool number_integer(Json::number_integer_t v) {
    if (v < -kCanonicalJsonMaxInteger || v > kCanonicalJsonMaxInteger) return OutOfRange();
    return Value(std::to_string(v));  // "-0" arrives as 0 and is written "0"
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    if (v > kMaxMagnitude) return OutOfRange();
    return Value(std::to_string(v));
  }
  bool number_float(Json::number_float_t /*v*/, const Json::string_t& raw) {
    // nlohmann also reports integers too large for 64 bits as floats.
    if (raw.find_first_of(".eE") == std::string::npos) return OutOfRange();
    return Fail(
        "non-integer number (fractions and exponents are not allowed; encode such values "
        "as strings)");
  }

  bool string(Json::string_t& s) {
    std::string text;
    text.reserve(s.size() + 2);
    if (!AppendQuoted(text, s)) return Fail("invalid UTF-8 in a string");
    return Value(std::move(text));
  }
  bool binary(Json::binary_t& /*b*/) { return Fail("binary values are not JSON"); }

  bool start_object(std::size_t /*n*/) { return Open(true); }
  bool key(Json::string_t& k) {
    std::string text;
    text.reserve(k.size() + 2);
    if (!AppendQuoted(text, k)) return Fail("invalid UTF-8 in an object key");
    Frame& f = frames_.back();
    f.pending_key_raw = std::move(k);
    f.pending_key = std::move(text);
    return true;
  }
  bool end_object() {
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    // std::string compares as unsigned char (memcmp), i.e. by UTF-8 bytes = by code points.
    std::sort(f.members.begin(), f.members.end(),
              [](const Member& a, const Member& b) { return a.raw_key < b.raw_key; });
    for (size_t i = 1; i < f.members.size(); ++i) {
      if (f.members[i].raw_key == f.members[i - 1].raw_key) {
        return Fail("duplicate object key " + DescribeKey(f.members[i].raw_key));
      }
    }
    std::string text = "{";
    for (size_t i = 0; i < f.members.size(); ++i) {
      if (i > 0) text.push_back(',');
      text += f.members[i].key;
      text.push_back(':');
      text += f.members[i].value;
    }
    text.push_back('}');
    return Value(std::move(text));
  }

  bool start_array(std::size_t /*n*/) { return Open(false); }
  bool end_array() {
    Frame f = std::move(frames_.back());
    frames_.pop_back();
    f.text.push_back(']');
    return Value(std::move(f.text));
  }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    // nlohmann's message ends with "; last read: '<input>'": cut that off, and its
    // "[json.exception.parse_error.101] " prefix, so no input is echoed.
    std::string cause = ex.what();
    if (const size_t p = cause.find("] "); p != std::string::npos) cause.erase(0, p + 2);
    if (const size_t p = cause.find("; last read"); p != std::string::npos) cause.erase(p);
    return Fail("syntax error at byte " + std::to_string(position) + " (" + cause + ")");
  }

  const std::string& error() const { return error_; }
  std::string& result() { return result_; }

 private:
  struct Member {
    std::string raw_key;  // decoded key, the sort key
    std::string key;      // canonical string literal
    std::string value;    // canonical value text
  };
  struct Frame {
    bool is_object = false;
    std::string text;  // arrays: "[" and the elements so far
    size_t count = 0;
    std::vector<Member> members;  // objects
    std::string pending_key_raw;
    std::string pending_key;
  };

  bool Open(bool is_object) {
    if (frames_.size() >= kCanonicalJsonMaxDepth) {
      return Fail("nesting deeper than " + std::to_string(kCanonicalJsonMaxDepth) + " levels");
    }
    Frame f;
    f.is_object = is_object;
    if (!is_object) f.text = "[";
    frames_.push_back(std::move(f));
    return true;
  }

  bool Value(std::string text) {
    if (frames_.empty()) {
      result_ = std::move(text);
      return true;
    }
    Frame& f = frames_.back();
    if (f.is_object) {
      f.members.push_back(
          Member{std::move(f.pending_key_raw), std::move(f.pending_key), std::move(text)});
    } else {
      if (f.count > 0) f.text.push_back(',');
      f.text += text;
    }
    ++f.count;
    return true;
  }

  bool OutOfRange() { return Fail("integer outside ±(2^53−1)"); }

  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  std::vector<Frame> frames_;
  std::string result_;
  std::string error_;
};

constexpr std::string_view kPrefix = "canonical JSON: ";

// The size limit, and no byte order mark.
Status CheckText(std::string_view json_text) {
  if (json_text.size() > kCanonicalJsonMaxBytes) {
    return InvalidArgumentError(std::string(kPrefix) + "text of " +
                                std::to_string(json_text.size()) +
                                " bytes exceeds the 1 MiB (1048576 bytes) limit");
  }
  if (json_text.substr(0, 3) == "\xEF\xBB\xBF") {
    return InvalidArgumentError(std::string(kPrefix) + "byte order mark not allowed");
  }
  return Status();
}

}  // namespace

Result<std::string> CanonicalizeJson(std::string_view json_text) {
  RETURN_IF_ERROR(CheckText(json_text));
  {
    // The fast reader first; anything it does not accept goes to nlohmann, which decides and
    // names the error (json/sax_reader.h).
    CanonicalWriter fast;
    if (json::ReadSax(json_text, fast)) return std::move(fast.result());
  }
  return internal::CanonicalizeJsonWithNlohmann(json_text);
}

Result<std::string> internal::CanonicalizeJsonWithNlohmann(std::string_view json_text) {
  RETURN_IF_ERROR(CheckText(json_text));
  CanonicalWriter writer;
  bool ok = false;
  try {
    ok = Json::sax_parse(json_text.data(), json_text.data() + json_text.size(), &writer,
                         Json::input_format_t::json, /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    // The SAX interface reports errors through parse_error(); this is only a safety net so that
    // no exception crosses the interface (e.g. std::bad_alloc).
    return InvalidArgumentError(std::string(kPrefix) + "parser failure: " + e.what());
  }
  if (!ok) {
    return InvalidArgumentError(std::string(kPrefix) +
                                (writer.error().empty() ? "invalid JSON" : writer.error()));
  }
  return std::move(writer.result());
}

Result<Bytes> SignCanonical(const SigningKey& key, std::string_view json_text) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalizeJson(json_text));
  return key.Sign(AsBytes(canonical));
}

Status VerifyCanonical(const VerifyKey& key, std::string_view json_text,
                       std::span<const uint8_t> signature) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalizeJson(json_text));
  return key.Verify(AsBytes(canonical), signature);
}

}  // namespace chukan::crypto
