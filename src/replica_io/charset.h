// Character sets of replica import files, and a streaming CP932 → UTF-8 decoder.
//
// Municipal business systems commonly emit Shift_JIS text; what they actually emit is Microsoft's
// variant CP932 (Windows-31J: JIS X 0208 plus NEC/IBM extensions such as 髙 and ①, and CP932's
// own mappings, e.g. 0x8160 → U+FF5E). Every Shift_JIS label is therefore decoded as CP932.
// The readers work on UTF-8; a CP932 file is wrapped in the decoding source first.
//
// Thread-safety: ParseCharset is a pure function. Sources are single-threaded objects.
#ifndef CHUKAN_REPLICA_IO_CHARSET_H_
#define CHUKAN_REPLICA_IO_CHARSET_H_

#include <memory>
#include <string_view>

#include "common/status.h"
#include "replica_io/byte_source.h"

namespace chukan::replica_io {

enum class Charset {
  kUtf8,
  kCp932,  // Shift_JIS as Windows writes it (Windows-31J)
};

// "utf-8" or "cp932".
std::string_view CharsetName(Charset charset);

// Accepts a charset name — "utf-8", "utf8", "shift_jis", "shift-jis", "sjis", "cp932",
// "windows-31j", case-insensitively, surrounding spaces and quotes ignored — or a whole
// Content-Type value such as `text/csv; charset="Shift_JIS"`, whose charset parameter is used
// (a media type without a charset parameter means UTF-8).
// Errors: kInvalidArgument "unsupported charset (supported: utf-8, shift_jis/cp932)", also for
// an empty name (the name given is not repeated: it is the client's text).
Result<Charset> ParseCharset(std::string_view content_type_or_name);

// Wraps `inner` (ownership taken) so that reading yields UTF-8 decoded from CP932, in chunks,
// with multibyte sequences split across reads of `inner` handled. Errors from Read:
//  - kInvalidArgument "line N, byte B: invalid Shift_JIS (CP932) byte sequence" for bytes that
//    are not CP932 (N counts 0x0A bytes of the input, which never occur inside a CP932
//    character; B is the 1-based offset of the sequence's first byte in that line, in bytes of
//    the input). The bytes themselves are not shown: they are a piece of a value;
//  - kInvalidArgument "line N, byte B: incomplete Shift_JIS (CP932) byte sequence at end of
//    input";
//  - any error of `inner`, unchanged.
// Factory errors: kInternal if iconv has no CP932 converter (glibc always has one).
Result<std::unique_ptr<ByteSource>> MakeCp932ToUtf8Source(std::unique_ptr<ByteSource> inner);

// `inner` unchanged for kUtf8 (the readers skip a UTF-8 byte order mark themselves), the CP932
// decoder for kCp932. Errors: as MakeCp932ToUtf8Source.
Result<std::unique_ptr<ByteSource>> MakeDecodingSource(Charset charset,
                                                       std::unique_ptr<ByteSource> inner);

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_CHARSET_H_
