#include "replica_io/dbm20113_reader.h"

// parser.h first: it defines xmlChar, which dict.h uses (clang-format would sort them).
// clang-format off
#include <libxml/parser.h>
#include <libxml/dict.h>
#include <libxml/xmlerror.h>
// clang-format on

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <mutex>

namespace chukan::replica_io {
namespace {

constexpr size_t kReadChunk = 64 << 10;
constexpr std::string_view kRoot = "SPIRegistrationDeleteList";
constexpr std::string_view kEntry = "InformationOfSPIRegistrationDelete";
constexpr std::string_view kSegment = "SegmentOfRegistrationDelete";
constexpr std::string_view kCopy = "DuplicateCopyData";
constexpr std::string_view kHeaderRoot = "IF_DBM_20113_R01";
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

constexpr std::string_view kFieldNames[kDbm20113FieldCount] = {
    "SystemShikibetsuCode",
    "ShikibetsuCode",
    "KojinNo",
    "RecordIdentificationNumber",
    "IntegratedAddressNumber",
    "SpecificPersonalInformationCode",
    "DataSetIdentificationItemCode",
    "DataSetRecordKey",
    "SPIMajorVersion",
    "ParentDataSetRecordKey",
    "PublicationDate",
    "PublishedEndDate",
    "AdministrativeRegionCode",
    "SegmentOfRegistrationDelete",
};

std::optional<size_t> FieldIndex(std::string_view name) {
  for (size_t i = 0; i < kDbm20113FieldCount; ++i) {
    if (kFieldNames[i] == name) return i;
  }
  return std::nullopt;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool AllSpace(std::string_view s) { return std::all_of(s.begin(), s.end(), IsSpace); }

// xsi:nil's value: true, or false for "false"/"0"; nullopt for anything else.
std::optional<bool> NilValue(std::string_view v) {
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return std::nullopt;
}

bool IsNamespaceDeclaration(std::string_view name) {
  return name == "xmlns" || name.starts_with("xmlns:");
}

struct Span {
  size_t off = 0;
  size_t len = 0;
};

// libxml2 in SAX1 mode, used as expat was before it: qualified names ("xsi:nil"), namespace
// declarations as plain attributes, attributes as a null-terminated list of name/value pairs (or
// null when there are none).
using Chars = const xmlChar*;
using Atts = const xmlChar**;
std::string_view Sv(Chars s) {
  return s == nullptr ? std::string_view() : reinterpret_cast<const char*>(s);
}

// No network, no DTD loading, entities left unexpanded (and, with every DOCTYPE refused, none can
// be declared: a reference is an error), the declared encoding ignored (the bytes are UTF-8: a
// Shift_JIS file is decoded before it reaches the reader, and an embedded document's declaration
// repeats the file's). libxml2's own limits (XML_PARSE_HUGE off: 10 MB a text node, depth 256)
// sit above Dbm20113Limits, which the handlers enforce.
constexpr int kParseOptions = XML_PARSE_NONET | XML_PARSE_IGNORE_ENC;

// libxml2's errors are recorded in the context (xmlCtxtGetLastError); nothing is printed.
void Quiet(void*, const char*, ...) {}

void InitLibxml2Once() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

// A fixed description of libxml2's error code: its own message quotes names from the file.
// Where the parse was when libxml2 gave up: its push parser reports a document that ends inside
// the root, one without a root and text after the root with the same code.
enum class DocState { kNoRoot, kInRoot, kAfterRoot };

std::string Reason(int code, DocState state) {
  switch (code) {
    case XML_ERR_DOCUMENT_EMPTY:
      return "no element found";
    case XML_ERR_DOCUMENT_END:
    case XML_ERR_EXTRA_CONTENT:
      switch (state) {
        case DocState::kNoRoot:
          return "no element found";
        case DocState::kInRoot:
          return "the document ends inside an element";
        case DocState::kAfterRoot:
          return "junk after document element";
      }
      return "junk after document element";
    case XML_ERR_TAG_NAME_MISMATCH:
    case XML_ERR_LTSLASH_REQUIRED:
      return "mismatched tag";
    case XML_ERR_TAG_NOT_FINISHED:
      return "an element is not closed";
    case XML_ERR_GT_REQUIRED:
    case XML_ERR_LT_REQUIRED:
    case XML_ERR_ATTRIBUTE_NOT_STARTED:
    case XML_ERR_ATTRIBUTE_NOT_FINISHED:
    case XML_ERR_ATTRIBUTE_WITHOUT_VALUE:
    case XML_ERR_LITERAL_NOT_FINISHED:
    case XML_ERR_LITERAL_NOT_STARTED:
    case XML_ERR_COMMENT_NOT_FINISHED:
    case XML_ERR_PI_NOT_FINISHED:
    case XML_ERR_PI_NOT_STARTED:
    case XML_ERR_CDATA_NOT_FINISHED:
    case XML_ERR_DOCTYPE_NOT_FINISHED:
      return "unclosed token";
    case XML_ERR_ATTRIBUTE_REDEFINED:
      return "duplicate attribute";
    case XML_ERR_UNDECLARED_ENTITY:
    case XML_WAR_UNDECLARED_ENTITY:
    case XML_ERR_ENTITYREF_SEMICOL_MISSING:
    case XML_ERR_ENTITYREF_NO_NAME:
      return "undefined entity";
    case XML_ERR_INVALID_CHAR:
    case XML_ERR_INVALID_CHARREF:
    case XML_ERR_INVALID_DEC_CHARREF:
    case XML_ERR_INVALID_HEX_CHARREF:
    case XML_ERR_CHARREF_IN_DTD:
    case XML_ERR_INVALID_ENCODING:
      return "invalid character";
    case XML_ERR_XMLDECL_NOT_STARTED:
    case XML_ERR_XMLDECL_NOT_FINISHED:
    case XML_ERR_VERSION_MISSING:
    case XML_ERR_STANDALONE_VALUE:
    case XML_ERR_STRING_NOT_STARTED:
    case XML_ERR_STRING_NOT_CLOSED:
    case XML_ERR_SPACE_REQUIRED:
      return "XML declaration not well-formed";
    case XML_ERR_RESERVED_XML_NAME:
      return "XML declaration not at the start";
    case XML_ERR_NAME_REQUIRED:
    case XML_ERR_LT_IN_ATTRIBUTE:
    case XML_ERR_MISPLACED_CDATA_END:
    case XML_ERR_HYPHEN_IN_COMMENT:
      return "not well-formed (invalid token)";
    case XML_ERR_NO_MEMORY:
      return "out of memory";
    default:
      return "libxml2 error " + std::to_string(code);
  }
}

// "reason" and where libxml2 found it (line and column, 1-based, of the context's document).
struct ParseError {
  std::string reason;
  int64_t line = 0;
  int64_t column = 0;
};
ParseError LastError(xmlParserCtxtPtr ctxt, DocState state) {
  const xmlError* e = xmlCtxtGetLastError(ctxt);
  if (e == nullptr || e->code == XML_ERR_OK) {
    return ParseError{Reason(ctxt->errNo, state), ctxt->input != nullptr ? ctxt->input->line : 0,
                      0};
  }
  return ParseError{Reason(e->code, state), e->line, e->int2};
}

int64_t CurrentLine(xmlParserCtxtPtr ctxt) {
  return ctxt != nullptr && ctxt->input != nullptr ? ctxt->input->line : 0;
}

}  // namespace

std::string_view Dbm20113FieldName(Dbm20113Field f) {
  const size_t i = static_cast<size_t>(f);
  return i < kDbm20113FieldCount ? kFieldNames[i] : std::string_view();
}

class Dbm20113Reader::Impl {
 public:
  Impl(ByteSource& src, Dbm20113Limits limits) : src_(src), limits_(limits) {
    InitLibxml2Once();
    sax_.startElement = &Impl::OnStart;
    sax_.endElement = &Impl::OnEnd;
    sax_.characters = &Impl::OnText;
    sax_.ignorableWhitespace = &Impl::OnText;
    sax_.cdataBlock = &Impl::OnText;
    sax_.internalSubset = &Impl::OnDoctype;
    sax_.entityDecl = &Impl::OnEntityDecl;
    sax_.warning = &Quiet;
    sax_.error = &Quiet;
    sax_.fatalError = &Quiet;
    outer_ = NewContext();
    buf_.resize(kReadChunk);
  }
  ~Impl() {
    if (outer_ != nullptr) xmlFreeParserCtxt(outer_);
    if (inner_ != nullptr) xmlFreeParserCtxt(inner_);
  }

  // Entries are parsed a read (64 KiB) at a time and queued: libxml2's push parser cannot be
  // suspended as expat's could. The queue holds what one read completes, so memory stays bounded
  // by a read and the largest entry (Dbm20113Limits), never the file. An error found after an
  // entry completed is returned after that entry, as if the parser had stopped at each entry.
  Result<bool> Next(Dbm20113Entry& entry, std::string& list_segment, int64_t& list_segment_line) {
    if (outer_ == nullptr) return InternalError("libxml2: out of memory");
    while (ready_.empty() && error_.ok() && !finished_) {
      ASSIGN_OR_RETURN(size_t n, src_.Read(buf_.data(), buf_.size()));
      const bool last = n == 0;
      std::string_view chunk(buf_.data(), n);
      if (at_start_) {
        // A UTF-8 byte order mark is dropped here: the push parser, given no first bytes when it
        // was made, would not recognise one.
        head_.append(chunk);
        if (head_.size() < 3 && !last) continue;
        at_start_ = false;
        chunk = head_;
        if (chunk.starts_with(kUtf8Bom)) chunk.remove_prefix(kUtf8Bom.size());
      }
      xmlParseChunk(outer_, chunk.data(), static_cast<int>(chunk.size()), last ? 1 : 0);
      if (!at_start_ && !head_.empty()) std::string().swap(head_);
      if (error_.ok() && !outer_->wellFormed) {
        const ParseError e = LastError(outer_, where_ == Where::kBeforeRoot  ? DocState::kNoRoot
                                               : where_ == Where::kAfterRoot ? DocState::kAfterRoot
                                                                             : DocState::kInRoot);
        error_ = InvalidArgumentError("line " + std::to_string(e.line) + ", column " +
                                      std::to_string(e.column) + ": not well-formed XML (" +
                                      e.reason + ")");
      }
      if (last) finished_ = true;
    }
    if (ready_.empty()) {
      if (!error_.ok()) return error_;
      list_segment = list_segment_;
      list_segment_line = list_segment_line_;
      return false;
    }
    pool_.push_back(std::move(delivered_));
    delivered_ = std::move(ready_.front());
    ready_.pop_front();
    list_segment = delivered_.list_segment;
    list_segment_line = delivered_.list_segment_line;
    BuildViews(delivered_, entry);
    return true;
  }

 private:
  enum class Where { kBeforeRoot, kRoot, kEntry, kField, kCopy, kListSegment, kAfterRoot };

  // An element of the replica data whose kind (item or group) is known only at its end.
  struct Pending {
    Span name;
    Span version, updated, reason;
    bool nil = false;
    bool is_root = false;
    bool has_children = false;
    bool has_text = false;  // non-whitespace text
    size_t text_off = 0;
    int64_t line = 0;
  };
  struct RawItem {
    int64_t position = 0;
    int64_t line = 0;
    Span code, value, version, updated, reason;
    bool nil = false;
  };
  // One entry as parsed: its text in `arena`, positions into it.
  struct Parsed {
    int64_t record = 0;
    int64_t line = 0;
    std::array<int64_t, kDbm20113FieldCount> field_lines{};
    std::array<Span, kDbm20113FieldCount> spans{};
    std::array<bool, kDbm20113FieldCount> present{};
    Span copy_root;
    std::string arena;
    std::vector<RawItem> raw_items;
    std::string list_segment;  // the list's SegmentOfRegistrationDelete as of the entry's end
    int64_t list_segment_line = 0;

    void Clear() {
      field_lines.fill(0);
      spans.fill(Span{});
      present.fill(false);
      copy_root = Span{};
      arena.clear();
      raw_items.clear();
    }
  };

  xmlParserCtxtPtr NewContext() {
    xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(&sax_, this, nullptr, 0, nullptr);
    if (ctxt != nullptr) xmlCtxtUseOptions(ctxt, kParseOptions);
    return ctxt;
  }

  int64_t Line() const {
    if (in_inner_) return copy_line_ + CurrentLine(inner_) - 1;
    return CurrentLine(outer_);
  }
  std::string Prefix(int64_t line) const {
    std::string w = "line " + std::to_string(line);
    if (in_entry_) w += ": record " + std::to_string(cur_.record);
    return w + ": ";
  }
  void Fail(Status s) {
    if (!error_.ok()) return;
    error_ = std::move(s);
    xmlStopParser(outer_);
    if (in_inner_) xmlStopParser(inner_);
  }
  void Invalid(const std::string& what) { Fail(InvalidArgumentError(Prefix(Line()) + what)); }
  void Exhausted(const std::string& what) { Fail(ResourceExhaustedError(Prefix(Line()) + what)); }
  Span Put(std::string_view s) {
    Span sp{cur_.arena.size(), s.size()};
    cur_.arena.append(s);
    return sp;
  }

  static void OnDoctype(void* ud, Chars, Chars, Chars) {
    static_cast<Impl*>(ud)->Invalid("a DOCTYPE is not accepted (no DTD, no entities)");
  }
  static void OnEntityDecl(void* ud, Chars, int, Chars, Chars, xmlChar*) {
    static_cast<Impl*>(ud)->Invalid("an entity declaration is not accepted");
  }
  static void OnStart(void* ud, Chars name, Atts atts) {
    static_cast<Impl*>(ud)->Start(Sv(name), atts);
  }
  static void OnEnd(void* ud, Chars) { static_cast<Impl*>(ud)->End(); }
  static void OnText(void* ud, Chars s, int len) {
    static_cast<Impl*>(ud)->Text(
        std::string_view(reinterpret_cast<const char*>(s), static_cast<size_t>(len)));
  }

  // Checks the element and attribute names and counts common to every element.
  bool CheckElement(std::string_view name, Atts atts) {
    if (depth_ > limits_.max_depth) {
      Exhausted("elements nested deeper than " + std::to_string(limits_.max_depth));
      return false;
    }
    if (name.size() > limits_.max_name_bytes) {
      Exhausted("an element name longer than " + std::to_string(limits_.max_name_bytes) + " bytes");
      return false;
    }
    size_t n = 0;
    for (Atts a = atts; a != nullptr && *a != nullptr; a += 2) {
      if (++n > limits_.max_attributes) {
        Exhausted("an element with more than " + std::to_string(limits_.max_attributes) +
                  " attributes");
        return false;
      }
      if (Sv(a[0]).size() > limits_.max_name_bytes ||
          Sv(a[1]).size() > limits_.max_attribute_bytes) {
        Exhausted("an attribute longer than " + std::to_string(limits_.max_attribute_bytes) +
                  " bytes");
        return false;
      }
    }
    return true;
  }

  void Start(std::string_view name, Atts atts) {
    if (!error_.ok()) return;
    ++depth_;
    if (!CheckElement(name, atts)) return;
    if (where_ == Where::kCopy) return CopyStart(name, atts);
    switch (where_) {
      case Where::kBeforeRoot:
        if (name == kHeaderRoot) {
          return Invalid(
              "this is the DBM_20113 header file (IF_DBM_20113_R01); send its attachment "
              "(DBM_20113_ATTACH, root SPIRegistrationDeleteList)");
        }
        if (name != kRoot) return Invalid("the root element is not SPIRegistrationDeleteList");
        where_ = Where::kRoot;
        return;
      case Where::kRoot:
        if (name == kEntry) {
          where_ = Where::kEntry;
          in_entry_ = true;
          if (!pool_.empty()) {
            cur_ = std::move(pool_.back());
            pool_.pop_back();
          }
          cur_.Clear();
          cur_.record = ++records_;
          cur_.line = Line();
          copy_seen_ = false;
          return;
        }
        if (name == kSegment) {
          if (list_segment_seen_) return Invalid("SegmentOfRegistrationDelete appears twice");
          list_segment_seen_ = true;
          list_segment_.clear();
          list_segment_line_ = Line();
          where_ = Where::kListSegment;
          return;
        }
        return Invalid(
            "an element under SPIRegistrationDeleteList that is neither "
            "InformationOfSPIRegistrationDelete nor SegmentOfRegistrationDelete");
      case Where::kEntry: {
        if (name == kCopy) {
          if (copy_seen_) return Invalid("DuplicateCopyData appears twice");
          if (!RejectAttributes(atts, "DuplicateCopyData")) return;
          copy_seen_ = true;
          where_ = Where::kCopy;
          copy_depth_ = depth_;
          copy_line_ = Line();
          copy_text_.clear();
          copy_elements_ = false;
          stack_.clear();
          return;
        }
        const std::optional<size_t> f = FieldIndex(name);
        if (!f)
          return Invalid("an element that is not a field of InformationOfSPIRegistrationDelete");
        if (cur_.present[*f]) return Invalid(std::string(kFieldNames[*f]) + " appears twice");
        field_nil_ = false;
        for (Atts a = atts; a != nullptr && *a != nullptr; a += 2) {
          const std::string_view an = Sv(a[0]);
          if (IsNamespaceDeclaration(an)) continue;
          if (an == "xsi:nil") {
            const std::optional<bool> nil = NilValue(Sv(a[1]));
            if (!nil)
              return Invalid(std::string(kFieldNames[*f]) + ": xsi:nil is not true or false");
            field_nil_ = *nil;
            continue;
          }
          return Invalid(std::string(kFieldNames[*f]) + ": an attribute other than xsi:nil");
        }
        cur_.present[*f] = true;
        field_ = *f;
        cur_.field_lines[*f] = Line();
        cur_.spans[*f] = Span{cur_.arena.size(), 0};
        where_ = Where::kField;
        return;
      }
      case Where::kField:
        return Invalid(std::string(kFieldNames[field_]) + " has child elements");
      case Where::kListSegment:
        return Invalid("SegmentOfRegistrationDelete has child elements");
      case Where::kAfterRoot:
      case Where::kCopy:
        return Invalid("an element after the root element");
    }
  }

  bool RejectAttributes(Atts atts, std::string_view element) {
    for (Atts a = atts; a != nullptr && *a != nullptr; a += 2) {
      if (!IsNamespaceDeclaration(Sv(a[0]))) {
        Invalid(std::string(element) + ": an attribute that DBM_20113 does not define");
        return false;
      }
    }
    return true;
  }

  void Text(std::string_view s) {
    if (!error_.ok()) return;
    switch (where_) {
      case Where::kField:
        if (cur_.arena.size() - cur_.spans[field_].off + s.size() > limits_.max_field_bytes) {
          return Exhausted(std::string(kFieldNames[field_]) + " is longer than " +
                           std::to_string(limits_.max_field_bytes) + " bytes");
        }
        cur_.arena.append(s);
        return;
      case Where::kListSegment:
        if (list_segment_.size() + s.size() > limits_.max_field_bytes) {
          return Exhausted("SegmentOfRegistrationDelete is longer than " +
                           std::to_string(limits_.max_field_bytes) + " bytes");
        }
        list_segment_.append(s);
        return;
      case Where::kCopy:
        if (stack_.empty()) {
          if (in_inner_) {
            if (!AllSpace(s)) Invalid("DuplicateCopyData: text outside the replica data's root");
            return;
          }
          if (copy_text_.size() + s.size() > limits_.max_copy_bytes) {
            return Exhausted("DuplicateCopyData is longer than " +
                             std::to_string(limits_.max_copy_bytes) + " bytes");
          }
          copy_text_.append(s);
          return;
        }
        return CopyText(s);
      default:
        if (!AllSpace(s)) Invalid("text outside a field");
        return;
    }
  }

  void End() {
    if (!error_.ok()) return;
    if (where_ == Where::kCopy && (in_inner_ || depth_ > copy_depth_)) {
      CopyEnd();
      --depth_;
      return;
    }
    --depth_;
    switch (where_) {
      case Where::kCopy:  // DuplicateCopyData ends
        if (!AllSpace(copy_text_)) {
          if (copy_elements_) return Invalid("DuplicateCopyData mixes text with elements");
          ParseEmbedded();
        }
        where_ = Where::kEntry;
        return;
      case Where::kField: {
        Span& sp = cur_.spans[field_];
        sp.len = cur_.arena.size() - sp.off;
        if (field_nil_ && sp.len > 0) {
          return Invalid(std::string(kFieldNames[field_]) + ": xsi:nil with a value");
        }
        where_ = Where::kEntry;
        return;
      }
      case Where::kListSegment:
        where_ = Where::kRoot;
        return;
      case Where::kEntry:
        where_ = Where::kRoot;
        in_entry_ = false;
        cur_.list_segment = list_segment_;
        cur_.list_segment_line = list_segment_line_;
        ready_.push_back(std::move(cur_));
        cur_ = Parsed{};
        return;
      case Where::kRoot:
        where_ = Where::kAfterRoot;
        return;
      default:
        return;
    }
  }

  // The CDATA form: DuplicateCopyData's text is an XML document of its own, parsed by a second
  // context reset for every record (libxml2 keeps the names it has seen in the context's
  // dictionary: past kInnerNameBudget of them the context is made anew, so a file of ever new
  // element names cannot grow it without bound).
  void ParseEmbedded() {
    // The file was decoded as a whole before it reached the reader (record_source.cc), so an
    // embedded declaration may only name an encoding the file could have been in; libxml2,
    // told to ignore it, would not look.
    if (!SniffXmlDeclaredCharset(copy_text_)) {
      return Invalid(
          "DuplicateCopyData: the embedded document declares an encoding other than UTF-8 or "
          "Shift_JIS");
    }
    constexpr size_t kInnerNameBudget = 16384;
    if (inner_ != nullptr && static_cast<size_t>(xmlDictSize(inner_->dict)) > kInnerNameBudget) {
      xmlFreeParserCtxt(inner_);
      inner_ = nullptr;
    }
    if (inner_ == nullptr) {
      inner_ = NewContext();
      if (inner_ == nullptr) return Fail(InternalError("libxml2: out of memory"));
    } else {
      xmlCtxtResetPush(inner_, nullptr, 0, nullptr, nullptr);
      xmlCtxtUseOptions(inner_, kParseOptions);
    }
    in_inner_ = true;
    const size_t saved_depth = depth_;
    depth_ = copy_depth_;
    stack_.clear();
    std::string_view doc = copy_text_;
    if (doc.starts_with(kUtf8Bom)) doc.remove_prefix(kUtf8Bom.size());
    xmlParseChunk(inner_, doc.data(), static_cast<int>(doc.size()), 1);
    if (error_.ok() && !inner_->wellFormed) {
      const ParseError e = LastError(inner_, !stack_.empty()           ? DocState::kInRoot
                                             : cur_.copy_root.len == 0 ? DocState::kNoRoot
                                                                       : DocState::kAfterRoot);
      Fail(InvalidArgumentError(Prefix(copy_line_ + e.line - 1) +
                                "DuplicateCopyData: not well-formed XML (" + e.reason + ")"));
    }
    in_inner_ = false;
    depth_ = saved_depth;
  }

  void CopyStart(std::string_view name, Atts atts) {
    if (!in_inner_) copy_elements_ = true;
    Pending p;
    p.line = Line();
    if (stack_.empty()) {
      if (cur_.copy_root.len != 0) {
        return Invalid("DuplicateCopyData has more than one root element");
      }
      p.is_root = true;
    } else {
      Pending& parent = stack_.back();
      if (parent.has_text) return Invalid("replica data: an element mixes text with elements");
      parent.has_children = true;
    }
    // Built only for a message: this runs for every element of the replica data.
    auto position = [this] {
      return "item at position " + std::to_string(cur_.raw_items.size() + 1);
    };
    for (Atts a = atts; a != nullptr && *a != nullptr; a += 2) {
      const std::string_view an = Sv(a[0]);
      const std::string_view av = Sv(a[1]);
      if (IsNamespaceDeclaration(an)) continue;
      if (an == "Version") {
        p.version = Put(av);
      } else if (an == "TimeAndDateOfUpdate") {
        p.updated = Put(av);
      } else if (an == "ReasonOfNull") {
        p.reason = Put(av);
      } else if (an == "xsi:nil") {
        const std::optional<bool> nil = NilValue(av);
        if (!nil) return Invalid("replica data, " + position() + ": xsi:nil is not true or false");
        p.nil = *nil;
      } else {
        return Invalid("replica data, " + position() +
                       ": an attribute other than Version, TimeAndDateOfUpdate, ReasonOfNull and "
                       "xsi:nil");
      }
    }
    p.name = Put(name);
    if (p.is_root) cur_.copy_root = p.name;
    p.text_off = cur_.arena.size();
    stack_.push_back(p);
  }

  void CopyText(std::string_view s) {
    Pending& top = stack_.back();
    if (!AllSpace(s)) {
      if (top.has_children) return Invalid("replica data: an element mixes text with elements");
      top.has_text = true;
    }
    if (cur_.arena.size() - top.text_off + s.size() > limits_.max_item_bytes) {
      return Exhausted("replica data, item at position " +
                       std::to_string(cur_.raw_items.size() + 1) + ": longer than " +
                       std::to_string(limits_.max_item_bytes) + " bytes");
    }
    cur_.arena.append(s);
  }

  void CopyEnd() {
    if (stack_.empty()) return;
    Pending p = stack_.back();
    stack_.pop_back();
    if (p.is_root) {
      if (p.has_text) return Invalid("replica data: the root element has text");
      return;
    }
    if (p.has_children) return;  // a group (繰返し) wrapper: its items were taken one by one
    if (cur_.raw_items.size() >= limits_.max_items) {
      return Exhausted("more than " + std::to_string(limits_.max_items) + " replica items");
    }
    RawItem it;
    it.position = static_cast<int64_t>(cur_.raw_items.size()) + 1;
    it.line = p.line;
    it.code = p.name;
    it.value = Span{p.text_off, cur_.arena.size() - p.text_off};
    it.version = p.version;
    it.updated = p.updated;
    it.reason = p.reason;
    it.nil = p.nil;
    if (it.nil && it.value.len > 0) {
      return Invalid("replica data, item at position " + std::to_string(it.position) +
                     ": xsi:nil with a value");
    }
    cur_.raw_items.push_back(it);
  }

  static void BuildViews(const Parsed& p, Dbm20113Entry& entry) {
    auto view = [&p](Span s) { return std::string_view(p.arena).substr(s.off, s.len); };
    entry.record = p.record;
    entry.line = p.line;
    entry.field_lines = p.field_lines;
    for (size_t i = 0; i < kDbm20113FieldCount; ++i) {
      entry.fields[i] =
          p.present[i] ? std::optional<std::string_view>(view(p.spans[i])) : std::nullopt;
    }
    entry.copy_root = view(p.copy_root);
    entry.items.clear();
    entry.items.reserve(p.raw_items.size());
    for (const RawItem& r : p.raw_items) {
      entry.items.push_back(Dbm20113Item{r.position, r.line, view(r.code), view(r.value), r.nil,
                                         view(r.reason), view(r.version), view(r.updated)});
    }
  }

  ByteSource& src_;
  Dbm20113Limits limits_;
  xmlSAXHandler sax_{};  // SAX1: `initialized` stays 0
  xmlParserCtxtPtr outer_ = nullptr;
  xmlParserCtxtPtr inner_ = nullptr;
  std::vector<char> buf_;
  bool at_start_ = true;  // no byte given to the parser yet
  std::string head_;      // the file's first bytes, until there are three (a BOM's length)
  Status error_;
  bool finished_ = false;
  bool in_inner_ = false;
  bool in_entry_ = false;
  Where where_ = Where::kBeforeRoot;
  size_t depth_ = 0;
  int64_t records_ = 0;
  Parsed cur_;                // the entry being parsed
  std::deque<Parsed> ready_;  // entries parsed, not yet returned
  Parsed delivered_;          // the entry the caller's views point into
  std::vector<Parsed> pool_;  // spent entries, their buffers reused
  size_t field_ = 0;
  bool field_nil_ = false;
  bool copy_seen_ = false;
  bool copy_elements_ = false;
  size_t copy_depth_ = 0;
  int64_t copy_line_ = 0;
  std::string copy_text_;
  std::vector<Pending> stack_;
  bool list_segment_seen_ = false;
  std::string list_segment_;
  int64_t list_segment_line_ = 0;
};

Dbm20113Reader::Dbm20113Reader(ByteSource& src, Dbm20113Limits limits)
    : impl_(std::make_unique<Impl>(src, limits)) {}

Dbm20113Reader::~Dbm20113Reader() = default;

Result<bool> Dbm20113Reader::Next() {
  return impl_->Next(entry_, list_segment_, list_segment_line_);
}

// ---------------------------------------------------------------------------------------------
// The header file.

namespace {

struct HeaderParse {
  xmlParserCtxtPtr ctxt = nullptr;
  Dbm20113Header header;
  std::vector<std::string> path;
  std::string* target = nullptr;
  std::vector<const std::string*> seen;  // the fields read so far: each may appear once
  Status error;

  int64_t Line() const { return CurrentLine(ctxt); }
  void Fail(Status s) {
    if (!error.ok()) return;
    error = std::move(s);
    xmlStopParser(ctxt);
  }
  void Invalid(const std::string& what) {
    Fail(InvalidArgumentError("line " + std::to_string(Line()) + ": " + what));
  }

  static void OnStart(void* ud, Chars name, Atts) {
    auto* self = static_cast<HeaderParse*>(ud);
    if (!self->error.ok()) return;
    const std::string_view n = Sv(name);
    self->path.emplace_back(n);
    self->target = nullptr;
    if (self->path.size() > 4) return self->Invalid("elements nested deeper than 3");
    if (self->path.size() == 1) {
      if (n == kRoot) {
        return self->Invalid(
            "this is the DBM_20113 attachment (SPIRegistrationDeleteList), not its header");
      }
      if (n != kHeaderRoot) return self->Invalid("the root element is not IF_DBM_20113_R01");
      return;
    }
    if (self->path.size() == 3) {
      Dbm20113Header& h = self->header;
      const std::string& parent = self->path[1];
      if (parent == "MessageHeader") {
        if (n == "MsgTypeId") self->target = &h.msg_type_id;
        if (n == "MsgMode") self->target = &h.msg_mode;
        if (n == "SourceSystemID") self->target = &h.source_system_id;
        if (n == "DestinationSystemID") self->target = &h.destination_system_id;
      } else if (parent == "MessageBody") {
        if (n == "RequestSourceUnitCode") self->target = &h.request_unit_code;
        if (n == "RequestSourceUserID") self->target = &h.request_user_id;
      }
      // A field given twice was read as the two texts run together (found by
      // fuzz/dbm20113_header_fuzz.cc); which one the sender meant cannot be known.
      if (self->target != nullptr) {
        if (std::find(self->seen.begin(), self->seen.end(), self->target) != self->seen.end()) {
          return self->Invalid(parent + "/" + std::string(n) + " appears more than once");
        }
        self->seen.push_back(self->target);
      }
    }
  }
  static void OnEnd(void* ud, Chars) {
    auto* self = static_cast<HeaderParse*>(ud);
    if (!self->path.empty()) self->path.pop_back();
    self->target = nullptr;
  }
  static void OnText(void* ud, Chars s, int len) {
    auto* self = static_cast<HeaderParse*>(ud);
    if (self->target == nullptr || !self->error.ok()) return;
    if (self->target->size() + static_cast<size_t>(len) > 256) {
      return self->Fail(ResourceExhaustedError("line " + std::to_string(self->Line()) +
                                               ": a header field longer than 256 bytes"));
    }
    self->target->append(reinterpret_cast<const char*>(s), static_cast<size_t>(len));
  }
  static void OnDoctype(void* ud, Chars, Chars, Chars) {
    static_cast<HeaderParse*>(ud)->Invalid("a DOCTYPE is not accepted (no DTD, no entities)");
  }
};

}  // namespace

Result<Dbm20113Header> ParseDbm20113Header(std::string_view xml) {
  if (xml.size() > kMaxDbm20113HeaderBytes) {
    return ResourceExhaustedError("the DBM_20113 header file is larger than 64 KiB");
  }
  InitLibxml2Once();
  HeaderParse hp;
  xmlSAXHandler sax{};
  sax.startElement = &HeaderParse::OnStart;
  sax.endElement = &HeaderParse::OnEnd;
  sax.characters = &HeaderParse::OnText;
  sax.ignorableWhitespace = &HeaderParse::OnText;
  sax.cdataBlock = &HeaderParse::OnText;
  sax.internalSubset = &HeaderParse::OnDoctype;
  sax.warning = &Quiet;
  sax.error = &Quiet;
  sax.fatalError = &Quiet;
  std::unique_ptr<xmlParserCtxt, void (*)(xmlParserCtxtPtr)> ctxt(
      xmlCreatePushParserCtxt(&sax, &hp, nullptr, 0, nullptr), &xmlFreeParserCtxt);
  if (ctxt == nullptr) return InternalError("libxml2: out of memory");
  xmlCtxtUseOptions(ctxt.get(), kParseOptions);
  hp.ctxt = ctxt.get();
  if (xml.starts_with(kUtf8Bom)) xml.remove_prefix(kUtf8Bom.size());
  xmlParseChunk(hp.ctxt, xml.data(), static_cast<int>(xml.size()), 1);
  if (!hp.error.ok()) return hp.error;
  if (!hp.ctxt->wellFormed) {
    const ParseError e =
        LastError(hp.ctxt, hp.path.empty() ? DocState::kAfterRoot : DocState::kInRoot);
    return InvalidArgumentError("line " + std::to_string(e.line) + ": not well-formed XML (" +
                                e.reason + ")");
  }
  const Dbm20113Header& h = hp.header;
  if (h.msg_type_id != kHeaderRoot) {
    return InvalidArgumentError("MessageHeader/MsgTypeId: expected IF_DBM_20113_R01");
  }
  if (h.msg_mode != "0" && h.msg_mode != "1") {
    return InvalidArgumentError("MessageHeader/MsgMode: expected 0 (本番) or 1 (テスト)");
  }
  return hp.header;
}

std::optional<std::string_view> SniffXmlDeclaredCharset(std::string_view head) {
  if (head.starts_with("\xEF\xBB\xBF")) head.remove_prefix(3);
  if (!head.starts_with("<?xml")) return "utf-8";
  const size_t end = head.find("?>");
  std::string_view decl = head.substr(0, end);
  const size_t enc = decl.find("encoding");
  if (enc == std::string_view::npos) return "utf-8";
  decl.remove_prefix(enc + 8);
  while (!decl.empty() && (IsSpace(decl.front()) || decl.front() == '=')) decl.remove_prefix(1);
  if (decl.empty() || (decl.front() != '"' && decl.front() != '\'')) return std::nullopt;
  const char quote = decl.front();
  decl.remove_prefix(1);
  const size_t close = decl.find(quote);
  if (close == std::string_view::npos) return std::nullopt;
  std::string name(decl.substr(0, close));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "utf-8" || name == "utf8") return "utf-8";
  if (name == "shift_jis" || name == "shift-jis" || name == "sjis" || name == "windows-31j" ||
      name == "cp932" || name == "ms932" || name == "x-sjis") {
    return "shift_jis";
  }
  return std::nullopt;
}

}  // namespace chukan::replica_io
