#include "console/qr_svg.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <qrencode.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan::console {
namespace {

using ::chukan::testing::StatusIs;
using ::chukan::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

// What an authenticator app scans at enrolment (crypto/totp.h's format).
constexpr std::string_view kUri =
    "otpauth://totp/chukan%200000000000000131:tanaka?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    "&issuer=chukan%200000000000000131&algorithm=SHA1&digits=6&period=30";

// One element of the tiny XML subset the SVG is written in: elements with quoted attributes,
// no text, comments or declarations.
struct Element {
  std::string name;
  std::map<std::string, std::string> attrs;  // values as written (entities not decoded)
  std::vector<Element> children;
};

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == ':' || c == '_';
}

// An attribute value may hold '&' only as the start of one of XML's five entities.
bool ValueWellFormed(std::string_view v) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '<') return false;
    if (v[i] == '&') {
      bool known = false;
      for (std::string_view e : {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"}) {
        if (v.substr(i, e.size()) == e) known = true;
      }
      if (!known) return false;
    }
  }
  return true;
}

// Parses one element at s[pos] (and its children); nullopt on anything not well-formed.
std::optional<Element> ParseElement(std::string_view s, size_t& pos) {
  if (pos >= s.size() || s[pos] != '<') return std::nullopt;
  ++pos;
  Element e;
  while (pos < s.size() && IsNameChar(s[pos])) e.name += s[pos++];
  if (e.name.empty()) return std::nullopt;
  for (;;) {
    if (pos >= s.size()) return std::nullopt;
    if (s[pos] == ' ') {
      ++pos;
      continue;
    }
    if (s.substr(pos, 2) == "/>") {
      pos += 2;
      return e;
    }
    if (s[pos] == '>') {
      ++pos;
      break;
    }
    std::string name;
    while (pos < s.size() && IsNameChar(s[pos])) name += s[pos++];
    if (name.empty() || s.substr(pos, 2) != "=\"") return std::nullopt;
    pos += 2;
    const size_t end = s.find('"', pos);
    if (end == std::string_view::npos) return std::nullopt;
    std::string value(s.substr(pos, end - pos));
    if (!ValueWellFormed(value) || !e.attrs.emplace(name, value).second) return std::nullopt;
    pos = end + 1;
  }
  while (s.substr(pos, 2) != "</") {
    std::optional<Element> child = ParseElement(s, pos);
    if (!child) return std::nullopt;
    e.children.push_back(std::move(*child));
  }
  const std::string close = "</" + e.name + ">";
  if (s.substr(pos, close.size()) != close) return std::nullopt;
  pos += close.size();
  return e;
}

std::optional<Element> ParseDocument(std::string_view s) {
  size_t pos = 0;
  std::optional<Element> root = ParseElement(s, pos);
  if (pos != s.size()) return std::nullopt;
  return root;
}

// The dark modules the path draws, as a side × side grid (quiet zone included), from the
// subpaths "M<x> <y>h<n>v1h-<n>z" QrSvg writes; nullopt if the path is anything else or a
// module is drawn twice.
std::optional<std::vector<std::vector<bool>>> PathModules(const std::string& d, int side) {
  std::vector<std::vector<bool>> grid(side, std::vector<bool>(side, false));
  const char* p = d.c_str();
  while (*p != '\0') {
    int x = 0, y = 0, n = 0, n_back = 0, used = 0;
    if (std::sscanf(p, "M%d %dh%dv1h-%dz%n", &x, &y, &n, &n_back, &used) != 4 || used == 0 ||
        n != n_back || x < 0 || y < 0 || n < 1 || x + n > side || y >= side) {
      return std::nullopt;
    }
    for (int i = x; i < x + n; ++i) {
      if (grid[y][i]) return std::nullopt;
      grid[y][i] = true;
    }
    p += used;
  }
  return grid;
}

struct QrcodeDeleter {
  void operator()(QRcode* q) const { QRcode_free(q); }
};

// libqrencode's own matrix for `text`, with the 4-module quiet zone added around it.
std::vector<std::vector<bool>> ExpectedModules(std::string_view text, int* version) {
  std::unique_ptr<QRcode, QrcodeDeleter> qr(
      QRcode_encodeData(static_cast<int>(text.size()),
                        reinterpret_cast<const unsigned char*>(text.data()), 0, QR_ECLEVEL_M));
  if (qr == nullptr) return {};
  *version = qr->version;
  const int side = qr->width + 8;
  std::vector<std::vector<bool>> grid(side, std::vector<bool>(side, false));
  for (int y = 0; y < qr->width; ++y) {
    for (int x = 0; x < qr->width; ++x) grid[y + 4][x + 4] = (qr->data[y * qr->width + x] & 1) != 0;
  }
  return grid;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(QrSvgTest, IsOneWellFormedSvgElementWithABackgroundAndOnePath) {
  ASSERT_OK_AND_ASSIGN(std::string svg, QrSvg(kUri, "二要素認証の登録用 QR コード"));
  std::optional<Element> root = ParseDocument(svg);
  ASSERT_TRUE(root.has_value()) << svg;
  EXPECT_EQ(root->name, "svg");
  EXPECT_EQ(root->attrs["xmlns"], "http://www.w3.org/2000/svg");
  EXPECT_EQ(root->attrs["role"], "img");
  EXPECT_EQ(root->attrs["aria-label"], "二要素認証の登録用 QR コード");
  EXPECT_EQ(root->attrs["shape-rendering"], "crispEdges");
  ASSERT_EQ(root->children.size(), 2u);
  EXPECT_EQ(root->children[0].name, "rect");
  EXPECT_EQ(root->children[0].attrs["fill"], "#fff");
  EXPECT_EQ(root->children[1].name, "path");
  EXPECT_EQ(root->children[1].attrs["fill"], "#000");
  EXPECT_TRUE(root->children[0].children.empty());
  EXPECT_TRUE(root->children[1].children.empty());
}

TEST(QrSvgTest, ShortTextIsVersion1With21ModulesAndAQuietZoneOf4) {
  ASSERT_OK_AND_ASSIGN(std::string svg, QrSvg("chukan", "QR"));
  std::optional<Element> root = ParseDocument(svg);
  ASSERT_TRUE(root.has_value()) << svg;
  EXPECT_EQ(root->attrs["viewBox"], "0 0 29 29");  // 21 + 2 × 4
  EXPECT_EQ(root->children[0].attrs["width"], "29");
  EXPECT_EQ(root->children[0].attrs["height"], "29");
}

// The real check of the geometry: the path draws exactly libqrencode's dark modules, offset by
// the quiet zone, for texts of several versions (1, the enrolment URI's, and 40).
TEST(QrSvgTest, PathDrawsExactlyTheModulesOfTheSymbol) {
  const std::string longest(kQrMaxBytes, 'x');
  for (std::string_view text : {std::string_view("chukan"), kUri, std::string_view(longest)}) {
    int version = 0;
    std::vector<std::vector<bool>> expected = ExpectedModules(text, &version);
    ASSERT_FALSE(expected.empty());
    const int side = static_cast<int>(expected.size());
    EXPECT_EQ(side, 17 + 4 * version + 8);  // ISO/IEC 18004: 4V + 17 modules a side
    ASSERT_OK_AND_ASSIGN(std::string svg, QrSvg(text, "QR"));
    std::optional<Element> root = ParseDocument(svg);
    ASSERT_TRUE(root.has_value());
    EXPECT_EQ(root->attrs["viewBox"], "0 0 " + std::to_string(side) + " " + std::to_string(side));
    std::optional<std::vector<std::vector<bool>>> drawn =
        PathModules(root->children[1].attrs["d"], side);
    ASSERT_TRUE(drawn.has_value()) << "unexpected path for version " << version;
    EXPECT_EQ(*drawn, expected) << "version " << version;
  }
  int version = 0;
  ExpectedModules(kUri, &version);
  EXPECT_EQ(version, 9);  // an enrolment URI of 154 bytes: 53 × 53 modules
  ExpectedModules(longest, &version);
  EXPECT_EQ(version, 40);
}

TEST(QrSvgTest, LabelIsXmlEscaped) {
  ASSERT_OK_AND_ASSIGN(std::string svg, QrSvg("chukan", "a<b&c\"d'e>f"));
  EXPECT_THAT(svg, HasSubstr("aria-label=\"a&lt;b&amp;c&quot;d&apos;e&gt;f\""));
  EXPECT_THAT(svg, Not(HasSubstr("<b")));
  EXPECT_TRUE(ParseDocument(svg).has_value()) << svg;
}

TEST(QrSvgTest, RefusesEmptyTooLongAndInvalidText) {
  EXPECT_THAT(QrSvg("", "QR"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(QrSvg(std::string(kQrMaxBytes + 1, 'x'), "QR"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("2331 bytes")));
  EXPECT_THAT(QrSvg("\xff\xfe", "QR"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("text is not valid UTF-8")));
  EXPECT_THAT(QrSvg("chukan", "\xc3"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("label is not valid UTF-8")));
  EXPECT_THAT(QrSvg("chukan", std::string("a\x01", 2)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("control character")));
}

// The end-to-end check: an independent SVG renderer (librsvg) draws the image and an
// independent QR decoder (ZBar) reads it back to the very text — as a phone's camera would.
// qrcode.binary makes ZBar print the bytes as encoded: without it, ZBar guesses the character
// set of 8-bit data and took the Japanese text for Shift_JIS (enrolment URIs are ASCII).
TEST(QrSvgTest, RenderedImageDecodesBackToTheText) {
  const std::string rsvg = CHUKAN_RSVG_CONVERT, zbar = CHUKAN_ZBARIMG;
  if (rsvg.empty() || zbar.empty()) {
    GTEST_SKIP() << "rsvg-convert or zbarimg not found at configure time: run "
                    "scripts/install-deps (librsvg2-bin, zbar-tools) and reconfigure";
  }
  TempDir dir;
  int i = 0;
  for (std::string_view text : {kUri, std::string_view("職員 田中 <tanaka@example.jp>")}) {
    SCOPED_TRACE(std::string(text));
    ASSERT_OK_AND_ASSIGN(std::string svg, QrSvg(text, "QR"));
    const std::string base = dir.File("qr" + std::to_string(i++));
    std::ofstream(base + ".svg", std::ios::binary) << svg;
    // 8 pixels a module, as a phone would see it: large and sharp.
    const std::string render =
        "'" + rsvg + "' --zoom=8 -o '" + base + ".png' '" + base + ".svg' 2>'" + base + ".err'";
    ASSERT_EQ(std::system(render.c_str()), 0) << ReadFile(base + ".err");
    const std::string decode = "'" + zbar +
                               "' --quiet --raw -Sdisable -Sqrcode.enable -Sqrcode.binary '" +
                               base + ".png' >'" + base + ".out' 2>'" + base + ".err'";
    ASSERT_EQ(std::system(decode.c_str()), 0) << ReadFile(base + ".err");
    EXPECT_EQ(ReadFile(base + ".out"), std::string(text) + "\n");
  }
}

}  // namespace
}  // namespace chukan::console
