// libFuzzer target for http::ParseBatchRequest, which every batch route runs on its body
// (docs/linkage-protocol.md, "Batches"): it splits {"items":[…]} into the items' own texts
// without building a tree, and leaves anything but that plain form to the full JSON parse.
//
// The reference is the full parse of the body (ParseJsonObject, depth 12, then "items": 1 to 64
// objects, no other field). Properties:
//  - when the reference accepts the body, the split does, with as many items, each parsing
//    alone (depth 10: the body and its array are the other two) to the reference's item;
//  - when the reference refuses the body, the split refuses it with kInvalidArgument, or hands
//    on items of which at least one is refused alone — the item the reference stumbled on,
//    answered in its own result as the single route would answer it;
//  - an error is kInvalidArgument.
//
// Run it: scripts/fuzz [SECONDS] batch_request. Every build replays fuzz/corpus/batch_request/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/api_util.h"
#include "json/json.h"

namespace {

using chukan::Result;
using chukan::StatusCode;
using chukan::json::JsonLimits;
using chukan::json::JsonObject;
using chukan::json::ParseJsonObject;

void Check(bool ok) {
  if (!ok) std::abort();
}

// The batch's items by the full parse, or nothing when it refuses the body.
std::optional<std::vector<JsonObject>> Reference(std::string_view body) {
  Result<JsonObject> o = ParseJsonObject(body, JsonLimits{chukan::http::kMaxBatchBytes, 12});
  if (!o.ok() || !o->RejectUnknownFields({"items"}).ok()) return std::nullopt;
  Result<std::vector<JsonObject>> items = o->GetObjectArray("items", chukan::http::kMaxBatchItems);
  if (!items.ok() || items->empty()) return std::nullopt;
  return std::move(*items);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const Result<std::vector<std::string>> split = chukan::http::ParseBatchRequest(body);
  const std::optional<std::vector<JsonObject>> reference = Reference(body);
  const JsonLimits alone{chukan::http::kMaxBatchBytes, 10};
  if (!split.ok()) {
    Check(split.status().code() == StatusCode::kInvalidArgument);
    Check(!reference.has_value());
    return 0;
  }
  Check(!split->empty() && split->size() <= chukan::http::kMaxBatchItems);
  if (reference) {
    Check(split->size() == reference->size());
    for (size_t i = 0; i < split->size(); ++i) {
      Result<JsonObject> item = ParseJsonObject((*split)[i], alone);
      Check(item.ok() && item->Text() == (*reference)[i].Text());
    }
    return 0;
  }
  bool one_refused = false;
  for (const std::string& text : *split) one_refused |= !ParseJsonObject(text, alone).ok();
  Check(one_refused);
  return 0;
}
