// UTF-8 → CP932 (Shift_JIS as Windows writes it, Windows-31J) for files chukan writes for
// municipal systems that read Shift_JIS, such as the inquiry result file. The decoding
// direction is charset.h's.
//
// CP932 cannot represent every character (𠮷 U+20BB7, emoji, most of Unicode outside JIS X 0208
// and the NEC/IBM extensions). Such a character is written as 〓 (U+3013 GETA MARK, 0x81 0xAC),
// the customary mark for a character that cannot be shown, and counted, so the caller can say
// where the text was changed. Characters that JIS-based and Microsoft mappings disagree on
// (〜 U+301C and ～ U+FF5E, − U+2212 and － U+FF0D, ‖ and ∥, ¢ £ ¬) all encode to their CP932
// code.
//
// Thread-safety: a Cp932Encoder is a single-threaded object; make one per thread.
#ifndef CHUKAN_REPLICA_IO_CP932_ENCODER_H_
#define CHUKAN_REPLICA_IO_CP932_ENCODER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace chukan::replica_io {

class Cp932Encoder {
 public:
  // Errors: kInternal if iconv has no CP932 converter (glibc always has one).
  static Result<std::unique_ptr<Cp932Encoder>> Create();
  ~Cp932Encoder();
  Cp932Encoder(const Cp932Encoder&) = delete;
  Cp932Encoder& operator=(const Cp932Encoder&) = delete;

  // Appends `utf8` encoded in CP932 to `out` and returns how many characters were written as 〓.
  // Errors: kInvalidArgument "byte B: invalid UTF-8" (B 1-based in `utf8`; the bytes are not
  // shown), with `out` then holding a prefix of the encoding; kInternal for an iconv failure.
  Result<size_t> Append(std::string_view utf8, std::string& out);

 private:
  explicit Cp932Encoder(void* cd) : cd_(cd) {}
  void* cd_;  // iconv_t
};

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_CP932_ENCODER_H_
