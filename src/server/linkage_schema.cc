#include "server/linkage_schema.h"

#include <string>
#include <string_view>

namespace chukan::server {
namespace {

constexpr std::string_view kSqliteV1 = R"sql(
CREATE TABLE subject_codes (
  subject_code TEXT PRIMARY KEY,
  atena_index BLOB NOT NULL UNIQUE,
  atena_sealed BLOB NOT NULL,
  created_at_us INTEGER NOT NULL
);
CREATE TABLE inquiries (
  inquiry_id TEXT PRIMARY KEY,
  idempotency_key TEXT UNIQUE,
  client TEXT NOT NULL,
  subject_code TEXT NOT NULL,
  procedure_code TEXT NOT NULL,
  tm TEXT NOT NULL,
  layout_version TEXT NOT NULL,
  provider TEXT NOT NULL,
  query TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  permit_id TEXT,
  reply_public BLOB NOT NULL,
  reply_secret BLOB,
  result BLOB,
  result_deleted INTEGER NOT NULL DEFAULT 0,
  created_at_us INTEGER NOT NULL,
  permitted_at_us INTEGER,
  ended_at_us INTEGER,
  expires_at_us INTEGER NOT NULL
);
CREATE INDEX inquiries_open ON inquiries (state, expires_at_us);
CREATE INDEX inquiries_ended ON inquiries (ended_at_us);
CREATE INDEX inquiries_created ON inquiries (created_at_us);
CREATE TABLE provisions (
  permit_id TEXT PRIMARY KEY,
  inquirer TEXT NOT NULL,
  procedure_code TEXT NOT NULL,
  tm TEXT NOT NULL,
  layout_version TEXT NOT NULL,
  subject_code TEXT NOT NULL,
  permit TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  answer BLOB,
  decided_by TEXT,
  comment TEXT,
  received_at_us INTEGER NOT NULL,
  decided_at_us INTEGER,
  sent_at_us INTEGER
);
CREATE INDEX provisions_state ON provisions (state, received_at_us);
)sql";

// The batch inquiry files and what became of each line (batch_table.h). A line's text holds the
// resident's 宛名番号: sealed with the tenant's data key.
constexpr std::string_view kSqliteBatches = R"sql(
CREATE TABLE inquiry_batches (
  batch_id TEXT PRIMARY KEY,
  file_key TEXT NOT NULL UNIQUE,
  file_name TEXT NOT NULL,
  client TEXT NOT NULL,
  charset TEXT NOT NULL,
  lines INTEGER NOT NULL,
  created_at_us INTEGER NOT NULL
);
CREATE INDEX inquiry_batches_created ON inquiry_batches (created_at_us);
CREATE TABLE inquiry_batch_lines (
  batch_id TEXT NOT NULL,
  line INTEGER NOT NULL,
  text_sealed BLOB NOT NULL,
  outcome TEXT NOT NULL,
  inquiry_id TEXT,
  duplicate_of INTEGER NOT NULL,
  error_field TEXT NOT NULL,
  error_reason TEXT NOT NULL,
  PRIMARY KEY (batch_id, line)
);
)sql";

constexpr std::string_view kNonDisclosureDelegators = R"sql(
ALTER TABLE inquiries ADD COLUMN non_disclosure INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inquiries ADD COLUMN inquirer_delegator TEXT;
ALTER TABLE inquiries ADD COLUMN provider_delegator TEXT;
ALTER TABLE provisions ADD COLUMN non_disclosure INTEGER NOT NULL DEFAULT 0;
ALTER TABLE provisions ADD COLUMN inquirer_delegator TEXT;
ALTER TABLE provisions ADD COLUMN provider_delegator TEXT;
)sql";

// Retention (LinkageService::Sweep, docs/linkage.md "Expiry and retention"): when a code was
// last registered (FGU again for the same pair counts: a code unused for `code_days` since goes),
// and the indexes the sweeps walk — provisions by age, and inquiries and provisions by the code
// they name (a code is kept while any row names it).
constexpr std::string_view kRetention = R"sql(
ALTER TABLE subject_codes ADD COLUMN registered_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE subject_codes SET registered_at_us = created_at_us;
CREATE INDEX subject_codes_registered ON subject_codes (registered_at_us, subject_code);
CREATE INDEX provisions_received ON provisions (received_at_us);
CREATE INDEX inquiries_subject ON inquiries (subject_code);
CREATE INDEX provisions_subject ON provisions (subject_code);
)sql";

std::string ForPostgres(std::string_view sqlite) {
  std::string s(sqlite);
  for (size_t p = s.find("INTEGER"); p != std::string::npos; p = s.find("INTEGER", p + 6)) {
    s.replace(p, 7, "BIGINT");
  }
  for (size_t p = s.find("BLOB"); p != std::string::npos; p = s.find("BLOB", p + 5)) {
    s.replace(p, 4, "BYTEA");
  }
  return s;
}

}  // namespace

const std::vector<store::Migration>& LinkageMigrations() {
  static const auto* m = new std::vector<store::Migration>{
      {1, "subject codes, inquiries, provisions", std::string(kSqliteV1), ForPostgres(kSqliteV1)},
      // What an idempotency key was first used for, so a different request under it is refused.
      {2, "inquiries.request_hash", "ALTER TABLE inquiries ADD COLUMN request_hash TEXT;",
       "ALTER TABLE inquiries ADD COLUMN request_hash TEXT;"},
      // The permit's expiry as a column, so the sweep finds expired approvals with an index
      // instead of parsing every waiting permit every second.
      {3, "provisions.permit_expires_at_us",
       "ALTER TABLE provisions ADD COLUMN permit_expires_at_us INTEGER;"
       "UPDATE provisions SET permit_expires_at_us ="
       " CAST(json_extract(permit, '$.expires_at_ms') AS INTEGER) * 1000;"
       "CREATE INDEX provisions_expiry ON provisions (state, permit_expires_at_us);",
       "ALTER TABLE provisions ADD COLUMN permit_expires_at_us BIGINT;"
       "UPDATE provisions SET permit_expires_at_us ="
       " (permit::jsonb->>'expires_at_ms')::bigint * 1000;"
       "CREATE INDEX provisions_expiry ON provisions (state, permit_expires_at_us);"},
      // The SHA-256 of the permit the hub issued for the inquiry, from its answer: the answer's
      // permit, byte for byte the same, then needs no second check of the hub's signature.
      {4, "inquiries.permit_sha256", "ALTER TABLE inquiries ADD COLUMN permit_sha256 BLOB;",
       "ALTER TABLE inquiries ADD COLUMN permit_sha256 BYTEA;"},
      // Who asked, as the batch file and the console name them: the 情報照会者部署コード
      // (department) and ユーザーID of the member of staff (null for a system's own inquiry).
      {5, "inquiries.department, inquiries.user_id",
       "ALTER TABLE inquiries ADD COLUMN department TEXT;"
       "ALTER TABLE inquiries ADD COLUMN user_id TEXT;",
       "ALTER TABLE inquiries ADD COLUMN department TEXT;"
       "ALTER TABLE inquiries ADD COLUMN user_id TEXT;"},
      {6, "inquiry_batches, inquiry_batch_lines", std::string(kSqliteBatches),
       ForPostgres(kSqliteBatches)},
      // The tenant's 宛名番号 → 団体内統合宛名番号 table (AtenaMap): the 宛名番号 only as its
      // keyed hash with the 番号体系 (business_index), the atena_no sealed under the data key.
      {7, "atena_map",
       "CREATE TABLE atena_map (business_index BLOB PRIMARY KEY, scheme TEXT NOT NULL,"
       " atena_sealed BLOB NOT NULL, updated_at_us INTEGER NOT NULL);",
       "CREATE TABLE atena_map (business_index BYTEA PRIMARY KEY, scheme TEXT NOT NULL,"
       " atena_sealed BYTEA NOT NULL, updated_at_us BIGINT NOT NULL);"},
      // Why a batch line was refused, as a code (FORMAT, UNKNOWN_PROVIDER, NO_SUBJECT_CODE …):
      // the result file's status and message come from it, never from the text of the reason.
      {8, "inquiry_batch_lines.error_code",
       "ALTER TABLE inquiry_batch_lines ADD COLUMN error_code TEXT NOT NULL DEFAULT '';",
       "ALTER TABLE inquiry_batch_lines ADD COLUMN error_code TEXT NOT NULL DEFAULT '';"},
      // 照会側不開示 and the two 委任元 codes (NULL: none) of an inquiry, and of a permit received
      // (as the permit carries them), for the records of provision (情報提供等記録).
      {9, "inquiries, provisions: non_disclosure, inquirer_delegator, provider_delegator",
       std::string(kNonDisclosureDelegators), ForPostgres(kNonDisclosureDelegators)},
      {10, "retention: subject_codes.registered_at_us, indexes for the sweeps",
       std::string(kRetention), ForPostgres(kRetention)}};
  return *m;
}

}  // namespace chukan::server
