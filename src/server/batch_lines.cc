#include "server/batch_lines.h"

#include <string>

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
  if (b.condition_kind != "0") {
    return refuse("UNSUPPORTED_CONDITION",
                  InvalidArgumentError("照会条件区分 (condition kind): only \"0\" (本人, the "
                                       "person) is supported yet; household "
                                       "inquiries (\"1\", \"2\") are not"));
  }
  if (b.year_kind == "2") {
    return refuse(
        "UNSUPPORTED_DATE_RANGE",
        InvalidArgumentError(
            "照会年度区分 (fiscal-year kind): date ranges (\"2\") are not supported yet"));
  }
  InquiryInput in;
  if (b.year_kind == "1" && b.from) {
    auto fiscal = [](const layout::Date& d) { return d.month >= 4 ? d.year : d.year - 1; };
    if (b.to && fiscal(*b.to) != fiscal(*b.from)) {
      return refuse("UNSUPPORTED_PERIOD",
                    InvalidArgumentError("照会年度区分 (fiscal-year kind): one fiscal year per "
                                         "line is supported; the period spans more"));
    }
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
    in.query[year_item->code()] = std::to_string(fiscal(*b.from));
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
