// QrSvg: a QR code (ISO/IEC 18004) as a self-contained SVG image, for the console's TOTP
// enrolment page (二要素認証の登録), where a staff member scans the otpauth:// URI
// (crypto/totp.h) with an authenticator app.
//
// The symbol is encoded by libqrencode in 8-bit (byte) mode at error correction level M (15 %
// of the codewords recoverable), at the smallest version that holds the text, with no ECI:
// readers guess the character set of 8-bit data, so texts other than ASCII may be shown wrongly
// by some (otpauth URIs are ASCII, their names percent-encoded). The SVG is
//   <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 N N" role="img" aria-label="…"
//        shape-rendering="crispEdges"><rect …fill="#fff"/><path fill="#000" d="…"/></svg>
// with N = modules + 8: one unit per module and the quiet zone of 4 modules the standard asks
// for on every side. The white rectangle makes the quiet zone and light modules light on any
// page background (a dark theme would otherwise make the symbol unreadable); the one path holds
// every dark module, one subpath per horizontal run. No width or height: the page sizes it.
//
// The text of an enrolment is the TOTP secret itself, and so is the returned SVG: callers must
// not log it and should serve it with Cache-Control: no-store.
//
// Thread-safe (libqrencode is built with pthreads on Debian); keeps no state.
#ifndef CHUKAN_CONSOLE_QR_SVG_H_
#define CHUKAN_CONSOLE_QR_SVG_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace chukan::console {

// The most bytes a QR code holds in 8-bit mode at level M (version 40).
inline constexpr size_t kQrMaxBytes = 2331;

// Renders `text` (UTF-8, encoded byte for byte) as the SVG described above; `label` (UTF-8) is
// the accessible name, XML-escaped into aria-label, e.g. "二要素認証の登録用 QR コード".
// Errors: kInvalidArgument when `text` is empty, longer than kQrMaxBytes (the message names the
// limit) or not valid UTF-8, or when `label` is not valid UTF-8; kResourceExhausted when
// libqrencode cannot allocate. Does not block.
[[nodiscard]] Result<std::string> QrSvg(std::string_view text, std::string_view label);

}  // namespace chukan::console

#endif  // CHUKAN_CONSOLE_QR_SVG_H_
