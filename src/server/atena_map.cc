#include "server/atena_map.h"

#include <algorithm>
#include <map>
#include <memory>

#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "replica_io/byte_source.h"
#include "server/linkage_env.h"

namespace chukan::server {
namespace {

constexpr std::string_view kSettingName = "atena_mapping";
constexpr std::string_view kSchemeField = "番号体系 (numbering scheme)";
constexpr std::string_view kBusinessNoField = "宛名番号 (business number)";
constexpr std::string_view kAtenaNoField = "統合宛名番号 (atena_no)";
constexpr std::string_view kRecordField = "レコード (record)";

bool AllDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ValidScheme(std::string_view s) { return s.size() == 2 && AllDigits(s) && s != "00"; }

// Reads all of `body` decoded from `charset` to UTF-8.
Result<std::string> Decode(std::string body, replica_io::Charset charset) {
  if (charset == replica_io::Charset::kUtf8) return body;
  ASSIGN_OR_RETURN(std::unique_ptr<replica_io::ByteSource> src,
                   replica_io::MakeDecodingSource(
                       charset, std::make_unique<replica_io::StringSource>(std::move(body))));
  std::string out;
  char buf[64 << 10];
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, src->Read(buf, sizeof buf));
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

}  // namespace

std::string_view AtenaMappingName(AtenaMapping m) {
  return m == AtenaMapping::kTable ? "table" : "identity";
}

Result<AtenaMapping> ParseAtenaMapping(std::string_view name) {
  if (name == "identity") return AtenaMapping::kIdentity;
  if (name == "table") return AtenaMapping::kTable;
  return InvalidArgumentError("atena mapping must be identity or table");
}

crypto::Bytes AtenaMap::Index(std::string_view scheme, std::string_view business_no) const {
  const std::string key = "atena_map:" + std::string(scheme) + ":" + std::string(business_no);
  return crypto::Blake2bKeyed(tenant_.index_key, crypto::AsBytes(key), 32);
}

Result<AtenaMapping> AtenaMap::Mode() {
  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, tenant_.db->BeginRead());
  ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT value FROM staff_settings WHERE name = ?",
                                          {std::string(kSettingName)}));
  if (!row) return AtenaMapping::kIdentity;
  ASSIGN_OR_RETURN(std::string value, row->GetText(0));
  Result<AtenaMapping> m = ParseAtenaMapping(value);
  if (!m.ok()) return InternalError("staff_settings atena_mapping: not identity or table");
  return m;
}

Status AtenaMap::SetMode(AtenaMapping mode, const std::string& actor) {
  const std::string value(AtenaMappingName(mode));
  Status s = tenant_.Commit([&](store::Transaction& tx) -> Status {
    return tx.Exec(
        "INSERT INTO staff_settings (name, value) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        {std::string(kSettingName), value});
  });
  AuditLinkage(tenant_, actor, "atena_map.settings", "staff_settings atena_mapping=" + value,
               AuditOutcome(s));
  return s;
}

Result<AtenaMapLoad> AtenaMap::Load(std::string body, replica_io::Charset charset,
                                    const std::string& actor, const Limits& limits) {
  auto audited = [&](Result<AtenaMapLoad> r) {
    std::string target = "atena_map";
    if (r.ok()) {
      target += " lines=" + std::to_string(r->lines) + " upserted=" + std::to_string(r->upserted) +
                " errors=" + std::to_string(r->errors.size());
    }
    AuditLinkage(tenant_, actor, "atena_map.load", target,
                 r.ok() && !r->errors.empty() ? "denied:invalid" : AuditOutcome(r.status()));
    return r;
  };
  Result<std::string> text = Decode(std::move(body), charset);
  if (!text.ok()) return audited(text.status().WithContext("atena map file"));
  std::string_view rest = *text;
  if (rest.starts_with("\xEF\xBB\xBF")) rest.remove_prefix(3);

  struct Row {
    std::string scheme;
    crypto::Bytes index;
    AtenaNo atena;
  };
  std::vector<Row> rows;
  std::map<crypto::Bytes, int64_t> seen;  // index → line
  AtenaMapLoad load;
  int64_t line = 0;
  while (!rest.empty()) {
    const size_t lf = rest.find('\n');
    std::string_view text_line = rest.substr(0, lf);
    rest.remove_prefix(lf == std::string_view::npos ? rest.size() : lf + 1);
    if (text_line.ends_with('\r')) text_line.remove_suffix(1);
    ++line;
    if (text_line.size() > limits.max_line_bytes) {
      return audited(ResourceExhaustedError("atena map file: line " + std::to_string(line) +
                                            ": longer than " +
                                            std::to_string(limits.max_line_bytes) + " bytes"));
    }
    if (line == 1 && text_line.starts_with("番号体系")) continue;  // the header
    if (++load.lines > limits.max_lines) {
      return audited(ResourceExhaustedError("atena map file: more than " +
                                            std::to_string(limits.max_lines) + " lines"));
    }
    auto fail = [&](std::string_view field, std::string reason) {
      load.errors.push_back({line, std::string(field), std::move(reason)});
    };
    if (text_line.empty()) {
      fail(kRecordField, "empty line");
      continue;
    }
    std::vector<std::string_view> f;
    for (size_t begin = 0;;) {
      const size_t comma = text_line.find(',', begin);
      f.push_back(text_line.substr(
          begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin));
      if (comma == std::string_view::npos) break;
      begin = comma + 1;
    }
    if (f.size() != 3) {
      fail(kRecordField, "3 comma-separated fields expected, got " + std::to_string(f.size()));
      continue;
    }
    const size_t before = load.errors.size();
    if (!ValidScheme(f[0])) fail(kSchemeField, "must be two digits, 01-99");
    if (f[1].empty() || f[1].size() > 15 || !AllDigits(f[1])) {
      fail(kBusinessNoField, "must be 1-15 digits");
    }
    Result<AtenaNo> atena = AtenaNo::Parse(f[2]);
    if (!atena.ok()) fail(kAtenaNoField, "must be 15 digits");
    if (load.errors.size() != before) continue;
    const std::string business_no = std::string(15 - f[1].size(), '0') + std::string(f[1]);
    crypto::Bytes index = Index(f[0], business_no);
    if (auto [it, inserted] = seen.emplace(index, line); !inserted) {
      fail(kBusinessNoField,
           "the same 番号体系 and 宛名番号 as line " + std::to_string(it->second));
      continue;
    }
    rows.push_back({std::string(f[0]), std::move(index), *std::move(atena)});
  }
  if (line == 0 || (line == 1 && load.lines == 0)) {
    return audited(InvalidArgumentError("atena map file: empty"));
  }
  if (!load.errors.empty()) return audited(std::move(load));

  // Seal outside the transaction: the commit holds the tenant's group committer.
  std::vector<crypto::Bytes> sealed;
  sealed.reserve(rows.size());
  for (const Row& r : rows) {
    Result<crypto::Bytes> s =
        tenant_.data_keys->Seal(crypto::AsBytes(r.atena.str()),
                                LinkageAad("atena_map", tenant_.id, crypto::ToHex(r.index)));
    if (!s.ok()) return audited(s.status());
    sealed.push_back(*std::move(s));
  }
  const int64_t now = ToUnixMicros(clock_.Now());
  Status s = tenant_.Commit([&](store::Transaction& tx) -> Status {
    for (size_t i = 0; i < rows.size(); ++i) {
      RETURN_IF_ERROR(
          tx.Exec("INSERT INTO atena_map (business_index, scheme, atena_sealed, updated_at_us)"
                  " VALUES (?, ?, ?, ?) ON CONFLICT (business_index) DO UPDATE SET"
                  " scheme = excluded.scheme, atena_sealed = excluded.atena_sealed,"
                  " updated_at_us = excluded.updated_at_us",
                  {rows[i].index, rows[i].scheme, sealed[i], now}));
    }
    return Status::Ok();
  });
  if (!s.ok()) return audited(s);
  load.upserted = static_cast<int64_t>(rows.size());
  return audited(std::move(load));
}

Result<std::optional<AtenaNo>> AtenaMap::Find(std::string_view scheme,
                                              std::string_view business_no) {
  const crypto::Bytes index = Index(scheme, business_no);
  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, tenant_.db->BeginRead());
  ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT atena_sealed FROM atena_map WHERE"
                                          " business_index = ?",
                                          {index}));
  if (!row) return std::optional<AtenaNo>();
  ASSIGN_OR_RETURN(crypto::Bytes sealed, row->GetBlob(0));
  ASSIGN_OR_RETURN(
      crypto::SecretBytes plain,
      tenant_.data_keys->Open(sealed, LinkageAad("atena_map", tenant_.id, crypto::ToHex(index))));
  ASSIGN_OR_RETURN(AtenaNo atena, AtenaNo::Parse(plain.AsStringView()));
  return std::optional<AtenaNo>(std::move(atena));
}

Result<int64_t> AtenaMap::Count() {
  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, tenant_.db->BeginRead());
  ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT COUNT(*) FROM atena_map"));
  if (!row) return int64_t{0};
  return row->GetInt(0);
}

Result<AtenaNo> AtenaMap::Resolve(AtenaMapping mode, const BatchInquiry& line) {
  if (mode == AtenaMapping::kIdentity) {
    if (line.atena_no) return *line.atena_no;
    if (line.scheme != kSchemeAtena) {
      return InvalidArgumentError(
          "番号体系 (numbering scheme): this tenant maps 宛名番号 by identity, which is for "
          "番号体系 \"01\" only; give 統合宛名番号 (atena_no) or load a mapping table");
    }
    Result<AtenaNo> a = AtenaNo::Parse(line.business_no);
    if (!a.ok()) return InvalidArgumentError("宛名番号 (business number): not 15 digits");
    return a;
  }
  ASSIGN_OR_RETURN(std::optional<AtenaNo> mapped, Find(line.scheme, line.business_no));
  if (line.atena_no) {
    if (mapped && *mapped != *line.atena_no) {
      return InvalidArgumentError(
          "統合宛名番号 (atena_no): differs from the tenant's mapping of the 宛名番号 (business "
          "number)");
    }
    return *line.atena_no;
  }
  if (!mapped) {
    return InvalidArgumentError(
        "宛名番号 (business number): not in the tenant's mapping table for this 番号体系 "
        "(numbering scheme)");
  }
  return *std::move(mapped);
}

}  // namespace chukan::server
