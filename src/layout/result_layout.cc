#include "layout/result_layout.h"

// Header-only, exception-free toml++ (as in catalogue_loader.cc).
#define TOML_EXCEPTIONS 0
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/toml_guard.h"

namespace chukan::layout {

class ResultLayoutBuilder {
 public:
  static ResultLayout Default(const InfoName* info) {
    ResultLayout l;
    l.info_ = info;
    l.tm_ = info != nullptr ? info->code().str() : "";
    l.source_ = "(default)";
    l.is_default_ = true;
    l.columns_.resize(kDefaultFirstItemColumn - 1);
    for (size_t f = 1; f <= kInquiryFieldCount; ++f) {
      l.columns_[f - 1] = {ResultFill::kInquiryField, f, nullptr};
    }
    const size_t s = kDefaultLineStatusColumn - 1;
    l.columns_[s] = {ResultFill::kLineStatus, 0, nullptr};
    l.columns_[s + 1] = {ResultFill::kLineMessage, 0, nullptr};
    l.columns_[s + 2] = {ResultFill::kInfoStatus, 0, nullptr};
    l.columns_[s + 3] = {ResultFill::kInfoMessage, 0, nullptr};
    if (info != nullptr) {
      for (const Item* item : info->LatestVersion().items()) {
        l.columns_.push_back({ResultFill::kItem, 0, item});
      }
    }
    return l;
  }

  static Result<ResultLayout> Parse(const std::string& path, std::string_view text,
                                    const Catalogue& catalogue, const ResultLayoutLimits& limits);

  static Result<std::shared_ptr<const ResultLayouts>> Load(
      const std::string& dir, std::shared_ptr<const Catalogue> catalogue,
      const ResultLayoutLimits& limits);
};

namespace {

std::string Where(const std::string& file, const toml::node& n) {
  const auto line = n.source().begin.line;
  if (line == 0) return file;
  return file + ":" + std::to_string(line);
}

std::string Quote(std::string_view s) {
  // Layout files are configuration, not personal data; cap what an error echoes.
  std::string out = "\"";
  out.append(s.substr(0, 64));
  if (s.size() > 64) out += "…";
  out += "\"";
  return out;
}

Status ErrorAt(const std::string& file, const toml::node& n, std::string_view entry,
               std::string_view reason) {
  return InvalidArgumentError(Where(file, n) + ": " + std::string(entry) + ": " +
                              std::string(reason));
}

// A column number: decimal, no sign, no leading zero, at most 9 digits.
bool ParseColumnNumber(std::string_view s, size_t& out) {
  if (s.empty() || s.size() > 9 || s[0] == '0') return false;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  out = v;
  return true;
}

struct FillName {
  std::string_view name;
  ResultFill fill;
};
constexpr FillName kFillNames[] = {
    {"empty", ResultFill::kEmpty},
    {"line_status", ResultFill::kLineStatus},
    {"line_message", ResultFill::kLineMessage},
    {"info_status", ResultFill::kInfoStatus},
    {"info_message", ResultFill::kInfoMessage},
};

}  // namespace

Result<ResultLayout> ResultLayoutBuilder::Parse(const std::string& path, std::string_view text,
                                                const Catalogue& catalogue,
                                                const ResultLayoutLimits& limits) {
  if (text.size() > limits.max_file_bytes) {
    return InvalidArgumentError(path + ": file is larger than " +
                                std::to_string(limits.max_file_bytes) + " bytes");
  }
  ASSIGN_OR_RETURN(const std::string safe_text, PrecheckToml(text, path));
  toml::parse_result r = toml::parse(safe_text, path);
  if (!r) {
    const auto& b = r.error().source().begin;
    return InvalidArgumentError(path + ":" + std::to_string(b.line) + ":" +
                                std::to_string(b.column) + ": " +
                                std::string(r.error().description()));
  }
  const toml::table& top = r.table();
  for (const auto& [k, v] : top) {
    const std::string_view key = k.str();
    if (key != "format" && key != "tm" && key != "columns" && key != "column") {
      return ErrorAt(path, v, "file", "unknown key " + Quote(key));
    }
  }
  const toml::node* format = top.get("format");
  if (format == nullptr) return InvalidArgumentError(path + ": file: key \"format\" is required");
  if (!format->is_string() || format->as_string()->get() != kResultLayoutFormat) {
    return ErrorAt(path, *format, "file",
                   "format must be \"" + std::string(kResultLayoutFormat) + "\"");
  }
  const toml::node* tm_node = top.get("tm");
  if (tm_node == nullptr) return InvalidArgumentError(path + ": file: key \"tm\" is required");
  if (!tm_node->is_string())
    return ErrorAt(path, *tm_node, "file", "key \"tm\": expected a string");
  const std::string tm_s(tm_node->as_string()->get());
  auto tm = TmCode::Parse(tm_s);
  if (!tm.ok()) return ErrorAt(path, *tm_node, "tm " + Quote(tm_s), tm.status().message());
  const InfoName* info = catalogue.Find(*tm);
  if (info == nullptr) {
    return ErrorAt(path, *tm_node, "tm " + Quote(tm_s),
                   "not an information name of the data standard layout");
  }
  const toml::node* columns_node = top.get("columns");
  if (columns_node == nullptr) {
    return InvalidArgumentError(path + ": file: key \"columns\" is required");
  }
  if (!columns_node->is_integer()) {
    return ErrorAt(path, *columns_node, "file", "key \"columns\": expected an integer");
  }
  const int64_t count = columns_node->as_integer()->get();
  if (count < 1 || static_cast<uint64_t>(count) > limits.max_columns) {
    return ErrorAt(path, *columns_node, "columns",
                   std::to_string(count) + " is outside 1.." + std::to_string(limits.max_columns));
  }

  ResultLayout l;
  l.tm_ = tm_s;
  l.info_ = info;
  l.source_ = path;
  l.columns_.resize(static_cast<size_t>(count));
  const toml::node* column_node = top.get("column");
  if (column_node == nullptr) return l;  // every column empty: allowed, if unusual
  if (!column_node->is_table()) {
    return ErrorAt(path, *column_node, "file", "key \"column\": expected a table ([column])");
  }
  // Who filled what already, to refuse the same content twice (a typo in a column number).
  std::map<std::string, size_t> filled;
  for (const auto& [k, v] : *column_node->as_table()) {
    const std::string_view key = k.str();
    size_t number = 0;
    if (!ParseColumnNumber(key, number)) {
      return ErrorAt(path, v, "column " + Quote(key),
                     "a column is a number from 1 (no sign, no leading zero)");
    }
    const std::string entry = "column " + std::to_string(number);
    if (number > l.columns_.size()) {
      return ErrorAt(path, v, entry, "beyond columns = " + std::to_string(l.columns_.size()));
    }
    if (!v.is_string()) return ErrorAt(path, v, entry, "expected a string");
    const std::string_view fill = v.as_string()->get();
    ResultColumn col;
    bool known = false;
    for (const FillName& f : kFillNames) {
      if (fill == f.name) {
        col.fill = f.fill;
        known = true;
      }
    }
    if (!known && fill.starts_with("inquiry:")) {
      size_t field = 0;
      if (!ParseColumnNumber(fill.substr(8), field) || field > kInquiryFieldCount) {
        return ErrorAt(path, v, entry,
                       "inquiry field " + Quote(fill.substr(8)) + " is not one of 1..18");
      }
      col = {ResultFill::kInquiryField, field, nullptr};
      known = true;
    }
    if (!known && fill.starts_with("item:")) {
      const std::string_view code = fill.substr(5);
      const auto items = info->all_items();
      auto it = std::find_if(items.begin(), items.end(),
                             [&](const Item* i) { return i->code() == code; });
      if (it == items.end()) {
        return ErrorAt(path, v, entry, "item " + Quote(code) + " is not an item of " + tm_s);
      }
      col = {ResultFill::kItem, 0, *it};
      known = true;
    }
    if (!known) {
      return ErrorAt(path, v, entry,
                     "unknown fill " + Quote(fill) +
                         " (inquiry:1..18, line_status, line_message, info_status, "
                         "info_message, item:<item code>, empty)");
    }
    if (col.fill != ResultFill::kEmpty) {
      auto [at, fresh] = filled.emplace(std::string(fill), number);
      if (!fresh) {
        return ErrorAt(path, v, entry,
                       Quote(fill) + " already fills column " + std::to_string(at->second));
      }
    }
    l.columns_[number - 1] = col;
  }
  return l;
}

Result<std::shared_ptr<const ResultLayouts>> ResultLayoutBuilder::Load(
    const std::string& dir, std::shared_ptr<const Catalogue> catalogue,
    const ResultLayoutLimits& limits) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!dir.empty() && !fs::is_directory(dir, ec)) {
    return NotFoundError(dir + ": result layout directory not found");
  }
  std::vector<std::string> files;
  for (fs::directory_iterator it = dir.empty() ? fs::directory_iterator()
                                               : fs::directory_iterator(dir, ec),
                              end;
       !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != ".toml" || !it->is_regular_file(ec)) continue;
    files.push_back(p.filename().string());
    if (files.size() > limits.max_files) {
      return InvalidArgumentError(dir + ": more than " + std::to_string(limits.max_files) +
                                  " result layout files");
    }
  }
  if (ec) return NotFoundError(dir + ": cannot list directory: " + ec.message());
  std::sort(files.begin(), files.end());

  auto set = std::make_shared<ResultLayouts>();
  for (const std::string& name : files) {
    const std::string path = (fs::path(dir) / name).string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return NotFoundError(path + ": cannot open result layout file");
    std::string text;
    char buf[16384];
    while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
      text.append(buf, static_cast<size_t>(in.gcount()));
      if (text.size() > limits.max_file_bytes) {
        return InvalidArgumentError(path + ": file is larger than " +
                                    std::to_string(limits.max_file_bytes) + " bytes");
      }
    }
    if (in.bad()) return NotFoundError(path + ": read error");
    ASSIGN_OR_RETURN(ResultLayout l, Parse(path, text, *catalogue, limits));
    if (auto it = set->loaded_.find(l.tm_); it != set->loaded_.end()) {
      return InvalidArgumentError(path + ": tm " + Quote(l.tm_) + ": already has a layout in " +
                                  it->second.source_);
    }
    std::string tm = l.tm_;
    set->loaded_.emplace(std::move(tm), std::move(l));
  }
  for (const InfoName* info : catalogue->infos()) {
    set->defaults_.emplace(info->code().str(), Default(info));
  }
  set->unknown_ = Default(nullptr);
  set->catalogue_ = std::move(catalogue);
  return std::shared_ptr<const ResultLayouts>(std::move(set));
}

const ResultLayout& ResultLayouts::For(std::string_view tm) const {
  if (auto it = loaded_.find(tm); it != loaded_.end()) return it->second;
  if (auto it = defaults_.find(tm); it != defaults_.end()) return it->second;
  return unknown_;
}

ResultLayout DefaultResultLayout(const InfoName* info) {
  return ResultLayoutBuilder::Default(info);
}

Result<ResultLayout> ParseResultLayout(const std::string& path, std::string_view text,
                                       const Catalogue& catalogue,
                                       const ResultLayoutLimits& limits) {
  return ResultLayoutBuilder::Parse(path, text, catalogue, limits);
}

Result<std::shared_ptr<const ResultLayouts>> LoadResultLayouts(
    const std::string& dir, std::shared_ptr<const Catalogue> catalogue,
    const ResultLayoutLimits& limits) {
  return ResultLayoutBuilder::Load(dir, std::move(catalogue), limits);
}

}  // namespace chukan::layout
