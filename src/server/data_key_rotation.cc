#include "server/data_key_rotation.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <variant>

#include "common/log.h"
#include "crypto/data_keys.h"
#include "replica/replica_store.h"
#include "server/linkage_env.h"
#include "server/platform.h"
#include "server/staff_directory.h"
#include "server/tenant_context.h"
#include "server/tenant_keys.h"

namespace chukan::server {
namespace {

// One row per (rotation, sealed column). `cursor` is the last primary key done (encoded by
// EncodeCursor); NULL before the first batch.
constexpr std::string_view kSqliteV1 = R"sql(
CREATE TABLE data_key_rekey (
  target_version INTEGER NOT NULL,
  table_name     TEXT    NOT NULL,
  column_name    TEXT    NOT NULL,
  ord            INTEGER NOT NULL,
  rows_total     INTEGER NOT NULL,
  rows_done      INTEGER NOT NULL,
  rows_resealed  INTEGER NOT NULL,
  cursor         BLOB,
  done           INTEGER NOT NULL,
  updated_at_us  INTEGER NOT NULL,
  PRIMARY KEY (target_version, table_name, column_name)
);
)sql";

constexpr std::string_view kPostgresV1 = R"sql(
CREATE TABLE data_key_rekey (
  target_version BIGINT NOT NULL,
  table_name     TEXT   NOT NULL,
  column_name    TEXT   NOT NULL,
  ord            BIGINT NOT NULL,
  rows_total     BIGINT NOT NULL,
  rows_done      BIGINT NOT NULL,
  rows_resealed  BIGINT NOT NULL,
  cursor         BYTEA,
  done           BIGINT NOT NULL,
  updated_at_us  BIGINT NOT NULL,
  PRIMARY KEY (target_version, table_name, column_name)
);
)sql";

Result<std::string> Text(const store::Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return InternalError("data_key_rekey: expected a TEXT value, got " +
                       std::string(store::ValueKindName(v)));
}
Result<crypto::Bytes> Blob(const store::Value& v) {
  if (const auto* b = std::get_if<store::Bytes>(&v)) return *b;
  return InternalError("data_key_rekey: expected a BLOB value, got " +
                       std::string(store::ValueKindName(v)));
}
Result<int64_t> Int(const store::Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  return InternalError("data_key_rekey: expected an INTEGER value, got " +
                       std::string(store::ValueKindName(v)));
}

template <const char* kKind>
Result<crypto::Bytes> LinkageById(const TenantId& t, const std::vector<store::Value>& v) {
  ASSIGN_OR_RETURN(std::string id, Text(v.at(0)));
  return LinkageAad(kKind, t, id);
}
constexpr char kAtena[] = "atena";
constexpr char kReplySecret[] = "reply-secret";
constexpr char kResult[] = "result";
constexpr char kAnswer[] = "answer";

Result<crypto::Bytes> AtenaMapAd(const TenantId& t, const std::vector<store::Value>& v) {
  ASSIGN_OR_RETURN(crypto::Bytes index, Blob(v.at(0)));
  return LinkageAad("atena_map", t, crypto::ToHex(index));
}
Result<crypto::Bytes> BatchLineAd(const TenantId& t, const std::vector<store::Value>& v) {
  ASSIGN_OR_RETURN(std::string batch, Text(v.at(0)));
  ASSIGN_OR_RETURN(int64_t line, Int(v.at(1)));
  return BatchLineAad(t, batch, line);
}
template <const char* kField>
Result<crypto::Bytes> StaffAd(const TenantId&, const std::vector<store::Value>& v) {
  ASSIGN_OR_RETURN(std::string login, Text(v.at(0)));
  return crypto::ToBytes(StaffFieldAad(login, kField));
}
constexpr char kName[] = "name";
constexpr char kTotp[] = "totp";
Result<crypto::Bytes> ReplicaAd(const TenantId& t, const std::vector<store::Value>& v) {
  ASSIGN_OR_RETURN(std::string tm, Text(v.at(0)));
  ASSIGN_OR_RETURN(crypto::Bytes key_hash, Blob(v.at(1)));
  return replica::RecordAad(t, tm, key_hash);
}
Result<crypto::Bytes> TenantKeyAd(const TenantId& t, const std::vector<store::Value>& v) {
  ASSIGN_OR_RETURN(std::string purpose, Text(v.at(0)));
  ASSIGN_OR_RETURN(std::string kid, Text(v.at(1)));
  return TenantKeyAad(t, purpose, kid);
}

// The cursor: each key value as a tag ('i', 't', 'b'), a 4-byte big-endian length and the bytes
// (an integer as 8 big-endian bytes).
crypto::Bytes EncodeCursor(const std::vector<store::Value>& key) {
  crypto::Bytes out;
  auto put = [&out](char tag, const uint8_t* p, size_t n) {
    out.push_back(static_cast<uint8_t>(tag));
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(n >> s));
    out.insert(out.end(), p, p + n);
  };
  for (const store::Value& v : key) {
    if (const auto* i = std::get_if<int64_t>(&v)) {
      uint8_t b[8];
      for (int k = 0; k < 8; ++k)
        b[k] = static_cast<uint8_t>(static_cast<uint64_t>(*i) >> (56 - 8 * k));
      put('i', b, 8);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      put('t', reinterpret_cast<const uint8_t*>(s->data()), s->size());
    } else if (const auto* bl = std::get_if<store::Bytes>(&v)) {
      put('b', bl->data(), bl->size());
    }
  }
  return out;
}

Result<std::vector<store::Value>> DecodeCursor(const crypto::Bytes& in, size_t keys) {
  std::vector<store::Value> out;
  size_t at = 0;
  const Status bad = DataLossError("data_key_rekey: a cursor is malformed");
  while (at < in.size()) {
    if (in.size() - at < 5) return bad;
    const char tag = static_cast<char>(in[at]);
    size_t n = 0;
    for (int k = 1; k <= 4; ++k) n = (n << 8) | in[at + static_cast<size_t>(k)];
    at += 5;
    if (in.size() - at < n) return bad;
    const uint8_t* p = in.data() + at;
    if (tag == 'i' && n == 8) {
      uint64_t u = 0;
      for (size_t k = 0; k < 8; ++k) u = (u << 8) | p[k];
      out.emplace_back(static_cast<int64_t>(u));
    } else if (tag == 't') {
      out.emplace_back(std::string(reinterpret_cast<const char*>(p), n));
    } else if (tag == 'b') {
      out.emplace_back(store::Bytes(p, p + n));
    } else {
      return bad;
    }
    at += n;
  }
  if (out.size() != keys) return bad;
  return out;
}

std::string Join(const std::vector<std::string_view>& names) {
  std::string s;
  for (std::string_view n : names) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

// SELECT key…, column, ad… FROM table WHERE column IS NOT NULL [AND key > cursor]
// ORDER BY key LIMIT n.
std::string BatchSql(const SealedColumn& c, bool after) {
  std::string sql = "SELECT " + Join(c.key) + ", " + std::string(c.column);
  for (std::string_view a : c.ad_columns) sql += ", " + std::string(a);
  sql += " FROM " + std::string(c.table) + " WHERE " + std::string(c.column) + " IS NOT NULL";
  if (after) {
    std::string marks;
    for (size_t i = 0; i < c.key.size(); ++i) marks += i == 0 ? "?" : ", ?";
    sql += c.key.size() == 1 ? " AND " + std::string(c.key[0]) + " > ?"
                             : " AND (" + Join(c.key) + ") > (" + marks + ")";
  }
  return sql + " ORDER BY " + Join(c.key) + " LIMIT ?";
}

std::string Where(const SealedColumn& c) {
  std::string w;
  for (std::string_view k : c.key)
    w += std::string(w.empty() ? "" : " AND ") + std::string(k) + " = ?";
  return w;
}

std::string Name(const SealedColumn& c) {
  return std::string(c.table) + "." + std::string(c.column);
}

struct ReadRow {
  std::vector<store::Value> key;
  crypto::Bytes sealed;
  std::vector<store::Value> ad;
};

// The next `limit` sealed values of `c` after `cursor` (none: from the start).
Result<std::vector<ReadRow>> ReadBatch(store::Transaction& tx, const SealedColumn& c,
                                       const std::optional<std::vector<store::Value>>& cursor,
                                       int64_t limit) {
  std::vector<store::Value> params;
  if (cursor) params = *cursor;
  params.emplace_back(limit);
  ASSIGN_OR_RETURN(std::vector<store::Row> rows, tx.Query(BatchSql(c, cursor.has_value()), params));
  std::vector<ReadRow> out;
  out.reserve(rows.size());
  for (const store::Row& row : rows) {
    ReadRow r;
    size_t i = 0;
    for (; i < c.key.size(); ++i) {
      ASSIGN_OR_RETURN(store::Value v, row.GetValue(i));
      r.key.push_back(std::move(v));
    }
    ASSIGN_OR_RETURN(r.sealed, row.GetBlob(i++));
    for (size_t a = 0; a < c.ad_columns.size(); ++a, ++i) {
      ASSIGN_OR_RETURN(store::Value v, row.GetValue(i));
      r.ad.push_back(std::move(v));
    }
    out.push_back(std::move(r));
  }
  return out;
}

struct Progress {
  int64_t rows_done = 0;
  bool done = false;
  std::optional<std::vector<store::Value>> cursor;
};

Result<std::optional<Progress>> ReadProgress(store::Transaction& tx, const SealedColumn& c,
                                             int64_t target) {
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tx.QueryOne("SELECT rows_done, done, cursor FROM data_key_rekey WHERE "
                               "target_version = ? AND table_name = ? AND column_name = ?",
                               {target, std::string(c.table), std::string(c.column)}));
  if (!row) return std::optional<Progress>();
  Progress p;
  ASSIGN_OR_RETURN(p.rows_done, row->GetInt(0));
  ASSIGN_OR_RETURN(int64_t done, row->GetInt(1));
  p.done = done != 0;
  ASSIGN_OR_RETURN(std::optional<crypto::Bytes> cursor, row->GetOptionalBlob(2));
  if (cursor) {
    ASSIGN_OR_RETURN(std::vector<store::Value> key, DecodeCursor(*cursor, c.key.size()));
    p.cursor = std::move(key);
  }
  return std::optional<Progress>(std::move(p));
}

Result<int64_t> CountSealed(store::Transaction& tx, const SealedColumn& c) {
  ASSIGN_OR_RETURN(std::optional<store::Row> n,
                   tx.QueryOne("SELECT COUNT(*) FROM " + std::string(c.table) + " WHERE " +
                               std::string(c.column) + " IS NOT NULL"));
  return n->GetInt(0);
}

// One batch of column `c`: returns whether the column is done.
Result<bool> RekeyBatch(TenantContext& ctx, const SealedColumn& c, int64_t target,
                        const RekeyOptions& o, const crypto::DataKeySet& keys) {
  Progress p;
  std::vector<ReadRow> rows;
  {
    ASSIGN_OR_RETURN(auto tx, ctx.db->BeginRead());
    ASSIGN_OR_RETURN(std::optional<Progress> read, ReadProgress(*tx, c, target));
    if (!read) return FailedPreconditionError("data_key_rekey: no progress row for " + Name(c));
    p = std::move(*read);
    if (p.done) return true;
    ASSIGN_OR_RETURN(rows, ReadBatch(*tx, c, p.cursor, o.batch_rows));
    RETURN_IF_ERROR(tx->Commit());
  }
  // Re-sealed with no transaction open.
  struct Update {
    size_t row;
    crypto::Bytes sealed;
  };
  std::vector<Update> updates;
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSIGN_OR_RETURN(crypto::Bytes ad, c.ad(ctx.id, rows[i].ad));
    bool under_previous = false;
    Result<crypto::SecretBytes> plain = keys.Open(rows[i].sealed, ad, &under_previous);
    if (!plain.ok()) {
      return DataLossError("data_key_rekey: " + Name(c) + ": the value at position " +
                           std::to_string(p.rows_done + static_cast<int64_t>(i) + 1) + " (in " +
                           Join(c.key) + " order) opens under neither data key");
    }
    if (!under_previous) continue;  // written under the new key already
    ASSIGN_OR_RETURN(crypto::Bytes sealed, keys.Seal(plain->span(), ad));
    updates.push_back({i, std::move(sealed)});
  }
  if (o.before_write) o.before_write();
  const bool done = static_cast<int64_t>(rows.size()) < o.batch_rows;
  const int64_t now = ToUnixMicros(ctx.clock().Now());
  int64_t resealed = 0;
  const std::string update_sql = "UPDATE " + std::string(c.table) + " SET " +
                                 std::string(c.column) + " = ? WHERE " + Where(c) + " AND " +
                                 std::string(c.column) + " = ?";
  RETURN_IF_ERROR(ctx.Commit([&](store::Transaction& tx) -> Status {
    resealed = 0;
    for (const Update& u : updates) {
      std::vector<store::Value> params{u.sealed};
      for (const store::Value& k : rows[u.row].key) params.push_back(k);
      params.emplace_back(rows[u.row].sealed);
      // Compare-and-set: a value the application rewrote meanwhile stays as it wrote it.
      ASSIGN_OR_RETURN(int64_t n, tx.ExecCount(update_sql, params));
      resealed += n;
    }
    store::Value cursor = nullptr;
    if (!rows.empty())
      cursor = EncodeCursor(rows.back().key);
    else if (p.cursor)
      cursor = EncodeCursor(*p.cursor);
    // Only over the progress this batch started from: a second re-encryptor that moved it
    // meanwhile has done the same rows.
    return tx.Exec(
        "UPDATE data_key_rekey SET rows_done = rows_done + ?, rows_resealed = rows_resealed + ?,"
        " cursor = ?, done = ?, updated_at_us = ? WHERE target_version = ? AND table_name = ? AND"
        " column_name = ? AND rows_done = ? AND done = 0",
        {static_cast<int64_t>(rows.size()), resealed, cursor, int64_t{done ? 1 : 0}, now, target,
         std::string(c.table), std::string(c.column), p.rows_done});
  }));
  return done;
}

// Per column, the sealed values that do not open under the current key.
Result<std::vector<int64_t>> CountPerColumn(TenantContext& ctx, const crypto::DataKeySet& keys) {
  constexpr int64_t kScanRows = 1000;
  std::vector<int64_t> out;
  for (const SealedColumn& c : SealedColumns()) {
    int64_t bad = 0;
    std::optional<std::vector<store::Value>> cursor;
    while (true) {
      std::vector<ReadRow> rows;
      {
        ASSIGN_OR_RETURN(auto tx, ctx.db->BeginRead());
        ASSIGN_OR_RETURN(rows, ReadBatch(*tx, c, cursor, kScanRows));
        RETURN_IF_ERROR(tx->Commit());
      }
      for (const ReadRow& r : rows) {
        ASSIGN_OR_RETURN(crypto::Bytes ad, c.ad(ctx.id, r.ad));
        if (!keys.OpenCurrent(r.sealed, ad).ok()) ++bad;
      }
      if (static_cast<int64_t>(rows.size()) < kScanRows) break;
      cursor = rows.back().key;
    }
    out.push_back(bad);
  }
  return out;
}

}  // namespace

const std::vector<SealedColumn>& SealedColumns() {
  static const auto* const kColumns = new std::vector<SealedColumn>{
      {"subject_codes", {"subject_code"}, "atena_sealed", {"subject_code"}, &LinkageById<kAtena>},
      {"inquiries", {"inquiry_id"}, "reply_secret", {"inquiry_id"}, &LinkageById<kReplySecret>},
      {"inquiries", {"inquiry_id"}, "result", {"inquiry_id"}, &LinkageById<kResult>},
      {"provisions", {"permit_id"}, "answer", {"permit_id"}, &LinkageById<kAnswer>},
      {"inquiry_batch_lines",
       {"batch_id", "line"},
       "text_sealed",
       {"batch_id", "line"},
       &BatchLineAd},
      {"atena_map", {"business_index"}, "atena_sealed", {"business_index"}, &AtenaMapAd},
      {"staff", {"id"}, "name_sealed", {"login"}, &StaffAd<kName>},
      {"staff", {"id"}, "totp_sealed", {"login"}, &StaffAd<kTotp>},
      {"replica_record", {"id"}, "sealed", {"tm", "key_hash"}, &ReplicaAd},
      {"replica_history", {"id"}, "sealed", {"tm", "key_hash"}, &ReplicaAd},
      {"tenant_keys", {"purpose", "kid"}, "sealed_key", {"purpose", "kid"}, &TenantKeyAd},
  };
  return *kColumns;
}

const std::vector<store::Migration>& DataKeyRekeyMigrations() {
  static const auto* const kMigrations = new std::vector<store::Migration>{
      {1, "data_key_rekey: progress of a data-key rotation's re-encryption", std::string(kSqliteV1),
       std::string(kPostgresV1)},
  };
  return *kMigrations;
}

int64_t RekeyStatus::rows_total() const {
  int64_t n = 0;
  for (const RekeyColumnProgress& c : columns) n += c.rows_total;
  return n;
}

int64_t RekeyStatus::rows_done() const {
  int64_t n = 0;
  for (const RekeyColumnProgress& c : columns) n += std::min(c.rows_done, c.rows_total);
  return n;
}

bool RekeyStatus::all_columns_done() const {
  return std::all_of(columns.begin(), columns.end(),
                     [](const RekeyColumnProgress& c) { return c.done; });
}

Status StartRekey(TenantContext& ctx, int64_t target_version) {
  const int64_t now = ToUnixMicros(ctx.clock().Now());
  return ctx.Commit([&](store::Transaction& tx) -> Status {
    int64_t ord = 0;
    for (const SealedColumn& c : SealedColumns()) {
      ASSIGN_OR_RETURN(int64_t total, CountSealed(tx, c));
      RETURN_IF_ERROR(tx.Exec(
          "INSERT INTO data_key_rekey (target_version, table_name, column_name, ord, rows_total,"
          " rows_done, rows_resealed, cursor, done, updated_at_us) VALUES (?, ?, ?, ?, ?, 0, 0,"
          " NULL, 0, ?) ON CONFLICT (target_version, table_name, column_name) DO NOTHING",
          {target_version, std::string(c.table), std::string(c.column), ord++, total, now}));
    }
    return Status();
  });
}

Result<int64_t> CountNotUnderCurrentKey(TenantContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<int64_t> per, CountPerColumn(ctx, *ctx.data_keys->Snapshot()));
  int64_t n = 0;
  for (int64_t b : per) n += b;
  return n;
}

Result<RekeyStatus> ReadRekeyStatus(store::Database& db, int64_t current_version) {
  RekeyStatus st;
  ASSIGN_OR_RETURN(auto tx, db.BeginRead());
  ASSIGN_OR_RETURN(std::optional<store::Row> latest,
                   tx->QueryOne("SELECT MAX(target_version) FROM data_key_rekey"));
  if (!latest || latest->IsNull(0)) return st;
  ASSIGN_OR_RETURN(st.target_version, latest->GetInt(0));
  st.finished = current_version >= st.target_version;
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx->Query("SELECT table_name, column_name, rows_total, rows_done, rows_resealed,"
                             " done FROM data_key_rekey WHERE target_version = ? ORDER BY ord",
                             {st.target_version}));
  RETURN_IF_ERROR(tx->Commit());
  for (const store::Row& r : rows) {
    RekeyColumnProgress c;
    ASSIGN_OR_RETURN(c.table, r.GetText(0));
    ASSIGN_OR_RETURN(c.column, r.GetText(1));
    ASSIGN_OR_RETURN(c.rows_total, r.GetInt(2));
    ASSIGN_OR_RETURN(c.rows_done, r.GetInt(3));
    ASSIGN_OR_RETURN(c.rows_resealed, r.GetInt(4));
    ASSIGN_OR_RETURN(int64_t done, r.GetInt(5));
    c.done = done != 0;
    st.columns.push_back(std::move(c));
  }
  return st;
}

Result<RekeyStatus> RunRekey(Platform& platform, const OrgCode& org, const RekeyOptions& o) {
  if (o.batch_rows < 1 || o.batch_rows > kMaxRekeyBatchRows) {
    return InvalidArgumentError("batch_rows must be 1.." + std::to_string(kMaxRekeyBatchRows));
  }
  if (o.max_batches < 0) return InvalidArgumentError("max_batches must not be negative");
  const TenantId id = TenantId::ForOrg(org);
  ASSIGN_OR_RETURN(Platform::DataKeyState state, platform.GetDataKeyState(org));
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> ctx, platform.Tenant(id));
  if (!state.rotating) {
    return FailedPreconditionError("tenant " + org.str() + ": no data-key rotation is in progress");
  }
  const int64_t target = state.version + 1;
  std::shared_ptr<const crypto::DataKeySet> keys = ctx->data_keys->Snapshot();
  if (keys->version() != target || !keys->has_previous()) {
    RETURN_IF_ERROR(platform.ReloadDataKeys());
    keys = ctx->data_keys->Snapshot();
    if (keys->version() != target || !keys->has_previous()) {
      return UnavailableError("tenant " + org.str() +
                              ": the new data key is not loaded yet (try again)");
    }
  }
  RETURN_IF_ERROR(StartRekey(*ctx, target));
  int64_t batches = 0;
  bool all_done = true;
  const std::vector<SealedColumn>& columns = SealedColumns();
  for (size_t i = 0; i < columns.size(); ++i) {
    const SealedColumn& c = columns[i];
    bool done = false;
    while (!done) {
      if (o.max_batches > 0 && batches >= o.max_batches) break;
      ASSIGN_OR_RETURN(done, RekeyBatch(*ctx, c, target, o, *keys));
      ++batches;
    }
    if (!done) {
      all_done = false;
      break;
    }
    // A log line per column: rows only, never values.
    ASSIGN_OR_RETURN(RekeyStatus now, ReadRekeyStatus(*ctx->db, state.version));
    if (i < now.columns.size() && now.columns[i].done && batches > 0) {
      log::Info("tenant.data_key_rekey.column_done", {{"tenant", id.str()},
                                                      {"table", now.columns[i].table},
                                                      {"column", now.columns[i].column},
                                                      {"rows", now.columns[i].rows_done},
                                                      {"resealed", now.columns[i].rows_resealed}});
    }
  }
  // Not before the grace period: the status says every column is done, not finished.
  if (all_done && o.finish &&
      ToUnixMicros(platform.clock().Now()) >= DataKeyFinishAtUs(state.started_at_us)) {
    // Finishing re-reads every sealed value and refuses while any is not under the new key.
    Status finished = platform.FinishDataKeyRotation(org, target, o.actor);
    if (finished.ok()) return ReadRekeyStatus(*ctx->db, target);
    if (finished.code() != StatusCode::kFailedPrecondition) return finished;
    // Values written under the old key after the pass (a process that had not loaded the new
    // key yet): the columns that hold them run again.
    ASSIGN_OR_RETURN(std::vector<int64_t> left, CountPerColumn(*ctx, *keys));
    log::Warn("tenant.data_key_rekey.rows_left",
              {{"tenant", id.str()}, log::StatusField(finished)});
    const int64_t now = ToUnixMicros(ctx->clock().Now());
    auto restart = [&](store::Transaction& tx) -> Status {
      for (size_t i = 0; i < columns.size(); ++i) {
        if (left[i] == 0) continue;
        ASSIGN_OR_RETURN(int64_t total, CountSealed(tx, columns[i]));
        RETURN_IF_ERROR(tx.Exec(
            "UPDATE data_key_rekey SET done = 0, cursor = NULL, rows_done = 0, rows_total = ?,"
            " updated_at_us = ? WHERE target_version = ? AND table_name = ? AND column_name = ?",
            {total, now, target, std::string(columns[i].table), std::string(columns[i].column)}));
      }
      return Status();
    };
    RETURN_IF_ERROR(ctx->Commit(restart));
  }
  return ReadRekeyStatus(*ctx->db, state.version);
}

}  // namespace chukan::server
