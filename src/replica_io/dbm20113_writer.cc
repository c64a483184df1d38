#include "replica_io/dbm20113_writer.h"

namespace chukan::replica_io {

void AppendXmlEscaped(std::string& out, std::string_view s) {
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char* rep = nullptr;
    switch (s[i]) {
      case '&':
        rep = "&amp;";
        break;
      case '<':
        rep = "&lt;";
        break;
      case '>':
        rep = "&gt;";  // also keeps "]]>" out of the CDATA section that holds the replica data
        break;
      case '"':
        rep = "&quot;";
        break;
      case '\'':
        rep = "&apos;";
        break;
      case '\r':
        rep = "&#13;";  // XML would turn a bare CR into LF
        break;
      case '\n':
        rep = "&#10;";  // in an attribute value XML would turn it into a space
        break;
      case '\t':
        rep = "&#9;";
        break;
      default:
        continue;
    }
    out.append(s.substr(start, i - start));
    out.append(rep);
    start = i + 1;
  }
  out.append(s.substr(start));
}

void AppendDbm20113Head(std::string& out) {
  out.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SPIRegistrationDeleteList>\n");
}

void AppendDbm20113Entry(std::string& out, const Dbm20113EntryOut& e) {
  out.append("  <InformationOfSPIRegistrationDelete>\n");
  auto field = [&](Dbm20113Field f) {
    const auto& v = e.fields[static_cast<size_t>(f)];
    if (!v || f == Dbm20113Field::kKojinNo) return;
    const std::string_view name = Dbm20113FieldName(f);
    out.append("    <").append(name).append(">");
    AppendXmlEscaped(out, *v);
    out.append("</").append(name).append(">\n");
  };
  for (size_t i = 0; i < kDbm20113FieldCount; ++i) {
    const auto f = static_cast<Dbm20113Field>(i);
    if (f == Dbm20113Field::kSegmentOfRegistrationDelete) continue;  // after the replica data
    field(f);
  }
  out.append("    <DuplicateCopyData><![CDATA[<?xml version=\"1.0\" encoding=\"utf-8\"?><");
  out.append(e.copy_root).append(">");
  for (const Dbm20113ItemOut& it : e.items) {
    out.append("<").append(it.code);
    if (!it.version.empty()) {
      out.append(" Version=\"");
      AppendXmlEscaped(out, it.version);
      out.append("\"");
    }
    if (!it.updated.empty()) {
      out.append(" TimeAndDateOfUpdate=\"");
      AppendXmlEscaped(out, it.updated);
      out.append("\"");
    }
    if (!it.nil && !it.reason_of_null.empty()) {
      // A reason given with a value (the reader takes it; a business system may write one):
      // kept, so that export = input holds for it too (found by the fuzz target's round trip).
      out.append(" ReasonOfNull=\"");
      AppendXmlEscaped(out, it.reason_of_null);
      out.append("\"");
    }
    if (it.nil) {
      out.append(" ReasonOfNull=\"");
      AppendXmlEscaped(out, it.reason_of_null);
      out.append("\" xsi:nil=\"true\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>");
      continue;
    }
    out.append(">");
    AppendXmlEscaped(out, it.value);
    out.append("</").append(it.code).append(">");
  }
  out.append("</").append(e.copy_root).append(">]]></DuplicateCopyData>\n");
  field(Dbm20113Field::kSegmentOfRegistrationDelete);
  out.append("  </InformationOfSPIRegistrationDelete>\n");
}

void AppendDbm20113Tail(std::string& out) {
  out.append("  <SegmentOfRegistrationDelete>1</SegmentOfRegistrationDelete>\n");
  out.append("</SPIRegistrationDeleteList>\n");
}

}  // namespace chukan::replica_io
