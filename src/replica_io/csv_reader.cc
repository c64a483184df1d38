#include "replica_io/csv_reader.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "common/utf8.h"

namespace chukan::replica_io {
namespace {

// Bytes that end the fast scan of an unquoted field.
constexpr std::array<bool, 256> kSpecial = [] {
  std::array<bool, 256> t{};
  t[static_cast<unsigned char>(',')] = true;
  t[static_cast<unsigned char>('"')] = true;
  t[static_cast<unsigned char>('\r')] = true;
  t[static_cast<unsigned char>('\n')] = true;
  return t;
}();

// Offset of the first invalid UTF-8 sequence in `s`, or s.size() if it is all valid. Inlines the
// common cases (ASCII and the 3-byte sequences of Japanese text) and defers the rest to the
// shared strict check.
size_t FirstInvalidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // E1..EC and EE..EF take any two continuation bytes (E0 and ED have narrower ranges).
    if (((c >= 0xE1 && c <= 0xEC) || c >= 0xEE) && c <= 0xEF && i + 2 < n &&
        (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80) {
      i += 3;
      continue;
    }
    const size_t k = Utf8SequenceLength(s, i);
    if (k == 0) return i;
    i += k;
  }
  return n;
}

std::string Line(int64_t line) { return "line " + std::to_string(line) + ": "; }
std::string Column(size_t column) { return "column " + std::to_string(column) + ": "; }

}  // namespace

CsvReader::CsvReader(ByteSource& src, CsvOptions options)
    : buf_(src, options.max_record_bytes), options_(options) {}

Status CsvReader::Fail(Status s) {
  error_ = s;
  return s;
}

Status CsvReader::Refill() {
  size_t shift = 0;
  Result<size_t> got = buf_.Refill(begin_, &shift);
  begin_ -= shift;
  pos_ -= shift;
  field_begin_ -= shift;
  write_ -= shift;
  return got.status();
}

Result<bool> CsvReader::Next() {
  if (!error_.ok()) return error_;
  if (finished_) return false;
  if (!started_) {
    started_ = true;
    while (buf_.end() < 3 && !buf_.eof()) {
      if (Status s = Refill(); !s.ok()) return Fail(s);
    }
    if (buf_.end() >= 3 && std::memcmp(buf_.data(), "\xEF\xBB\xBF", 3) == 0) pos_ = 3;
  }
  begin_ = field_begin_ = write_ = pos_;
  record_line_ = line_;
  spans_.clear();
  state_ = State::kRecordStart;
  while (state_ != State::kDone) {
    if (pos_ < buf_.end()) {
      if (Status s = Scan(); !s.ok()) return Fail(s);
    } else if (!buf_.eof()) {
      if (pos_ - begin_ > options_.max_record_bytes) break;  // reported below
      if (Status s = Refill(); !s.ok()) return Fail(s);
    } else {
      if (Status s = AtEndOfInput(); !s.ok()) return Fail(s);
      if (finished_) return false;
    }
  }
  if (pos_ - begin_ > options_.max_record_bytes) {
    std::string message = Line(record_line_) + "record exceeds max_record_bytes (" +
                          std::to_string(options_.max_record_bytes) + ")";
    if (state_ == State::kQuoted) {
      // Almost always a quote that was never closed: say where it opened.
      message += "; column " + std::to_string(spans_.size() + 1) +
                 ": quoted field opened on line " + std::to_string(quote_line_) + " is still open";
    }
    return Fail(ResourceExhaustedError(std::move(message)));
  }
  fields_.resize(spans_.size());
  const char* base = buf_.data() + begin_;
  for (size_t i = 0; i < spans_.size(); ++i) {
    fields_[i] = std::string_view(base + spans_[i].first, spans_[i].second);
  }
  ++records_;
  return true;
}

Status CsvReader::EndField(size_t begin, size_t size) {
  const size_t column = spans_.size() + 1;
  if (spans_.size() >= options_.max_fields) {
    return ResourceExhaustedError(Line(record_line_) + "record has more than max_fields (" +
                                  std::to_string(options_.max_fields) + ") fields");
  }
  if (size > options_.max_field_bytes) {
    return ResourceExhaustedError(Line(field_line_) + Column(column) +
                                  "field exceeds max_field_bytes (" +
                                  std::to_string(options_.max_field_bytes) + ")");
  }
  if ((field_bits_ & 0x80) != 0) {
    const std::string_view value(buf_.data() + begin, size);
    const size_t bad = FirstInvalidUtf8(value);
    if (bad != value.size()) {
      // A quoted field may span lines: name the line of the bad byte.
      const int64_t line = field_line_ + std::count(value.begin(), value.begin() + bad, '\n');
      return InvalidArgumentError(Line(line) + Column(column) + "invalid UTF-8");
    }
  }
  spans_.emplace_back(begin - begin_, size);
  return Status::Ok();
}

Status CsvReader::AtEndOfInput() {
  switch (state_) {
    case State::kRecordStart:  // nothing left
    case State::kEmptyLine:    // a single empty last line is tolerated
      finished_ = true;
      return Status::Ok();
    case State::kEmptyLineCr:
      return InvalidArgumentError(Line(line_) + Column(1) +
                                  "carriage return not followed by line feed");
    case State::kFieldStart:  // after a trailing comma
      RETURN_IF_ERROR(EndField(pos_, 0));
      break;
    case State::kUnquoted:
      RETURN_IF_ERROR(EndField(field_begin_, pos_ - field_begin_));
      break;
    case State::kQuotedQuote:
      RETURN_IF_ERROR(EndField(field_begin_, write_ - field_begin_));
      break;
    case State::kQuoted: {
      // Name the last line of the input (the one the final newline, if any, ends).
      const int64_t last = buf_.data()[buf_.end() - 1] == '\n' ? line_ - 1 : line_;
      return InvalidArgumentError(Line(last) + Column(spans_.size() + 1) +
                                  "unterminated quoted field (opened on line " +
                                  std::to_string(quote_line_) + ")");
    }
    case State::kCr:
      return InvalidArgumentError(Line(line_) + Column(spans_.size()) +
                                  "carriage return not followed by line feed");
    case State::kDone:
      break;
  }
  state_ = State::kDone;
  return Status::Ok();
}

Status CsvReader::Scan() {
  char* const d = buf_.data();
  const size_t end = buf_.end();
  while (pos_ < end) {
    switch (state_) {
      case State::kRecordStart:
        if (d[pos_] == '\n') {
          ++pos_;
          ++line_;
          state_ = State::kEmptyLine;
        } else if (d[pos_] == '\r') {
          ++pos_;
          state_ = State::kEmptyLineCr;
        } else {
          state_ = State::kFieldStart;
        }
        break;

      case State::kEmptyLine:
        return InvalidArgumentError(Line(record_line_) + "empty line");

      case State::kEmptyLineCr:
        if (d[pos_] != '\n') {
          return InvalidArgumentError(Line(line_) + Column(1) +
                                      "carriage return not followed by line feed");
        }
        ++pos_;
        ++line_;
        state_ = State::kEmptyLine;
        break;

      case State::kFieldStart: {
        field_line_ = line_;
        field_bits_ = 0;
        const char c = d[pos_];
        if (c == '"') {
          ++pos_;
          field_begin_ = write_ = pos_;
          quote_line_ = line_;
          state_ = State::kQuoted;
        } else if (c == ',') {
          RETURN_IF_ERROR(EndField(pos_, 0));
          ++pos_;
        } else if (c == '\n') {
          RETURN_IF_ERROR(EndField(pos_, 0));
          ++pos_;
          ++line_;
          state_ = State::kDone;
          return Status::Ok();
        } else if (c == '\r') {
          RETURN_IF_ERROR(EndField(pos_, 0));
          ++pos_;
          state_ = State::kCr;
        } else {
          field_begin_ = pos_;
          state_ = State::kUnquoted;
        }
        break;
      }

      case State::kUnquoted: {
        // The hot loop: most fields are unquoted ASCII or UTF-8 without specials.
        const auto* p = reinterpret_cast<const unsigned char*>(d + pos_);
        const auto* const e = reinterpret_cast<const unsigned char*>(d + end);
        unsigned char bits = field_bits_;
        while (p < e && !kSpecial[*p]) bits |= *p++;
        field_bits_ = bits;
        pos_ = static_cast<size_t>(reinterpret_cast<const char*>(p) - d);
        if (pos_ == end) return Status::Ok();
        const char c = d[pos_];
        if (c == '"') {
          return InvalidArgumentError(Line(line_) + Column(spans_.size() + 1) +
                                      "quote in unquoted field");
        }
        RETURN_IF_ERROR(EndField(field_begin_, pos_ - field_begin_));
        ++pos_;
        if (c == ',') {
          state_ = State::kFieldStart;
        } else if (c == '\n') {
          ++line_;
          state_ = State::kDone;
          return Status::Ok();
        } else {
          state_ = State::kCr;
        }
        break;
      }

      case State::kQuoted: {
        // Copies down over the gap left by undoubled quotes; a self-assignment until the first.
        size_t i = pos_;
        size_t w = write_;
        unsigned char bits = field_bits_;
        while (i < end) {
          const char c = d[i];
          if (c == '"') break;
          if (c == '\n') ++line_;
          bits |= static_cast<unsigned char>(c);
          d[w++] = c;
          ++i;
        }
        field_bits_ = bits;
        write_ = w;
        if (i == end) {
          pos_ = i;
          return Status::Ok();
        }
        pos_ = i + 1;
        state_ = State::kQuotedQuote;
        break;
      }

      case State::kQuotedQuote: {
        const char c = d[pos_];
        if (c == '"') {
          d[write_++] = '"';
          ++pos_;
          state_ = State::kQuoted;
          break;
        }
        if (c != ',' && c != '\n' && c != '\r') {
          return InvalidArgumentError(Line(line_) + Column(spans_.size() + 1) +
                                      "unexpected character after closing quote");
        }
        RETURN_IF_ERROR(EndField(field_begin_, write_ - field_begin_));
        ++pos_;
        if (c == ',') {
          state_ = State::kFieldStart;
        } else if (c == '\n') {
          ++line_;
          state_ = State::kDone;
          return Status::Ok();
        } else {
          state_ = State::kCr;
        }
        break;
      }

      case State::kCr:
        if (d[pos_] != '\n') {
          return InvalidArgumentError(Line(line_) + Column(spans_.size()) +
                                      "carriage return not followed by line feed");
        }
        ++pos_;
        ++line_;
        state_ = State::kDone;
        return Status::Ok();

      case State::kDone:
        return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace chukan::replica_io
