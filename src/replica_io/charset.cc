#include "replica_io/charset.h"

#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

namespace chukan::replica_io {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Unquote(std::string_view s) {
  s = Trim(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = Trim(s.substr(1, s.size() - 2));
  return s;
}

Result<Charset> CharsetFromName(std::string_view raw) {
  const std::string name = Lower(Unquote(raw));
  if (name == "utf-8" || name == "utf8") return Charset::kUtf8;
  if (name == "shift_jis" || name == "shift-jis" || name == "sjis" || name == "cp932" ||
      name == "windows-31j") {
    return Charset::kCp932;
  }
  // The name is not repeated: it is the client's text, and messages never echo input.
  return InvalidArgumentError("unsupported charset (supported: utf-8, shift_jis/cp932)");
}

struct IconvCloser {
  void operator()(void* cd) const { iconv_close(static_cast<iconv_t>(cd)); }
};
using IconvHandle = std::unique_ptr<void, IconvCloser>;

// Decodes in two fixed buffers: raw input (kInSize) and decoded output (kOutSize), so memory is
// bounded whatever the caller's read size. A decoding error is held back until the text decoded
// before it has been delivered, so that the reader above reports the first problem in the file.
class Cp932ToUtf8Source final : public ByteSource {
 public:
  Cp932ToUtf8Source(std::unique_ptr<ByteSource> inner, IconvHandle cd)
      : inner_(std::move(inner)), cd_(std::move(cd)), in_(kInSize), out_(kOutSize) {}

  Result<size_t> Read(char* buf, size_t n) override {
    while (out_pos_ == out_end_) {
      if (!error_.ok()) return error_;
      if (done_) return size_t{0};
      RETURN_IF_ERROR(Decode());
    }
    const size_t k = std::min(n, out_end_ - out_pos_);
    std::memcpy(buf, out_.data() + out_pos_, k);
    out_pos_ += k;
    return k;
  }

 private:
  static constexpr size_t kInSize = 128 << 10;
  static constexpr size_t kOutSize = 256 << 10;

  // Moves the position over the decoded input bytes [begin, end).
  void Advance(const char* begin, const char* end) {
    const auto rbegin = std::make_reverse_iterator(end);
    const auto last_lf = std::find(rbegin, std::make_reverse_iterator(begin), '\n');
    if (last_lf == rbegin + (end - begin)) {
      byte_ += end - begin;
      return;
    }
    line_ += std::count(begin, end, '\n');
    byte_ = 1 + (last_lf - rbegin);  // the bytes after the last line feed
  }

  std::string Position() const {
    return "line " + std::to_string(line_) + ", byte " + std::to_string(byte_) + ": ";
  }

  // Refills out_ (possibly with nothing, when more input is needed), or sets done_ / error_.
  Status Decode() {
    if (in_pos_ == in_end_ || need_more_) {
      if (in_eof_) {
        if (in_pos_ < in_end_) {
          error_ = InvalidArgumentError(
              Position() + "incomplete Shift_JIS (CP932) byte sequence at end of input");
          return Status::Ok();
        }
        done_ = true;
        return Status::Ok();
      }
      // Keep the (at most one character's) undecoded tail, then read behind it.
      const size_t tail = in_end_ - in_pos_;
      if (tail > 0 && in_pos_ > 0) std::memmove(in_.data(), in_.data() + in_pos_, tail);
      in_pos_ = 0;
      in_end_ = tail;
      ASSIGN_OR_RETURN(const size_t got, inner_->Read(in_.data() + in_end_, in_.size() - in_end_));
      if (got == 0) {
        in_eof_ = true;
      } else {
        in_end_ += got;
        need_more_ = false;
      }
      return Status::Ok();
    }
    char* ip = in_.data() + in_pos_;
    size_t il = in_end_ - in_pos_;
    char* op = out_.data();
    size_t ol = out_.size();
    const size_t r = iconv(static_cast<iconv_t>(cd_.get()), &ip, &il, &op, &ol);
    const int err = errno;
    Advance(in_.data() + in_pos_, ip);
    in_pos_ = static_cast<size_t>(ip - in_.data());
    out_pos_ = 0;
    out_end_ = static_cast<size_t>(op - out_.data());
    if (r == static_cast<size_t>(-1)) {
      if (err == EINVAL) {
        need_more_ = true;  // a character split across reads: fetch the rest
      } else if (err == EILSEQ) {
        // The bytes are not shown: they are a piece of a value (often of a UTF-8 name).
        error_ = InvalidArgumentError(Position() + "invalid Shift_JIS (CP932) byte sequence");
      } else if (err != E2BIG) {
        error_ = InternalError(std::string("iconv CP932 → UTF-8: ") + std::strerror(err));
      }
    }
    return Status::Ok();
  }

  std::unique_ptr<ByteSource> inner_;
  IconvHandle cd_;
  std::vector<char> in_;
  std::vector<char> out_;
  size_t in_pos_ = 0, in_end_ = 0;
  size_t out_pos_ = 0, out_end_ = 0;
  bool in_eof_ = false;
  bool need_more_ = false;
  bool done_ = false;
  // Position of the next undecoded byte: line (counting 0x0A bytes, which never occur inside a
  // CP932 character) and 1-based byte within that line.
  int64_t line_ = 1;
  int64_t byte_ = 1;
  Status error_;
};

}  // namespace

std::string_view CharsetName(Charset charset) {
  return charset == Charset::kCp932 ? "cp932" : "utf-8";
}

Result<Charset> ParseCharset(std::string_view content_type_or_name) {
  const std::string_view s = Trim(content_type_or_name);
  if (s.find('/') == std::string_view::npos && s.find(';') == std::string_view::npos) {
    return CharsetFromName(s);
  }
  // A media type: look for its charset parameter.
  size_t pos = s.find(';');
  while (pos != std::string_view::npos) {
    const size_t next = s.find(';', pos + 1);
    const std::string_view param =
        Trim(s.substr(pos + 1, next == std::string_view::npos ? s.npos : next - pos - 1));
    const size_t eq = param.find('=');
    if (eq != std::string_view::npos && Lower(Trim(param.substr(0, eq))) == "charset") {
      return CharsetFromName(param.substr(eq + 1));
    }
    pos = next;
  }
  return Charset::kUtf8;
}

Result<std::unique_ptr<ByteSource>> MakeCp932ToUtf8Source(std::unique_ptr<ByteSource> inner) {
  iconv_t cd = iconv_open("UTF-8", "CP932");
  if (cd == reinterpret_cast<iconv_t>(static_cast<intptr_t>(-1))) {
    return InternalError(std::string("iconv_open(UTF-8, CP932): ") + std::strerror(errno));
  }
  return std::unique_ptr<ByteSource>(
      std::make_unique<Cp932ToUtf8Source>(std::move(inner), IconvHandle(cd)));
}

Result<std::unique_ptr<ByteSource>> MakeDecodingSource(Charset charset,
                                                       std::unique_ptr<ByteSource> inner) {
  if (charset == Charset::kCp932) return MakeCp932ToUtf8Source(std::move(inner));
  return inner;
}

}  // namespace chukan::replica_io
