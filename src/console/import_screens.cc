// The replica staff's (副本担当) screen 取込: a replica file (CSV in UTF-8 or Shift_JIS, JSON
// Lines, or a DBM_20113 registration attachment) uploaded with its import mode, with two progress
// bars — the upload (the browser's own count of bytes sent) and the server's processing (rows read
// and checked, then records written, polled from /console/imports/progress twice a second) — then
// the report: counts, or the table of refused lines with the field and the reason. The history
// lists the tenant's imports from its audit chain.
//
// The upload is a streamed request body (the file's bytes as they are, Content-Type naming the
// format and charset), so any size needs little memory; its CSRF token travels in the
// X-CSRF-Token header and is checked, with the session, before any body byte is read. The
// screen needs the script (the form explains so in a <noscript>).
#include <atomic>
#include <string>

#include "console/console_impl.h"
#include "json/json.h"
#include "layout/catalogue.h"
#include "server/replica_api.h"
#include "server/tenant_context.h"

namespace chukan::console {
namespace {

constexpr size_t kMaxJobs = 1000;
constexpr auto kJobKeep = std::chrono::minutes(30);

bool ValidJobId(std::string_view id) {
  if (id.size() < 16 || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

// The information-name picker of the upload forms (every TM of the catalogue).
void TmField(Html& b, const layout::Catalogue* catalogue) {
  b.Element("label", {{"for", "tm"}}, "特定個人情報名")
      .Open("select", {{"id", "tm"}, {"name", "tm"}, {"required", "required"}});
  if (catalogue != nullptr) {
    for (const layout::InfoName* info : catalogue->infos()) {
      b.Element("option", {{"value", info->code().str()}}, info->code().str() + " " + info->name());
    }
  }
  b.Close("select");
}

// The file format and character set of the upload forms ("csv;utf-8", read by console.js).
void FormatField(Html& b) {
  b.Element("label", {{"for", "format"}}, "ファイル形式")
      .Open("select", {{"id", "format"}, {"name", "format"}});
  b.Element("option", {{"value", "csv;utf-8"}}, "CSV（UTF-8）")
      .Element("option", {{"value", "csv;shift_jis"}}, "CSV（Shift_JIS）")
      .Element("option", {{"value", "jsonl;utf-8"}}, "JSON Lines（UTF-8）")
      .Element("option", {{"value", "dbm20113;"}},
               "DBM_20113 XML（登録依頼添付ファイル、文字コードは XML 宣言のとおり）")
      .Close("select");
}

}  // namespace

std::string ImportJobs::Key(const Session& s, std::string_view job) {
  return s.tenant.str() + "|" + s.login + "|" + std::string(job);
}

std::shared_ptr<ImportJob> ImportJobs::Start(const std::string& key, TimePoint now) {
  MutexLock lock(mu_);
  std::erase_if(jobs_, [&](const auto& kv) {
    return kv.second->done.load() && now - kv.second->started > kJobKeep;
  });
  if (jobs_.size() >= kMaxJobs || jobs_.contains(key)) return nullptr;
  auto job = std::make_shared<ImportJob>();
  job->started = now;
  jobs_.emplace(key, job);
  return job;
}

std::shared_ptr<ImportJob> ImportJobs::Find(const std::string& key) const {
  MutexLock lock(mu_);
  auto it = jobs_.find(key);
  return it == jobs_.end() ? nullptr : it->second;
}

http::Response Console::Impl::ImportUpload(http::Request& req, http::BodyReader& body) {
  const Caller& caller = CallerOf(req);
  const std::string job_id(req.Query("job").value_or(""));
  Result<TmCode> tm = TmCode::Parse(req.Query("tm").value_or(""));
  Result<replica::ImportMode> mode = replica::ParseImportMode(req.Query("mode").value_or(""));
  if (!ValidJobId(job_id) || !tm.ok() || !mode.ok()) {
    return JsonError(400, "取込の指定が不正です（job, tm, mode）。");
  }
  // A DBM_20113 registration says 登録 or 削除 per record: only upsert applies it as sent (replace
  // would delete every record the file does not name), as the API refuses it too.
  Result<replica::FileFormat> format = server::ImportFormatOf(req);
  if (format.ok() && *format == replica::FileFormat::kDbm20113 &&
      *mode != replica::ImportMode::kUpsert) {
    return JsonError(400,
                     "DBM_20113 の登録依頼はレコードごとに登録・削除を指定するため、取込方法は"
                     "「追加・更新（upsert）」だけを使えます。(A DBM_20113 registration says "
                     "登録 or 削除 per record: use mode upsert.)");
  }
  std::shared_ptr<ImportJob> job =
      import_jobs.Start(ImportJobs::Key(caller.session, job_id), clock.Now());
  if (job == nullptr) return JsonError(409, "この取込はすでに開始されています。");
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  Result<std::unique_ptr<replica::RecordSourceFactory>> source =
      store.ok() ? server::ImportBodySource(req, body) : store.status();
  if (!source.ok()) {
    job->done = true;
    return JsonError(400, "ファイルの形式または文字コードの指定が不正です。");
  }
  const std::string actor = "staff:" + caller.session.login;
  replica::ImportRequest ir{*tm,
                            "",
                            *mode,
                            "",
                            actor,
                            req.request_id.str(),
                            [job](replica::ImportPhase phase, int64_t rows) {
                              job->phase = phase == replica::ImportPhase::kCommitting ? 3
                                           : phase == replica::ImportPhase::kApplying ? 2
                                                                                      : 1;
                              job->rows = rows;
                            }};
  audit::AuditLog& log = *caller.tenant->audit;
  auto audit_hook = [&](store::Transaction* tx, const replica::ImportReport& r) -> Status {
    const audit::AuditEvent e{caller.session.tenant.str(),
                              actor,
                              "replica.import",
                              "import " + r.import_id + " tm=" + r.tm + " v=" + r.version +
                                  " mode=" + r.mode + " rows=" + std::to_string(r.rows) +
                                  " inserted=" + std::to_string(r.inserted) +
                                  " updated=" + std::to_string(r.updated) +
                                  " deleted=" + std::to_string(r.deleted) + " file=" + r.file_hash,
                              r.committed ? "ok" : "rejected",
                              req.request_id.str()};
    return tx != nullptr ? log.Append(*tx, e).status() : log.Append(e).status();
  };
  Result<replica::ImportReport> report = (*store)->Import(ir, **source, audit_hook);
  job->done = true;
  if (!report.ok()) {
    Audit(caller, req, "replica.import", "tm=" + tm->str(),
          "error:" + std::string(StatusCodeName(report.status().code())));
    return JsonError(
        report.status().code() == StatusCode::kNotFound ? 404 : 400,
        report.status().code() == StatusCode::kInvalidArgument
            ? "ファイルの見出し行がレイアウトに合いません（" + report.status().message() + "）。"
            : "取り込めませんでした。");
  }
  json::JsonWriter w;
  server::WriteImportReport(w, *report);
  http::Response r(report->committed ? 201 : 422, "application/json", w.Finish().value_or("{}"));
  SecurityHeaders(r);
  return r;
}

http::Response Console::Impl::ImportProgress(http::Request& req) {
  const Caller& caller = CallerOf(req);
  std::shared_ptr<ImportJob> job =
      import_jobs.Find(ImportJobs::Key(caller.session, req.Query("job").value_or("")));
  json::JsonWriter w;
  w.BeginObject();
  if (job == nullptr) {
    w.Key("phase").String("waiting");
  } else {
    const int phase = job->phase.load();
    w.Key("phase").String(job->done    ? "done"
                          : phase == 3 ? "committing"
                          : phase == 2 ? "applying"
                                       : "receiving");
    w.Key("rows").Int(job->rows.load());
  }
  w.EndObject();
  http::Response r(200, "application/json", w.Finish().value_or("{}"));
  SecurityHeaders(r);
  return r;
}

http::Response Console::Impl::Imports(http::Request& req) {
  const Caller& caller = CallerOf(req);
  Html b;
  b.Open("form", {{"id", "import-form"}, {"class", "card"}, {"data-csrf", caller.session.csrf}});
  TmField(b, catalogue.get());
  b.Element("label", {{"for", "mode"}}, "取込方法")
      .Open("select", {{"id", "mode"}, {"name", "mode"}});
  b.Element("option", {{"value", "upsert"}}, "追加・更新（upsert）")
      .Element("option", {{"value", "replace"}}, "全件置換（replace）")
      .Element("option", {{"value", "delete"}}, "削除（delete）")
      .Close("select");
  FormatField(b);
  b.Element("label", {{"for", "file"}}, "ファイル")
      .Void("input",
            {{"id", "file"}, {"name", "file"}, {"type", "file"}, {"required", "required"}});
  b.Element("button", {{"type", "submit"}, {"id", "import-start"}}, "取り込む");
  b.Open("noscript")
      .Element("p", {{"class", "error"}}, "取込画面には JavaScript が必要です。")
      .Close("noscript");
  b.Close("form");
  b.Open("section", {{"id", "import-progress"}, {"class", "card"}, {"hidden", "hidden"}})
      .Element("h2", "進行状況")
      .Element("label", {{"for", "upload-bar"}}, "送信")
      .Element("progress", {{"id", "upload-bar"}, {"max", "100"}, {"value", "0"}}, "")
      .Element("p", {{"id", "upload-text"}, {"role", "status"}}, "")
      .Element("label", {{"for", "process-bar"}}, "サーバーでの処理")
      .Element("progress", {{"id", "process-bar"}}, "")
      .Element("p", {{"id", "process-text"}, {"role", "status"}}, "")
      .Close("section");
  b.Open("section", {{"id", "import-result"}, {"hidden", "hidden"}}).Close("section");
  // History: the tenant's imports, from its audit chain (newest first).
  Result<std::unique_ptr<store::Transaction>> tx = caller.tenant->db->BeginRead();
  Result<std::vector<store::Row>> rows =
      tx.ok() ? (*tx)->Query(
                    "SELECT time_us, actor, target, outcome FROM audit_log WHERE action = "
                    "'replica.import' ORDER BY seq DESC LIMIT 50")
              : tx.status();
  b.Element("h2", "取込の履歴（最新 50 件）");
  if (rows.ok()) {
    b.Open("table", {{"class", "list"}, {"id", "import-history"}}).Open("thead").Open("tr");
    for (std::string_view h : {"日時", "実行者", "内容", "結果"}) b.Element("th", h);
    b.Close("tr").Close("thead").Open("tbody");
    for (const store::Row& r : *rows) {
      b.Open("tr")
          .Element("td", FormatJst(r.GetInt(0).value_or(0)))
          .Element("td", r.GetText(1).value_or(""))
          .Element("td", r.GetText(2).value_or(""))
          .Element("td", r.GetText(3).value_or(""))
          .Close("tr");
    }
    b.Close("tbody").Close("table");
  }
  return Page(200, Frame(&caller, "取込", b.str()));
}

http::Response Console::Impl::ReconcileUpload(http::Request& req, http::BodyReader& body) {
  const Caller& caller = CallerOf(req);
  Result<TmCode> tm = TmCode::Parse(req.Query("tm").value_or(""));
  if (!tm.ok()) return JsonError(400, "特定個人情報名の指定が不正です（tm）。");
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  Result<std::unique_ptr<replica::RecordSourceFactory>> source =
      store.ok() ? server::ImportBodySource(req, body) : store.status();
  if (!source.ok()) return JsonError(400, "ファイルの形式または文字コードの指定が不正です。");
  Result<replica::ReconcileReport> report = (*store)->Reconcile(*tm, "", **source);
  if (!report.ok()) {
    Audit(caller, req, "replica.reconcile", "tm=" + tm->str(),
          "error:" + std::string(StatusCodeName(report.status().code())));
    return JsonError(
        report.status().code() == StatusCode::kNotFound ? 404 : 400,
        report.status().code() == StatusCode::kInvalidArgument
            ? "ファイルの見出し行がレイアウトに合いません（" + report.status().message() + "）。"
            : "照合できませんでした。");
  }
  // The report names residents (the replica's records missing from the original): recorded.
  Audit(caller, req, "replica.reconcile",
        "reconcile tm=" + tm->str() + " rows=" + std::to_string(report->rows) + " missing=" +
            std::to_string(report->missing) + " extra=" + std::to_string(report->extra) +
            " different=" + std::to_string(report->different),
        "ok");
  json::JsonWriter w;
  server::WriteReconcileReport(w, *tm, *report);
  http::Response r(200, "application/json", w.Finish().value_or("{}"));
  SecurityHeaders(r);
  return r;
}

http::Response Console::Impl::Reconcile(http::Request& req) {
  const Caller& caller = CallerOf(req);
  Html b;
  b.Element(
      "p",
      "業務システムの原本ファイルを送ると、副本と照合して差分を表示します。副本は変更しません。");
  b.Open("form", {{"id", "reconcile-form"}, {"class", "card"}, {"data-csrf", caller.session.csrf}});
  TmField(b, catalogue.get());
  FormatField(b);
  b.Element("label", {{"for", "file"}}, "原本ファイル")
      .Void("input",
            {{"id", "file"}, {"name", "file"}, {"type", "file"}, {"required", "required"}});
  b.Element("button", {{"type", "submit"}, {"id", "reconcile-start"}}, "照合する");
  b.Open("noscript")
      .Element("p", {{"class", "error"}}, "照合画面には JavaScript が必要です。")
      .Close("noscript");
  b.Close("form");
  b.Open("section", {{"id", "reconcile-result"}, {"hidden", "hidden"}}).Close("section");
  return Page(200, Frame(&caller, "照合", b.str()));
}

}  // namespace chukan::console
