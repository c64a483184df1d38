#include "server/backup_manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "crypto/bytes.h"
#include "crypto/canonical_json.h"
#include "crypto/hash.h"
#include "crypto/key_file.h"
#include "json/json.h"

namespace chukan::server {
namespace {

constexpr char kFormat[] = "chukan-backup";
constexpr size_t kMaxManifestBytes = 1 << 20;
constexpr size_t kMaxFiles = 100000;

crypto::SecretBytes Derive(const crypto::SecretBytes& key, std::string_view label) {
  const crypto::Bytes out = crypto::Blake2bKeyed(key, crypto::AsBytes(label), 32);
  crypto::SecretBytes s = crypto::SecretBytes::FromBytes(out);
  return s;
}

crypto::Bytes ManifestMac(const crypto::SecretBytes& key, std::string_view canonical) {
  const crypto::SecretBytes mac_key = Derive(key, "chukan-backup-v1:manifest-mac");
  return crypto::Blake2bKeyed(mac_key, crypto::AsBytes(canonical), 32);
}

Status WriteFileSynced(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return InternalError(path + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      return InternalError(path + ": write: " + why);
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(path.c_str());
    return InternalError(path + ": fsync: " + std::strerror(errno));
  }
  return Status();
}

Result<std::string> ManifestBody(const BackupManifest& m) {
  json::JsonWriter w;
  w.BeginObject()
      .Key("version")
      .Int(m.version)
      .Key("backup_id")
      .String(m.backup_id)
      .Key("created_at_us")
      .Int(m.created_at_us)
      .Key("chukan_version")
      .String(m.chukan_version)
      .Key("backend")
      .String(m.backend)
      .Key("key_id")
      .String(m.key_id)
      .Key("files")
      .BeginArray();
  for (const BackupFile& f : m.files) {
    w.BeginObject().Key("name").String(f.name).Key("kind").String(f.kind);
    if (f.org) {
      w.Key("org_code")
          .String(f.org->str())
          .Key("tenant_id")
          .String(TenantId::ForOrg(*f.org).str());
    }
    w.Key("plain_bytes")
        .Int(f.plain_bytes)
        .Key("bytes")
        .Int(f.bytes)
        .Key("blake2b")
        .String(f.blake2b)
        .EndObject();
  }
  w.EndArray().EndObject();
  ASSIGN_OR_RETURN(std::string text, w.Finish());
  return crypto::CanonicalizeJson(text);
}

// A file name the backup may contain: what CreateBackup writes, nothing with a path in it.
bool SafeName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

Result<BackupFile> ParseFile(const json::JsonObject& o, const std::string& where) {
  auto field = [&](const Status& s) { return DataLossError(where + ": " + s.message()); };
  Status unknown = o.RejectUnknownFields(
      {"name", "kind", "org_code", "tenant_id", "plain_bytes", "bytes", "blake2b"});
  if (!unknown.ok()) return field(unknown);
  BackupFile f;
  Result<std::string> name = o.GetString("name", 64);
  if (!name.ok()) return field(name.status());
  if (!SafeName(*name)) return DataLossError(where + ": field \"name\": not a backup file name");
  f.name = *name;
  Result<std::string> kind = o.GetString("kind", 16);
  if (!kind.ok()) return field(kind.status());
  if (*kind != "platform" && *kind != "tenant") {
    return DataLossError(where + ": field \"kind\": neither \"platform\" nor \"tenant\"");
  }
  f.kind = *kind;
  if (f.kind == "tenant") {
    Result<OrgCode> org = json::IdField<OrgCode>(o, "org_code");
    if (!org.ok()) return field(org.status());
    f.org = *org;
  }
  const int64_t max = std::numeric_limits<int64_t>::max() / 2;
  Result<int64_t> plain = o.GetInt("plain_bytes", 0, max);
  if (!plain.ok()) return field(plain.status());
  f.plain_bytes = *plain;
  Result<int64_t> bytes = o.GetInt("bytes", 0, max);
  if (!bytes.ok()) return field(bytes.status());
  f.bytes = *bytes;
  Result<std::string> hash = o.GetString("blake2b", 64);
  if (!hash.ok()) return field(hash.status());
  if (hash->size() != 64 || !crypto::FromHex(*hash).ok()) {
    return DataLossError(where + ": field \"blake2b\": not 64 hex digits");
  }
  f.blake2b = *hash;
  return f;
}

}  // namespace

Status CreateBackupKeyFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::symlink_status(path, ec).type() != std::filesystem::file_type::not_found) {
    return AlreadyExistsError(path +
                              ": already exists (a backup key is never overwritten: the "
                              "backups made with it would become unreadable)");
  }
  return crypto::LoadOrCreateKeyFile(path, kBackupKeyBytes, /*create=*/true).status();
}

Result<crypto::SecretBytes> LoadBackupKey(const std::string& path) {
  return crypto::LoadOrCreateKeyFile(path, kBackupKeyBytes, /*create=*/false);
}

std::string BackupKeyId(const crypto::SecretBytes& key) {
  const crypto::Bytes id =
      crypto::Blake2bKeyed(key, crypto::AsBytes("chukan-backup-v1:key-id"), 16);
  return crypto::ToHex(std::span<const uint8_t>(id.data(), 8));
}

crypto::SecretBytes BackupFileKey(const crypto::SecretBytes& key) {
  return Derive(key, "chukan-backup-v1:file-key");
}

std::string BackupFileAd(const std::string& backup_id, const std::string& file_name) {
  return "chukan-backup-v1:" + backup_id + ":" + file_name;
}

Status WriteBackupManifest(const std::string& dir, const BackupManifest& manifest,
                           const crypto::SecretBytes& key) {
  ASSIGN_OR_RETURN(std::string body, ManifestBody(manifest));
  const crypto::Bytes mac = ManifestMac(key, body);
  json::JsonWriter w;
  w.BeginObject()
      .Key("format")
      .String(kFormat)
      .Key("mac")
      .String(crypto::ToHex(mac))
      .Key("manifest")
      .Raw(body)
      .EndObject();
  ASSIGN_OR_RETURN(std::string text, w.Finish());
  const std::string path = dir + "/" + kBackupManifestFile;
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  RETURN_IF_ERROR(WriteFileSynced(tmp, text + "\n"));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return InternalError(path + ": rename: " + why);
  }
  return crypto::SyncDirectory(dir);
}

Result<BackupManifest> ReadBackupManifest(const std::string& dir, const crypto::SecretBytes& key) {
  const std::string path = dir + "/" + kBackupManifestFile;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return NotFoundError(path +
                         ": no manifest: not a backup, or a backup that did not finish (the "
                         "manifest is written last)");
  }
  if (std::filesystem::file_size(path, ec) > kMaxManifestBytes) {
    return DataLossError(path + ": larger than 1 MiB");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) return InternalError(path + ": cannot read");
  auto bad = [&](const Status& s) { return DataLossError(path + ": " + s.message()); };
  Result<json::JsonObject> outer = json::ParseJsonObject(ss.str(), {kMaxManifestBytes, 8});
  if (!outer.ok()) return bad(outer.status());
  if (Status s = outer->RejectUnknownFields({"format", "mac", "manifest"}); !s.ok()) return bad(s);
  Result<std::string> format = outer->GetString("format", 32);
  if (!format.ok()) return bad(format.status());
  if (*format != kFormat) return DataLossError(path + ": field \"format\": not a chukan backup");
  Result<json::JsonObject> body = outer->GetObject("manifest");
  if (!body.ok()) return bad(body.status());
  // The key id first, only to tell "another key" from "altered": either way nothing is trusted
  // before the MAC below checks out.
  Result<std::string> key_id = body->GetString("key_id", 16);
  if (!key_id.ok()) return bad(key_id.status());
  const std::string given = BackupKeyId(key);
  if (*key_id != given) {
    return UnauthenticatedError(path +
                                ": field \"manifest.key_id\": the backup was made with another "
                                "backup key (key id " +
                                *key_id + "; the given key is " + given + ")");
  }
  Result<std::string> mac_hex = outer->GetString("mac", 64);
  if (!mac_hex.ok()) return bad(mac_hex.status());
  Result<crypto::Bytes> mac = crypto::FromHex(*mac_hex);
  Result<std::string> canonical = crypto::CanonicalizeJson(body->Text());
  if (!canonical.ok()) return bad(canonical.status());
  if (!mac.ok() || !crypto::ConstantTimeEquals(*mac, ManifestMac(key, *canonical))) {
    return DataLossError(path +
                         ": field \"mac\": the manifest does not authenticate (altered "
                         "or damaged)");
  }

  // Authenticated: the rest is what CreateBackup wrote, still checked field by field.
  if (Status s = body->RejectUnknownFields({"version", "backup_id", "created_at_us",
                                            "chukan_version", "backend", "key_id", "files"});
      !s.ok()) {
    return bad(s);
  }
  BackupManifest m;
  m.key_id = *key_id;
  Result<int64_t> version = body->GetInt("version", 1, 1000);
  if (!version.ok()) return bad(version.status());
  if (*version != kBackupFormatVersion) {
    return InvalidArgumentError(path + ": field \"manifest.version\": format version " +
                                std::to_string(*version) +
                                " is not known to this chukan (it "
                                "reads version 1)");
  }
  m.version = static_cast<int>(*version);
  Result<std::string> id = body->GetString("backup_id", 32);
  if (!id.ok()) return bad(id.status());
  m.backup_id = *id;
  Result<int64_t> created = body->GetInt("created_at_us", 0, std::numeric_limits<int64_t>::max());
  if (!created.ok()) return bad(created.status());
  m.created_at_us = *created;
  Result<std::string> version_text = body->GetString("chukan_version", 64);
  if (!version_text.ok()) return bad(version_text.status());
  m.chukan_version = *version_text;
  Result<std::string> backend = body->GetString("backend", 16);
  if (!backend.ok()) return bad(backend.status());
  m.backend = *backend;
  Result<std::vector<json::JsonObject>> files = body->GetObjectArray("files", kMaxFiles);
  if (!files.ok()) return bad(files.status());
  int platforms = 0;
  for (size_t i = 0; i < files->size(); ++i) {
    ASSIGN_OR_RETURN(BackupFile f,
                     ParseFile((*files)[i], path + ": files[" + std::to_string(i) + "]"));
    platforms += f.kind == "platform" ? 1 : 0;
    m.files.push_back(std::move(f));
  }
  if (platforms != 1) {
    return DataLossError(path + ": field \"manifest.files\": not exactly one platform database");
  }
  return m;
}

}  // namespace chukan::server
