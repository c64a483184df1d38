// Over 600 lines: the loader checks every rule of docs/data-standard-layout.md (items, code
// lists, data sets, versions, record keys) with an error that names file, line and field; the
// checks share the toml++ walking code, and toml++ stays in this one translation unit.
#include "layout/catalogue_loader.h"

// Header-only, exception-free toml++: Debian's shared library is built with exceptions.
#define TOML_EXCEPTIONS 0
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "common/toml_guard.h"

namespace chukan::layout {
namespace internal {
namespace {

std::string_view TomlTypeName(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string Where(const std::string& file, const toml::node& n) {
  const auto line = n.source().begin.line;
  if (line == 0) return file;
  return file + ":" + std::to_string(line);
}

std::string Quote(std::string_view s) {
  // Catalogue text is valid UTF-8 (toml++ guarantees it); cap what an error echoes.
  std::string out = "\"";
  out.append(s.substr(0, 64));
  if (s.size() > 64) out += "…";
  out += "\"";
  return out;
}

bool IsDigits(std::string_view s, size_t n) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsItemCode(std::string_view s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
         });
}

bool IsCodeListId(std::string_view s) {
  if (s.empty() || s.size() > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsCodeValue(std::string_view s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

// Reads the keys of one TOML table, checking types, and reports keys nobody asked for.
// Errors read "<file>:<line>: <entry>: <what>".
class Fields {
 public:
  Fields(const toml::table& t, const std::string& file, std::string entry)
      : t_(t), file_(file), entry_(std::move(entry)) {}

  void set_entry(std::string entry) { entry_ = std::move(entry); }
  const std::string& entry() const { return entry_; }
  std::string where() const { return Where(file_, t_); }

  Status ErrorAt(const toml::node& n, std::string_view msg) const {
    return InvalidArgumentError(Where(file_, n) + ": " + entry_ + ": " + std::string(msg));
  }
  Status Error(std::string_view msg) const { return ErrorAt(t_, msg); }

  const toml::node* Get(std::string_view key) {
    used_.insert(std::string(key));
    return t_.get(key);
  }

  Result<const toml::node*> Typed(std::string_view key, std::string_view want,
                                  bool (toml::node::*is)() const noexcept, bool required) {
    const toml::node* n = Get(key);
    if (n == nullptr) {
      if (required) return Error("key \"" + std::string(key) + "\" is required");
      return static_cast<const toml::node*>(nullptr);
    }
    if (!(n->*is)()) {
      return ErrorAt(*n, "key \"" + std::string(key) + "\": expected " + std::string(want) +
                             ", found " + std::string(TomlTypeName(n->type())));
    }
    return n;
  }

  // A required, non-empty string.
  Result<std::string> Str(std::string_view key) {
    ASSIGN_OR_RETURN(const toml::node* n, Typed(key, "a string", &toml::node::is_string, true));
    std::string v(n->as_string()->get());
    if (v.empty()) return ErrorAt(*n, "key \"" + std::string(key) + "\" must not be empty");
    return v;
  }
  // An optional string ("" when absent; present but empty is an error).
  Result<std::string> OptStr(std::string_view key) {
    if (t_.get(key) == nullptr) {
      used_.insert(std::string(key));
      return std::string();
    }
    return Str(key);
  }
  Result<bool> Bool(std::string_view key, bool fallback) {
    ASSIGN_OR_RETURN(const toml::node* n, Typed(key, "a boolean", &toml::node::is_boolean, false));
    return n == nullptr ? fallback : n->as_boolean()->get();
  }
  Result<const toml::node*> OptInt(std::string_view key) {
    return Typed(key, "an integer", &toml::node::is_integer, false);
  }
  Result<const toml::node*> OptDate(std::string_view key) {
    return Typed(key, "a date (YYYY-MM-DD, unquoted)", &toml::node::is_date, false);
  }
  Result<const toml::array*> OptArray(std::string_view key) {
    ASSIGN_OR_RETURN(const toml::node* n, Typed(key, "an array", &toml::node::is_array, false));
    return n == nullptr ? nullptr : n->as_array();
  }
  // An optional array whose elements are all tables ([[key]] blocks).
  Result<std::vector<const toml::table*>> Tables(std::string_view key) {
    ASSIGN_OR_RETURN(const toml::array* a, OptArray(key));
    std::vector<const toml::table*> out;
    if (a == nullptr) return out;
    for (const auto& el : *a) {
      if (!el.is_table()) {
        return ErrorAt(el, "key \"" + std::string(key) + "\": expected tables ([[" +
                               std::string(key) + "]]), found " +
                               std::string(TomlTypeName(el.type())));
      }
      out.push_back(el.as_table());
    }
    return out;
  }
  // An optional array of strings.
  Result<std::vector<std::pair<std::string, const toml::node*>>> Strings(std::string_view key) {
    ASSIGN_OR_RETURN(const toml::array* a, OptArray(key));
    std::vector<std::pair<std::string, const toml::node*>> out;
    if (a == nullptr) return out;
    for (const auto& el : *a) {
      if (!el.is_string()) {
        return ErrorAt(el, "key \"" + std::string(key) + "\": expected strings, found " +
                               std::string(TomlTypeName(el.type())));
      }
      out.emplace_back(std::string(el.as_string()->get()), &el);
    }
    return out;
  }

  // Fails on the first key that was never asked for.
  Status CheckNoUnknownKeys() const {
    for (const auto& [k, v] : t_) {
      if (!used_.contains(std::string(k.str()))) {
        return ErrorAt(v, "unknown key \"" + std::string(k.str()) + "\"");
      }
    }
    return Status();
  }

 private:
  const toml::table& t_;
  const std::string& file_;
  std::string entry_;
  std::set<std::string> used_;
};

Result<Date> ToDate(const Fields& f, const toml::node& n, std::string_view key) {
  const toml::date d = n.as_date()->get();
  auto date = Date::FromYmd(d.year, d.month, d.day);
  if (!date) return f.ErrorAt(n, "key \"" + std::string(key) + "\": year must be 1..9999");
  return *date;
}

Result<ItemKind> ParseKind(const Fields& f, const toml::node& n, std::string_view s) {
  for (ItemKind k : {ItemKind::kHeader, ItemKind::kRepeating, ItemKind::kDate, ItemKind::kSingle}) {
    if (ItemKindName(k) == s) return k;
  }
  return f.ErrorAt(n, "unknown kind " + Quote(s) + " (header, repeating, date, single)");
}

Result<ValueType> ParseType(const Fields& f, const toml::node& n, std::string_view s) {
  for (ValueType t : {ValueType::kText, ValueType::kNumber, ValueType::kDate, ValueType::kCode}) {
    if (ValueTypeName(t) == s) return t;
  }
  return f.ErrorAt(n, "unknown type " + Quote(s) + " (text, number, date, code)");
}

}  // namespace

// Builds a Catalogue file by file, then resolves references across files in Finish().
class CatalogueBuilder {
 public:
  CatalogueBuilder(const CatalogueLimits& limits, std::string dir)
      : limits_(limits), catalogue_(new Catalogue()) {  // private constructor: friend only
    catalogue_->directory_ = std::move(dir);
  }

  Status AddFile(const std::string& path, std::string_view text);
  Result<std::shared_ptr<const Catalogue>> Finish();

 private:
  struct PendingItem {
    Item* item;
    std::string code_list;
    std::string where;
    std::string entry;
  };
  struct PendingProcedure {
    size_t index;
    std::string where;
  };
  struct PendingInfo {
    InfoName* info;
    std::string data_set_item;
    std::string where;  // of data_set_item (or of the file)
  };

  static bool HasVersion(const InfoName& info, std::string_view v) {
    return std::any_of(info.versions_.begin(), info.versions_.end(),
                       [&](const auto& lv) { return lv->version_ == v; });
  }
  Status AddCodeList(const std::string& path, const toml::table& t);
  Status AddAffair(const std::string& path, const toml::table& t);
  Status AddProcedure(const std::string& path, const toml::table& t);
  Status AddInfo(const std::string& path, Fields& top);
  Status AddItem(const std::string& path, const toml::table& t, InfoName& info,
                 std::set<std::string>& codes);
  Status AddVersion(const std::string& path, const toml::table& t, InfoName& info,
                    std::vector<std::string>& wheres);

  const CatalogueLimits limits_;
  std::unique_ptr<Catalogue> catalogue_;
  std::map<std::string, std::string, std::less<>> code_list_where_;
  std::map<std::string, std::string, std::less<>> affair_where_;
  std::map<std::string, std::string, std::less<>> procedure_where_;
  std::vector<PendingItem> pending_items_;
  std::vector<PendingProcedure> pending_procedures_;
  std::vector<PendingInfo> pending_infos_;
};

Status CatalogueBuilder::AddFile(const std::string& path, std::string_view text) {
  ASSIGN_OR_RETURN(const std::string safe_text, PrecheckToml(text, path));
  toml::parse_result r = toml::parse(safe_text, path);
  if (!r) {
    const auto& err = r.error();
    const auto& b = err.source().begin;
    return InvalidArgumentError(path + ":" + std::to_string(b.line) + ":" +
                                std::to_string(b.column) + ": " + std::string(err.description()));
  }
  const toml::table& top = r.table();
  Fields f(top, path, "file");
  {
    ASSIGN_OR_RETURN(const toml::node* fmt,
                     f.Typed("format", "a string", &toml::node::is_string, true));
    if (fmt->as_string()->get() != kCatalogueFormat) {
      return f.ErrorAt(*fmt, "format " + Quote(fmt->as_string()->get()) + " is not supported (\"" +
                                 std::string(kCatalogueFormat) + "\")");
    }
  }
  ASSIGN_OR_RETURN(auto code_lists, f.Tables("code_list"));
  for (const toml::table* t : code_lists) RETURN_IF_ERROR(AddCodeList(path, *t));
  ASSIGN_OR_RETURN(auto affairs, f.Tables("affair"));
  for (const toml::table* t : affairs) RETURN_IF_ERROR(AddAffair(path, *t));
  ASSIGN_OR_RETURN(auto procedures, f.Tables("procedure"));
  for (const toml::table* t : procedures) RETURN_IF_ERROR(AddProcedure(path, *t));
  if (top.contains("code")) {
    RETURN_IF_ERROR(AddInfo(path, f));
  }
  return f.CheckNoUnknownKeys();
}

Status CatalogueBuilder::AddCodeList(const std::string& path, const toml::table& t) {
  Fields f(t, path, "code_list");
  ASSIGN_OR_RETURN(std::string id, f.Str("id"));
  f.set_entry("code_list " + Quote(id));
  if (!IsCodeListId(id)) {
    return f.Error("id must be 1..64 characters [a-z0-9_], starting with a letter");
  }
  if (auto it = code_list_where_.find(id); it != code_list_where_.end()) {
    return f.Error("defined twice (first at " + it->second + ")");
  }
  std::unique_ptr<CodeList> list(new CodeList());  // private constructor: friend only
  list->id_ = id;
  ASSIGN_OR_RETURN(list->name_, f.Str("name"));
  ASSIGN_OR_RETURN(auto entries, f.Tables("codes"));
  if (entries.empty()) return f.Error("key \"codes\" must list at least one code");
  if (entries.size() > limits_.max_codes_per_list) {
    return f.Error("more than " + std::to_string(limits_.max_codes_per_list) + " codes");
  }
  std::set<std::string, std::less<>> seen;
  for (const toml::table* e : entries) {
    Fields ef(*e, path, f.entry());
    ASSIGN_OR_RETURN(std::string code, ef.Str("code"));
    ef.set_entry(f.entry() + " code " + Quote(code));
    if (!IsCodeValue(code)) return ef.Error("a code must be 1..32 characters [0-9A-Za-z]");
    if (!seen.insert(code).second) return ef.Error("code listed twice");
    ASSIGN_OR_RETURN(std::string label, ef.Str("label"));
    RETURN_IF_ERROR(ef.CheckNoUnknownKeys());
    list->max_code_length_ = std::max(list->max_code_length_, code.size());
    list->entries_.push_back({std::move(code), std::move(label)});
  }
  RETURN_IF_ERROR(f.CheckNoUnknownKeys());
  list->sorted_.resize(list->entries_.size());
  for (uint32_t i = 0; i < list->sorted_.size(); ++i) list->sorted_[i] = i;
  std::sort(list->sorted_.begin(), list->sorted_.end(), [&](uint32_t a, uint32_t b) {
    return list->entries_[a].code < list->entries_[b].code;
  });
  if (list->max_code_length_ <= 8) {
    for (uint32_t i : list->sorted_) {
      list->packed_.push_back(CodeList::PackCode(list->entries_[i].code));
    }
  }
  code_list_where_.emplace(id, f.where());
  catalogue_->code_lists_.emplace(id, std::move(list));
  return Status();
}

Status CatalogueBuilder::AddAffair(const std::string& path, const toml::table& t) {
  Fields f(t, path, "affair");
  ASSIGN_OR_RETURN(std::string code_s, f.Str("code"));
  f.set_entry("affair " + Quote(code_s));
  auto code = JmCode::Parse(code_s);
  if (!code.ok()) return f.Error(code.status().message());
  if (auto it = affair_where_.find(code_s); it != affair_where_.end()) {
    return f.Error("defined twice (first at " + it->second + ")");
  }
  ASSIGN_OR_RETURN(std::string name, f.Str("name"));
  ASSIGN_OR_RETURN(std::string name_en, f.OptStr("name_en"));
  RETURN_IF_ERROR(f.CheckNoUnknownKeys());
  affair_where_.emplace(code_s, f.where());
  catalogue_->affairs_.push_back({std::move(*code), std::move(name), std::move(name_en)});
  return Status();
}

Status CatalogueBuilder::AddProcedure(const std::string& path, const toml::table& t) {
  Fields f(t, path, "procedure");
  ASSIGN_OR_RETURN(std::string code_s, f.Str("code"));
  f.set_entry("procedure " + Quote(code_s));
  auto code = JtCode::Parse(code_s);
  if (!code.ok()) return f.Error(code.status().message());
  if (auto it = procedure_where_.find(code_s); it != procedure_where_.end()) {
    return f.Error("defined twice (first at " + it->second + ")");
  }
  ASSIGN_OR_RETURN(std::string name, f.Str("name"));
  ASSIGN_OR_RETURN(std::string name_en, f.OptStr("name_en"));
  ASSIGN_OR_RETURN(std::string affair_s, f.Str("affair"));
  auto affair = JmCode::Parse(affair_s);
  if (!affair.ok()) return f.Error("affair: " + affair.status().message());
  RETURN_IF_ERROR(f.CheckNoUnknownKeys());
  procedure_where_.emplace(code_s, f.where());
  pending_procedures_.push_back({catalogue_->procedures_.size(), f.where()});
  catalogue_->procedures_.push_back(
      {std::move(*code), std::move(name), std::move(name_en), std::move(*affair)});
  return Status();
}

Status CatalogueBuilder::AddInfo(const std::string& path, Fields& f) {
  ASSIGN_OR_RETURN(std::string code_s, f.Str("code"));
  f.set_entry(code_s);
  auto code = TmCode::Parse(code_s);
  if (!code.ok()) return f.ErrorAt(*f.Get("code"), code.status().message());
  if (const InfoName* other = catalogue_->Find(code_s)) {
    return f.ErrorAt(*f.Get("code"),
                     "information name defined twice (first in " + other->source() + ")");
  }
  std::unique_ptr<InfoName> info(new InfoName(std::move(*code)));  // private constructor
  InfoName& in = *info;
  in.source_ = path;
  ASSIGN_OR_RETURN(in.name_, f.Str("name"));
  ASSIGN_OR_RETURN(in.name_en_, f.Str("name_en"));
  ASSIGN_OR_RETURN(in.approval_required_, f.Bool("approval_required", false));
  ASSIGN_OR_RETURN(in.non_disclosure_, f.Bool("non_disclosure", false));
  ASSIGN_OR_RETURN(std::string description, f.OptStr("description"));

  // Data sets.
  ASSIGN_OR_RETURN(auto data_sets, f.Tables("data_set"));
  for (const toml::table* t : data_sets) {
    Fields df(*t, path, code_s + " data_set");
    ASSIGN_OR_RETURN(std::string ds, df.Str("code"));
    df.set_entry(code_s + " data_set " + Quote(ds));
    if (!IsDigits(ds, 4)) return df.Error("a data set code is 4 digits");
    if (in.FindDataSet(ds) != nullptr) return df.Error("data set listed twice");
    ASSIGN_OR_RETURN(std::string name, df.Str("name"));
    RETURN_IF_ERROR(df.CheckNoUnknownKeys());
    in.data_sets_.push_back({std::move(ds), std::move(name)});
  }

  // Versions.
  ASSIGN_OR_RETURN(auto versions, f.Tables("version"));
  if (versions.empty()) return f.Error("at least one [[version]] is required");
  if (versions.size() > limits_.max_versions_per_info) {
    return f.Error("more than " + std::to_string(limits_.max_versions_per_info) + " versions");
  }
  std::vector<std::string> version_wheres;
  for (const toml::table* t : versions) {
    RETURN_IF_ERROR(AddVersion(path, *t, in, version_wheres));
  }
  // Ascending version numbers must have ascending, non-overlapping validity.
  std::vector<size_t> order(in.versions_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return in.versions_[a]->version_ < in.versions_[b]->version_;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const LayoutVersion& prev = *in.versions_[order[k - 1]];
    const LayoutVersion& cur = *in.versions_[order[k]];
    const std::string entry = code_s + " version " + Quote(cur.version_);
    if (!prev.valid_to_ || !(*prev.valid_to_ < cur.valid_from_)) {
      return InvalidArgumentError(
          version_wheres[order[k]] + ": " + entry + ": valid_from " + cur.valid_from_.ToString() +
          " overlaps version " + Quote(prev.version_) + " (" + prev.valid_from_.ToString() +
          " .. " + (prev.valid_to_ ? prev.valid_to_->ToString() : "open") + ")");
    }
  }
  std::map<std::string, std::string> where_of;  // version -> file:line
  for (size_t i = 0; i < in.versions_.size(); ++i) {
    where_of[in.versions_[i]->version_] = version_wheres[i];
  }
  {
    std::vector<std::unique_ptr<LayoutVersion>> sorted;
    for (size_t i : order) sorted.push_back(std::move(in.versions_[i]));
    in.versions_ = std::move(sorted);
  }

  // Items.
  ASSIGN_OR_RETURN(auto items, f.Tables("item"));
  if (items.empty()) return f.Error("at least one [[item]] is required");
  if (items.size() > limits_.max_items_per_info) {
    return f.Error("more than " + std::to_string(limits_.max_items_per_info) + " items");
  }
  std::set<std::string> item_codes;
  for (const toml::table* t : items) {
    RETURN_IF_ERROR(AddItem(path, *t, in, item_codes));
  }

  // Record key.
  ASSIGN_OR_RETURN(auto key, f.Strings("record_key"));
  for (const auto& [k, node] : key) {
    const Item* item = nullptr;
    for (const Item* it : in.item_ptrs_) {
      if (it->code_ == k) item = it;
    }
    const std::string what = "record_key item " + Quote(k) + ": ";
    if (item == nullptr) return f.ErrorAt(*node, what + "no such item");
    if (std::find(in.record_key_.begin(), in.record_key_.end(), k) != in.record_key_.end()) {
      return f.ErrorAt(*node, what + "listed twice");
    }
    if (item->kind_ != ItemKind::kHeader) return f.ErrorAt(*node, what + "must be of kind header");
    if (!item->required_) return f.ErrorAt(*node, what + "must be required");
    if (!item->data_set_.empty()) return f.ErrorAt(*node, what + "must not belong to a data set");
    if (!item->from_version_.empty() || !item->to_version_.empty()) {
      return f.ErrorAt(*node, what + "must be in every version (no from_version/to_version)");
    }
    in.record_key_.push_back(k);
  }

  // Data-set item.
  ASSIGN_OR_RETURN(const toml::node* dsi,
                   f.Typed("data_set_item", "a string", &toml::node::is_string, false));
  std::string data_set_item;
  if (dsi != nullptr) {
    data_set_item = dsi->as_string()->get();
    if (in.data_sets_.empty()) {
      return f.ErrorAt(*dsi, "data_set_item given but no [[data_set]] is defined");
    }
    if (std::find(in.record_key_.begin(), in.record_key_.end(), data_set_item) ==
        in.record_key_.end()) {
      return f.ErrorAt(*dsi, "data_set_item " + Quote(data_set_item) + " must be in record_key");
    }
  } else if (!in.data_sets_.empty()) {
    return f.Error("data_set_item is required when [[data_set]] is defined");
  }

  // Columns of each version.
  for (auto& v : in.versions_) {
    v->info_ = &in;
    for (const Item* it : in.item_ptrs_) {
      if (!it->from_version_.empty() && v->version_ < it->from_version_) continue;
      if (!it->to_version_.empty() && v->version_ > it->to_version_) continue;
      v->index_.emplace(std::string_view(it->code_), v->items_.size());
      v->items_.push_back(it);
    }
    if (v->items_.empty()) {
      return InvalidArgumentError(where_of[v->version_] + ": " + code_s + " version " +
                                  Quote(v->version_) + ": has no items");
    }
    for (const auto& k : in.record_key_) v->key_indexes_.push_back(v->index_.at(k));
    if (!data_set_item.empty()) v->data_set_index_ = v->index_.at(data_set_item);
    in.version_ptrs_.push_back(v.get());
  }
  pending_infos_.push_back({&in, data_set_item, dsi ? Where(path, *dsi) : f.where()});
  catalogue_->infos_.emplace(code_s, std::move(info));
  return Status();
}

Status CatalogueBuilder::AddVersion(const std::string& path, const toml::table& t, InfoName& info,
                                    std::vector<std::string>& wheres) {
  const std::string& tm = info.code_.str();
  Fields f(t, path, tm + " version");
  ASSIGN_OR_RETURN(std::string version, f.Str("version"));
  f.set_entry(tm + " version " + Quote(version));
  if (!IsDigits(version, 4)) return f.Error("a version (版番号) is 4 digits");
  if (HasVersion(info, version)) return f.Error("version listed twice");
  std::unique_ptr<LayoutVersion> v(new LayoutVersion());  // private constructor: friend only
  v->version_ = version;
  ASSIGN_OR_RETURN(const toml::node* from, f.OptDate("valid_from"));
  if (from == nullptr) return f.Error("key \"valid_from\" is required");
  ASSIGN_OR_RETURN(v->valid_from_, ToDate(f, *from, "valid_from"));
  ASSIGN_OR_RETURN(const toml::node* to, f.OptDate("valid_to"));
  if (to != nullptr) {
    ASSIGN_OR_RETURN(Date d, ToDate(f, *to, "valid_to"));
    if (d < v->valid_from_) {
      return f.ErrorAt(
          *to, "valid_to " + d.ToString() + " is before valid_from " + v->valid_from_.ToString());
    }
    v->valid_to_ = d;
  }
  RETURN_IF_ERROR(f.CheckNoUnknownKeys());
  wheres.push_back(f.where());
  info.versions_.push_back(std::move(v));
  return Status();
}

Status CatalogueBuilder::AddItem(const std::string& path, const toml::table& t, InfoName& info,
                                 std::set<std::string>& codes) {
  const std::string& tm = info.code_.str();
  Fields f(t, path, tm + " item");
  ASSIGN_OR_RETURN(std::string code, f.Str("code"));
  f.set_entry(tm + " item " + Quote(code));
  if (!IsItemCode(code)) return f.Error("an item code is 16 characters [0-9A-Z]");
  if (!codes.insert(code).second) return f.Error("item code listed twice");
  std::unique_ptr<Item> item(new Item());  // private constructor: friend only
  Item& it = *item;
  it.code_ = code;
  ASSIGN_OR_RETURN(it.name_, f.Str("name"));
  ASSIGN_OR_RETURN(std::string name_en, f.OptStr("name_en"));
  ASSIGN_OR_RETURN(std::string description, f.OptStr("description"));
  {
    ASSIGN_OR_RETURN(const toml::node* n,
                     f.Typed("kind", "a string", &toml::node::is_string, true));
    ASSIGN_OR_RETURN(it.kind_, ParseKind(f, *n, n->as_string()->get()));
  }
  const toml::node* type_node = nullptr;
  {
    ASSIGN_OR_RETURN(type_node, f.Typed("type", "a string", &toml::node::is_string, true));
    ASSIGN_OR_RETURN(it.type_, ParseType(f, *type_node, type_node->as_string()->get()));
  }
  if (it.kind_ == ItemKind::kDate && it.type_ != ValueType::kDate) {
    return f.ErrorAt(*type_node, "an item of kind date must have type date");
  }
  ASSIGN_OR_RETURN(const toml::node* max_length, f.OptInt("max_length"));
  switch (it.type_) {
    case ValueType::kText:
    case ValueType::kNumber: {
      if (max_length == nullptr) {
        return f.Error("key \"max_length\" is required for type " +
                       std::string(ValueTypeName(it.type_)));
      }
      const int64_t n = max_length->as_integer()->get();
      const size_t cap =
          it.type_ == ValueType::kText ? limits_.max_text_length : limits_.max_number_length;
      if (n <= 0 || static_cast<uint64_t>(n) > cap) {
        return f.ErrorAt(*max_length, "max_length " + std::to_string(n) + " is outside 1.." +
                                          std::to_string(cap));
      }
      it.max_length_ = static_cast<size_t>(n);
      break;
    }
    case ValueType::kDate:
      if (max_length != nullptr) {
        return f.ErrorAt(*max_length, "max_length is not allowed for type date (always 10)");
      }
      it.max_length_ = 10;
      break;
    case ValueType::kCode:
      if (max_length != nullptr) {
        return f.ErrorAt(*max_length,
                         "max_length is not allowed for type code (the code list's longest code)");
      }
      break;
  }
  ASSIGN_OR_RETURN(it.required_, f.Bool("required", false));
  {
    ASSIGN_OR_RETURN(const toml::node* s,
                     f.Typed("signed", "a boolean", &toml::node::is_boolean, false));
    if (s != nullptr) {
      if (it.type_ != ValueType::kNumber) {
        return f.ErrorAt(*s, "\"signed\" is only allowed for type number");
      }
      it.allow_sign_ = s->as_boolean()->get();
    }
  }
  ASSIGN_OR_RETURN(const toml::node* cl,
                   f.Typed("code_list", "a string", &toml::node::is_string, false));
  std::string code_list;
  if (it.type_ == ValueType::kCode) {
    if (cl == nullptr) return f.Error("key \"code_list\" is required for type code");
    code_list = cl->as_string()->get();
  } else if (cl != nullptr) {
    return f.ErrorAt(*cl, "\"code_list\" is only allowed for type code");
  }
  ASSIGN_OR_RETURN(const toml::node* ds,
                   f.Typed("data_set", "a string", &toml::node::is_string, false));
  if (ds != nullptr) {
    it.data_set_ = ds->as_string()->get();
    if (info.FindDataSet(it.data_set_) == nullptr) {
      return f.ErrorAt(*ds, "unknown data set " + Quote(it.data_set_));
    }
  }
  ASSIGN_OR_RETURN(bool approval, f.Bool("approval_required", false));
  ASSIGN_OR_RETURN(bool non_disclosure, f.Bool("non_disclosure", false));
  it.approval_required_ = approval || info.approval_required_;
  it.non_disclosure_ = non_disclosure || info.non_disclosure_;
  for (const char* key : {"from_version", "to_version"}) {
    ASSIGN_OR_RETURN(const toml::node* n, f.Typed(key, "a string", &toml::node::is_string, false));
    if (n == nullptr) continue;
    std::string v(n->as_string()->get());
    if (!HasVersion(info, v)) {
      return f.ErrorAt(*n, std::string(key) + " " + Quote(v) + ": no such version");
    }
    (std::string_view(key) == "from_version" ? it.from_version_ : it.to_version_) = std::move(v);
  }
  if (!it.from_version_.empty() && !it.to_version_.empty() && it.to_version_ < it.from_version_) {
    return f.Error("to_version " + Quote(it.to_version_) + " is before from_version " +
                   Quote(it.from_version_));
  }
  RETURN_IF_ERROR(f.CheckNoUnknownKeys());
  if (it.type_ == ValueType::kCode) {
    pending_items_.push_back({&it, std::move(code_list), f.where(), f.entry()});
  }
  info.item_ptrs_.push_back(&it);
  info.items_.push_back(std::move(item));
  return Status();
}

Result<std::shared_ptr<const Catalogue>> CatalogueBuilder::Finish() {
  Catalogue& c = *catalogue_;
  for (const PendingItem& p : pending_items_) {
    const CodeList* list = c.FindCodeList(p.code_list);
    if (list == nullptr) {
      return InvalidArgumentError(p.where + ": " + p.entry + ": unknown code list " +
                                  Quote(p.code_list));
    }
    p.item->code_list_ = list;
    p.item->max_length_ = list->max_code_length();
  }
  for (const PendingInfo& p : pending_infos_) {
    if (p.data_set_item.empty()) continue;
    const Item* item = p.info->LatestVersion().FindItem(p.data_set_item);
    const std::string entry = p.info->code().str() + " data_set_item " + Quote(p.data_set_item);
    if (item->type() != ValueType::kCode) {
      return InvalidArgumentError(p.where + ": " + entry + ": must be of type code");
    }
    const CodeList& list = *item->code_list();
    bool same = list.entries().size() == p.info->data_sets().size();
    for (const DataSet& ds : p.info->data_sets()) same = same && list.Contains(ds.code);
    if (!same) {
      return InvalidArgumentError(p.where + ": " + entry + ": code list " + Quote(list.id()) +
                                  " must hold exactly the data set codes");
    }
  }
  for (const PendingProcedure& p : pending_procedures_) {
    const Procedure& proc = c.procedures_[p.index];
    if (!affair_where_.contains(proc.affair.str())) {
      return InvalidArgumentError(p.where + ": procedure " + Quote(proc.code.str()) +
                                  ": unknown affair " + Quote(proc.affair.str()));
    }
  }
  if (c.infos_.empty()) {
    return InvalidArgumentError(c.directory_ + ": no information name (TM) in the catalogue");
  }
  std::sort(c.affairs_.begin(), c.affairs_.end(),
            [](const Affair& a, const Affair& b) { return a.code < b.code; });
  std::sort(c.procedures_.begin(), c.procedures_.end(),
            [](const Procedure& a, const Procedure& b) { return a.code < b.code; });
  for (const auto& [code, info] : c.infos_) c.info_ptrs_.push_back(info.get());
  for (const auto& [id, list] : c.code_lists_) c.code_list_ptrs_.push_back(list.get());
  return std::shared_ptr<const Catalogue>(std::move(catalogue_));
}

}  // namespace internal

Result<std::shared_ptr<const Catalogue>> LoadCatalogue(const std::string& dir,
                                                       const CatalogueLimits& limits) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFoundError(dir + ": layout catalogue directory not found");
  }
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != ".toml" || !it->is_regular_file(ec)) continue;
    files.push_back(p.filename().string());
    if (files.size() > limits.max_files) {
      return InvalidArgumentError(dir + ": more than " + std::to_string(limits.max_files) +
                                  " catalogue files");
    }
  }
  if (ec) return NotFoundError(dir + ": cannot list directory: " + ec.message());
  std::sort(files.begin(), files.end());

  std::vector<CatalogueFile> texts;
  size_t total = 0;
  for (const std::string& name : files) {
    const std::string path = (fs::path(dir) / name).string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return NotFoundError(path + ": cannot open catalogue file");
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
    total += text.size();
    if (total > limits.max_total_bytes) {
      return InvalidArgumentError(path + ": catalogue is larger than " +
                                  std::to_string(limits.max_total_bytes) + " bytes in total");
    }
    texts.push_back({path, std::move(text)});
  }
  return ParseCatalogue(dir, texts, limits);
}

Result<std::shared_ptr<const Catalogue>> ParseCatalogue(const std::string& directory,
                                                        const std::vector<CatalogueFile>& files,
                                                        const CatalogueLimits& limits) {
  internal::CatalogueBuilder builder(limits, directory);
  for (const CatalogueFile& file : files) RETURN_IF_ERROR(builder.AddFile(file.path, file.text));
  return builder.Finish();
}

}  // namespace chukan::layout
