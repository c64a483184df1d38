#include "json/json.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/log.h"
#include "json/sax_reader.h"

namespace chukan::json {

using nlohmann::json;

struct JsonObject::Impl {
  std::shared_ptr<const json> root;  // keeps the document alive for nested objects
  const json* node = nullptr;        // an object inside *root
  std::string prefix;                // "outer." for nested objects

  // (A nested class reaches JsonObject's private members.)
  static JsonObject Make(std::unique_ptr<Impl> impl) { return JsonObject(std::move(impl)); }
  static const json& Root(const JsonObject& o) { return *o.impl_->root; }
};

namespace {

Status FieldError(const JsonObject::Impl& impl, std::string_view field, std::string_view what) {
  return InvalidArgumentError("field \"" + impl.prefix + std::string(field) +
                              "\": " + std::string(what));
}

// Returns the value of `field`, or nullptr if absent or null.
const json* Lookup(const JsonObject::Impl& impl, std::string_view field) {
  auto it = impl.node->find(field);
  if (it == impl.node->end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

JsonObject::JsonObject(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonObject::~JsonObject() = default;
JsonObject::JsonObject(const JsonObject& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
JsonObject& JsonObject::operator=(const JsonObject& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
JsonObject::JsonObject(JsonObject&&) noexcept = default;
JsonObject& JsonObject::operator=(JsonObject&&) noexcept = default;

namespace {

// Builds the tree ReadSax reads, with ParseJsonObject's rules: containers nested at most
// `max_depth`, no duplicate key, no U+0000 in a string or key. It stops (false) at the first
// break of one, and ParseJsonObject then reads the text with nlohmann, which names the error.
class TreeBuilder {
 public:
  explicit TreeBuilder(int max_depth) : max_depth_(static_cast<size_t>(max_depth)) {}

  bool null() { return Put(json(nullptr)) != nullptr; }
  bool boolean(bool b) { return Put(json(b)) != nullptr; }
  bool number_integer(int64_t v) { return Put(json(v)) != nullptr; }
  bool number_unsigned(uint64_t v) { return Put(json(v)) != nullptr; }
  bool number_float(double v, const std::string& /*raw*/) { return Put(json(v)) != nullptr; }
  bool string(std::string& s) {
    if (s.find('\0') != std::string::npos) return false;
    return Put(json(std::move(s))) != nullptr;
  }
  bool key(std::string& k) {
    if (k.find('\0') != std::string::npos) return false;
    key_ = std::move(k);
    return true;
  }
  bool start_object(size_t /*n*/) { return Open(json::value_t::object); }
  bool start_array(size_t /*n*/) { return Open(json::value_t::array); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  json& root() { return root_; }

 private:
  // Places `v` where the next value goes; nullptr for a key the object already holds. A
  // container's address stays valid while it is open: only the innermost open container grows.
  json* Put(json&& v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& top = *open_.back();
    if (top.is_array()) {
      json::array_t& a = top.get_ref<json::array_t&>();
      a.push_back(std::move(v));
      return &a.back();
    }
    auto [it, inserted] = top.get_ref<json::object_t&>().emplace(std::move(key_), std::move(v));
    return inserted ? &it->second : nullptr;
  }
  bool Open(json::value_t type) {
    if (open_.size() + 1 > max_depth_) return false;
    json* j = Put(json(type));
    if (j == nullptr) return false;
    open_.push_back(j);
    return true;
  }
  bool Close() {
    open_.pop_back();
    return true;
  }

  const size_t max_depth_;
  json root_;
  std::vector<json*> open_;
  std::string key_;
};

Result<JsonObject> Wrap(json doc) {
  if (!doc.is_object()) return InvalidArgumentError("body: expected a JSON object");
  auto impl = std::make_unique<JsonObject::Impl>();
  impl->root = std::make_shared<const json>(std::move(doc));
  impl->node = impl->root.get();
  return JsonObject::Impl::Make(std::move(impl));
}

// Whether `a` and `b` hold the same values with the same types (nlohmann's == counts 1 and 1u,
// and 1 and 1.0, as equal).
bool SameTree(const json& a, const json& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case json::value_t::object: {
      if (a.size() != b.size()) return false;
      for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
        if (i.key() != j.key() || !SameTree(*i, *j)) return false;
      }
      return true;
    }
    case json::value_t::array: {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!SameTree(a[i], b[i])) return false;
      }
      return true;
    }
    case json::value_t::number_float: {
      // Bit for bit: -0.0 is not 0.0 here.
      const double x = a.get<double>();
      const double y = b.get<double>();
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    default:
      return a == b;
  }
}

}  // namespace

Result<JsonObject> ParseJsonObject(std::string_view body, const JsonLimits& limits) {
  if (body.size() <= limits.max_bytes && limits.max_depth > 0) {
    // The fast reader first; anything it does not accept goes to nlohmann below, which decides
    // and names the error (docs/http.md, "The fast reader").
    TreeBuilder tree(limits.max_depth);
    if (ReadSax(body, tree)) return Wrap(std::move(tree.root()));
  }
  return internal::ParseJsonObjectWithNlohmann(body, limits);
}

std::string internal::CheckFastReader(std::string_view body, const JsonLimits& limits) {
  if (body.size() > limits.max_bytes || limits.max_depth <= 0) return "";
  TreeBuilder tree(limits.max_depth);
  if (!ReadSax(body, tree)) return "";
  Result<JsonObject> reference = ParseJsonObjectWithNlohmann(body, limits);
  if (!tree.root().is_object()) {
    // Both must refuse it the same way.
    if (!reference.ok() && reference.status().message() == "body: expected a JSON object") {
      return "";
    }
    return "the fast reader read no object; nlohmann: " +
           (reference.ok() ? std::string("an object") : reference.status().ToString());
  }
  if (!reference.ok()) {
    return "the fast reader accepted what nlohmann refuses: " + reference.status().ToString();
  }
  if (!SameTree(tree.root(), JsonObject::Impl::Root(*reference))) {
    return "the fast reader built another tree than nlohmann";
  }
  return "";
}

Result<JsonObject> internal::ParseJsonObjectWithNlohmann(std::string_view body,
                                                         const JsonLimits& limits) {
  if (body.size() > limits.max_bytes)
    return InvalidArgumentError("body: larger than " + std::to_string(limits.max_bytes) + " bytes");
  // A NUL byte is never part of JSON text; the parser took one after the document as its end.
  if (const size_t nul = body.find('\0'); nul != std::string_view::npos) {
    return InvalidArgumentError("body: invalid JSON at byte " + std::to_string(nul));
  }
  // The parser callback enforces depth and duplicate keys while parsing, before any large
  // structure is built; it cannot throw, so it records the first error and stops keeping values.
  std::string error;
  std::vector<std::set<std::string>> keys;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    if (!error.empty()) return false;
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth + 1 > limits.max_depth) {
          error = "body: nested deeper than " + std::to_string(limits.max_depth);
          return false;
        }
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::value:
        // U+0000 (written \u0000) in a string would cut it short in C APIs, logs and databases.
        if (parsed.is_string() &&
            parsed.get_ref<const std::string&>().find('\0') != std::string::npos) {
          error = "body: a string holds U+0000 at nesting depth " + std::to_string(depth);
          return false;
        }
        break;
      case json::parse_event_t::key: {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (k.find('\0') != std::string::npos) {
          error = "body: a key holds U+0000 at nesting depth " + std::to_string(depth);
          return false;
        }
        if (!keys.empty() && !keys.back().insert(k).second) {
          // The key is the client's text and need not be a field of any schema: not quoted.
          error = "body: duplicate key in an object at nesting depth " + std::to_string(depth);
          return false;
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  json doc = json::parse(body.begin(), body.end(), callback, /*allow_exceptions=*/false,
                         /*ignore_comments=*/false);
  if (!error.empty()) return InvalidArgumentError(error);
  if (doc.is_discarded()) {
    // (nlohmann's lexer also rejects invalid UTF-8 in strings, so accepted strings are valid.)
    // Re-run without a callback through the SAX interface to locate the error byte.
    struct Locator : nlohmann::json_sax<json> {
      size_t pos = 0;
      bool null() override { return true; }
      bool boolean(bool) override { return true; }
      bool number_integer(number_integer_t) override { return true; }
      bool number_unsigned(number_unsigned_t) override { return true; }
      bool number_float(number_float_t, const string_t&) override { return true; }
      bool string(string_t&) override { return true; }
      bool binary(binary_t&) override { return true; }
      bool start_object(std::size_t) override { return true; }
      bool key(string_t&) override { return true; }
      bool end_object() override { return true; }
      bool start_array(std::size_t) override { return true; }
      bool end_array() override { return true; }
      // nlohmann's position counts the bytes read, the offending one included (one past the
      // end for a truncated body): the 0-based offset, as for a NUL above, is one less.
      bool parse_error(std::size_t p, const std::string&,
                       const nlohmann::detail::exception&) override {
        pos = p == 0 ? 0 : p - 1;
        return false;
      }
    } locator;
    json::sax_parse(body.begin(), body.end(), &locator, json::input_format_t::json,
                    /*strict=*/true, /*ignore_comments=*/false);
    return InvalidArgumentError("body: invalid JSON at byte " +
                                std::to_string(std::min(locator.pos, body.size())));
  }
  return Wrap(std::move(doc));
}

bool JsonObject::Has(std::string_view field) const { return Lookup(*impl_, field) != nullptr; }

Result<std::optional<std::string>> JsonObject::GetOptionalString(std::string_view field,
                                                                 size_t max_len) const {
  const json* v = Lookup(*impl_, field);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return FieldError(*impl_, field, "expected a string");
  const std::string& s = v->get_ref<const std::string&>();
  if (s.size() > max_len)
    return FieldError(*impl_, field, "longer than " + std::to_string(max_len) + " bytes");
  return std::optional<std::string>(s);
}

Result<std::string> JsonObject::GetString(std::string_view field, size_t max_len) const {
  ASSIGN_OR_RETURN(std::optional<std::string> v, GetOptionalString(field, max_len));
  if (!v) return FieldError(*impl_, field, "required");
  return std::move(*v);
}

Result<std::optional<int64_t>> JsonObject::GetOptionalInt(std::string_view field, int64_t min,
                                                          int64_t max) const {
  const json* v = Lookup(*impl_, field);
  if (v == nullptr) return std::optional<int64_t>();
  if (!v->is_number_integer()) return FieldError(*impl_, field, "expected an integer");
  int64_t n;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return FieldError(*impl_, field, "out of range");
    n = static_cast<int64_t>(u);
  } else {
    n = v->get<int64_t>();
  }
  if (n < min || n > max)
    return FieldError(*impl_, field,
                      "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return std::optional<int64_t>(n);
}

Result<int64_t> JsonObject::GetInt(std::string_view field, int64_t min, int64_t max) const {
  ASSIGN_OR_RETURN(std::optional<int64_t> v, GetOptionalInt(field, min, max));
  if (!v) return FieldError(*impl_, field, "required");
  return *v;
}

Result<std::optional<bool>> JsonObject::GetOptionalBool(std::string_view field) const {
  const json* v = Lookup(*impl_, field);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return FieldError(*impl_, field, "expected true or false");
  return std::optional<bool>(v->get<bool>());
}

Result<bool> JsonObject::GetBool(std::string_view field) const {
  ASSIGN_OR_RETURN(std::optional<bool> v, GetOptionalBool(field));
  if (!v) return FieldError(*impl_, field, "required");
  return *v;
}

Result<JsonObject> JsonObject::GetObject(std::string_view field) const {
  const json* v = Lookup(*impl_, field);
  if (v == nullptr) return FieldError(*impl_, field, "required");
  if (!v->is_object()) return FieldError(*impl_, field, "expected an object");
  auto impl = std::make_unique<Impl>();
  impl->root = impl_->root;
  impl->node = v;
  impl->prefix = impl_->prefix + std::string(field) + ".";
  return JsonObject(std::move(impl));
}

Result<std::vector<JsonObject>> JsonObject::GetObjectArray(std::string_view field,
                                                           size_t max_items) const {
  const json* v = Lookup(*impl_, field);
  if (v == nullptr) return FieldError(*impl_, field, "required");
  if (!v->is_array()) return FieldError(*impl_, field, "expected an array of objects");
  if (v->size() > max_items)
    return FieldError(*impl_, field, "more than " + std::to_string(max_items) + " items");
  std::vector<JsonObject> out;
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    std::string name = std::string(field) + "[" + std::to_string(i) + "]";
    if (!(*v)[i].is_object()) return FieldError(*impl_, name, "expected an object");
    auto impl = std::make_unique<Impl>();
    impl->root = impl_->root;
    impl->node = &(*v)[i];
    impl->prefix = impl_->prefix + name + ".";
    out.push_back(JsonObject(std::move(impl)));
  }
  return out;
}

std::string JsonObject::Text() const { return impl_->node->dump(); }

Result<std::vector<std::string>> JsonObject::GetStringArray(std::string_view field,
                                                            size_t max_items,
                                                            size_t max_len) const {
  const json* v = Lookup(*impl_, field);
  if (v == nullptr) return FieldError(*impl_, field, "required");
  if (!v->is_array()) return FieldError(*impl_, field, "expected an array of strings");
  if (v->size() > max_items)
    return FieldError(*impl_, field, "more than " + std::to_string(max_items) + " items");
  std::vector<std::string> out;
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    std::string name = std::string(field) + "[" + std::to_string(i) + "]";
    if (!item.is_string()) return FieldError(*impl_, name, "expected a string");
    const std::string& s = item.get_ref<const std::string&>();
    if (s.size() > max_len)
      return FieldError(*impl_, name, "longer than " + std::to_string(max_len) + " bytes");
    out.push_back(s);
  }
  return out;
}

Status JsonObject::RejectUnknownFields(std::initializer_list<std::string_view> allowed) const {
  size_t position = 0;
  for (auto it = impl_->node->begin(); it != impl_->node->end(); ++it) {
    ++position;
    bool known = false;
    for (std::string_view a : allowed) known = known || a == it.key();
    if (known) continue;
    // An unknown key is the client's text, not a schema name: it is named by its position
    // (objects are kept sorted by key, so that is the order the client can check) and the
    // allowed names are listed instead.
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    std::string where = "body";
    if (!impl_->prefix.empty()) {
      where = "field \"" + impl_->prefix.substr(0, impl_->prefix.size() - 1) + "\"";
    }
    return InvalidArgumentError(where + ": unknown field #" + std::to_string(position) +
                                " in key order (allowed: " + list + ")");
  }
  return Status::Ok();
}

std::vector<std::string> JsonObject::Keys() const {
  std::vector<std::string> out;
  for (auto it = impl_->node->begin(); it != impl_->node->end(); ++it) out.push_back(it.key());
  return out;
}

void JsonWriter::BeforeValue() {
  if (first_.empty()) {
    if (!out_.empty()) error_ = true;  // a second top-level value
    return;
  }
  if (is_object_.back()) {
    if (!after_key_) error_ = true;  // object member without a key
    after_key_ = false;
    return;
  }
  if (!first_.back()) out_ += ',';
  first_.back() = false;
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_ += '{';
  first_.push_back(true);
  is_object_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  if (first_.empty() || !is_object_.back() || after_key_) {
    error_ = true;
    return *this;
  }
  out_ += '}';
  first_.pop_back();
  is_object_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_ += '[';
  first_.push_back(true);
  is_object_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  if (first_.empty() || is_object_.back()) {
    error_ = true;
    return *this;
  }
  out_ += ']';
  first_.pop_back();
  is_object_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  if (first_.empty() || !is_object_.back() || after_key_) {
    error_ = true;
    return *this;
  }
  if (!first_.back()) out_ += ',';
  first_.back() = false;
  log::AppendJsonString(out_, key);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  BeforeValue();
  log::AppendJsonString(out_, value);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  BeforeValue();
  out_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view text) {
  BeforeValue();
  if (text.empty()) error_ = true;
  out_ += text;
  return *this;
}

Result<std::string> JsonWriter::Finish() {
  if (error_ || !first_.empty() || after_key_ || out_.empty())
    return InternalError("JsonWriter: unbalanced or malformed JSON construction");
  return std::move(out_);
}

}  // namespace chukan::json
