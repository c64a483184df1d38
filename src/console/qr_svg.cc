#include "console/qr_svg.h"

#include <qrencode.h>

#include <cerrno>
#include <memory>

#include "common/utf8.h"

namespace chukan::console {
namespace {

constexpr int kQuietZone = 4;  // modules of light margin on every side (ISO/IEC 18004 §6.3.8)

struct QrcodeDeleter {
  void operator()(QRcode* q) const { QRcode_free(q); }
};
using QrcodePtr = std::unique_ptr<QRcode, QrcodeDeleter>;

// Escapes the five characters XML gives meaning to, so that the text fits in an attribute value.
std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

Result<std::string> QrSvg(std::string_view text, std::string_view label) {
  if (text.empty()) return InvalidArgumentError("QR code: the text is empty");
  if (text.size() > kQrMaxBytes) {
    return InvalidArgumentError("QR code: the text is " + std::to_string(text.size()) +
                                " bytes, more than the " + std::to_string(kQrMaxBytes) +
                                " bytes a QR code holds (8-bit mode, error correction M)");
  }
  if (!IsValidUtf8(text)) return InvalidArgumentError("QR code: the text is not valid UTF-8");
  if (!IsValidUtf8(label)) return InvalidArgumentError("QR code: the label is not valid UTF-8");
  // Control characters other than tab, LF and CR are not allowed in XML 1.0 at all, escaped or
  // not; a label never needs them.
  for (char c : label) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') {
      return InvalidArgumentError("QR code: the label holds a control character");
    }
  }

  errno = 0;
  QrcodePtr qr(QRcode_encodeData(static_cast<int>(text.size()),
                                 reinterpret_cast<const unsigned char*>(text.data()),
                                 /*version=*/0, QR_ECLEVEL_M));
  if (qr == nullptr) {
    if (errno == ERANGE) {
      return InvalidArgumentError("QR code: the text does not fit in a QR code (at most " +
                                  std::to_string(kQrMaxBytes) + " bytes)");
    }
    if (errno == ENOMEM) return ResourceExhaustedError("QR code: libqrencode: out of memory");
    return InternalError("QR code: libqrencode failed (errno " + std::to_string(errno) + ")");
  }

  const int width = qr->width;
  const std::string side = std::to_string(width + 2 * kQuietZone);
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + side + " " + side +
                    "\" role=\"img\" aria-label=\"" + XmlEscape(label) +
                    "\" shape-rendering=\"crispEdges\"><rect width=\"" + side + "\" height=\"" +
                    side + "\" fill=\"#fff\"/><path fill=\"#000\" d=\"";
  // Bit 0 of each byte of qr->data is the module's colour (1 dark); the other bits tell what
  // the module is part of, which the image does not need.
  for (int y = 0; y < width; ++y) {
    const unsigned char* row = qr->data + static_cast<ptrdiff_t>(y) * width;
    for (int x = 0; x < width;) {
      if ((row[x] & 1) == 0) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < width && (row[x + run] & 1) != 0) ++run;
      svg += "M" + std::to_string(x + kQuietZone) + " " + std::to_string(y + kQuietZone) + "h" +
             std::to_string(run) + "v1h-" + std::to_string(run) + "z";
      x += run;
    }
  }
  svg += "\"/></svg>";
  return svg;
}

}  // namespace chukan::console
