// chukan replica import|show|export|reconcile, codes load, inquiries batch, atena-map
// load|show — the client side of the replica and linkage APIs, for an existing system's operator:
// sends a file to a running server and prints a readable summary (Japanese first, English after the
// slash). Exit codes: 0 done, 1 refused or failed, 2 usage.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "http/client.h"
#include "replica_io/dbm20113_reader.h"

namespace chukan::cli {
namespace {

using nlohmann::json;

struct ReplicaArgs {
  std::string server;  // base URL, e.g. https://127.0.0.1:8443
  std::string token;
  std::string token_file;
  std::string ca;
  std::string cert;
  std::string key;
  std::string tm;
  std::string version;
  std::string mode = "upsert";
  std::string format;
  std::string charset;  // "" → UTF-8 (DBM_20113: as its XML declaration says)
  std::string idempotency_key;
  std::string header;    // DBM_20113 header file (IF_DBM_20113_R01)
  std::string msg_mode;  // "0" 本番 or "1" テスト; default: the header's, else 0
  std::string atena_no;
  std::string output;
  std::string file;
  int timeout_s = 3600;
  std::string results_dir;     // inquiries batch: where the result files go (empty: not fetched)
  std::string result_charset;  // inquiries batch: utf-8 or shift_jis (default: the file's)
};

int Usage(const std::string& message) {
  std::fprintf(stderr, "chukan replica: %s\n", message.c_str());
  return 2;
}

Result<std::string> Token(const ReplicaArgs& a) {
  if (!a.token.empty()) return a.token;
  if (!a.token_file.empty()) {
    std::ifstream in(a.token_file);
    std::string t;
    if (!in || !std::getline(in, t)) return NotFoundError(a.token_file + ": cannot read token");
    return t;
  }
  if (const char* env = std::getenv("CHUKAN_TOKEN"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return InvalidArgumentError("a token is required (--token, --token-file or CHUKAN_TOKEN)");
}

std::string Query(const std::initializer_list<std::pair<const char*, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += q.empty() ? "?" : "&";
    q += k;
    q += "=";
    for (unsigned char c : v) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
        q.push_back(static_cast<char>(c));
      } else {
        char hex[4];
        std::snprintf(hex, sizeof(hex), "%%%02X", c);
        q += hex;
      }
    }
  }
  return q;
}

// Streams a file as a request body.
class FileUpload final : public http::BodySource {
 public:
  static Result<std::unique_ptr<FileUpload>> Open(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return NotFoundError(path + ": cannot open");
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    if (size < 0) {
      std::fclose(f);
      return InternalError(path + ": cannot size");
    }
    return std::unique_ptr<FileUpload>(new FileUpload(f, static_cast<uint64_t>(size)));
  }
  ~FileUpload() override { std::fclose(f_); }
  Result<size_t> Read(char* buf, size_t n) override {
    const size_t got = std::fread(buf, 1, n, f_);
    if (got == 0 && std::ferror(f_)) return InternalError("read error");
    return got;
  }
  uint64_t size() const { return size_; }

 private:
  FileUpload(FILE* f, uint64_t size) : f_(f), size_(size) {}
  FILE* f_;
  uint64_t size_;
};

// A progress line on standard error ("\r"-updated on a terminal, every 10 % otherwise).
class Progress {
 public:
  Progress(std::string label, uint64_t total)
      : label_(std::move(label)),
        total_(total),
        tty_(isatty(STDERR_FILENO) != 0),
        start_(std::chrono::steady_clock::now()) {}
  void Update(uint64_t sent) {
    const int pct = total_ == 0 ? 100 : static_cast<int>(sent * 100 / total_);
    if (!tty_ && pct < next_pct_) return;
    next_pct_ = pct + 10;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double mib = static_cast<double>(sent) / (1 << 20);
    std::fprintf(stderr, "%s%s %.1f / %.1f MiB (%d%%) %.1f MiB/s%s", tty_ ? "\r" : "",
                 label_.c_str(), mib, static_cast<double>(total_) / (1 << 20), pct,
                 secs > 0 ? mib / secs : 0.0, tty_ ? "" : "\n");
    std::fflush(stderr);
  }
  void Done() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  std::string label_;
  uint64_t total_;
  bool tty_;
  int next_pct_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// Sends one request — its body from `upload` when given, the response body into `sink` when
// given — and turns transport errors and API error bodies into a Status. Returns the response
// for statuses the caller handles (2xx and 422).
Result<http::Response> Call(const ReplicaArgs& a, std::string method, std::string path,
                            std::string body, std::string content_type, http::Headers extra = {},
                            FileUpload* upload = nullptr, Progress* progress = nullptr,
                            const std::function<Status(std::string_view)>* sink = nullptr) {
  ASSIGN_OR_RETURN(std::string token, Token(a));
  http::ClientOptions co;
  co.ca_file = a.ca;
  co.cert_file = a.cert;
  co.key_file = a.key;
  co.request_timeout = std::chrono::seconds(a.timeout_s);
  co.max_response_bytes = size_t{4} << 30;
  ASSIGN_OR_RETURN(std::unique_ptr<http::Client> client, http::Client::Create(co));
  http::ClientRequest req{std::move(method), a.server + path, std::move(extra), std::move(body)};
  req.headers.Set("Authorization", "Bearer " + token);
  if (!content_type.empty()) req.headers.Set("Content-Type", content_type);
  http::Response resp;
  if (upload == nullptr && sink == nullptr) {
    ASSIGN_OR_RETURN(resp, client->Send(req));
  } else {
    std::function<void(uint64_t)> on_progress;
    if (progress != nullptr) on_progress = [progress](uint64_t sent) { progress->Update(sent); };
    // A sink only takes successful bodies; error bodies are collected to be shown.
    std::string error_body;
    bool streaming_ok = true;
    std::function<Status(std::string_view)> on_body;
    if (sink != nullptr) {
      on_body = [&](std::string_view chunk) -> Status {
        if (!streaming_ok) {
          if (error_body.size() < 65536) error_body.append(chunk);
          return Status();
        }
        return (*sink)(chunk);
      };
    }
    ASSIGN_OR_RETURN(
        resp,
        client->SendStreaming(
            req, upload, upload != nullptr ? std::optional<uint64_t>(upload->size()) : std::nullopt,
            on_body, on_progress));
    if (progress != nullptr) progress->Done();
    if (sink != nullptr && resp.status != 200) resp.body = error_body;
  }
  if ((resp.status >= 200 && resp.status < 300) || resp.status == 422) return resp;
  std::string message = resp.body;
  json j = json::parse(resp.body, nullptr, false);
  if (!j.is_discarded() && j.contains("error")) {
    message = j["error"].value("code", "") + ": " + j["error"].value("message", "") + " (request " +
              j["error"].value("request_id", "") + ")";
  }
  return Status(resp.status == 401   ? StatusCode::kUnauthenticated
                : resp.status == 404 ? StatusCode::kNotFound
                                     : StatusCode::kFailedPrecondition,
                "HTTP " + std::to_string(resp.status) + ": " + message);
}

int Failed(const char* ja, const char* en, const Status& s) {
  std::fprintf(stderr, "chukan replica: %s / %s: %s\n", ja, en, s.ToString().c_str());
  return 1;
}

void PrintProblems(const json& problems, int64_t total) {
  std::printf("  問題 / problems: %lld 件 (最初の %zu 件 / first %zu shown)\n",
              static_cast<long long>(total), problems.size(), problems.size());
  for (const json& p : problems) {
    if (p.contains("record")) {
      std::printf("    %lld 件目 / record %lld (%lld 行目 / line %lld)  %-18s %s\n",
                  p.value("record", 0LL), p.value("record", 0LL), p.value("line", 0LL),
                  p.value("line", 0LL), p.value("field", "").c_str(),
                  p.value("message", "").c_str());
      continue;
    }
    std::printf("    %lld 行目 / line %lld  %-18s %s\n", p.value("line", 0LL), p.value("line", 0LL),
                p.value("field", "").c_str(), p.value("message", "").c_str());
  }
}

// The format a file name suggests: DBM_20113_ATTACH_….xml (any .xml) is a DBM_20113 attachment.
std::string FormatOfFile(const std::string& file) {
  if (file.ends_with(".jsonl")) return "jsonl";
  if (file.ends_with(".xml") || file.ends_with(".XML")) return "dbm20113";
  return "csv";
}

std::string ContentType(const std::string& format, const std::string& charset) {
  const std::string media = format == "csv"     ? "text/csv"
                            : format == "jsonl" ? "application/jsonl"
                                                : "application/xml";
  return charset.empty() ? media : media + "; charset=" + charset;
}

int Import(const ReplicaArgs& a) {
  if (a.tm.empty() || a.file.empty()) return Usage("--tm and a FILE are required");
  std::string format = a.format.empty() ? FormatOfFile(a.file) : a.format;
  if (format != "csv" && format != "jsonl" && format != "dbm20113") {
    return Usage("--format must be csv, jsonl or dbm20113");
  }
  std::string msg_mode = a.msg_mode;
  if (!a.header.empty()) {
    // The header file travels no further: its MsgMode becomes the msg_mode parameter.
    std::ifstream in(a.header, std::ios::binary);
    std::string xml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return Failed("ヘッダファイルを読めません", "cannot read the header file",
                    NotFoundError(a.header));
    }
    Result<replica_io::Dbm20113Header> h = replica_io::ParseDbm20113Header(xml);
    if (!h.ok()) {
      return Failed("ヘッダファイルが不正です", "bad DBM_20113 header file",
                    h.status().WithContext(a.header));
    }
    if (msg_mode.empty()) msg_mode = h->msg_mode;
  }
  if (!msg_mode.empty() && msg_mode != "0" && msg_mode != "1") {
    return Usage("--msg-mode must be 0 (本番) or 1 (テスト)");
  }
  const auto t0 = std::chrono::steady_clock::now();
  Result<std::unique_ptr<FileUpload>> upload = FileUpload::Open(a.file);
  if (!upload.ok()) return Failed("ファイルを読めません", "cannot read the file", upload.status());
  Progress progress("取込中 / importing", (*upload)->size());
  http::Headers extra;
  if (!a.idempotency_key.empty()) extra.Set("Idempotency-Key", a.idempotency_key);
  const std::string ctype = ContentType(format, a.charset);
  Result<http::Response> resp = Call(
      a, "POST",
      "/api/v1/replica/imports" +
          Query({{"tm", a.tm}, {"version", a.version}, {"mode", a.mode}, {"msg_mode", msg_mode}}),
      "", ctype, std::move(extra), upload->get(), &progress);
  if (!resp.ok()) return Failed("取込に失敗しました", "import failed", resp.status());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json r = json::parse(resp->body, nullptr, false);
  if (r.is_discarded()) return Failed("応答が不正です", "bad response", InternalError(resp->body));
  const long long rows = r.value("rows", 0LL);
  if (resp->status == 422) {
    std::printf("取込を拒否しました (何も変更していません) / import REFUSED, nothing changed: %s\n",
                a.file.c_str());
    std::printf("  行数 / rows: %lld\n", rows);
    PrintProblems(r["problems"], r.value("problem_count", 0LL));
    return 1;
  }
  if (r.value("test_mode", false)) {
    std::printf(
        "テスト取込 (MsgMode 1): 検査のみ、何も保存していません / test import: checked, nothing "
        "stored: %s\n  行数 / rows: %lld  追加予定 / would insert: %lld  更新予定 / would "
        "update: %lld  削除予定 / would delete: %lld  該当なし / not found: %lld\n",
        a.file.c_str(), rows, r.value("inserted", 0LL), r.value("updated", 0LL),
        r.value("deleted", 0LL), r.value("not_found", 0LL));
    return 0;
  }
  std::printf("%s / %s: %s\n", r.value("replayed", false) ? "取込済み (再送)" : "取込完了",
              r.value("replayed", false) ? "already imported (replayed)" : "import committed",
              a.file.c_str());
  std::printf(
      "  取込ID / import id: %s\n  特定個人情報名 / TM: %s 版 %s, モード / mode: %s\n"
      "  行数 / rows: %lld  追加 / inserted: %lld  更新 / updated: %lld  削除 / deleted: "
      "%lld  該当なし / not found: %lld\n  ファイル / file: %s\n  所要 / took: %.2f s (%.0f "
      "rows/s)\n",
      r.value("import_id", "").c_str(), r.value("tm", "").c_str(), r.value("version", "").c_str(),
      r.value("mode", "").c_str(), rows, r.value("inserted", 0LL), r.value("updated", 0LL),
      r.value("deleted", 0LL), r.value("not_found", 0LL), r.value("file_hash", "").c_str(), secs,
      secs > 0 ? static_cast<double>(rows) / secs : 0.0);
  return 0;
}

int Show(const ReplicaArgs& a) {
  if (a.atena_no.empty()) return Usage("--atena-no is required");
  Result<http::Response> resp =
      Call(a, "GET", "/api/v1/replica/records" + Query({{"atena_no", a.atena_no}, {"tm", a.tm}}),
           "", "");
  if (!resp.ok()) return Failed("照会に失敗しました", "lookup failed", resp.status());
  json r = json::parse(resp->body, nullptr, false);
  if (r.is_discarded()) return Failed("応答が不正です", "bad response", InternalError(""));
  const json& records = r["records"];
  std::printf("宛名番号 / atena_no %s: %zu 件 / records\n", r.value("atena_no", "").c_str(),
              records.size());
  for (const json& rec : records) {
    std::printf("\n  %s %s (版 / version %s)\n", rec.value("tm", "").c_str(),
                rec.value("tm_name", "").c_str(), rec.value("version", "").c_str());
    const std::string from = rec.value("publish_from", "");
    const std::string until = rec.value("publish_until", "");
    if (!from.empty() || !until.empty()) {
      std::printf("    公開期間 / published: %s 〜 %s\n", from.empty() ? "-" : from.c_str(),
                  until.empty() ? "-" : until.c_str());
    }
    for (const json& item : rec["items"]) {
      std::printf("    %s  %-24s %s\n", item.value("code", "").c_str(),
                  item.value("name", "").c_str(), item.value("value", "").c_str());
    }
  }
  return 0;
}

int Export(const ReplicaArgs& a) {
  if (a.tm.empty()) return Usage("--tm is required");
  FILE* out = stdout;
  if (!a.output.empty() && a.output != "-") {
    out = std::fopen(a.output.c_str(), "wb");
    if (out == nullptr) return Failed("書き込めません", "cannot write", NotFoundError(a.output));
  }
  const bool dbm = a.format == "dbm20113";
  if (!a.format.empty() && a.format != "csv" && !dbm) {
    return Usage("--format must be csv or dbm20113");
  }
  int64_t lines = 0;
  int64_t entries = 0;
  std::string carry;  // the end of the previous chunk: a closing tag may be split
  constexpr std::string_view kEntryEnd = "</InformationOfSPIRegistrationDelete>";
  std::function<Status(std::string_view)> sink = [&](std::string_view chunk) -> Status {
    for (char c : chunk) lines += c == '\n' ? 1 : 0;
    if (dbm) {
      std::string scan = carry + std::string(chunk.substr(0, kEntryEnd.size()));
      for (size_t p = scan.find(kEntryEnd); p != std::string::npos;
           p = scan.find(kEntryEnd, p + 1)) {
        if (p < carry.size()) ++entries;  // starts in the carry: not seen in the chunk below
      }
      for (size_t p = chunk.find(kEntryEnd); p != std::string_view::npos;
           p = chunk.find(kEntryEnd, p + 1)) {
        ++entries;
      }
      const size_t keep = std::min(chunk.size(), kEntryEnd.size() - 1);
      carry = std::string(chunk.substr(chunk.size() - keep));
    }
    if (std::fwrite(chunk.data(), 1, chunk.size(), out) != chunk.size()) {
      return InternalError("write failed");
    }
    return Status();
  };
  Result<http::Response> resp =
      Call(a, "GET",
           "/api/v1/replica/export" +
               Query({{"tm", a.tm}, {"version", a.version}, {"format", dbm ? "dbm20113" : ""}}),
           "", "", {}, nullptr, nullptr, &sink);
  const bool closed = out == stdout || std::fclose(out) == 0;
  if (!resp.ok()) return Failed("出力に失敗しました", "export failed", resp.status());
  if (!closed) return Failed("書き込めません", "cannot write", InternalError(a.output));
  std::fprintf(stderr, "出力 / exported: %lld 件 / records%s%s\n",
               static_cast<long long>(dbm ? entries : (lines > 0 ? lines - 1 : 0)),
               a.output.empty() ? "" : " → ", a.output.c_str());
  return 0;
}

int Reconcile(const ReplicaArgs& a) {
  if (a.tm.empty() || a.file.empty()) return Usage("--tm and a FILE are required");
  Result<std::unique_ptr<FileUpload>> upload = FileUpload::Open(a.file);
  if (!upload.ok()) return Failed("ファイルを読めません", "cannot read the file", upload.status());
  std::string format = a.format.empty() ? FormatOfFile(a.file) : a.format;
  const std::string ctype = ContentType(format, a.charset);
  Progress progress("突合中 / reconciling", (*upload)->size());
  Result<http::Response> resp =
      Call(a, "POST", "/api/v1/replica/reconcile" + Query({{"tm", a.tm}, {"version", a.version}}),
           "", ctype, {}, upload->get(), &progress);
  if (!resp.ok()) return Failed("突合に失敗しました", "reconcile failed", resp.status());
  json r = json::parse(resp->body, nullptr, false);
  if (r.is_discarded()) return Failed("応答が不正です", "bad response", InternalError(""));
  std::printf(
      "突合結果 / reconciliation of %s with the replica of %s\n"
      "  原本の行数 / rows in the original: %lld\n  一致 / matching: %lld\n"
      "  副本に無い / missing from the replica: %lld\n  原本に無い / extra in the replica: %lld\n"
      "  相違 / different: %lld\n",
      a.file.c_str(), a.tm.c_str(), r.value("rows", 0LL), r.value("matching", 0LL),
      r.value("missing", 0LL), r.value("extra", 0LL), r.value("different", 0LL));
  for (const json& l : r["missing_lines"]) {
    std::printf("    副本に無い / missing: %lld 行目 / line\n", l.get<long long>());
  }
  for (const json& d : r["differences"]) {
    std::string fields;
    for (const json& f : d["fields"]) fields += (fields.empty() ? "" : ", ") + f.get<std::string>();
    std::printf("    相違 / different: %lld 行目 / line: %s\n", d.value("line", 0LL),
                fields.c_str());
  }
  for (const json& e : r["extra_atena_nos"]) {
    std::printf("    原本に無い / extra: atena_no %s\n", e.get<std::string>().c_str());
  }
  if (r.value("problem_count", 0LL) > 0)
    PrintProblems(r["problems"], r.value("problem_count", 0LL));
  const bool clean = r.value("missing", 0LL) == 0 && r.value("extra", 0LL) == 0 &&
                     r.value("different", 0LL) == 0 && r.value("problem_count", 0LL) == 0;
  std::printf("%s\n", clean ? "副本は原本と一致しています / the replica matches the original"
                            : "差異があります / there are differences");
  return clean ? 0 : 1;
}

// chukan codes load: the initial load of subject codes (符号取得) — a file of
// "atena_no,resident_id" lines sent to POST /api/v1/codes/bulk in chunks, with progress.
int CodesLoad(const ReplicaArgs& a, int chunk_lines) {
  std::ifstream in(a.file, std::ios::binary);
  if (!in) return Usage(a.file + ": cannot open / 開けません");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  const int64_t total = static_cast<int64_t>(lines.size());
  int64_t registered = 0, failed = 0;
  std::vector<std::string> shown;  // the first errors, with the file's line numbers
  const auto t0 = std::chrono::steady_clock::now();
  const bool tty = isatty(STDERR_FILENO) != 0;
  int next_pct = 10;
  for (int64_t first = 0; first < total; first += chunk_lines) {
    const int64_t end = std::min(total, first + chunk_lines);
    std::string body;
    for (int64_t i = first; i < end; ++i) body += lines[static_cast<size_t>(i)] + "\n";
    Result<http::Response> r = Call(a, "POST", "/api/v1/codes/bulk", body, "text/csv");
    if (!r.ok()) {
      std::fprintf(stderr,
                   "\nchukan codes load: %lld 行目以降を送れません / cannot send from line %lld: "
                   "%s\n%lld 件登録済み / registered so far: %lld\n",
                   static_cast<long long>(first + 1), static_cast<long long>(first + 1),
                   r.status().ToString().c_str(), static_cast<long long>(registered),
                   static_cast<long long>(registered));
      return 1;
    }
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return Usage("the server's answer is not JSON");
    registered += j.value("registered", 0LL);
    failed += j.value("failed", 0LL);
    for (const json& e : j["errors"]) {
      if (shown.size() >= 20) break;
      shown.push_back(std::to_string(first + e.value("line", 0LL)) + ": " +
                      e.value("message", std::string()));
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int pct = static_cast<int>(end * 100 / std::max<int64_t>(total, 1));
    if (tty || pct >= next_pct || end == total) {
      next_pct = pct + 10;
      std::fprintf(stderr, "%s符号取得中 / registering codes: %lld / %lld (%d%%) %.0f/s%s",
                   tty ? "\r" : "", static_cast<long long>(end), static_cast<long long>(total), pct,
                   secs > 0 ? static_cast<double>(end) / secs : 0.0, tty ? "" : "\n");
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  std::printf("行 / lines: %lld, 登録 / registered: %lld, 失敗 / failed: %lld\n",
              static_cast<long long>(total), static_cast<long long>(registered),
              static_cast<long long>(failed));
  for (const std::string& e : shown) std::printf("  %s\n", e.c_str());
  if (failed > static_cast<int64_t>(shown.size())) {
    std::printf("  … %lld more\n",
                static_cast<long long>(failed - static_cast<int64_t>(shown.size())));
  }
  return failed == 0 ? 0 : 1;
}

// chukan inquiries batch FILE…: P640R110 batch inquiry files (一括照会ファイル), each sent to
// POST /api/v1/inquiries/batch in name order (so the parts of a split file, _0001, _0002, …, go
// in order), with a summary per file. 0 when every line of every file made an inquiry.
int InquiriesBatch(const ReplicaArgs& a, std::vector<std::string> files) {
  if (files.empty()) return Usage("FILE is required / ファイルを指定してください");
  std::sort(files.begin(), files.end(), [](const std::string& x, const std::string& y) {
    const auto name = [](const std::string& p) { return p.substr(p.find_last_of('/') + 1); };
    return std::make_pair(name(x), x) < std::make_pair(name(y), y);
  });
  for (const std::string& f : files) {
    if (std::ifstream probe(f, std::ios::binary); !probe) {
      return Usage(f + ": cannot open / 開けません");
    }
  }
  if (!a.results_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(a.results_dir, ec)) {
      return Usage(a.results_dir + ": not a directory / ディレクトリではありません");
    }
  }
  if (!a.result_charset.empty() && a.result_charset != "utf-8" && a.result_charset != "shift_jis") {
    return Usage("--result-charset: utf-8 or shift_jis");
  }
  bool all_made = true;
  std::vector<std::pair<std::string, std::string>> batches;  // file → batch id
  for (const std::string& f : files) {
    Result<std::unique_ptr<FileUpload>> upload = FileUpload::Open(f);
    if (!upload.ok())
      return Failed("ファイルを読めません", "cannot read the file", upload.status());
    // The file's own name names its result file (when it is a plain name the server accepts).
    const std::string base = f.substr(f.find_last_of('/') + 1);
    const bool plain = !base.empty() && base.size() <= 128 && base[0] != '.' &&
                       base.find_first_not_of(
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                           "0123456789._-") == std::string::npos;
    Result<http::Response> r = Call(
        a, "POST", "/api/v1/inquiries/batch" + (plain ? "?name=" + base : std::string()), "",
        a.charset.empty() ? "text/plain" : "text/plain; charset=" + a.charset, {}, upload->get());
    if (!r.ok()) {
      std::printf("%s: 送信できません / not sent: %s\n", f.c_str(), r.status().ToString().c_str());
      all_made = false;
      continue;
    }
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Usage("the server's answer is not JSON");
    const long long failed = j.value("failed", 0LL);
    const long long duplicates = j.value("duplicates", 0LL);
    std::printf(
        "%s: 行 / lines %lld, 受付 / accepted %lld, 重複 / duplicates %lld, 失敗 / failed "
        "%lld\n",
        f.c_str(), j.value("lines", 0LL), j.value("accepted", 0LL), duplicates, failed);
    if (failed != 0 || duplicates != 0) all_made = false;
    batches.emplace_back(f, j.value("batch_id", std::string()));
    for (const json& line : j.value("results", json::array())) {
      if (line.contains("duplicate_of")) {
        std::printf("  %lld 行目 / line %lld  %lld 行目と重複 / repeats line %lld\n",
                    line.value("line", 0LL), line.value("line", 0LL),
                    line.value("duplicate_of", 0LL), line.value("duplicate_of", 0LL));
      }
      if (!line.contains("errors")) continue;
      for (const json& e : line["errors"]) {
        const std::string field = e.value("field", std::string());
        std::printf("  %lld 行目 / line %lld  %s%s%s\n", line.value("line", 0LL),
                    line.value("line", 0LL), field.c_str(), field.empty() ? "" : ": ",
                    e.value("reason", std::string()).c_str());
      }
    }
  }
  std::printf("%s\n", all_made ? "すべての行を受け付けました / every line made an inquiry"
                               : "受け付けなかった行があります / some lines made no inquiry");
  if (a.results_dir.empty()) return all_made ? 0 : 1;
  // The result files (照会結果ファイル), each once every line of its batch has ended.
  bool all_written = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.timeout_s);
  for (const auto& [f, batch_id] : batches) {
    if (batch_id.empty()) {
      all_written = false;
      continue;
    }
    json s;
    for (;;) {
      Result<http::Response> g = Call(a, "GET", "/api/v1/inquiries/batch/" + batch_id, "", "");
      if (!g.ok()) return Failed("一括照会の状況を読めません", "cannot read the batch", g.status());
      s = json::parse(g->body, nullptr, false);
      if (s.is_discarded() || !s.is_object()) return Usage("the server's answer is not JSON");
      if (s.value("result_file", "") == "ready") break;
      if (std::chrono::steady_clock::now() >= deadline) {
        std::printf("%s: 回答待ちのまま時間切れ / still waiting after --timeout: %lld 行 / lines\n",
                    f.c_str(), s.value("open", 0LL));
        return 1;
      }
      std::fprintf(stderr, "%s: 回答待ち / waiting: %lld / %lld 行 / lines\n", f.c_str(),
                   s.value("open", 0LL), s.value("lines", 0LL));
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    std::string target = "/api/v1/inquiries/batch/" + batch_id + "/result-file";
    if (!a.result_charset.empty()) target += "?charset=" + a.result_charset;
    Result<http::Response> file = Call(a, "GET", target, "", "");
    if (!file.ok()) {
      return Failed("照会結果ファイルを取得できません", "cannot fetch the result file",
                    file.status());
    }
    const std::string name = s.value("result_file_name", batch_id + "_RESULT.DAT");
    const std::filesystem::path out = std::filesystem::path(a.results_dir) / name;
    // Written beside, then renamed: a reader never sees half a file.
    const std::filesystem::path part = out.string() + ".part";
    {
      std::ofstream o(part, std::ios::binary | std::ios::trunc);
      o.write(file->body.data(), static_cast<std::streamsize>(file->body.size()));
      if (!o.flush()) return Usage(part.string() + ": cannot write / 書き込めません");
    }
    std::error_code ec;
    std::filesystem::rename(part, out, ec);
    if (ec) return Usage(out.string() + ": cannot write / 書き込めません");
    const std::string substituted(file->headers.Get("X-Chukan-Substituted-Lines").value_or("0"));
    std::printf("%s → %s (%s 行 / lines)\n", f.c_str(), out.string().c_str(),
                std::string(file->headers.Get("X-Chukan-Lines").value_or("?")).c_str());
    if (substituted != "0") {
      std::printf(
          "  Shift_JIS で表せない文字を〓にした行 / lines with 〓 for characters Shift_JIS "
          "cannot hold: %s\n",
          substituted.c_str());
    }
  }
  return all_made && all_written ? 0 : 1;
}

// chukan atena-map load FILE: the tenant's 宛名番号 → 団体内統合宛名番号 table (all or nothing).
int AtenaMapLoad(const ReplicaArgs& a) {
  Result<std::unique_ptr<FileUpload>> upload = FileUpload::Open(a.file);
  if (!upload.ok()) return Usage(a.file + ": cannot open / 開けません");
  Result<http::Response> r =
      Call(a, "POST", "/api/v1/atena-map", "",
           a.charset.empty() ? "text/csv" : "text/csv; charset=" + a.charset, {}, upload->get());
  if (!r.ok()) return Failed("取り込めません", "not loaded", r.status());
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Usage("the server's answer is not JSON");
  std::printf("行 / lines: %lld, 登録 / upserted: %lld\n", j.value("lines", 0LL),
              j.value("upserted", 0LL));
  for (const json& e : j.value("errors", json::array())) {
    std::printf("  %lld 行目 / line %lld  %s: %s\n", e.value("line", 0LL), e.value("line", 0LL),
                e.value("field", std::string()).c_str(), e.value("reason", std::string()).c_str());
  }
  if (r->status == 422) {
    std::printf("誤りがあるため何も登録していません / nothing was stored: the file has errors\n");
    return 1;
  }
  return 0;
}

// chukan atena-map show: the tenant's setting and the table's size.
int AtenaMapShow(const ReplicaArgs& a) {
  Result<http::Response> r = Call(a, "GET", "/api/v1/atena-map", "", "");
  if (!r.ok()) return Failed("表示できません", "cannot show", r.status());
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Usage("the server's answer is not JSON");
  std::printf("宛名番号の変換 / atena mapping: %s, 変換表 / table rows: %lld\n",
              j.value("mapping", std::string()).c_str(), j.value("rows", 0LL));
  return 0;
}

}  // namespace

void RegisterReplicaCommands(CLI::App& app, Action& action) {
  auto a = std::make_shared<ReplicaArgs>();
  CLI::App* replica = app.add_subcommand("replica", "副本の操作 / replica operations (client)");
  replica->require_subcommand(1);
  auto common = [&](CLI::App* c) {
    c->add_option("--server", a->server, "server base URL, e.g. https://127.0.0.1:8443")
        ->required();
    c->add_option("--token", a->token, "bearer token (or --token-file, or CHUKAN_TOKEN)");
    c->add_option("--token-file", a->token_file, "file holding the bearer token");
    c->add_option("--ca", a->ca, "CA certificate for https");
    c->add_option("--cert", a->cert, "client certificate (mutual TLS)");
    c->add_option("--key", a->key, "client key (mutual TLS)");
    c->add_option("--timeout", a->timeout_s, "request timeout in seconds (default 3600)");
  };
  CLI::App* imp = replica->add_subcommand("import", "副本を取込 / import a replica file");
  common(imp);
  imp->add_option("--tm", a->tm, "特定個人情報名コード, e.g. TM00000000000002")->required();
  imp->add_option("--version", a->version, "版番号 (default: the latest)");
  imp->add_option("--mode", a->mode, "upsert (default), replace or delete");
  imp->add_option("--format", a->format,
                  "csv, jsonl or dbm20113 (default: from the file name; .xml is dbm20113)");
  imp->add_option("--charset", a->charset,
                  "utf-8 (default; dbm20113: as the XML declaration says) or shift_jis");
  imp->add_option("--header", a->header,
                  "DBM_20113 header file (IF_DBM_20113_R01): its MsgMode is used");
  imp->add_option("--msg-mode", a->msg_mode,
                  "0 本番 (default) or 1 テスト: check only, store nothing");
  imp->add_option("--idempotency-key", a->idempotency_key, "makes a re-sent import a no-op");
  imp->add_option("FILE", a->file, "the file to import")->required();
  imp->callback([&action, a] { action.run = [a] { return Import(*a); }; });
  CLI::App* show = replica->add_subcommand("show", "副本を表示 / show a resident's records");
  common(show);
  show->add_option("--atena-no", a->atena_no, "団体内統合宛名番号 (15 digits)")->required();
  show->add_option("--tm", a->tm, "only this TM");
  show->callback([&action, a] { action.run = [a] { return Show(*a); }; });
  CLI::App* exp = replica->add_subcommand("export", "照合用に出力 / export for reconciliation");
  common(exp);
  exp->add_option("--tm", a->tm, "特定個人情報名コード")->required();
  exp->add_option("--version", a->version, "版番号");
  exp->add_option("--output,-o", a->output, "output file (default: standard output)");
  exp->add_option("--format", a->format, "csv (default) or dbm20113 (the DBM_20113 attachment)");
  exp->callback([&action, a] { action.run = [a] { return Export(*a); }; });
  CLI::App* rec = replica->add_subcommand("reconcile", "原本と突合 / reconcile with the original");
  common(rec);
  rec->add_option("--tm", a->tm, "特定個人情報名コード")->required();
  rec->add_option("--version", a->version, "版番号");
  rec->add_option("--format", a->format, "csv, jsonl or dbm20113");
  rec->add_option("--charset", a->charset, "utf-8 (default) or shift_jis");
  rec->add_option("FILE", a->file, "the business system's original file")->required();
  rec->callback([&action, a] { action.run = [a] { return Reconcile(*a); }; });

  CLI::App* codes = app.add_subcommand("codes", "符号管理 / subject codes (client)");
  codes->require_subcommand(1);
  CLI::App* load = codes->add_subcommand(
      "load", "符号を一括取得 / register a file of atena_no,resident_id pairs");
  common(load);
  auto chunk = std::make_shared<int>(1000);
  load->add_option("--chunk", *chunk, "lines per request (default 1000, at most 100000)")
      ->check(CLI::Range(1, 100'000));
  load->add_option("FILE", a->file, "atena_no,resident_id per line")->required();
  load->callback(
      [&action, a, chunk] { action.run = [a, chunk] { return CodesLoad(*a, *chunk); }; });

  CLI::App* inquiries = app.add_subcommand("inquiries", "情報照会 / inquiries (client)");
  inquiries->require_subcommand(1);
  CLI::App* batch = inquiries->add_subcommand(
      "batch", "一括照会ファイル (P640R110) を送信 / send batch inquiry files (P640R110)");
  common(batch);
  batch->add_option("--charset", a->charset, "utf-8 (default) or shift_jis");
  batch->add_option("--results", a->results_dir,
                    "照会結果ファイルの保存先 / wait for every line and write the result files "
                    "(<name>_RESULT.DAT) into this directory");
  batch->add_option("--result-charset", a->result_charset,
                    "結果ファイルの文字コード / utf-8 or shift_jis (default: the file's)");
  auto files = std::make_shared<std::vector<std::string>>();
  batch->add_option("FILE", *files, "P640R110_YYYYMMDDHHmmss[_NNNN].DAT, one or more")->required();
  batch->callback(
      [&action, a, files] { action.run = [a, files] { return InquiriesBatch(*a, *files); }; });

  CLI::App* atena_map =
      app.add_subcommand("atena-map", "宛名番号の変換表 / the 宛名番号 mapping table (client)");
  atena_map->require_subcommand(1);
  CLI::App* map_load = atena_map->add_subcommand(
      "load", "変換表を取込 / load 番号体系,宛名番号,統合宛名番号 lines (upsert)");
  common(map_load);
  map_load->add_option("--charset", a->charset, "utf-8 (default) or shift_jis");
  map_load->add_option("FILE", a->file, "番号体系,宛名番号,統合宛名番号 per line")->required();
  map_load->callback([&action, a] { action.run = [a] { return AtenaMapLoad(*a); }; });
  CLI::App* map_show =
      atena_map->add_subcommand("show", "設定と件数を表示 / show the setting and the row count");
  common(map_show);
  map_show->callback([&action, a] { action.run = [a] { return AtenaMapShow(*a); }; });
}

}  // namespace chukan::cli
