// libFuzzer target for the inquiry result file (照会結果ファイル): a result layout file
// (data/result_layout format, checked against the data standard layout in data/layout), or a
// value rendered into a line of 地方税関係情報. The first byte picks which. Properties: a layout
// that parses renders every outcome to exactly its column count; a rendered line never holds a
// CR or LF and always has the layout's column count, whatever the value and the echoed field;
// the line encodes in UTF-8 and CP932.
//
// The layout directory is compiled in (CHUKAN_LAYOUT_DIR) or taken from the environment
// variable of the same name.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "layout/catalogue_loader.h"
#include "layout/result_file.h"
#include "layout/result_layout.h"

namespace layout = chukan::layout;

namespace {

const std::shared_ptr<const layout::Catalogue>& Catalogue() {
  static const std::shared_ptr<const layout::Catalogue> catalogue = [] {
    const char* env = std::getenv("CHUKAN_LAYOUT_DIR");
    auto loaded = layout::LoadCatalogue(env != nullptr ? env : CHUKAN_LAYOUT_DIR);
    if (!loaded.ok()) std::abort();  // the fuzz target is misconfigured, not the input
    return *loaded;
  }();
  return catalogue;
}

void CheckLine(const layout::ResultLayout& l, const std::vector<std::string_view>& fields,
               const layout::LineResult& result, const std::vector<layout::ResultRecord>& records) {
  auto line = layout::RenderResultLine(l, fields, result, records);
  if (!line.ok()) return;
  const std::string& t = line->text;
  if (t.find_first_of("\r\n") != std::string::npos) std::abort();
  if (static_cast<size_t>(std::count(t.begin(), t.end(), ',')) + 1 != l.columns().size()) {
    std::abort();
  }
  const std::vector<std::string> lines = {t};
  for (auto cs : {chukan::replica_io::Charset::kUtf8, chukan::replica_io::Charset::kCp932}) {
    auto encoded = layout::EncodeResultFile(lines, cs);
    // Only a value that is not valid UTF-8 may fail (the answer's values are checked upstream).
    if (!encoded.ok() && encoded.status().code() != chukan::StatusCode::kInvalidArgument) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<std::string_view> fields(18, "01");
  if ((data[0] & 1) == 0) {
    auto l = layout::ParseResultLayout("fuzz.toml", text, *Catalogue());
    if (!l.ok()) return 0;
    CheckLine(*l, fields, {layout::LineOutcome::kCompleted, "", "", ""},
              {{{"IT00000200000017", "1"}}});
    CheckLine(*l, fields, {layout::LineOutcome::kNoSubjectCode, "", "000000000000001", ""}, {});
    return 0;
  }
  static const layout::ResultLayout tax = [] {
    const layout::InfoName* info = Catalogue()->Find("TM00000000000002");
    if (info == nullptr) std::abort();
    return layout::DefaultResultLayout(info);
  }();
  const std::string value(text);
  std::vector<std::string_view> echoed = fields;
  echoed[1] = text;
  CheckLine(tax, echoed, {layout::LineOutcome::kCompleted, "", "", ""},
            {{{"IT00000200000001", value}, {"IT00000200000017", value}},
             {{"IT00000200000001", "2026"}, {"IT00000200000008", value}}});
  return 0;
}
