#include "replica_io/json_lines_reader.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string_view>

namespace chukan::replica_io {
namespace {

std::string Line(int64_t line) { return "line " + std::to_string(line) + ": "; }

// "line N, member M: ", or "line N, member M (K): " when the options allow naming key K.
std::string Member(int64_t line, size_t member, std::string_view key,
                   const JsonLinesOptions& options) {
  std::string s = "line " + std::to_string(line) + ", member " + std::to_string(member);
  if (options.nameable_key && key.size() <= kMaxJsonKeyBytes && options.nameable_key(key)) {
    s += " (" + std::string(key) + ")";
  }
  return s + ": ";
}

// nlohmann's parse error text without its "[json.exception…] parse error at line 1, column C: "
// prefix and without the "last read: '…'" excerpt, which would copy personal data into logs.
std::string ParseErrorReason(std::string_view what) {
  if (const size_t p = what.find("column "); p != std::string_view::npos) {
    if (const size_t colon = what.find(": ", p); colon != std::string_view::npos) {
      what.remove_prefix(colon + 2);
    }
  }
  std::string reason(what);
  if (const size_t lr = reason.find("; last read: "); lr != std::string::npos) {
    const size_t exp = reason.rfind("; expected ");
    std::string tail = exp != std::string::npos && exp > lr ? reason.substr(exp) : "";
    reason.erase(lr);
    reason += tail;
  }
  return reason;
}

// SAX handler: accepts exactly one flat object of strings, integers and nulls.
class FlatObjectHandler {
 public:
  using json = nlohmann::json;

  FlatObjectHandler(int64_t line, const JsonLinesOptions& options,
                    std::vector<std::pair<std::string, std::string>>& fields,
                    std::vector<bool>& is_null)
      : line_(line), options_(options), fields_(fields), is_null_(is_null) {}

  Status& error() { return error_; }

  bool null() { return Value(std::string(), /*is_null=*/true); }
  bool boolean(bool /*value*/) { return Refuse("boolean"); }
  bool number_integer(json::number_integer_t v) {
    return Value(std::to_string(v), /*is_null=*/false);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    return Value(std::to_string(v), /*is_null=*/false);
  }
  bool number_float(json::number_float_t /*v*/, const std::string& /*text*/) {
    return Refuse("floating-point");
  }
  bool string(std::string& v) { return Value(std::move(v), /*is_null=*/false); }
  bool binary(json::binary_t& /*v*/) { return Refuse("binary"); }
  bool start_object(size_t /*n*/) {
    if (depth_ == 0) {
      depth_ = 1;
      return true;
    }
    return Refuse("object");
  }
  bool key(std::string& k) {
    if (k.size() > kMaxJsonKeyBytes) {
      return Fail(InvalidArgumentError(Member(line_, fields_.size() + 1, {}, options_) +
                                       "key longer than " + std::to_string(kMaxJsonKeyBytes) +
                                       " bytes"));
    }
    if (fields_.size() >= options_.max_fields) {
      return Fail(ResourceExhaustedError(Line(line_) + "more than max_fields (" +
                                         std::to_string(options_.max_fields) + ") fields"));
    }
    key_ = std::move(k);
    return true;
  }
  bool end_object() {
    depth_ = 0;
    return true;
  }
  bool start_array(size_t /*n*/) { return Refuse("array"); }
  bool end_array() { return Refuse("array"); }
  bool parse_error(size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    return Fail(InvalidArgumentError(Line(line_) + "invalid JSON: " + ParseErrorReason(ex.what()) +
                                     " at column " + std::to_string(position)));
  }

 private:
  bool Fail(Status s) {
    if (error_.ok()) error_ = std::move(s);
    return false;
  }
  // The member whose key was read last (its value is being read).
  std::string CurrentMember() const { return Member(line_, fields_.size() + 1, key_, options_); }
  bool NotObject() { return Fail(InvalidArgumentError(Line(line_) + "expected a JSON object")); }
  bool Refuse(std::string_view kind) {
    if (depth_ == 0) return NotObject();
    return Fail(
        InvalidArgumentError(CurrentMember() + std::string(kind) + " values are not allowed"));
  }
  bool Value(std::string v, bool is_null) {
    if (depth_ == 0) return NotObject();
    if (v.size() > options_.max_value_bytes) {
      return Fail(ResourceExhaustedError(CurrentMember() + "value exceeds max_value_bytes (" +
                                         std::to_string(options_.max_value_bytes) + ")"));
    }
    fields_.emplace_back(std::move(key_), std::move(v));
    is_null_.push_back(is_null);
    return true;
  }

  int64_t line_;
  const JsonLinesOptions& options_;
  std::vector<std::pair<std::string, std::string>>& fields_;
  std::vector<bool>& is_null_;
  int depth_ = 0;
  std::string key_;
  Status error_;
};

}  // namespace

JsonLinesReader::JsonLinesReader(ByteSource& src, JsonLinesOptions options)
    : buf_(src, options.max_line_bytes), options_(options) {}

JsonLinesReader::~JsonLinesReader() = default;

Status JsonLinesReader::Fail(Status s) {
  error_ = s;
  return s;
}

Result<bool> JsonLinesReader::Next() {
  if (!error_.ok()) return error_;
  if (finished_) return false;
  size_t shift = 0;
  if (!started_) {
    started_ = true;
    while (buf_.end() < 3 && !buf_.eof()) {
      if (Status s = buf_.Refill(0, &shift).status(); !s.ok()) return Fail(s);
    }
    if (buf_.end() >= 3 && std::memcmp(buf_.data(), "\xEF\xBB\xBF", 3) == 0) pos_ = 3;
  }
  // Find the end of the line.
  size_t scan = pos_;
  size_t line_end = 0;
  bool has_newline = true;
  for (;;) {
    const void* nl = std::memchr(buf_.data() + scan, '\n', buf_.end() - scan);
    if (nl != nullptr) {
      line_end = static_cast<size_t>(static_cast<const char*>(nl) - buf_.data());
      break;
    }
    scan = buf_.end();
    if (scan - pos_ > options_.max_line_bytes) break;
    if (buf_.eof()) {
      if (pos_ == buf_.end()) {
        finished_ = true;
        return false;
      }
      line_end = buf_.end();
      has_newline = false;
      break;
    }
    const Result<size_t> got = buf_.Refill(pos_, &shift);
    pos_ -= shift;
    scan -= shift;
    if (!got.ok()) return Fail(got.status());
  }
  ++line_;
  if (scan - pos_ > options_.max_line_bytes ||
      line_end + (has_newline ? 1 : 0) - pos_ > options_.max_line_bytes) {
    return Fail(ResourceExhaustedError(Line(line_) + "line exceeds max_line_bytes (" +
                                       std::to_string(options_.max_line_bytes) + ")"));
  }
  const size_t begin = pos_;
  size_t content_end = line_end;
  if (has_newline && content_end > begin && buf_.data()[content_end - 1] == '\r') --content_end;
  pos_ = has_newline ? line_end + 1 : line_end;

  if (content_end == begin) {
    // An empty line is tolerated only as the very last line of the input.
    while (pos_ == buf_.end() && !buf_.eof()) {
      const Result<size_t> got = buf_.Refill(pos_, &shift);
      pos_ -= shift;
      if (!got.ok()) return Fail(got.status());
    }
    if (pos_ == buf_.end()) {
      finished_ = true;
      return false;
    }
    return Fail(InvalidArgumentError(Line(line_) + "empty line"));
  }
  if (line_ > 1 && content_end - begin >= 3 &&
      std::memcmp(buf_.data() + begin, "\xEF\xBB\xBF", 3) == 0) {
    // nlohmann would skip it silently; only the start of the input may carry one.
    return Fail(
        InvalidArgumentError(Line(line_) + "invalid JSON: byte order mark inside the input"));
  }
  if (Status s = ParseLine(buf_.data() + begin, buf_.data() + content_end); !s.ok()) {
    return Fail(s);
  }
  ++records_;
  return true;
}

Status JsonLinesReader::ParseLine(const char* begin, const char* end) {
  fields_.clear();
  members_.clear();
  is_null_.clear();
  FlatObjectHandler handler(line_, options_, fields_, is_null_);
  try {
    nlohmann::json::sax_parse(begin, end, &handler, nlohmann::json::input_format_t::json,
                              /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    // sax_parse reports syntax errors through the handler; only allocation failures get here.
    return InternalError(Line(line_) + "JSON parser: " + e.what());
  }
  RETURN_IF_ERROR(handler.error());

  // Sorted by key, then by position, so a repeated key's first two members are adjacent.
  sorted_keys_.resize(fields_.size());
  for (size_t i = 0; i < fields_.size(); ++i) sorted_keys_[i] = i;
  std::sort(sorted_keys_.begin(), sorted_keys_.end(), [this](size_t a, size_t b) {
    const int c = fields_[a].first.compare(fields_[b].first);
    return c != 0 ? c < 0 : a < b;
  });
  const auto dup = std::adjacent_find(
      sorted_keys_.begin(), sorted_keys_.end(),
      [this](size_t a, size_t b) { return fields_[a].first == fields_[b].first; });
  if (dup != sorted_keys_.end()) {
    const size_t first = *dup;
    const size_t second = *std::next(dup);
    return InvalidArgumentError(Member(line_, second + 1, fields_[second].first, options_) +
                                "duplicate key (the same as member " + std::to_string(first + 1) +
                                ")");
  }
  size_t kept = 0;
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (is_null_[i]) continue;
    if (kept != i) fields_[kept] = std::move(fields_[i]);
    members_.push_back(i + 1);
    ++kept;
  }
  fields_.resize(kept);
  return Status::Ok();
}

}  // namespace chukan::replica_io
