// AtenaMap: how a tenant turns the 宛名番号 (business number) of a batch inquiry file line into
// the 団体内統合宛名番号 (AtenaNo) its inquiries and subject codes use — the tenant's setting
// `atena_mapping` and its mapping table (宛名番号変換表, table atena_map).
//
//  - identity (the default): the 団体内統合宛名番号 is the 宛名番号 zero-padded to 15 digits, for
//    番号体系 "01" (宛名番号); other 番号体系 need the table.
//  - table: a mapping per 番号体系 the tenant loads (Load: CSV `番号体系,宛名番号,統合宛名番号`).
// Either way a line that gives its 統合宛名番号 (field 3) is taken at its word; in table mode a
// mapping that disagrees with it is a line error.
//
// The table keeps no 宛名番号 (a resident's identifier): only its keyed hash under the tenant's
// index key (as subject_codes keeps its atena_no), and the 団体内統合宛名番号 sealed under the
// tenant's data key, bound to the tenant, the table and the row. docs/batch-inquiry-format.md
// describes the setting and the file.
//
// Thread-safety: thread-safe (state lives in the tenant's database).
#ifndef CHUKAN_SERVER_ATENA_MAP_H_
#define CHUKAN_SERVER_ATENA_MAP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "replica_io/charset.h"
#include "server/batch_inquiry.h"
#include "server/tenant_context.h"

namespace chukan::server {

enum class AtenaMapping { kIdentity, kTable };

// "identity" / "table".
std::string_view AtenaMappingName(AtenaMapping m);
// Errors: kInvalidArgument "atena mapping must be identity or table".
Result<AtenaMapping> ParseAtenaMapping(std::string_view name);

// One bad line of a mapping file (nothing is stored when there is one).
struct AtenaMapLineError {
  int64_t line = 0;
  std::string field;   // "番号体系 (numbering scheme)", … or "レコード (record)"
  std::string reason;  // English; never a value
  friend bool operator==(const AtenaMapLineError&, const AtenaMapLineError&) = default;
};

struct AtenaMapLoad {
  int64_t lines = 0;     // data lines read (the header not counted)
  int64_t upserted = 0;  // rows inserted or replaced (0 when errors is not empty)
  std::vector<AtenaMapLineError> errors;
};

class AtenaMap {
 public:
  struct Limits {
    int64_t max_lines = 1'000'000;
    size_t max_line_bytes = 256;
  };

  // `tenant` and `clock` must outlive this.
  explicit AtenaMap(TenantContext& tenant, const Clock& clock = SystemClock::Get())
      : tenant_(tenant), clock_(clock) {}

  // The tenant's setting (identity when never set). Errors: from the store.
  Result<AtenaMapping> Mode();
  // Changes the setting (audited as atena_map.settings). Errors: from the store.
  Status SetMode(AtenaMapping mode, const std::string& actor);

  // Loads a mapping file (`body`, in `charset`): lines `番号体系,宛名番号,統合宛名番号`, CRLF or
  // LF, an optional first line that starts with "番号体系" (a header, skipped), a UTF-8 BOM
  // skipped. 番号体系 two digits 01–99; 宛名番号 1–15 digits (zero-padded to 15, so "4711" and
  // "000000000004711" are the same number); 統合宛名番号 15 digits. Each 宛名番号 of a 番号体系
  // once per file. All or nothing: with any line error nothing is stored (errors in the
  // result, upserted 0); otherwise every row is inserted or replaced in one transaction.
  // Audited as atena_map.load with the counts (never a number). Errors (the whole file):
  // kResourceExhausted over limits.max_lines or a line over limits.max_line_bytes,
  // kInvalidArgument for an empty file or bytes that are not valid in `charset`, the store's.
  Result<AtenaMapLoad> Load(std::string body, replica_io::Charset charset, const std::string& actor,
                            const Limits& limits);
  Result<AtenaMapLoad> Load(std::string body, replica_io::Charset charset,
                            const std::string& actor) {
    return Load(std::move(body), charset, actor, Limits{});
  }

  // The mapped number of (scheme, 15-digit business_no); nullopt when the table has none.
  Result<std::optional<AtenaNo>> Find(std::string_view scheme, std::string_view business_no);
  // Rows in the table. Errors: from the store.
  Result<int64_t> Count();

  // The 団体内統合宛名番号 of a batch line under `mode`. Line errors (kInvalidArgument, naming
  // the field, never a value): identity mode and a 番号体系 other than "01" without field 3;
  // table mode and no mapping (without field 3), or a mapping that disagrees with field 3.
  Result<AtenaNo> Resolve(AtenaMapping mode, const BatchInquiry& line);

 private:
  crypto::Bytes Index(std::string_view scheme, std::string_view business_no) const;

  TenantContext& tenant_;
  const Clock& clock_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_ATENA_MAP_H_
