// The tenant's records of provision (情報提供等記録) as the intermediate server keeps them, from
// its own tables: one entry per inquiry (as inquirer) and one per permit received (as provider),
// paged by time. The hub keeps the authoritative records; these are the tenant's side.
//
// Thread-safety: stateless.
#ifndef CHUKAN_SERVER_LINKAGE_RECORDS_H_
#define CHUKAN_SERVER_LINKAGE_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "layout/catalogue.h"
#include "server/tenant_context.h"

namespace chukan::server {

// One entry of the tenant's records of provision: as inquirer (one per inquiry) or as provider
// (one per permit received).
struct RecordEntry {
  std::string role;         // "inquirer" or "provider"
  std::string id;           // inquiry_id (inquirer) or permit_id (provider)
  std::string permit_id;    // empty until permitted (inquirer)
  std::string counterpart;  // the other organisation's code
  std::string procedure;    // 事務手続コード
  std::string tm;           // 特定個人情報名コード
  std::string layout_version;
  std::string subject_code;  // this tenant's code of the person (符号)
  std::string state;         // the inquiry's or the provision's state
  std::string reason;
  std::string decided_by;              // provider, 自動応答不可: the approver
  std::string department;              // inquirer: 情報照会者部署コード, when given
  std::string user_id;                 // inquirer: 情報照会者ユーザーID, when given
  int64_t at_us = 0;                   // created (inquirer) or received (provider)
  std::optional<int64_t> ended_at_us;  // ended (inquirer) or sent/decided (provider)
  // Not to be shown to the resident (a resident-facing view holds the entry back): the TM or
  // an item of its layout version is flagged 不開示, or the inquirer asked for it.
  bool non_disclosure = false;
  bool inquirer_non_disclosure = false;  // 照会側不開示: the inquirer asked for it
  std::string inquirer_delegator;  // 情報照会者機関コード（委任元）; empty: none
  std::string provider_delegator;  // 情報提供者機関コード（委任元）; empty: none
};

// The tenant's records with at_us > after_us, oldest first, at most `limit` (1–1000) of each
// role, cut so that the next page (after the last entry's at_us) misses nothing.
// kInvalidArgument for a bad limit.
Result<std::vector<RecordEntry>> ListRecords(TenantContext& st, const layout::Catalogue& catalogue,
                                             int64_t after_us, int limit);

// What a resident-facing view (自己情報表示) may show of a page of ListRecords: the entries
// without non_disclosure, in order.
std::vector<RecordEntry> ResidentView(std::vector<RecordEntry> page);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_RECORDS_H_
