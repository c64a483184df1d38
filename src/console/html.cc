#include "console/html.h"

namespace chukan::console {

void AppendEscaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
}

std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  AppendEscaped(out, s);
  return out;
}

void Html::Attrs(std::initializer_list<Attr> attrs) {
  for (const Attr& a : attrs) {
    out_ += ' ';
    out_ += a.name.text();
    out_ += "=\"";
    AppendEscaped(out_, a.value);
    out_ += '"';
  }
}

Html& Html::Open(Name tag, std::initializer_list<Attr> attrs) {
  out_ += '<';
  out_ += tag.text();
  Attrs(attrs);
  out_ += '>';
  return *this;
}

Html& Html::Close(Name tag) {
  out_ += "</";
  out_ += tag.text();
  out_ += '>';
  return *this;
}

Html& Html::Text(std::string_view text) {
  AppendEscaped(out_, text);
  return *this;
}

Html& Html::Element(Name tag, std::initializer_list<Attr> attrs, std::string_view text) {
  Open(tag, attrs);
  Text(text);
  return Close(tag);
}

Html& Html::Void(Name tag, std::initializer_list<Attr> attrs) {
  out_ += '<';
  out_ += tag.text();
  Attrs(attrs);
  out_ += '>';
  return *this;
}

Html& Html::Trusted(std::string_view markup) {
  out_ += markup;
  return *this;
}

}  // namespace chukan::console
