// libFuzzer target for chukan_json: ParseJsonObject (every request body and signed document) and
// JsonWriter (every response). The first byte picks the mode and the depth limit.
//
// Even first byte — the input is a body. Properties:
//  - an error is kInvalidArgument and starts "body: "; "invalid JSON at byte N" has N within
//    the input;
//  - what parses is a fixed point of Text(): Text() parses again under the same depth limit
//    and gives the same text;
//  - Keys() are strictly ascending (sorted, no duplicates), and every key is found by Has()
//    unless its value is null;
//  - every typed getter on every key answers without crashing, its errors naming the field
//    with the object's path ("field \"outer.inner\": …");
//  - the string, integer and boolean members, written back with JsonWriter, parse to the same
//    values.
// Odd first byte — the input is a string value: JsonWriter writes it as a key and a value, and
// the text parses (unless it held NUL, which the parser refuses, or was the other key) to the
// same string when the input was valid UTF-8, to valid UTF-8 otherwise.
//
// Run it: scripts/fuzz [SECONDS] json. Every build replays fuzz/corpus/json/ in `make test`.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.h"
#include "json/json.h"

namespace {

using chukan::Result;
using chukan::StatusCode;
using chukan::json::JsonLimits;
using chukan::json::JsonObject;
using chukan::json::JsonWriter;
using chukan::json::ParseJsonObject;

constexpr size_t kMax = std::numeric_limits<size_t>::max();

void Check(bool ok) {
  if (!ok) std::abort();
}

// A getter's error names the field, with the path of the object it is in.
void CheckFieldError(const chukan::Status& s, const std::string& prefix, std::string_view key) {
  if (s.ok()) return;
  Check(s.code() == StatusCode::kInvalidArgument);
  const std::string field = "field \"" + prefix + std::string(key);
  Check(s.message().starts_with(field));
}

// Walks `o` (at `prefix`, "" for the top object) through every getter, and writes its string,
// integer and boolean members into `w` (an open object) as it goes.
void Walk(const JsonObject& o, const std::string& prefix, int depth, JsonWriter& w,
          std::vector<std::pair<std::string, std::string>>& written) {
  const std::vector<std::string> keys = o.Keys();
  for (size_t i = 1; i < keys.size(); ++i) Check(keys[i - 1] < keys[i]);
  for (const std::string& k : keys) {
    Result<std::optional<std::string>> s = o.GetOptionalString(k, kMax);
    CheckFieldError(s.status(), prefix, k);
    Result<std::optional<int64_t>> n = o.GetOptionalInt(k, std::numeric_limits<int64_t>::min(),
                                                        std::numeric_limits<int64_t>::max());
    CheckFieldError(n.status(), prefix, k);
    Result<std::optional<bool>> b = o.GetOptionalBool(k);
    CheckFieldError(b.status(), prefix, k);
    CheckFieldError(o.GetInt(k, 0, 9).status(), prefix, k);
    CheckFieldError(o.GetString(k, 3).status(), prefix, k);
    CheckFieldError(o.GetStringArray(k, 4, 8).status(), prefix, k);
    // A value is null (absent for every getter) or of exactly one of these kinds, or none.
    const bool is_null = s.ok() && !*s && n.ok() && !*n && b.ok() && !*b;
    Check(o.Has(k) != is_null);
    Check((s.ok() && *s ? 1 : 0) + (n.ok() && *n ? 1 : 0) + (b.ok() && *b ? 1 : 0) <= 1);
    if (prefix.empty()) {
      // Only the top object's members are written back (the writer check is per member).
      if (s.ok() && *s) {
        w.Key(k).String(**s);
        written.emplace_back(k, "s" + **s);
      } else if (n.ok() && *n) {
        w.Key(k).Int(**n);
        written.emplace_back(k, "n" + std::to_string(**n));
      } else if (b.ok() && *b) {
        w.Key(k).Bool(**b);
        written.emplace_back(k, **b ? "btrue" : "bfalse");
      }
    }
    Result<std::vector<JsonObject>> objects = o.GetObjectArray(k, kMax);
    if (!objects.ok()) {
      // An element's error names it as "k[i]".
      CheckFieldError(objects.status(), prefix, k);
    } else if (depth < 4) {
      for (size_t i = 0; i < objects->size(); ++i) {
        Walk((*objects)[i], prefix + k + "[" + std::to_string(i) + "].", depth + 1, w, written);
      }
    }
    Result<JsonObject> inner = o.GetObject(k);
    CheckFieldError(inner.status(), prefix, k);
    if (inner.ok() && depth < 4) Walk(*inner, prefix + k + ".", depth + 1, w, written);
  }
  Check(o.RejectUnknownFields({}).ok() == keys.empty());
}

void CheckBody(std::string_view text, int max_depth) {
  const JsonLimits limits{64 << 10, max_depth};
  Result<JsonObject> o = ParseJsonObject(text, limits);
  if (!o.ok()) {
    Check(o.status().code() == StatusCode::kInvalidArgument);
    const std::string m = o.status().message();
    Check(m.starts_with("body: "));
    constexpr std::string_view kAt = "body: invalid JSON at byte ";
    if (m.starts_with(kAt)) Check(std::stoull(m.substr(kAt.size())) <= text.size());
    return;
  }
  // Numbers may be written longer than they were read (1e22 as 1e+22): no size limit here.
  const std::string once = o->Text();
  Result<JsonObject> again = ParseJsonObject(once, JsonLimits{kMax, max_depth});
  Check(again.ok() && again->Text() == once);

  JsonWriter w;
  w.BeginObject();
  std::vector<std::pair<std::string, std::string>> written;
  Walk(*o, "", 1, w, written);
  w.EndObject();
  Result<std::string> rewritten = w.Finish();
  Check(rewritten.ok());
  Result<JsonObject> back = ParseJsonObject(*rewritten, JsonLimits{kMax, max_depth});
  Check(back.ok() && back->Keys().size() == written.size());
  for (const auto& [k, v] : written) {
    const std::string rest = v.substr(1);
    switch (v[0]) {
      case 's':
        Check(back->GetString(k, kMax).value() == rest);
        break;
      case 'n':
        Check(std::to_string(back->GetInt(k, std::numeric_limits<int64_t>::min(),
                                          std::numeric_limits<int64_t>::max())
                                 .value()) == rest);
        break;
      default:
        Check(back->GetBool(k).value() == (rest == "true"));
        break;
    }
  }
}

void CheckWriter(std::string_view value) {
  JsonWriter w;
  w.BeginObject().Key(value).String(value).Key("n").Int(-7).EndObject();
  Result<std::string> text = w.Finish();
  Check(text.ok());
  Result<JsonObject> o = ParseJsonObject(*text, JsonLimits{kMax, 2});
  if (value.find('\0') != std::string_view::npos || value == "n") {
    Check(!o.ok());  // \u0000 is refused in keys and strings; "n" twice is a duplicate key
    return;
  }
  Check(o.ok());
  const std::vector<std::string> keys = o->Keys();
  Check(!keys.empty() && keys.size() <= 2);
  for (const std::string& k : keys) Check(chukan::IsValidUtf8(k));
  if (chukan::IsValidUtf8(value)) {
    Check(o->GetString(value, kMax).value() == value);
    Check(o->GetInt("n", -7, -7).ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    CheckBody(text, 1 + (data[0] >> 1) % 16);
  } else {
    CheckWriter(text);
  }
  return 0;
}
