// The inquiry (情報照会) one valid line of a batch inquiry file (一括照会ファイル, P640R110;
// batch_inquiry.h) asks for: the line's fields checked against the tenant and turned into an
// InquiryInput, with the two look-ups a line may need done by resolvers the caller passes — the
// 宛名番号 → 団体内統合宛名番号 mapping (AtenaMap) and the 地方公共団体コード → 機関コード
// look-up of the hub's registry.
//
// Thread-safety: pure functions; the resolvers are called on the caller's thread.
#ifndef CHUKAN_SERVER_BATCH_LINES_H_
#define CHUKAN_SERVER_BATCH_LINES_H_

#include <functional>
#include <string_view>

#include "common/ids.h"
#include "common/status.h"
#include "layout/catalogue.h"
#include "server/batch_inquiry.h"
#include "server/inquiries.h"
#include "server/platform.h"

namespace chukan::server {

// The organisation a municipality's 地方公共団体コード names (`digits`: 5 digits, or 6 with the
// check digit, which the resolver checks). kNotFound when the hub's registry has none; any
// other error is the resolver's own (a reason fit for the client, no value in it).
using LocalGovResolver = std::function<Result<OrgCode>(std::string_view local_gov_digits)>;

// The 団体内統合宛名番号 of a line (AtenaMap::Resolve with the tenant's setting). Errors are
// line errors: a reason fit for the client naming the field, never a value.
using AtenaResolver = std::function<Result<AtenaNo>(const BatchInquiry& line)>;

// A LocalGovResolver for a server without the hub's registry of 地方公共団体コード: every code
// is kNotFound.
LocalGovResolver NoLocalGovRegistry();

// The inquiry a valid batch line asks for, or why this server cannot make it: kInvalidArgument
// (or the resolver's error) with a reason for the client that names the field as
// "Japanese (English): …" and never contains the resident's numbers or another value:
//  - the inquirer (情報照会者機関コード) is not the tenant's own organisation;
//  - the 宛名番号 has no 団体内統合宛名番号 (from `atena`);
//  - the provider's 地方公共団体コード is not in the hub's registry (kNotFound from
//    `local_gov`);
//  - 照会条件区分 "2" (with dependants: not supported yet), or a fiscal-year inquiry whose
//    information name has no fiscal-year item.
//  - the 特定個人情報名コード is not in the catalogue.
// The conditions travel as reserved query keys (linkage/permit.h, docs/linkage.md): 照会条件区分
// "1" → _scope=household; 照会年度区分 "2" → _from/_to = 照会開始日付/照会終了日付; "1" →
// _from = 1 April of the fiscal year of 照会開始日付, _to = 31 March ending the fiscal year of
// 照会終了日付 (or of 照会開始日付 when empty), _fiscal_item = the first item of the TM's latest
// version whose name contains 年度.
// 照会側不開示コード and the 委任元 codes are carried into the inquiry as they are; the hub checks
// the 委任元 (a refusal ends the inquiry refused with the hub's reason).
// On an error, `*code` (when given) is set to the refusal's code for the result file
// (docs/inquiry-result-format.md): NOT_OWN_ORG, UNKNOWN_TM, UNSUPPORTED_CONDITION,
// NO_FISCAL_YEAR_ITEM, FORMAT (a fiscal year out of range), UNKNOWN_PROVIDER,
// NO_ATENA_MAPPING (the `atena` resolver's errors) or the status code's name (another error of
// `local_gov`).
Result<InquiryInput> FromBatchLine(const BatchInquiry& b, const ClientIdentity& who,
                                   const layout::Catalogue& catalogue, const AtenaResolver& atena,
                                   const LocalGovResolver& local_gov, std::string* code = nullptr);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_BATCH_LINES_H_
