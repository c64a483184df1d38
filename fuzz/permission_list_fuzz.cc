// libFuzzer target for the permission list (照会許可用照合リスト): the operator's source file
// (CSV, checked against the data standard layout in data/layout) and the document the hub signs.
// The first byte picks the parser. Properties: a list parsed from either form has no more than
// kMaxPermissionRules rules and finds every rule it holds by its own organisation-coded
// parties and every organisation by its 地方公共団体コード; its document (a source file's under
// version 1) parses again to the same document.
//
// The layout directory is compiled in (CHUKAN_LAYOUT_DIR) or taken from the environment
// variable of the same name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "layout/catalogue_loader.h"
#include "linkage/permission_list.h"

using chukan::linkage::PermissionList;

namespace {

const chukan::layout::Catalogue& Layout() {
  static const std::shared_ptr<const chukan::layout::Catalogue> catalogue = [] {
    const char* env = std::getenv("CHUKAN_LAYOUT_DIR");
    auto loaded = chukan::layout::LoadCatalogue(env != nullptr ? env : CHUKAN_LAYOUT_DIR);
    if (!loaded.ok()) std::abort();  // the fuzz target is misconfigured, not the input
    return *loaded;
  }();
  return *catalogue;
}

// `list` parsed from either form; `published`: the list as the hub signs it (a source file has
// no version yet: the hub gives it one when it publishes).
void CheckList(const PermissionList& list, const PermissionList& published) {
  if (list.rules().size() > chukan::linkage::kMaxPermissionRules) std::abort();
  for (const auto& rule : list.rules()) {
    if (!rule.inquirer.org || !rule.provider.org) continue;
    if (list.Find(*rule.inquirer.org, rule.procedure, *rule.provider.org, rule.tm) == nullptr) {
      std::abort();
    }
  }
  for (const auto& [org, code] : list.local_gov_codes()) {
    const chukan::OrgCode* found = list.FindByLocalGovCode(code);
    if (found == nullptr || *found != org) std::abort();
  }
  const std::string doc = published.Document();
  auto again = PermissionList::ParseDocument(doc);
  if (!again.ok() || again->Document() != doc) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    auto list = PermissionList::ParseSource(text, "fuzz.csv", Layout());
    if (list.ok()) CheckList(*list, PermissionList(1, 0, 1, list->rules(), list->classes()));
  } else {
    auto list = PermissionList::ParseDocument(text);
    if (list.ok()) CheckList(*list, *list);
  }
  return 0;
}
