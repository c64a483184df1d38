#include "server/batch_lines.h"

#include <optional>
#include <string>

#include "linkage/permit.h"

namespace chukan::server {

LocalGovResolver NoLocalGovRegistry() {
  return [](std::string_view) -> Result<OrgCode> {
    return NotFoundError("no registry of 地方公共団体コード");
  };
}

Result<InquiryInput> FromBatchLine(const BatchInquiry& b, const ClientIdentity& who,
                                   const layout::Catalogue& catalogue, const AtenaResolver& atena,
                                   const LocalGovResolver& local_gov, std::string* code) {
  auto refuse = [code](std::string_view c, Status s) -> Status {
    if (code != nullptr) *code = std::string(c);
    return s;
  };
  if (b.inquirer != who.tenant.org()) {
    return refuse(
        "NOT_OWN_ORG",
        InvalidArgumentError("情報照会者機関コード (inquirer): not this tenant's organisation"));
  }
  if (catalogue.Find(b.tm) == nullptr) {
    return refuse("UNKNOWN_TM",
                  InvalidArgumentError("特定個人情報名コード (information name): not in the data "
                                       "standard layout catalogue"));
  }
  InquiryInput in;
  if (b.condition_kind == "1") {
    in.query[std::string(linkage::kQueryScope)] = std::string(linkage::kScopeHousehold);
  } else if (b.condition_kind != "0") {
    return refuse("UNSUPPORTED_CONDITION",
                  InvalidArgumentError("照会条件区分 (condition kind): \"2\" (被扶養者を含む, "
                                       "with dependants) is not supported yet"));
  }
  if (b.year_kind == "2" && b.from && b.to) {
    // 期間指定: the versions valid at some day of the period.
    in.query[std::string(linkage::kQueryFrom)] = b.from->ToString();
    in.query[std::string(linkage::kQueryTo)] = b.to->ToString();
  }
  if (b.year_kind == "1" && b.from) {
    // 年度指定: the fiscal years from that of 照会開始日付 to that of 照会終了日付 (or the one
    // year): the versions valid in them, and the records of those years.
    const int first = linkage::FiscalYear(*b.from);
    const int last = b.to ? linkage::FiscalYear(*b.to) : first;
    const layout::InfoName* info = catalogue.Find(b.tm);
    const layout::LayoutVersion* version = info ? &info->LatestVersion() : nullptr;
    const layout::Item* year_item = nullptr;
    if (version != nullptr) {
      for (const layout::Item* item : version->items()) {
        if (item->name().find("年度") != std::string::npos) {
          year_item = item;
          break;
        }
      }
    }
    if (year_item == nullptr) {
      return refuse(
          "NO_FISCAL_YEAR_ITEM",
          InvalidArgumentError("照会年度区分 (fiscal-year kind): the 特定個人情報名コード "
                               "(information name) has no fiscal-year item to select "
                               "by"));
    }
    const std::optional<layout::Date> from = layout::Date::FromYmd(first, 4, 1);
    const std::optional<layout::Date> to = layout::Date::FromYmd(last + 1, 3, 31);
    if (!from || !to) {
      return refuse("FORMAT", InvalidArgumentError("照会開始日付 (from): the fiscal year is out "
                                                   "of range"));
    }
    in.query[std::string(linkage::kQueryFrom)] = from->ToString();
    in.query[std::string(linkage::kQueryTo)] = to->ToString();
    in.query[std::string(linkage::kQueryFiscalItem)] = year_item->code();
  }
  if (b.provider) {
    in.provider = *b.provider;
  } else {
    Result<OrgCode> org = local_gov(b.provider_local_gov);
    if (org.status().code() == StatusCode::kNotFound) {
      return refuse(
          "UNKNOWN_PROVIDER",
          InvalidArgumentError("情報提供者機関コード (provider): the 地方公共団体コード is "
                               "not in the hub's registry"));
    }
    if (!org.ok()) {
      // A wrong check digit is the line's format; anything else (no permission list) the server's.
      return refuse(org.status().code() == StatusCode::kInvalidArgument
                        ? std::string_view("FORMAT")
                        : StatusCodeName(org.status().code()),
                    org.status());
    }
    in.provider = *std::move(org);
  }
  Result<AtenaNo> atena_no = atena(b);
  if (!atena_no.ok()) return refuse("NO_ATENA_MAPPING", atena_no.status());
  in.atena = *std::move(atena_no);
  in.procedure = b.jt;
  in.tm = b.tm;
  in.client = who.name;
  in.department = b.department;
  in.user_id = b.user_id;
  in.non_disclosure = b.non_disclosure;
  in.inquirer_delegator = b.inquirer_delegator;
  in.provider_delegator = b.provider_delegator;
  return in;
}

}  // namespace chukan::server
