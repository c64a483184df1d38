// libFuzzer target for the data standard layout catalogue loader (データ標準レイアウト,
// layout::ParseCatalogue, what LoadCatalogue runs on data/layout/*.toml once read). The input is
// one catalogue file's text; the first byte picks which of the shipped files it replaces (or, for
// one value in n+1, it is added as a new file beside them), so that references across files
// (code lists, affairs) resolve as in the real catalogue. Properties:
//  - an error is kInvalidArgument and names a file of the catalogue ("<path>:") or, for the
//    catalogue as a whole, its directory;
//  - a catalogue that loads keeps its own rules and limits: every information name is found by
//    its code, has 1..max versions in ascending order with non-overlapping validity (each found
//    by Version() and VersionAt() on its first day), each version's items are found by code at
//    their index, key items are required header items, the data-set item exists; every item's
//    max_length is within the limits for its type (the code list's longest code for a code
//    item, whose list holds every entry with its label).
//
// The shipped catalogue directory is compiled in (CHUKAN_LAYOUT_DIR) or taken from the
// environment variable of the same name.
// Run it: scripts/fuzz [SECONDS] catalogue. Every build replays fuzz/corpus/catalogue/.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "layout/catalogue.h"
#include "layout/catalogue_loader.h"

namespace layout = chukan::layout;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

std::string Directory() {
  const char* env = std::getenv("CHUKAN_LAYOUT_DIR");
  return env != nullptr ? env : CHUKAN_LAYOUT_DIR;
}

// The shipped catalogue's files, in the order LoadCatalogue reads them.
const std::vector<layout::CatalogueFile>& Shipped() {
  static const std::vector<layout::CatalogueFile> files = [] {
    std::vector<std::string> paths;
    for (const auto& entry : std::filesystem::directory_iterator(Directory())) {
      if (entry.path().extension() == ".toml") paths.push_back(entry.path().string());
    }
    std::sort(paths.begin(), paths.end());
    std::vector<layout::CatalogueFile> out;
    for (const std::string& path : paths) {
      std::ifstream in(path, std::ios::binary);
      out.push_back({path, std::string(std::istreambuf_iterator<char>(in), {})});
    }
    // The fuzz target is misconfigured, not the input, if the shipped catalogue is missing.
    if (out.empty() || !layout::ParseCatalogue(Directory(), out).ok()) std::abort();
    return out;
  }();
  return files;
}

void CheckCatalogue(const layout::Catalogue& c, const layout::CatalogueLimits& limits) {
  Check(!c.infos().empty());
  for (const layout::InfoName* info : c.infos()) {
    Check(c.Find(info->code()) == info && c.Find(info->code().str()) == info);
    const auto versions = info->versions();
    Check(!versions.empty() && versions.size() <= limits.max_versions_per_info);
    Check(info->all_items().size() <= limits.max_items_per_info);
    Check(&info->LatestVersion() == versions.back());
    for (size_t v = 0; v < versions.size(); ++v) {
      const layout::LayoutVersion& lv = *versions[v];
      Check(&lv.info() == info && info->Version(lv.version()) == &lv);
      Check(info->VersionAt(lv.valid_from()) == &lv);
      if (v > 0) {
        const layout::LayoutVersion& prev = *versions[v - 1];
        Check(prev.version() < lv.version());
        Check(prev.valid_to() && *prev.valid_to() < lv.valid_from());
      }
      Check(lv.item_count() > 0);
      for (size_t i = 0; i < lv.item_count(); ++i) {
        const layout::Item& item = lv.item(i);
        Check(lv.FindItem(item.code()) == &item && lv.ItemIndex(item.code()) == i);
      }
      Check(lv.key_item_indexes().size() == info->record_key().size());
      for (size_t k : lv.key_item_indexes()) {
        Check(k < lv.item_count());
        Check(lv.item(k).kind() == layout::ItemKind::kHeader && lv.item(k).required());
      }
      if (lv.data_set_item_index()) Check(*lv.data_set_item_index() < lv.item_count());
      Check(lv.data_set_item_index().has_value() == !info->data_sets().empty());
    }
    for (const layout::Item* item : info->all_items()) {
      switch (item->type()) {
        case layout::ValueType::kText:
          Check(item->max_length() >= 1 && item->max_length() <= limits.max_text_length);
          break;
        case layout::ValueType::kNumber:
          Check(item->max_length() >= 1 && item->max_length() <= limits.max_number_length);
          break;
        case layout::ValueType::kDate:
          Check(item->max_length() == 10);
          break;
        case layout::ValueType::kCode: {
          const layout::CodeList* list = item->code_list();
          Check(list != nullptr && c.FindCodeList(list->id()) == list);
          Check(item->max_length() == list->max_code_length());
          break;
        }
      }
      if (!item->data_set().empty()) Check(info->FindDataSet(item->data_set()) != nullptr);
    }
  }
  for (const layout::CodeList* list : c.code_lists()) {
    Check(!list->entries().empty() && list->entries().size() <= limits.max_codes_per_list);
    for (const layout::CodeEntry& e : list->entries()) {
      Check(list->Contains(e.code) && list->Label(e.code) != nullptr &&
            *list->Label(e.code) == e.label && e.code.size() <= list->max_code_length());
    }
  }
  for (const layout::Procedure& p : c.procedures()) {
    Check(c.FindProcedure(p.code) != nullptr && c.FindAffair(p.affair) != nullptr);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<layout::CatalogueFile> files = Shipped();
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t pick = data[0] % (files.size() + 1);
  if (pick < files.size()) {
    files[pick].text = text;
  } else {
    files.push_back({Directory() + "/zz_fuzz.toml", text});
  }
  const layout::CatalogueLimits limits;
  auto catalogue = layout::ParseCatalogue(Directory(), files, limits);
  if (!catalogue.ok()) {
    Check(catalogue.status().code() == chukan::StatusCode::kInvalidArgument);
    const std::string message = catalogue.status().message();
    bool named = message.starts_with(Directory() + ": ");
    for (const layout::CatalogueFile& f : files) named = named || message.starts_with(f.path + ":");
    Check(named);
    return 0;
  }
  CheckCatalogue(**catalogue, limits);
  return 0;
}
