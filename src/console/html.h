// Html: the console's page builder. Escapes by default: every text and attribute value passed
// in is escaped (& < > " '), and tag and attribute names can only be string literals of the
// code, so no value from a request or the store can become markup. The one way to insert
// markup is Trusted(), for markup chukan itself produced (the QR code's SVG).
//
// Pages follow one frame (Page): a <header> with the tenant, the member and the menu of the
// screens the member's roles allow, a <main>, and only external scripts and styles (the
// Content-Security-Policy forbids inline ones).
//
// Thread-compatible: one builder per response.
#ifndef CHUKAN_CONSOLE_HTML_H_
#define CHUKAN_CONSOLE_HTML_H_

#include <initializer_list>
#include <string>
#include <string_view>

namespace chukan::console {

// A tag or attribute name: only literals convert to it.
class Name {
 public:
  template <size_t N>
  consteval Name(const char (&literal)[N]) : text_(literal, N - 1) {}  // NOLINT: implicit
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

struct Attr {
  Name name;
  std::string_view value;
};

// `s` with & < > " ' replaced by character references.
std::string Escape(std::string_view s);
void AppendEscaped(std::string& out, std::string_view s);

class Html {
 public:
  // <tag attr="value"…>
  Html& Open(Name tag, std::initializer_list<Attr> attrs = {});
  Html& Close(Name tag);
  // Escaped text.
  Html& Text(std::string_view text);
  // <tag …>text</tag>
  Html& Element(Name tag, std::initializer_list<Attr> attrs, std::string_view text);
  Html& Element(Name tag, std::string_view text) { return Element(tag, {}, text); }
  // <tag …> without an end tag (input, meta, link, br).
  Html& Void(Name tag, std::initializer_list<Attr> attrs = {});
  // Markup chukan produced itself (never a value from outside).
  Html& Trusted(std::string_view markup);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Attrs(std::initializer_list<Attr> attrs);
  std::string out_;
};

}  // namespace chukan::console

#endif  // CHUKAN_CONSOLE_HTML_H_
