#include "replica_io/dbm20113_reader.h"

#include <expat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <random>

namespace chukan::replica_io {
namespace {

constexpr size_t kReadChunk = 64 << 10;
constexpr std::string_view kRoot = "SPIRegistrationDeleteList";
constexpr std::string_view kEntry = "InformationOfSPIRegistrationDelete";
constexpr std::string_view kSegment = "SegmentOfRegistrationDelete";
constexpr std::string_view kCopy = "DuplicateCopyData";
constexpr std::string_view kHeaderRoot = "IF_DBM_20113_R01";

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

}  // namespace

std::string_view Dbm20113FieldName(Dbm20113Field f) {
  const size_t i = static_cast<size_t>(f);
  return i < kDbm20113FieldCount ? kFieldNames[i] : std::string_view();
}

class Dbm20113Reader::Impl {
 public:
  Impl(ByteSource& src, Dbm20113Limits limits, Dbm20113Entry& entry)
      : src_(src), limits_(limits), entry_(entry) {
    outer_ = XML_ParserCreate("UTF-8");
    inner_ = XML_ParserCreate("UTF-8");
    salt_ = static_cast<unsigned long>(std::random_device()()) << 16 ^ std::random_device()();
    if (outer_ != nullptr) Install(outer_);
  }
  ~Impl() {
    if (outer_ != nullptr) XML_ParserFree(outer_);
    if (inner_ != nullptr) XML_ParserFree(inner_);
  }

  Result<bool> Next(std::string& list_segment, int64_t& list_segment_line) {
    if (outer_ == nullptr || inner_ == nullptr) return InternalError("expat: out of memory");
    list_segment_ = &list_segment;
    list_segment_line_ = &list_segment_line;
    arena_.clear();
    raw_items_.clear();
    entry_ready_ = false;
    if (finished_) return false;
    if (suspended_) {
      suspended_ = false;
      const XML_Status st = XML_ResumeParser(outer_);
      RETURN_IF_ERROR(Check(st));
      if (st == XML_STATUS_OK && final_passed_) finished_ = true;
    }
    while (!entry_ready_ && !finished_) {
      void* buf = XML_GetBuffer(outer_, static_cast<int>(kReadChunk));
      if (buf == nullptr) return InternalError("expat: out of memory");
      ASSIGN_OR_RETURN(size_t n, src_.Read(static_cast<char*>(buf), kReadChunk));
      final_passed_ = n == 0;
      const XML_Status st = XML_ParseBuffer(outer_, static_cast<int>(n), final_passed_);
      RETURN_IF_ERROR(Check(st));
      if (st == XML_STATUS_OK && final_passed_) finished_ = true;
    }
    if (!entry_ready_) return false;
    BuildViews();
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

  void Install(XML_Parser p) {
    XML_SetUserData(p, this);
    XML_SetElementHandler(p, &Impl::OnStart, &Impl::OnEnd);
    XML_SetCharacterDataHandler(p, &Impl::OnText);
    XML_SetStartDoctypeDeclHandler(p, &Impl::OnDoctype);
    XML_SetEntityDeclHandler(p, &Impl::OnEntityDecl);
  }

  Status Check(XML_Status st) {
    if (st != XML_STATUS_ERROR) {
      if (st == XML_STATUS_SUSPENDED) suspended_ = true;
      return Status();
    }
    if (!error_.ok()) return error_;
    const XML_Error code = XML_GetErrorCode(outer_);
    return InvalidArgumentError("line " + std::to_string(XML_GetCurrentLineNumber(outer_)) +
                                ", column " +
                                std::to_string(XML_GetCurrentColumnNumber(outer_) + 1) +
                                ": not well-formed XML (" + XML_ErrorString(code) + ")");
  }

  int64_t Line() const {
    if (in_inner_) {
      return copy_line_ + static_cast<int64_t>(XML_GetCurrentLineNumber(inner_)) - 1;
    }
    return static_cast<int64_t>(XML_GetCurrentLineNumber(outer_));
  }
  std::string Prefix(int64_t line) const {
    std::string w = "line " + std::to_string(line);
    if (in_entry_) w += ": record " + std::to_string(entry_.record);
    return w + ": ";
  }
  void Fail(Status s) {
    if (!error_.ok()) return;
    error_ = std::move(s);
    XML_StopParser(outer_, XML_FALSE);
    if (in_inner_) XML_StopParser(inner_, XML_FALSE);
  }
  void Invalid(const std::string& what) { Fail(InvalidArgumentError(Prefix(Line()) + what)); }
  void Exhausted(const std::string& what) { Fail(ResourceExhaustedError(Prefix(Line()) + what)); }
  std::string_view View(Span s) const { return std::string_view(arena_).substr(s.off, s.len); }
  Span Put(std::string_view s) {
    Span sp{arena_.size(), s.size()};
    arena_.append(s);
    return sp;
  }

  static void XMLCALL OnDoctype(void* ud, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    auto* self = static_cast<Impl*>(ud);
    self->Invalid("a DOCTYPE is not accepted (no DTD, no entities)");
  }
  static void XMLCALL OnEntityDecl(void* ud, const XML_Char*, int, const XML_Char*, int,
                                   const XML_Char*, const XML_Char*, const XML_Char*,
                                   const XML_Char*) {
    static_cast<Impl*>(ud)->Invalid("an entity declaration is not accepted");
  }

  static void XMLCALL OnStart(void* ud, const XML_Char* name, const XML_Char** atts) {
    static_cast<Impl*>(ud)->Start(name, atts);
  }
  static void XMLCALL OnEnd(void* ud, const XML_Char*) { static_cast<Impl*>(ud)->End(); }
  static void XMLCALL OnText(void* ud, const XML_Char* s, int len) {
    static_cast<Impl*>(ud)->Text(std::string_view(s, static_cast<size_t>(len)));
  }

  // Checks the element and attribute names and counts common to every element.
  bool CheckElement(std::string_view name, const XML_Char** atts) {
    if (depth_ > limits_.max_depth) {
      Exhausted("elements nested deeper than " + std::to_string(limits_.max_depth));
      return false;
    }
    if (name.size() > limits_.max_name_bytes) {
      Exhausted("an element name longer than " + std::to_string(limits_.max_name_bytes) + " bytes");
      return false;
    }
    size_t n = 0;
    for (const XML_Char** a = atts; *a != nullptr; a += 2) {
      if (++n > limits_.max_attributes) {
        Exhausted("an element with more than " + std::to_string(limits_.max_attributes) +
                  " attributes");
        return false;
      }
      if (std::strlen(a[0]) > limits_.max_name_bytes ||
          std::strlen(a[1]) > limits_.max_attribute_bytes) {
        Exhausted("an attribute longer than " + std::to_string(limits_.max_attribute_bytes) +
                  " bytes");
        return false;
      }
    }
    return true;
  }

  void Start(const XML_Char* cname, const XML_Char** atts) {
    if (!error_.ok()) return;
    ++depth_;
    const std::string_view name(cname);
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
          entry_.record = ++records_;
          entry_.line = Line();
          entry_.fields.fill(std::nullopt);
          entry_.field_lines.fill(0);
          spans_.fill(Span{});
          present_.fill(false);
          copy_seen_ = false;
          copy_root_ = Span{};
          return;
        }
        if (name == kSegment) {
          if (list_segment_seen_) return Invalid("SegmentOfRegistrationDelete appears twice");
          list_segment_seen_ = true;
          list_segment_->clear();
          *list_segment_line_ = Line();
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
        if (present_[*f]) return Invalid(std::string(kFieldNames[*f]) + " appears twice");
        field_nil_ = false;
        for (const XML_Char** a = atts; *a != nullptr; a += 2) {
          const std::string_view an(a[0]);
          if (IsNamespaceDeclaration(an)) continue;
          if (an == "xsi:nil") {
            const std::optional<bool> nil = NilValue(a[1]);
            if (!nil)
              return Invalid(std::string(kFieldNames[*f]) + ": xsi:nil is not true or false");
            field_nil_ = *nil;
            continue;
          }
          return Invalid(std::string(kFieldNames[*f]) + ": an attribute other than xsi:nil");
        }
        present_[*f] = true;
        field_ = *f;
        entry_.field_lines[*f] = Line();
        spans_[*f] = Span{arena_.size(), 0};
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

  bool RejectAttributes(const XML_Char** atts, std::string_view element) {
    for (const XML_Char** a = atts; *a != nullptr; a += 2) {
      if (!IsNamespaceDeclaration(a[0])) {
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
        if (arena_.size() - spans_[field_].off + s.size() > limits_.max_field_bytes) {
          return Exhausted(std::string(kFieldNames[field_]) + " is longer than " +
                           std::to_string(limits_.max_field_bytes) + " bytes");
        }
        arena_.append(s);
        return;
      case Where::kListSegment:
        if (list_segment_->size() + s.size() > limits_.max_field_bytes) {
          return Exhausted("SegmentOfRegistrationDelete is longer than " +
                           std::to_string(limits_.max_field_bytes) + " bytes");
        }
        list_segment_->append(s);
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
        Span& sp = spans_[field_];
        sp.len = arena_.size() - sp.off;
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
        entry_ready_ = true;
        XML_StopParser(outer_, XML_TRUE);
        return;
      case Where::kRoot:
        where_ = Where::kAfterRoot;
        return;
      default:
        return;
    }
  }

  // The CDATA form: DuplicateCopyData's text is an XML document of its own.
  void ParseEmbedded() {
    // The file was decoded as a whole before it reached the reader (record_source.cc), so an
    // embedded declaration may only name an encoding the file could have been in; expat, told
    // UTF-8, would not look.
    if (!SniffXmlDeclaredCharset(copy_text_)) {
      return Invalid(
          "DuplicateCopyData: the embedded document declares an encoding other than UTF-8 or "
          "Shift_JIS");
    }
    XML_ParserReset(inner_, "UTF-8");
    // A salt drawn once per reader: otherwise expat asks the kernel for one (getrandom) for
    // every record's embedded document.
    XML_SetHashSalt(inner_, salt_);
    Install(inner_);
    in_inner_ = true;
    const size_t saved_depth = depth_;
    depth_ = copy_depth_;
    stack_.clear();
    const XML_Status st =
        XML_Parse(inner_, copy_text_.data(), static_cast<int>(copy_text_.size()), XML_TRUE);
    if (st == XML_STATUS_ERROR && error_.ok()) {
      const XML_Error code = XML_GetErrorCode(inner_);
      Invalid(std::string("DuplicateCopyData: not well-formed XML (") + XML_ErrorString(code) +
              ")");
    }
    in_inner_ = false;
    depth_ = saved_depth;
    if (!error_.ok()) XML_StopParser(outer_, XML_FALSE);
  }

  void CopyStart(std::string_view name, const XML_Char** atts) {
    if (!in_inner_) copy_elements_ = true;
    Pending p;
    p.line = Line();
    if (stack_.empty()) {
      if (copy_root_.len != 0) {
        return Invalid("DuplicateCopyData has more than one root element");
      }
      p.is_root = true;
    } else {
      Pending& parent = stack_.back();
      if (parent.has_text) return Invalid("replica data: an element mixes text with elements");
      parent.has_children = true;
    }
    // Built only for a message: this runs for every element of the replica data.
    auto position = [this] { return "item at position " + std::to_string(raw_items_.size() + 1); };
    for (const XML_Char** a = atts; *a != nullptr; a += 2) {
      const std::string_view an(a[0]);
      const std::string_view av(a[1]);
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
    if (p.is_root) copy_root_ = p.name;
    p.text_off = arena_.size();
    stack_.push_back(p);
  }

  void CopyText(std::string_view s) {
    Pending& top = stack_.back();
    if (!AllSpace(s)) {
      if (top.has_children) return Invalid("replica data: an element mixes text with elements");
      top.has_text = true;
    }
    if (arena_.size() - top.text_off + s.size() > limits_.max_item_bytes) {
      return Exhausted("replica data, item at position " + std::to_string(raw_items_.size() + 1) +
                       ": longer than " + std::to_string(limits_.max_item_bytes) + " bytes");
    }
    arena_.append(s);
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
    if (raw_items_.size() >= limits_.max_items) {
      return Exhausted("more than " + std::to_string(limits_.max_items) + " replica items");
    }
    RawItem it;
    it.position = static_cast<int64_t>(raw_items_.size()) + 1;
    it.line = p.line;
    it.code = p.name;
    it.value = Span{p.text_off, arena_.size() - p.text_off};
    it.version = p.version;
    it.updated = p.updated;
    it.reason = p.reason;
    it.nil = p.nil;
    if (it.nil && it.value.len > 0) {
      return Invalid("replica data, item at position " + std::to_string(it.position) +
                     ": xsi:nil with a value");
    }
    raw_items_.push_back(it);
  }

  void BuildViews() {
    for (size_t i = 0; i < kDbm20113FieldCount; ++i) {
      if (present_[i]) entry_.fields[i] = View(spans_[i]);
    }
    entry_.copy_root = View(copy_root_);
    entry_.items.clear();
    entry_.items.reserve(raw_items_.size());
    for (const RawItem& r : raw_items_) {
      entry_.items.push_back(Dbm20113Item{r.position, r.line, View(r.code), View(r.value), r.nil,
                                          View(r.reason), View(r.version), View(r.updated)});
    }
  }

  ByteSource& src_;
  Dbm20113Limits limits_;
  Dbm20113Entry& entry_;
  XML_Parser outer_ = nullptr;
  XML_Parser inner_ = nullptr;
  unsigned long salt_ = 0;  // the embedded documents' hash salt (expat's flooding defence)
  Status error_;
  bool suspended_ = false;
  bool final_passed_ = false;
  bool finished_ = false;
  bool entry_ready_ = false;
  bool in_inner_ = false;
  bool in_entry_ = false;
  Where where_ = Where::kBeforeRoot;
  size_t depth_ = 0;
  int64_t records_ = 0;
  std::string arena_;  // the current entry's text; views are built once it is complete
  std::array<Span, kDbm20113FieldCount> spans_{};
  std::array<bool, kDbm20113FieldCount> present_{};
  size_t field_ = 0;
  bool field_nil_ = false;
  bool copy_seen_ = false;
  bool copy_elements_ = false;
  size_t copy_depth_ = 0;
  int64_t copy_line_ = 0;
  std::string copy_text_;
  Span copy_root_;
  std::vector<Pending> stack_;
  std::vector<RawItem> raw_items_;
  bool list_segment_seen_ = false;
  std::string* list_segment_ = nullptr;
  int64_t* list_segment_line_ = nullptr;
};

Dbm20113Reader::Dbm20113Reader(ByteSource& src, Dbm20113Limits limits)
    : impl_(std::make_unique<Impl>(src, limits, entry_)) {}

Dbm20113Reader::~Dbm20113Reader() = default;

Result<bool> Dbm20113Reader::Next() { return impl_->Next(list_segment_, list_segment_line_); }

// ---------------------------------------------------------------------------------------------
// The header file.

namespace {

struct HeaderParse {
  XML_Parser parser = nullptr;
  Dbm20113Header header;
  std::vector<std::string> path;
  std::string* target = nullptr;
  Status error;
  bool saw_root = false;

  int64_t Line() const { return static_cast<int64_t>(XML_GetCurrentLineNumber(parser)); }
  void Fail(Status s) {
    if (!error.ok()) return;
    error = std::move(s);
    XML_StopParser(parser, XML_FALSE);
  }
  void Invalid(const std::string& what) {
    Fail(InvalidArgumentError("line " + std::to_string(Line()) + ": " + what));
  }

  static void XMLCALL OnStart(void* ud, const XML_Char* name, const XML_Char**) {
    auto* self = static_cast<HeaderParse*>(ud);
    if (!self->error.ok()) return;
    const std::string_view n(name);
    self->path.emplace_back(n);
    self->target = nullptr;
    if (self->path.size() > 4) return self->Invalid("elements nested deeper than 3");
    if (self->path.size() == 1) {
      if (n == kRoot) {
        return self->Invalid(
            "this is the DBM_20113 attachment (SPIRegistrationDeleteList), not its header");
      }
      if (n != kHeaderRoot) return self->Invalid("the root element is not IF_DBM_20113_R01");
      self->saw_root = true;
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
    }
  }
  static void XMLCALL OnEnd(void* ud, const XML_Char*) {
    auto* self = static_cast<HeaderParse*>(ud);
    if (!self->path.empty()) self->path.pop_back();
    self->target = nullptr;
  }
  static void XMLCALL OnText(void* ud, const XML_Char* s, int len) {
    auto* self = static_cast<HeaderParse*>(ud);
    if (self->target == nullptr || !self->error.ok()) return;
    if (self->target->size() + static_cast<size_t>(len) > 256) {
      return self->Fail(ResourceExhaustedError("line " + std::to_string(self->Line()) +
                                               ": a header field longer than 256 bytes"));
    }
    self->target->append(s, static_cast<size_t>(len));
  }
  static void XMLCALL OnDoctype(void* ud, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<HeaderParse*>(ud)->Invalid("a DOCTYPE is not accepted (no DTD, no entities)");
  }
};

}  // namespace

Result<Dbm20113Header> ParseDbm20113Header(std::string_view xml) {
  if (xml.size() > kMaxDbm20113HeaderBytes) {
    return ResourceExhaustedError("the DBM_20113 header file is larger than 64 KiB");
  }
  HeaderParse hp;
  std::unique_ptr<XML_ParserStruct, void (*)(XML_Parser)> parser(XML_ParserCreate("UTF-8"),
                                                                 &XML_ParserFree);
  if (parser == nullptr) return InternalError("expat: out of memory");
  hp.parser = parser.get();
  XML_SetUserData(hp.parser, &hp);
  XML_SetElementHandler(hp.parser, &HeaderParse::OnStart, &HeaderParse::OnEnd);
  XML_SetCharacterDataHandler(hp.parser, &HeaderParse::OnText);
  XML_SetStartDoctypeDeclHandler(hp.parser, &HeaderParse::OnDoctype);
  const XML_Status st = XML_Parse(hp.parser, xml.data(), static_cast<int>(xml.size()), XML_TRUE);
  if (!hp.error.ok()) return hp.error;
  if (st == XML_STATUS_ERROR) {
    return InvalidArgumentError("line " + std::to_string(XML_GetCurrentLineNumber(hp.parser)) +
                                ": not well-formed XML (" +
                                XML_ErrorString(XML_GetErrorCode(hp.parser)) + ")");
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
