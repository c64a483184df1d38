// Loading the data standard layout catalogue (データ標準レイアウト) from its TOML files.
//
// LoadCatalogue reads every `*.toml` file of one directory (other files are ignored), checks the
// whole catalogue and returns it immutable and shareable between threads. The format is in
// docs/layout.md. Thread-safe: loads share no state.
#ifndef CHUKAN_LAYOUT_CATALOGUE_LOADER_H_
#define CHUKAN_LAYOUT_CATALOGUE_LOADER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "layout/catalogue.h"

namespace chukan::layout {

// The only `format` value the loader accepts; every file must declare it.
inline constexpr std::string_view kCatalogueFormat = "chukan-layout/1";

// Explicit bounds, so that a broken or hostile catalogue cannot exhaust memory.
struct CatalogueLimits {
  size_t max_files = 64;              // *.toml files in the directory
  size_t max_file_bytes = 1 << 20;    // per file
  size_t max_total_bytes = 8 << 20;   // all files together
  size_t max_items_per_info = 2000;   // items of one information name (all versions)
  size_t max_versions_per_info = 64;  // layout versions of one information name
  size_t max_codes_per_list = 10000;  // entries of one code list
  size_t max_text_length = 4000;      // largest max_length of a text item (characters)
  size_t max_number_length = 30;      // largest max_length of a number item (digits)
};

// Reads and validates the catalogue in `dir`.
//
// Errors:
//  - kNotFound: `dir` does not exist or is not a directory, or a file cannot be read.
//  - kInvalidArgument: anything wrong in the catalogue, including a limit exceeded. The message
//    names the file, the line when known, and the entry, e.g.
//      data/layout/tm_chiho_zei.toml:42: TM00000000000002 item "IT00000200000003": unknown code
//      list "sex"
//    Checks: TOML syntax; `format`; unknown or mistyped keys; valid and unique TM/JT/JM codes;
//    procedures referring to known affairs; code lists (ids, unique non-empty codes); item codes
//    (16 characters [0-9A-Z], unique per TM), kinds, types, max lengths within limits, code-list
//    and data-set references; versions (4 digits, unique, valid_from ≤ valid_to, ascending and
//    non-overlapping, each with at least one item); record key items (exist in every version,
//    header kind, required, common to all data sets); the data-set item.
//  - kInvalidArgument also when the directory holds no information name at all.
Result<std::shared_ptr<const Catalogue>> LoadCatalogue(const std::string& dir,
                                                       const CatalogueLimits& limits = {});

// One catalogue file's text, and the path its errors name.
struct CatalogueFile {
  std::string path;
  std::string text;
};

// Checks the catalogue made of `files`, in the order given (LoadCatalogue reads a directory's
// `*.toml` files in name order and passes them here), and returns it; `directory` is what
// Catalogue::directory() reports and what an error about the whole catalogue names. The file
// count and size limits are LoadCatalogue's (it stops reading); the others apply here.
// Errors: kInvalidArgument, as for LoadCatalogue, naming `file.path`.
Result<std::shared_ptr<const Catalogue>> ParseCatalogue(const std::string& directory,
                                                        const std::vector<CatalogueFile>& files,
                                                        const CatalogueLimits& limits = {});

}  // namespace chukan::layout

#endif  // CHUKAN_LAYOUT_CATALOGUE_LOADER_H_
