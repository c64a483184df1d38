#include "layout/catalogue.h"

#include <algorithm>

namespace chukan::layout {

std::string_view ItemKindName(ItemKind kind) {
  switch (kind) {
    case ItemKind::kHeader:
      return "header";
    case ItemKind::kRepeating:
      return "repeating";
    case ItemKind::kDate:
      return "date";
    case ItemKind::kSingle:
      return "single";
  }
  return "?";
}

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kText:
      return "text";
    case ValueType::kNumber:
      return "number";
    case ValueType::kDate:
      return "date";
    case ValueType::kCode:
      return "code";
  }
  return "?";
}

uint64_t CodeList::PackCode(std::string_view code) noexcept {
  uint64_t v = 0;
  for (size_t i = 0; i < code.size() && i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(code[i])) << (56 - 8 * i);
  }
  return v;
}

const CodeEntry* CodeList::FindEntry(std::string_view code) const noexcept {
  if (code.size() > max_code_length_) return nullptr;
  if (!packed_.empty()) {
    // A value every record checks against a code list (a few a row on an import): integers
    // compared instead of strings. A value with NULs may pack as a code does; the length tells.
    const uint64_t key = PackCode(code);
    const auto at = std::lower_bound(packed_.begin(), packed_.end(), key);
    if (at == packed_.end() || *at != key) return nullptr;
    const CodeEntry& e = entries_[sorted_[static_cast<size_t>(at - packed_.begin())]];
    return e.code.size() == code.size() ? &e : nullptr;
  }
  auto it = std::lower_bound(
      sorted_.begin(), sorted_.end(), code,
      [this](uint32_t i, std::string_view c) { return std::string_view(entries_[i].code) < c; });
  if (it == sorted_.end() || entries_[*it].code != code) return nullptr;
  return &entries_[*it];
}

bool CodeList::Contains(std::string_view code) const noexcept { return FindEntry(code) != nullptr; }

const std::string* CodeList::Label(std::string_view code) const noexcept {
  const CodeEntry* e = FindEntry(code);
  return e == nullptr ? nullptr : &e->label;
}

const Item* LayoutVersion::FindItem(std::string_view code) const {
  auto it = index_.find(code);
  return it == index_.end() ? nullptr : items_[it->second];
}

std::optional<size_t> LayoutVersion::ItemIndex(std::string_view code) const {
  auto it = index_.find(code);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

const DataSet* InfoName::FindDataSet(std::string_view code) const {
  for (const auto& ds : data_sets_) {
    if (ds.code == code) return &ds;
  }
  return nullptr;
}

const LayoutVersion* InfoName::Version(std::string_view version) const {
  for (const LayoutVersion* v : version_ptrs_) {
    if (v->version() == version) return v;
  }
  return nullptr;
}

const LayoutVersion* InfoName::VersionAt(const Date& d) const {
  for (const LayoutVersion* v : version_ptrs_) {
    if (v->IsValidOn(d)) return v;
  }
  return nullptr;
}

const InfoName* Catalogue::Find(const TmCode& code) const { return Find(code.str()); }

const InfoName* Catalogue::Find(std::string_view tm_code) const {
  auto it = infos_.find(tm_code);
  return it == infos_.end() ? nullptr : it->second.get();
}

const Affair* Catalogue::FindAffair(const JmCode& code) const {
  auto it = std::lower_bound(affairs_.begin(), affairs_.end(), code,
                             [](const Affair& a, const JmCode& c) { return a.code < c; });
  return it != affairs_.end() && it->code == code ? &*it : nullptr;
}

const Procedure* Catalogue::FindProcedure(const JtCode& code) const {
  auto it = std::lower_bound(procedures_.begin(), procedures_.end(), code,
                             [](const Procedure& p, const JtCode& c) { return p.code < c; });
  return it != procedures_.end() && it->code == code ? &*it : nullptr;
}

const CodeList* Catalogue::FindCodeList(std::string_view id) const {
  auto it = code_lists_.find(id);
  return it == code_lists_.end() ? nullptr : it->second.get();
}

bool NeedsApproval(const InfoName& info, const LayoutVersion& version) {
  if (info.approval_required()) return true;
  for (const Item* item : version.items()) {
    if (item->approval_required()) return true;
  }
  return false;
}

bool NonDisclosure(const InfoName& info, const LayoutVersion* version) {
  if (info.non_disclosure()) return true;
  if (version != nullptr) {
    for (const Item* item : version->items()) {
      if (item->non_disclosure()) return true;
    }
    return false;
  }
  for (const Item* item : info.all_items()) {
    if (item->non_disclosure()) return true;
  }
  return false;
}

}  // namespace chukan::layout
