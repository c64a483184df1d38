#include "replica_io/cp932_encoder.h"

#include <errno.h>
#include <iconv.h>

#include <cstdint>
#include <cstring>

#include "common/utf8.h"

namespace chukan::replica_io {
namespace {

constexpr char kGeta[] = "\x81\xAC";  // 〓 in CP932

iconv_t Handle(void* cd) { return static_cast<iconv_t>(cd); }

}  // namespace

Result<std::unique_ptr<Cp932Encoder>> Cp932Encoder::Create() {
  iconv_t cd = iconv_open("CP932", "UTF-8");
  if (cd == reinterpret_cast<iconv_t>(static_cast<intptr_t>(-1))) {
    return InternalError(std::string("iconv_open(CP932, UTF-8): ") + std::strerror(errno));
  }
  return std::unique_ptr<Cp932Encoder>(new Cp932Encoder(cd));  // private constructor
}

Cp932Encoder::~Cp932Encoder() { iconv_close(Handle(cd_)); }

Result<size_t> Cp932Encoder::Append(std::string_view utf8, std::string& out) {
  // Validated first: iconv reports both invalid input and unrepresentable characters as EILSEQ,
  // and only the latter may be replaced.
  for (size_t i = 0; i < utf8.size();) {
    const size_t n = Utf8SequenceLength(utf8, i);
    if (n == 0) return InvalidArgumentError("byte " + std::to_string(i + 1) + ": invalid UTF-8");
    i += n;
  }
  iconv(Handle(cd_), nullptr, nullptr, nullptr, nullptr);  // reset the shift state
  size_t substituted = 0;
  // CP932 never takes more bytes than UTF-8 for the same text (1 for ASCII and half-width kana,
  // 2 for the rest, whose UTF-8 is 2–4), nor does 〓 (2) for a replaced character (≥ 2 in
  // UTF-8), so one reservation of utf8.size() bytes is enough.
  const size_t start = out.size();
  out.resize(start + utf8.size());
  char* ip = const_cast<char*>(utf8.data());  // iconv's signature; the input is not written
  size_t il = utf8.size();
  char* op = out.data() + start;
  size_t ol = utf8.size();
  while (il > 0) {
    const size_t r = iconv(Handle(cd_), &ip, &il, &op, &ol);
    if (r != static_cast<size_t>(-1)) break;
    const int err = errno;
    if (err != EILSEQ) {
      out.resize(static_cast<size_t>(op - out.data()));
      return InternalError(std::string("iconv UTF-8 → CP932: ") + std::strerror(err));
    }
    const size_t at = utf8.size() - il;
    const size_t n = Utf8SequenceLength(utf8, at);
    if (ol < 2) {  // cannot happen (see the reservation above); never write past the buffer
      out.resize(static_cast<size_t>(op - out.data()));
      return InternalError("iconv UTF-8 → CP932: output larger than reserved");
    }
    std::memcpy(op, kGeta, 2);
    op += 2;
    ol -= 2;
    ip += n;
    il -= n;
    ++substituted;
  }
  out.resize(static_cast<size_t>(op - out.data()));
  return substituted;
}

}  // namespace chukan::replica_io
