// Strict JSON for request handlers and signed documents (its own library, chukan_json, so that
// the linkage documents do not depend on the HTTP library): parse a request body into a JsonObject
// and read typed fields with limits, so that every field is checked and unknown ones are rejected;
// and a small JsonWriter for responses. No JSON library appears in this header (nlohmann stays in
// json.cc).
//
// Strictness: the body must be one JSON object; duplicate keys anywhere are rejected; nesting
// deeper than `max_depth` and bodies larger than `max_bytes` are rejected; integers must be
// integral JSON numbers within the asked range (1.0 and 1e3 are not integers). Every error is
// kInvalidArgument and names the field: `field "name": expected a string`. Only the caller's own
// field names are quoted, never a value nor a key the client made up (which may be personal
// data): such keys are named by position.
//
// Thread-safety: a JsonObject is immutable after parsing and may be read from several threads;
// JsonWriter is thread-compatible.
#ifndef CHUKAN_JSON_JSON_H_
#define CHUKAN_JSON_JSON_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace chukan::json {

struct JsonLimits {
  size_t max_bytes = 1 << 20;  // body size
  int max_depth = 16;          // nesting of objects and arrays (the top object is depth 1)
};

class JsonObject {
 public:
  ~JsonObject();
  JsonObject(const JsonObject&);
  JsonObject& operator=(const JsonObject&);
  JsonObject(JsonObject&&) noexcept;
  JsonObject& operator=(JsonObject&&) noexcept;

  bool Has(std::string_view field) const;

  // Required fields: kInvalidArgument `field "x": required` when missing (null counts as
  // missing), `field "x": expected a string` for a wrong type, and so on.
  // GetString: UTF-8 text of at most `max_len` bytes.
  Result<std::string> GetString(std::string_view field, size_t max_len) const;
  // GetInt: an integral number in [min, max].
  Result<int64_t> GetInt(std::string_view field, int64_t min, int64_t max) const;
  Result<bool> GetBool(std::string_view field) const;
  // A nested object; errors in it name the path ("outer.inner").
  Result<JsonObject> GetObject(std::string_view field) const;
  // An array of at most `max_items` objects; errors in one name its path ("rules[3].tm").
  Result<std::vector<JsonObject>> GetObjectArray(std::string_view field, size_t max_items) const;
  // An array of at most `max_items` strings, each at most `max_len` bytes.
  Result<std::vector<std::string>> GetStringArray(std::string_view field, size_t max_items,
                                                  size_t max_len) const;

  // Optional variants: nullopt when the field is absent or null; type errors as above.
  Result<std::optional<std::string>> GetOptionalString(std::string_view field,
                                                       size_t max_len) const;
  Result<std::optional<int64_t>> GetOptionalInt(std::string_view field, int64_t min,
                                                int64_t max) const;
  Result<std::optional<bool>> GetOptionalBool(std::string_view field) const;

  // kInvalidArgument for the first field not in `allowed`, naming the object, the field's position
  // in key order (byte-wise, the order objects are kept in) and the allowed names — not the key:
  // `body: unknown field #2 in key order (allowed: tm, version)`, or `field "outer": …` inside
  // a nested object.
  Status RejectUnknownFields(std::initializer_list<std::string_view> allowed) const;

  // The field names, in byte-wise key order (not document order: objects are kept sorted).
  std::vector<std::string> Keys() const;

  // This object as compact JSON text (the same values; whitespace and escapes may differ from
  // the text it was parsed from).
  std::string Text() const;

  struct Impl;  // defined in json.cc

 private:
  explicit JsonObject(std::unique_ptr<Impl> impl);
  friend Result<JsonObject> ParseJsonObject(std::string_view body, const JsonLimits& limits);
  std::unique_ptr<Impl> impl_;
};

// Parses `body` as one JSON object under `limits`.
// An identifier field (OrgCode, TmCode, …) parsed with its type's Parse. Errors: those of
// GetString, and kInvalidArgument `field "x": <Parse's message>`.
template <typename Id>
Result<Id> IdField(const JsonObject& o, std::string_view field) {
  ASSIGN_OR_RETURN(std::string text, o.GetString(field, 64));
  Result<Id> id = Id::Parse(text);
  if (!id.ok()) {
    return InvalidArgumentError("field \"" + std::string(field) + "\": " + id.status().message());
  }
  return id;
}

// Errors (kInvalidArgument): "body: larger than N bytes", "body: invalid JSON at byte N" (N the
// 0-based offset of the byte where the body stops being JSON; its size when it is cut short),
// "body: expected a JSON object", "body: duplicate key in an object at nesting depth D" (the top
// object is depth 1; the key is not quoted), "body: nested deeper than N".
Result<JsonObject> ParseJsonObject(std::string_view body, const JsonLimits& limits = {});

namespace internal {
// ParseJsonObject reads with a fast reader first (json/sax_reader.h) and gives what it does not
// accept to nlohmann's parser, which decides and names every error. This is nlohmann's parser
// alone, for tests and fuzz targets to hold the two against each other.
Result<JsonObject> ParseJsonObjectWithNlohmann(std::string_view body, const JsonLimits& limits);
// Empty when the fast reader agrees with nlohmann on `body` — it accepts nothing nlohmann
// refuses, and what it accepts it builds into the same tree, types included; otherwise what
// differs (fuzz/json_reader).
std::string CheckFastReader(std::string_view body, const JsonLimits& limits);
}  // namespace internal

// Builds compact JSON text. Calls must be well nested (a programming error otherwise, caught by
// Finish() returning kInternal); strings are escaped and invalid UTF-8 replaced by U+FFFD.
//   JsonWriter w; w.BeginObject().Key("id").String("7").Key("n").Int(3).EndObject();
//   std::string text = w.Finish().value();
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts `text` as one value, unchanged. The caller guarantees it is valid JSON text (e.g. a
  // document this process produced, or one it parsed and checked).
  JsonWriter& Raw(std::string_view text);
  // Errors: kInternal if objects/arrays are unbalanced or a key lacks its value.
  Result<std::string> Finish();

 private:
  void BeforeValue();
  std::string out_;
  // One entry per open container: true while it has no element yet.
  std::vector<bool> first_;
  std::vector<bool> is_object_;
  bool after_key_ = false;
  bool error_ = false;
};

}  // namespace chukan::json

#endif  // CHUKAN_JSON_JSON_H_
