#include "server/tenant_transfer.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "common/log.h"
#include "crypto/canonical_json.h"
#include "crypto/file_stream.h"
#include "crypto/hash.h"
#include "crypto/key_file.h"
#include "crypto/sealed_box.h"
#include "json/json.h"
#include "store/migrations.h"
#include "store/table_copy.h"

namespace chukan::server {
namespace {

namespace fs = std::filesystem;

constexpr char kFormat[] = "chukan-tenant-transfer";
constexpr std::string_view kSignatureDomain{"chukan-tenant-transfer-v1\0", 26};
constexpr size_t kKeyBytes = 32;
constexpr char kMigrationsTable[] = "schema_migrations";

// Record kinds of the encrypted stream (docs/tenant-transfer.md).
constexpr uint8_t kTableRecord = 'T';
constexpr uint8_t kRowRecord = 'R';
constexpr uint8_t kEndRecord = 'E';
constexpr uint8_t kFinalRecord = 'Z';
enum CellKind : uint8_t { kNull = 0, kInt = 1, kDouble = 2, kText = 3, kBlob = 4 };

std::string Fingerprint(std::string_view domain, std::span<const uint8_t> key) {
  crypto::Bytes in(domain.begin(), domain.end());
  in.insert(in.end(), key.begin(), key.end());
  const std::string hex = crypto::ToHex(crypto::Blake2b(in, 32)).substr(0, 20);
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 4) out += (i ? "-" : "") + hex.substr(i, 4);
  return out;
}

std::string StreamAd(const std::string& export_id, const OrgCode& org) {
  return std::string(kFormat) + "/v1:" + export_id + ":" + org.str();
}

crypto::Bytes SignedMessage(std::string_view canonical_header) {
  crypto::Bytes m(kSignatureDomain.begin(), kSignatureDomain.end());
  m.insert(m.end(), canonical_header.begin(), canonical_header.end());
  return m;
}

void PutBe(crypto::Bytes& out, uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<uint8_t>(v >> shift));
  }
}

// The plaintext side of the export's stream: records buffered, hashed per table, encrypted.
class RecordWriter {
 public:
  explicit RecordWriter(crypto::FileStreamWriter& out) : out_(out) {}
  ~RecordWriter() { crypto::WipeBytes(buf_); }

  crypto::Bytes& buf() { return buf_; }
  // Hashes what was put since the last call into the current table's hash, and passes it on.
  Status Flush(bool force = false) {
    if (!force && buf_.size() < crypto::kFileStreamChunkBytes) return Status();
    table_hash_.Update(buf_);
    Status s = out_.Write(buf_);
    crypto::WipeBytes(buf_);
    buf_.clear();
    return s;
  }
  // Ends a table: returns the hash of its records.
  Result<crypto::Bytes> EndTable() {
    RETURN_IF_ERROR(Flush(/*force=*/true));
    crypto::Bytes h = table_hash_.Finish();
    table_hash_ = crypto::Blake2bHasher(32);
    return h;
  }

 private:
  crypto::FileStreamWriter& out_;
  crypto::Bytes buf_;
  crypto::Blake2bHasher table_hash_{32};
};

void PutName(crypto::Bytes& out, std::string_view s) {
  PutBe(out, s.size(), 2);
  out.insert(out.end(), s.begin(), s.end());
}

Status PutCell(crypto::Bytes& out, const store::Value& v, const TransferLimits& limits,
               const std::string& table, const std::string& column) {
  auto big = [&](size_t n) -> Status {
    if (static_cast<int64_t>(n) <= limits.max_cell_bytes) return Status();
    return ResourceExhaustedError("table " + table + ", column " + column + ": a value of " +
                                  std::to_string(n) + " bytes, over the limit of " +
                                  std::to_string(limits.max_cell_bytes));
  };
  if (std::holds_alternative<std::nullptr_t>(v)) {
    out.push_back(kNull);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    out.push_back(kInt);
    PutBe(out, static_cast<uint64_t>(*i), 8);
  } else if (const auto* d = std::get_if<double>(&v)) {
    out.push_back(kDouble);
    PutBe(out, std::bit_cast<uint64_t>(*d), 8);
  } else if (const auto* t = std::get_if<std::string>(&v)) {
    RETURN_IF_ERROR(big(t->size()));
    out.push_back(kText);
    PutBe(out, t->size(), 4);
    out.insert(out.end(), t->begin(), t->end());
  } else {
    const auto& b = std::get<store::Bytes>(v);
    RETURN_IF_ERROR(big(b.size()));
    out.push_back(kBlob);
    PutBe(out, b.size(), 4);
    out.insert(out.end(), b.begin(), b.end());
  }
  return Status();
}

struct TableEntry {
  std::string name;
  std::vector<std::string> columns;
  int64_t rows = 0;
  std::string blake2b;  // hex
};

// Removes `path` when destroyed unless kept.
class Cleanup {
 public:
  explicit Cleanup(std::string path) : path_(std::move(path)) {}
  ~Cleanup() {
    if (!keep_) ::unlink(path_.c_str());
  }
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

Status WriteAll(int fd, const uint8_t* p, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return InternalError(path + ": write: " + std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status();
}

// Writes `header_line` then the bytes of `stream_path` into the new file `partial`, synced.
Status Assemble(const std::string& partial, const std::string& header_line,
                const std::string& stream_path) {
  const int out = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) return InternalError(partial + ": cannot create: " + std::strerror(errno));
  const int in = ::open(stream_path.c_str(), O_RDONLY | O_CLOEXEC);
  Status s;
  if (in < 0) s = InternalError(stream_path + ": cannot open: " + std::strerror(errno));
  if (s.ok()) {
    s = WriteAll(out, reinterpret_cast<const uint8_t*>(header_line.data()), header_line.size(),
                 partial);
  }
  std::vector<uint8_t> buf(1 << 16);
  while (s.ok()) {
    const ssize_t r = ::read(in, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) s = InternalError(stream_path + ": read: " + std::strerror(errno));
    if (r <= 0) break;
    s = WriteAll(out, buf.data(), static_cast<size_t>(r), partial);
  }
  if (s.ok() && ::fsync(out) != 0) s = InternalError(partial + ": fsync: " + std::strerror(errno));
  if (in >= 0) ::close(in);
  if (::close(out) != 0 && s.ok()) s = InternalError(partial + ": close: " + std::strerror(errno));
  return s;
}

std::string Parent(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

Result<ExportReport> Export(Platform& platform, const ExportOptions& o, const TenantId& id,
                            const std::string& export_id) {
  if (o.destination_key.size() != kKeyBytes) {
    return InvalidArgumentError("the destination's transfer key must be 32 bytes");
  }
  std::error_code ec;
  if (fs::exists(o.out_path, ec)) return AlreadyExistsError(o.out_path + ": already exists");
  ASSIGN_OR_RETURN(TenantInfo info, platform.GetTenant(o.org));
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> ctx, platform.Tenant(id));
  // An export carries one data key: not while a rotation has rows under two.
  auto refuse_rotation = [&]() -> Status {
    ASSIGN_OR_RETURN(Platform::DataKeyState keys, platform.GetDataKeyState(o.org));
    if (keys.rotating || ctx->data_keys->Snapshot()->has_previous()) {
      return FailedPreconditionError(
          "tenant " + o.org.str() +
          ": a data-key rotation is in progress (データ鍵の更新中); export once it has "
          "finished (chukan tenant rotate-data-key --status)");
    }
    return Status();
  };
  RETURN_IF_ERROR(refuse_rotation());
  const std::shared_ptr<const crypto::DataKeySet> data_keys = ctx->data_keys->Snapshot();
  const std::string dest_fp = TransferKeyFingerprint(o.destination_key);
  // Recorded in the tenant's own chain before the snapshot, so the entry travels with it.
  RETURN_IF_ERROR(ctx->Commit([&](store::Transaction& tx) -> Status {
    return ctx->audit
        ->Append(tx, {id.str(), o.actor, "tenant.export",
                      "export " + export_id + " to transfer key " + dest_fp, "ok", ""})
        .status();
  }));

  const crypto::SecretBytes file_key = crypto::SecretBytes::Random(kKeyBytes);
  const std::string stream_path = o.out_path + ".stream-tmp";
  Cleanup stream_cleanup(stream_path);
  ASSIGN_OR_RETURN(
      std::unique_ptr<crypto::FileStreamWriter> stream,
      crypto::FileStreamWriter::Open(stream_path, file_key, StreamAd(export_id, o.org)));
  std::vector<TableEntry> tables;
  ExportReport report;
  report.export_id = export_id;
  report.destination_fingerprint = dest_fp;
  {
    RecordWriter w(*stream);
    // One snapshot for every table.
    ASSIGN_OR_RETURN(auto tx, ctx->db->BeginRead());
    ASSIGN_OR_RETURN(std::vector<store::TableSchema> schema, store::ListTables(*tx));
    if (static_cast<int64_t>(schema.size()) > o.limits.max_tables) {
      return ResourceExhaustedError("the tenant has " + std::to_string(schema.size()) +
                                    " tables, over the limit of " +
                                    std::to_string(o.limits.max_tables));
    }
    for (const store::TableSchema& t : schema) {
      if (static_cast<int64_t>(t.columns.size()) > o.limits.max_columns) {
        return ResourceExhaustedError("table " + t.name + ": over the limit of " +
                                      std::to_string(o.limits.max_columns) + " columns");
      }
      crypto::Bytes& b = w.buf();
      b.push_back(kTableRecord);
      PutName(b, t.name);
      PutBe(b, t.columns.size(), 2);
      for (const std::string& c : t.columns) PutName(b, c);
      int64_t rows = 0;
      Status scanned = store::ScanTable(
          *tx, t, o.limits.page_rows, [&](std::vector<store::Value>&& values) -> Status {
            if (++rows > o.limits.max_rows_per_table) {
              return ResourceExhaustedError("table " + t.name + ": over the limit of " +
                                            std::to_string(o.limits.max_rows_per_table) + " rows");
            }
            w.buf().push_back(kRowRecord);
            for (size_t i = 0; i < values.size(); ++i) {
              RETURN_IF_ERROR(PutCell(w.buf(), values[i], o.limits, t.name, t.columns[i]));
            }
            return w.Flush();
          });
      RETURN_IF_ERROR(scanned);
      w.buf().push_back(kEndRecord);
      PutBe(w.buf(), static_cast<uint64_t>(rows), 8);
      ASSIGN_OR_RETURN(crypto::Bytes hash, w.EndTable());
      tables.push_back({t.name, t.columns, rows, crypto::ToHex(hash)});
      report.rows += rows;
      if (o.progress) o.progress({t.name, rows});
    }
    RETURN_IF_ERROR(tx->Commit());
    w.buf().push_back(kFinalRecord);
    RETURN_IF_ERROR(w.Flush(/*force=*/true));
  }
  ASSIGN_OR_RETURN(crypto::FileStreamInfo streamed, stream->Finish());
  report.tables = static_cast<int64_t>(tables.size());

  // Sealed: the data key, the file key, and what the stream holds.
  json::JsonWriter mj;
  mj.BeginObject().Key("tables").BeginArray();
  for (const TableEntry& t : tables) {
    mj.BeginObject().Key("name").String(t.name).Key("columns").BeginArray();
    for (const std::string& c : t.columns) mj.String(c);
    mj.EndArray().Key("rows").Int(t.rows).Key("blake2b").String(t.blake2b).EndObject();
  }
  mj.EndArray().EndObject();
  ASSIGN_OR_RETURN(std::string manifest, mj.Finish());
  // A rotation started during the snapshot would have rows under a key the export lacks.
  RETURN_IF_ERROR(refuse_rotation());
  if (ctx->data_keys->Snapshot()->version() != data_keys->version()) {
    return FailedPreconditionError("tenant " + o.org.str() +
                                   ": its data key changed during the export (try again)");
  }
  const crypto::SecretBytes data_key = data_keys->CloneCurrentForExport();
  crypto::Bytes secret(data_key.data(), data_key.data() + data_key.size());
  secret.insert(secret.end(), file_key.data(), file_key.data() + file_key.size());
  secret.insert(secret.end(), manifest.begin(), manifest.end());
  Result<crypto::Bytes> sealed = crypto::Seal(o.destination_key, secret);
  crypto::WipeBytes(secret);
  RETURN_IF_ERROR(sealed.status());

  json::JsonWriter hj;
  hj.BeginObject()
      .Key("format")
      .String(kFormat)
      .Key("version")
      .Int(kTransferFormatVersion)
      .Key("export_id")
      .String(export_id)
      .Key("created_at_us")
      .Int(ToUnixMicros(platform.clock().Now()))
      .Key("chukan_version")
      .String(o.chukan_version)
      .Key("source")
      .BeginObject()
      .Key("backend")
      .String(store::BackendName(platform.store().backend()))
      .Key("platform_key")
      .String(crypto::ToHex(platform.audit_verify_key().bytes()))
      .EndObject()
      .Key("tenant")
      .BeginObject()
      .Key("org_code")
      .String(o.org.str())
      .Key("name")
      .String(info.name)
      .EndObject()
      .Key("destination")
      .BeginObject()
      .Key("transfer_key")
      .String(crypto::ToHex(o.destination_key))
      .EndObject()
      .Key("sealed")
      .String(crypto::ToHex(*sealed))
      .Key("stream")
      .BeginObject()
      .Key("bytes")
      .Int(streamed.cipher_bytes)
      .Key("blake2b")
      .String(crypto::ToHex(streamed.cipher_blake2b))
      .EndObject()
      .EndObject();
  ASSIGN_OR_RETURN(std::string header, hj.Finish());
  ASSIGN_OR_RETURN(std::string canonical, crypto::CanonicalizeJson(header));
  const crypto::Bytes signature = platform.SignAsPlatform(SignedMessage(canonical));
  const std::string line = std::string("{\"format\":\"") + kFormat + "\",\"header\":" + canonical +
                           ",\"signature\":\"" + crypto::ToHex(signature) + "\"}\n";
  if (static_cast<int64_t>(line.size()) > o.limits.max_header_bytes) {
    return ResourceExhaustedError("the export's header is over the limit of " +
                                  std::to_string(o.limits.max_header_bytes) + " bytes");
  }
  const std::string partial = o.out_path + ".partial";
  Cleanup partial_cleanup(partial);
  RETURN_IF_ERROR(Assemble(partial, line, stream_path));
  // Never over a file that appeared meanwhile: link() refuses an existing name.
  if (::link(partial.c_str(), o.out_path.c_str()) != 0) {
    if (errno == EEXIST) return AlreadyExistsError(o.out_path + ": already exists");
    return InternalError(o.out_path + ": cannot create: " + std::strerror(errno));
  }
  RETURN_IF_ERROR(crypto::SyncDirectory(Parent(o.out_path)));
  report.bytes = static_cast<int64_t>(line.size()) + streamed.cipher_bytes;
  return report;
}

// ---- import ----

// Reads records from the decrypted stream, hashing what the current table consumed.
class RecordReader {
 public:
  RecordReader(crypto::FileStreamReader& in, std::string path) : in_(in), path_(std::move(path)) {}

  void set_where(std::string where) { where_ = std::move(where); }
  Status Read(uint8_t* p, size_t n) {
    ASSIGN_OR_RETURN(size_t got, in_.Read(std::span<uint8_t>(p, n)));
    if (got < n) {
      return DataLossError(path_ + ": the encrypted stream ends early (" + where_ + ")");
    }
    hash_.Update(std::span<const uint8_t>(p, n));
    return Status();
  }
  Result<uint64_t> Be(int bytes) {
    uint8_t b[8];
    RETURN_IF_ERROR(Read(b, static_cast<size_t>(bytes)));
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | b[i];
    return v;
  }
  Result<uint8_t> Byte() {
    uint8_t b = 0;
    RETURN_IF_ERROR(Read(&b, 1));
    return b;
  }
  Result<std::string> Name() {
    ASSIGN_OR_RETURN(uint64_t n, Be(2));
    std::string s(n, '\0');
    RETURN_IF_ERROR(Read(reinterpret_cast<uint8_t*>(s.data()), n));
    if (!store::IsPlainIdentifier(s)) {
      return DataLossError(path_ + ": a name that is not a plain identifier (" + where_ + ")");
    }
    return s;
  }
  Result<store::Value> Cell(const TransferLimits& limits) {
    ASSIGN_OR_RETURN(uint8_t kind, Byte());
    switch (kind) {
      case kNull:
        return store::Value(nullptr);
      case kInt: {
        ASSIGN_OR_RETURN(uint64_t v, Be(8));
        return store::Value(static_cast<int64_t>(v));
      }
      case kDouble: {
        ASSIGN_OR_RETURN(uint64_t v, Be(8));
        return store::Value(std::bit_cast<double>(v));
      }
      case kText:
      case kBlob: {
        ASSIGN_OR_RETURN(uint64_t n, Be(4));
        if (static_cast<int64_t>(n) > limits.max_cell_bytes) {
          return ResourceExhaustedError(
              path_ + ": a value of " + std::to_string(n) + " bytes, over the limit of " +
              std::to_string(limits.max_cell_bytes) + " (" + where_ + ")");
        }
        store::Bytes b(n);
        RETURN_IF_ERROR(Read(b.data(), n));
        if (kind == kBlob) return store::Value(std::move(b));
        return store::Value(std::string(b.begin(), b.end()));
      }
      default:
        return DataLossError(path_ + ": unknown value kind " + std::to_string(kind) + " (" +
                             where_ + ")");
    }
  }
  crypto::Bytes TakeHash() {
    crypto::Bytes h = hash_.Finish();
    hash_ = crypto::Blake2bHasher(32);
    return h;
  }
  void ResetHash() { hash_ = crypto::Blake2bHasher(32); }
  crypto::FileStreamReader& in() { return in_; }

 private:
  crypto::FileStreamReader& in_;
  const std::string path_;
  std::string where_ = "start";
  crypto::Blake2bHasher hash_{32};
};

struct ParsedExport {
  int64_t header_bytes = 0;  // where the stream starts
  std::string export_id;
  std::optional<OrgCode> org;
  std::string name;
  std::optional<crypto::VerifyKey> source_key;
  crypto::Bytes destination_key;
  crypto::Bytes sealed;
  int64_t stream_bytes = 0;
  std::string stream_blake2b;
};

Status HeaderError(const std::string& path, const Status& s) {
  return DataLossError(path + ": header: " + s.message());
}

Result<std::string> ReadHeaderLine(const std::string& path, int64_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(path + ": no such file");
    return InternalError(path + ": cannot open: " + std::strerror(errno));
  }
  std::string line;
  char buf[4096];
  Status s;
  while (true) {
    const ssize_t r = ::read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      s = InternalError(path + ": read: " + std::strerror(errno));
      break;
    }
    const char* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<size_t>(r)));
    line.append(buf, nl ? static_cast<size_t>(nl - buf + 1) : static_cast<size_t>(r));
    if (nl) break;
    if (r == 0 || static_cast<int64_t>(line.size()) > max) {
      s = DataLossError(path + ": no header line within " + std::to_string(max) +
                        " bytes (not a chukan tenant export)");
      break;
    }
  }
  ::close(fd);
  RETURN_IF_ERROR(s);
  return line;
}

Result<ParsedExport> ParseHeader(const std::string& path, const TransferLimits& limits) {
  ASSIGN_OR_RETURN(std::string line, ReadHeaderLine(path, limits.max_header_bytes));
  ParsedExport p;
  p.header_bytes = static_cast<int64_t>(line.size());
  json::JsonLimits jl;
  jl.max_bytes = static_cast<size_t>(limits.max_header_bytes);
  jl.max_depth = 4;
  Result<json::JsonObject> top = json::ParseJsonObject(line, jl);
  if (!top.ok()) return HeaderError(path, top.status());
  auto field = [&](auto r) -> decltype(r) {
    if (!r.ok()) return HeaderError(path, r.status());
    return r;
  };
  if (Status s = top->RejectUnknownFields({"format", "header", "signature"}); !s.ok()) {
    return HeaderError(path, s);
  }
  ASSIGN_OR_RETURN(std::string format, field(top->GetString("format", 64)));
  if (format != kFormat) {
    return DataLossError(path + ": header: field \"format\": not a chukan tenant export");
  }
  ASSIGN_OR_RETURN(json::JsonObject h, field(top->GetObject("header")));
  ASSIGN_OR_RETURN(int64_t version, field(h.GetInt("version", 0, 1000)));
  if (version != kTransferFormatVersion) {
    return InvalidArgumentError(path + ": format version " + std::to_string(version) +
                                " (this chukan reads version " +
                                std::to_string(kTransferFormatVersion) + ")");
  }
  if (Status s = h.RejectUnknownFields({"format", "version", "export_id", "created_at_us",
                                        "chukan_version", "source", "tenant", "destination",
                                        "sealed", "stream"});
      !s.ok()) {
    return HeaderError(path, s);
  }
  ASSIGN_OR_RETURN(std::string sig_hex, field(top->GetString("signature", 128)));
  ASSIGN_OR_RETURN(crypto::Bytes signature, field(crypto::FromHex(sig_hex)));
  ASSIGN_OR_RETURN(json::JsonObject source, field(h.GetObject("source")));
  ASSIGN_OR_RETURN(std::string key_hex, field(source.GetString("platform_key", 64)));
  ASSIGN_OR_RETURN(crypto::Bytes key_raw, field(crypto::FromHex(key_hex)));
  ASSIGN_OR_RETURN(crypto::VerifyKey source_key, field(crypto::VerifyKey::FromBytes(key_raw)));
  p.source_key = source_key;
  // Everything below is read only from a header whose signature checked out.
  ASSIGN_OR_RETURN(std::string canonical, field(crypto::CanonicalizeJson(h.Text())));
  if (!source_key.Verify(SignedMessage(canonical), signature).ok()) {
    return UnauthenticatedError(path +
                                ": header: the signature does not verify (the header was "
                                "altered, or it was not made by chukan tenant export)");
  }
  ASSIGN_OR_RETURN(p.export_id, field(h.GetString("export_id", 32)));
  ASSIGN_OR_RETURN(json::JsonObject tenant, field(h.GetObject("tenant")));
  ASSIGN_OR_RETURN(OrgCode org, field(json::IdField<OrgCode>(tenant, "org_code")));
  p.org = org;
  ASSIGN_OR_RETURN(p.name, field(tenant.GetString("name", kMaxTenantNameBytes)));
  ASSIGN_OR_RETURN(json::JsonObject dest, field(h.GetObject("destination")));
  ASSIGN_OR_RETURN(std::string dest_hex, field(dest.GetString("transfer_key", 64)));
  ASSIGN_OR_RETURN(p.destination_key, field(crypto::FromHex(dest_hex)));
  ASSIGN_OR_RETURN(std::string sealed_hex,
                   field(h.GetString("sealed", static_cast<size_t>(limits.max_header_bytes))));
  ASSIGN_OR_RETURN(p.sealed, field(crypto::FromHex(sealed_hex)));
  ASSIGN_OR_RETURN(json::JsonObject stream, field(h.GetObject("stream")));
  ASSIGN_OR_RETURN(p.stream_bytes, field(stream.GetInt("bytes", 0, INT64_MAX)));
  ASSIGN_OR_RETURN(p.stream_blake2b, field(stream.GetString("blake2b", 64)));
  return p;
}

Result<std::vector<TableEntry>> ParseManifest(std::string_view text, const TransferLimits& limits,
                                              const std::string& path) {
  json::JsonLimits jl;
  jl.max_bytes = static_cast<size_t>(limits.max_header_bytes);
  jl.max_depth = 4;
  auto bad = [&](const Status& s) {
    return DataLossError(path + ": sealed table list: " + s.message());
  };
  Result<json::JsonObject> m = json::ParseJsonObject(text, jl);
  if (!m.ok()) return bad(m.status());
  Result<std::vector<json::JsonObject>> list =
      m->GetObjectArray("tables", static_cast<size_t>(limits.max_tables));
  if (!list.ok()) return bad(list.status());
  std::vector<TableEntry> out;
  for (const json::JsonObject& t : *list) {
    TableEntry e;
    Result<std::string> name = t.GetString("name", 63);
    if (!name.ok()) return bad(name.status());
    e.name = *name;
    Result<std::vector<std::string>> cols =
        t.GetStringArray("columns", static_cast<size_t>(limits.max_columns), 63);
    if (!cols.ok()) return bad(cols.status());
    e.columns = *cols;
    Result<int64_t> rows = t.GetInt("rows", 0, limits.max_rows_per_table);
    if (!rows.ok()) return bad(rows.status());
    e.rows = *rows;
    Result<std::string> hash = t.GetString("blake2b", 64);
    if (!hash.ok()) return bad(hash.status());
    e.blake2b = *hash;
    if (!store::IsPlainIdentifier(e.name)) {
      return DataLossError(path + ": sealed table list: a table name that is not an identifier");
    }
    out.push_back(std::move(e));
  }
  return out;
}

// Fills the fresh tenant database `db` from the stream (see the header comment).
Status Fill(store::Database& db, RecordReader& in, const std::vector<TableEntry>& tables,
            const TransferLimits& limits, const Clock& clock, const std::string& path,
            const TransferProgressFn& progress, int64_t* total_rows) {
  RETURN_IF_ERROR(ApplyTenantSchema(db, clock));
  ASSIGN_OR_RETURN(std::vector<store::AppliedMigration> applied, store::ListAppliedMigrations(db));
  std::set<std::pair<std::string, int64_t>> here;
  for (const store::AppliedMigration& a : applied) here.insert({a.component, a.version});
  std::set<std::pair<std::string, int64_t>> there;

  ASSIGN_OR_RETURN(auto tx, db.Begin());
  ASSIGN_OR_RETURN(std::vector<store::TableSchema> schema, store::ListTables(*tx));
  std::map<std::string, store::TableSchema> dest;
  for (store::TableSchema& t : schema) dest.emplace(t.name, std::move(t));
  // What the migrations wrote (the audit head's first row, …) gives way to the rows that come.
  for (const auto& [name, t] : dest) {
    if (name != kMigrationsTable) RETURN_IF_ERROR(tx->Exec("DELETE FROM \"" + name + "\""));
  }
  for (const TableEntry& entry : tables) {
    const std::string where = "table " + entry.name;
    in.set_where(where);
    in.ResetHash();
    ASSIGN_OR_RETURN(uint8_t kind, in.Byte());
    if (kind != kTableRecord) {
      return DataLossError(path + ": expected the start of " + where);
    }
    ASSIGN_OR_RETURN(std::string name, in.Name());
    ASSIGN_OR_RETURN(uint64_t ncols, in.Be(2));
    if (name != entry.name ||
        static_cast<int64_t>(ncols) != static_cast<int64_t>(entry.columns.size())) {
      return DataLossError(path + ": the stream's tables differ from the sealed list at " + where);
    }
    store::TableSchema t{name, {}, {}};
    for (uint64_t i = 0; i < ncols; ++i) {
      ASSIGN_OR_RETURN(std::string c, in.Name());
      if (c != entry.columns[i]) {
        return DataLossError(path + ": the stream's columns differ from the sealed list at " +
                             where);
      }
      t.columns.push_back(std::move(c));
    }
    auto it = dest.find(name);
    if (it == dest.end()) {
      return InvalidArgumentError(where +
                                  ": not in this chukan's tenant schema (the source "
                                  "runs another chukan version)");
    }
    if (std::set<std::string>(t.columns.begin(), t.columns.end()) !=
        std::set<std::string>(it->second.columns.begin(), it->second.columns.end())) {
      return InvalidArgumentError(where +
                                  ": its columns differ from this chukan's schema (the "
                                  "source runs another chukan version)");
    }
    const bool migrations = name == kMigrationsTable;
    int64_t rows = 0;
    while (true) {
      ASSIGN_OR_RETURN(uint8_t rk, in.Byte());
      if (rk == kEndRecord) break;
      if (rk != kRowRecord) return DataLossError(path + ": a malformed record in " + where);
      if (++rows > limits.max_rows_per_table || rows > entry.rows) {
        return DataLossError(path + ": more rows than the sealed list says in " + where);
      }
      std::vector<store::Value> values;
      values.reserve(t.columns.size());
      for (size_t i = 0; i < t.columns.size(); ++i) {
        ASSIGN_OR_RETURN(store::Value v, in.Cell(limits));
        values.push_back(std::move(v));
      }
      if (migrations) {
        // Recorded per backend (their checksums differ): compared, not copied.
        std::string component;
        int64_t version = -1;
        for (size_t i = 0; i < t.columns.size(); ++i) {
          if (t.columns[i] == "component" && std::holds_alternative<std::string>(values[i])) {
            component = std::get<std::string>(values[i]);
          }
          if (t.columns[i] == "version" && std::holds_alternative<int64_t>(values[i])) {
            version = std::get<int64_t>(values[i]);
          }
        }
        there.insert({component, version});
        continue;
      }
      RETURN_IF_ERROR(store::InsertRow(*tx, t, values).WithContext(where));
    }
    ASSIGN_OR_RETURN(uint64_t count, in.Be(8));
    const crypto::Bytes hash = in.TakeHash();
    if (static_cast<int64_t>(count) != rows || rows != entry.rows ||
        crypto::ToHex(hash) != entry.blake2b) {
      return DataLossError(path + ": " + where + " does not match its row count and hash");
    }
    if (migrations && there != here) {
      return InvalidArgumentError(
          "the schema versions differ: the source and this platform run chukan versions with "
          "different tenant migrations (upgrade the older one first)");
    }
    if (!migrations) RETURN_IF_ERROR(store::AdvanceSequences(*tx, t).WithContext(where));
    *total_rows += rows;
    if (progress) progress({name, rows});
  }
  if (there.empty()) {
    return DataLossError(path + ": the export lists no schema versions (" + kMigrationsTable + ")");
  }
  in.set_where("end");
  ASSIGN_OR_RETURN(uint8_t last, in.Byte());
  if (last != kFinalRecord) return DataLossError(path + ": more tables than the sealed list");
  uint8_t extra = 0;
  ASSIGN_OR_RETURN(size_t more, in.in().Read(std::span<uint8_t>(&extra, 1)));
  if (more != 0) return DataLossError(path + ": records after the end");
  return tx->Commit();
}

}  // namespace

Result<crypto::Bytes> ParseTransferPublicKey(std::string_view text, std::string_view what) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  Result<crypto::Bytes> key = crypto::FromHex(text);
  if (!key.ok() || key->size() != kKeyBytes) {
    return InvalidArgumentError(std::string(what) +
                                ": not a transfer public key (64 hex digits expected)");
  }
  return key;
}

std::string TransferKeyFingerprint(const crypto::Bytes& public_key) {
  return Fingerprint(std::string_view("chukan-transfer-key-v1\0", 23), public_key);
}

std::string PlatformKeyFingerprint(const crypto::VerifyKey& key) {
  return Fingerprint(std::string_view("chukan-platform-key-v1\0", 23), key.bytes());
}

Result<ExportReport> ExportTenant(Platform& platform, const ExportOptions& options) {
  const TenantId id = TenantId::ForOrg(options.org);
  const std::string export_id = crypto::ToHex(crypto::RandomBytes(16));
  Result<ExportReport> done = Export(platform, options, id, export_id);
  const std::string outcome =
      done.ok() ? "ok" : "error:" + std::string(StatusCodeName(done.status().code()));
  Status audited =
      platform.audit()
          .Append({"platform", options.actor, "tenant.export",
                   "tenant " + id.str() + " export " + export_id + " to transfer key " +
                       TransferKeyFingerprint(options.destination_key),
                   outcome, ""})
          .status();
  if (!audited.ok()) {
    log::Error("transfer.audit_failed", {{"tenant", id.str()}, log::StatusField(audited)});
    if (done.ok()) {
      ::unlink(options.out_path.c_str());
      return audited.WithContext("tenant " + id.str() + ": export not recorded, file removed");
    }
  }
  if (done.ok()) {
    log::Info("transfer.exported", {{"tenant", id.str()},
                                    {"export_id", export_id},
                                    {"tables", done->tables},
                                    {"rows", done->rows}});
  }
  return done;
}

Result<ImportReport> ImportTenant(Platform& platform, const ImportOptions& options) {
  const std::string& path = options.in_path;
  ASSIGN_OR_RETURN(ParsedExport p, ParseHeader(path, options.limits));
  const OrgCode org = *p.org;
  const crypto::VerifyKey& source_key = *p.source_key;
  ImportReport report;
  report.export_id = p.export_id;
  report.source_fingerprint = PlatformKeyFingerprint(source_key);
  report.source_key_hex = crypto::ToHex(source_key.bytes());
  if (options.source_key && !(*options.source_key == source_key)) {
    return UnauthenticatedError(path + ": signed by platform key " + report.source_fingerprint +
                                ", not by the expected " +
                                PlatformKeyFingerprint(*options.source_key));
  }
  ASSIGN_OR_RETURN(crypto::BoxKeyPair ours, platform.TransferKey(false, options.actor));
  if (p.destination_key != ours.public_key()) {
    return FailedPreconditionError(path + ": sealed to another platform's transfer key (" +
                                   TransferKeyFingerprint(p.destination_key) +
                                   "; this platform's is " +
                                   TransferKeyFingerprint(ours.public_key()) + ")");
  }
  const TenantId id = TenantId::ForOrg(org);
  {
    Result<TenantInfo> existing = platform.GetTenant(org);
    if (existing.ok() && existing->state == "active") {
      return AlreadyExistsError("tenant " + org.str() +
                                " already exists on this platform (delete it first, or import "
                                "elsewhere)");
    }
  }
  Result<crypto::SecretBytes> opened = crypto::Open(ours, p.sealed);
  if (!opened.ok()) {
    return UnauthenticatedError(path + ": the sealed keys do not open (altered)");
  }
  if (opened->size() < 2 * kKeyBytes)
    return DataLossError(path + ": the sealed keys are cut short");
  const crypto::SecretBytes data_key =
      crypto::SecretBytes::FromBytes(std::span<const uint8_t>(opened->data(), kKeyBytes));
  const crypto::SecretBytes file_key = crypto::SecretBytes::FromBytes(
      std::span<const uint8_t>(opened->data() + kKeyBytes, kKeyBytes));
  ASSIGN_OR_RETURN(
      std::vector<TableEntry> tables,
      ParseManifest(std::string_view(reinterpret_cast<const char*>(opened->data()) + 2 * kKeyBytes,
                                     opened->size() - 2 * kKeyBytes),
                    options.limits, path));
  ASSIGN_OR_RETURN(
      std::unique_ptr<crypto::FileStreamReader> stream,
      crypto::FileStreamReader::Open(path, p.header_bytes, file_key, StreamAd(p.export_id, org)));
  RecordReader records(*stream, path);
  const audit::AuditEvent event{"platform",
                                options.actor,
                                "tenant.import",
                                "tenant " + id.str() + " export " + p.export_id +
                                    " from platform key " + report.source_key_hex,
                                "ok",
                                ""};
  Result<TenantInfo> imported = platform.ImportTenant(
      org, p.name, data_key,
      [&](store::Database& db) -> Status {
        RETURN_IF_ERROR(Fill(db, records, tables, options.limits, platform.clock(), path,
                             options.progress, &report.rows));
        const crypto::FileStreamInfo info = stream->info();
        if (info.cipher_bytes != p.stream_bytes ||
            crypto::ToHex(info.cipher_blake2b) != p.stream_blake2b) {
          return DataLossError(path + ": the encrypted stream does not match its header");
        }
        return Status();
      },
      event);
  if (!imported.ok()) {
    Status audited =
        platform.audit()
            .Append({"platform", options.actor, "tenant.import",
                     "tenant " + id.str() + " export " + p.export_id,
                     "error:" + std::string(StatusCodeName(imported.status().code())), ""})
            .status();
    if (!audited.ok()) {
      log::Error("transfer.audit_failed", {{"tenant", id.str()}, log::StatusField(audited)});
    }
    return imported.status();
  }
  report.tenant = *imported;
  report.tables = static_cast<int64_t>(tables.size());
  // The tenant's chain goes on here: its next entry, and a checkpoint by this platform's key.
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> ctx, platform.Tenant(id));
  RETURN_IF_ERROR(ctx->Commit([&](store::Transaction& tx) -> Status {
    return ctx->audit
        ->Append(
            tx, {id.str(), options.actor, "tenant.import",
                 "export " + p.export_id + " from platform key " + report.source_key_hex, "ok", ""})
        .status();
  }));
  RETURN_IF_ERROR(ctx->audit->Checkpoint().status());
  log::Info("transfer.imported",
            {{"tenant", id.str()}, {"export_id", p.export_id}, {"rows", report.rows}});
  return report;
}

}  // namespace chukan::server
