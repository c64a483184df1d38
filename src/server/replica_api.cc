#include "server/replica_api.h"

#include <array>
#include <chrono>
#include <cstdio>

#include "common/log.h"
#include "json/json.h"
#include "replica/record_source.h"
#include "replica_io/byte_source.h"

namespace chukan::server {
namespace {

http::Response JsonResponse(int status, json::JsonWriter& w) {
  Result<std::string> body = w.Finish();
  if (!body.ok()) return http::Response::Json(500, "{}");
  return http::Response::Json(status, std::move(*body));
}

void WriteProblems(json::JsonWriter& w, const std::vector<replica::Problem>& problems) {
  w.BeginArray();
  for (const replica::Problem& p : problems) {
    w.BeginObject().Key("line").Int(p.line).Key("field").String(p.field);
    w.Key("reason").String(p.reason).Key("message").String(p.message);
    if (p.record > 0) {
      // DBM_20113: the entry's position and its RecordIdentificationNumber's line.
      w.Key("record").Int(p.record).Key("record_id_line").Int(p.record_id_line);
    }
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

void WriteReconcileReport(json::JsonWriter& w, const TmCode& tm,
                          const replica::ReconcileReport& r) {
  w.BeginObject().Key("tm").String(tm.str());
  w.Key("rows").Int(r.rows).Key("matching").Int(r.matching).Key("missing").Int(r.missing);
  w.Key("extra").Int(r.extra).Key("different").Int(r.different);
  w.Key("missing_lines").BeginArray();
  for (int64_t l : r.missing_lines) w.Int(l);
  w.EndArray().Key("differences").BeginArray();
  for (const auto& d : r.differences) {
    w.BeginObject().Key("line").Int(d.line).Key("fields").BeginArray();
    for (const auto& f : d.fields) w.String(f);
    w.EndArray().EndObject();
  }
  w.EndArray().Key("extra_atena_nos").BeginArray();
  for (const auto& a : r.extra_atena_nos) w.String(a);
  w.EndArray().Key("problem_count").Int(r.problem_count).Key("problems");
  WriteProblems(w, r.problems);
  w.EndObject();
}

void WriteImportReport(json::JsonWriter& w, const replica::ImportReport& r) {
  w.BeginObject();
  w.Key("import_id").String(r.import_id);
  w.Key("tm").String(r.tm).Key("version").String(r.version).Key("mode").String(r.mode);
  w.Key("committed").Bool(r.committed).Key("replayed").Bool(r.replayed);
  w.Key("test_mode").Bool(r.test_mode);
  w.Key("rows").Int(r.rows).Key("inserted").Int(r.inserted).Key("updated").Int(r.updated);
  w.Key("deleted").Int(r.deleted).Key("not_found").Int(r.not_found);
  w.Key("file_hash").String(r.file_hash);
  w.Key("problem_count").Int(r.problem_count);
  w.Key("problems");
  WriteProblems(w, r.problems);
  w.EndObject();
}

namespace {

// The media type's charset parameter, or "" (UTF-8; for DBM_20113, what the XML declaration
// names).
std::string CharsetOf(const http::Request& req) {
  const std::optional<std::string_view> ct = req.Header("Content-Type");
  if (!ct) return "";
  const size_t pos = ct->find("charset=");
  if (pos == std::string_view::npos) return "";
  std::string_view cs = ct->substr(pos + 8);
  const size_t end = cs.find(';');
  if (end != std::string_view::npos) cs = cs.substr(0, end);
  if (cs.size() >= 2 && cs.front() == '"' && cs.back() == '"') cs = cs.substr(1, cs.size() - 2);
  return std::string(cs);
}

// "csv" or "jsonl" from ?format=, else from the Content-Type, else CSV.
Result<replica::FileFormat> FormatOf(const http::Request& req) {
  if (auto f = req.Query("format")) return replica::ParseFileFormat(*f);
  if (auto ct = req.Header("Content-Type")) {
    std::string_view media = ct->substr(0, ct->find(';'));
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    if (!media.empty()) return replica::ParseFileFormat(media);
  }
  return replica::FileFormat::kCsv;
}

Result<TmCode> TmOf(const http::Request& req) {
  std::optional<std::string_view> tm = req.Query("tm");
  if (!tm) return InvalidArgumentError("query parameter \"tm\" is required");
  Result<TmCode> code = TmCode::Parse(*tm);
  if (!code.ok()) return code.status().WithContext("query parameter \"tm\"");
  return code;
}

std::string VersionOf(const http::Request& req) {
  std::optional<std::string_view> v = req.Query("version");
  return v ? std::string(v->substr(0, 8)) : std::string();
}

// The request body as the replica readers' byte source: bytes come straight off the socket
// through the server's bounded buffer, so an import of any size needs little memory.
class BodyByteSource final : public replica_io::ByteSource {
 public:
  explicit BodyByteSource(http::BodyReader& body) : body_(body) {}
  Result<size_t> Read(char* buf, size_t n) override { return body_.Read(buf, n); }

 private:
  http::BodyReader& body_;
};

}  // namespace

Result<replica::FileFormat> ImportFormatOf(const http::Request& req) { return FormatOf(req); }

Result<std::unique_ptr<replica::RecordSourceFactory>> ImportBodySource(const http::Request& req,
                                                                       http::BodyReader& body) {
  ASSIGN_OR_RETURN(replica::FileFormat format, FormatOf(req));
  return replica::MakeRecordSourceFactory(std::make_unique<BodyByteSource>(body), format,
                                          CharsetOf(req));
}

ReplicaApi::ReplicaApi(const ApiAuth& auth, std::shared_ptr<const layout::Catalogue> catalogue,
                       uint64_t max_upload_bytes)
    : auth_(auth), catalogue_(std::move(catalogue)), max_upload_bytes_(max_upload_bytes) {}

Status ReplicaApi::Register(http::Router& router) {
  // Replicas are the business systems' data: only system clients reach them (an approver's
  // token is refused by the gate, and the refusal audited in the tenant's log).
  RETURN_IF_ERROR(router.AddStreaming(
      "POST", "/api/v1/replica/imports",
      [this](http::Request& r, http::BodyReader& body) { return Import(r, body); },
      auth_.Route(ApiRole::kSystem, max_upload_bytes_)));
  RETURN_IF_ERROR(router.Add(
      "GET", "/api/v1/replica/records", [this](http::Request& r) { return Records(r); },
      auth_.Route(ApiRole::kSystem, 0)));
  RETURN_IF_ERROR(router.Add(
      "GET", "/api/v1/replica/export", [this](http::Request& r) { return Export(r); },
      auth_.Route(ApiRole::kSystem, 0)));
  RETURN_IF_ERROR(router.AddStreaming(
      "POST", "/api/v1/replica/reconcile",
      [this](http::Request& r, http::BodyReader& body) { return Reconcile(r, body); },
      auth_.Route(ApiRole::kSystem, max_upload_bytes_)));
  return Status();
}

void ReplicaApi::Audit(const http::Request& req, std::string_view action, const std::string& target,
                       const std::string& outcome) {
  const ApiPrincipal& caller = ApiAuth::Caller(req);
  caller.tenant->Audit({caller.who.tenant.str(), "client:" + caller.who.name, std::string(action),
                        target, outcome, req.request_id.str()});
}

http::Response ReplicaApi::Import(http::Request& req, http::BodyReader& body) {
  const ApiPrincipal& caller = ApiAuth::Caller(req);
  const ClientIdentity& who = caller.who;
  auto fail = [&](const Status& s) {
    Audit(req, "replica.import", "", "error:" + std::string(StatusCodeName(s.code())));
    return http::FromStatus(s, req.request_id);
  };
  Result<TmCode> tm = TmOf(req);
  if (!tm.ok()) return fail(tm.status());
  Result<replica::ImportMode> mode = replica::ParseImportMode(req.Query("mode").value_or(""));
  if (!mode.ok()) return fail(mode.status());
  // MsgMode of the DBM_20113 header (1 テスト: check and report, store nothing); any format.
  const std::string_view msg_mode = req.Query("msg_mode").value_or("0");
  if (msg_mode != "0" && msg_mode != "1") {
    return fail(InvalidArgumentError("msg_mode: expected 0 (本番) or 1 (テスト)"));
  }
  Result<replica::FileFormat> format = FormatOf(req);
  if (!format.ok()) return fail(format.status());
  if (*format == replica::FileFormat::kDbm20113 && *mode != replica::ImportMode::kUpsert) {
    return fail(InvalidArgumentError(
        "mode: a DBM_20113 registration says 登録 or 削除 per record; use mode upsert"));
  }
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  if (!store.ok()) return fail(store.status());
  Result<std::unique_ptr<replica::RecordSourceFactory>> source = ImportBodySource(req, body);
  if (!source.ok()) return fail(source.status());

  replica::ImportRequest ir{*tm,
                            VersionOf(req),
                            *mode,
                            std::string(req.Header("Idempotency-Key").value_or("")),
                            "client:" + who.name,
                            req.request_id.str(),
                            {},
                            msg_mode == "1"};
  // When each phase began (steady clock): logged with the outcome, for operators to see where an
  // import's time went (the upload received, the rows read, checked and written, the commit).
  std::array<std::chrono::steady_clock::time_point, 3> began{};
  const auto start = std::chrono::steady_clock::now();
  ir.progress = [&began](replica::ImportPhase phase, int64_t) {
    auto& t = began[static_cast<size_t>(phase)];
    if (t == std::chrono::steady_clock::time_point{}) t = std::chrono::steady_clock::now();
  };
  audit::AuditLog& log = *caller.tenant->audit;
  auto audit_hook = [&](store::Transaction* tx, const replica::ImportReport& r) -> Status {
    const std::string target = "import " + r.import_id + " tm=" + r.tm + " v=" + r.version +
                               " mode=" + r.mode + " rows=" + std::to_string(r.rows) +
                               " inserted=" + std::to_string(r.inserted) +
                               " updated=" + std::to_string(r.updated) +
                               " deleted=" + std::to_string(r.deleted) + " file=" + r.file_hash;
    const audit::AuditEvent e{who.tenant.str(),
                              "client:" + who.name,
                              "replica.import",
                              target,
                              r.committed ? "ok" : (r.test_mode ? "test" : "rejected"),
                              req.request_id.str()};
    return tx != nullptr ? log.Append(*tx, e).status() : log.Append(e).status();
  };
  Result<replica::ImportReport> report = (*store)->Import(ir, **source, audit_hook);
  if (!report.ok()) return fail(report.status());
  {
    const auto end = std::chrono::steady_clock::now();
    // Milliseconds from `from` to the next phase that began (or the end); -1: never began.
    auto ms = [&](size_t from) -> int64_t {
      if (began[from] == std::chrono::steady_clock::time_point{}) return -1;
      auto to = end;
      for (size_t next = from + 1; next < began.size(); ++next) {
        if (began[next] != std::chrono::steady_clock::time_point{}) {
          to = began[next];
          break;
        }
      }
      return std::chrono::duration_cast<std::chrono::milliseconds>(to - began[from]).count();
    };
    chukan::log::Info(
        "replica.import_done",
        {{"import_id", report->import_id},
         {"rows", report->rows},
         {"committed", report->committed},
         {"replayed", report->replayed},  // a resend answered from the first: received only
         {"receiving_ms", ms(static_cast<size_t>(replica::ImportPhase::kReceiving))},
         {"applying_ms", ms(static_cast<size_t>(replica::ImportPhase::kApplying))},
         {"committing_ms", ms(static_cast<size_t>(replica::ImportPhase::kCommitting))},
         {"total_ms", std::chrono::duration_cast<std::chrono::milliseconds>(end - start).count()}});
  }
  json::JsonWriter w;
  WriteImportReport(w, *report);
  if (report->replayed) {
    Audit(req, "replica.import", "import " + report->import_id + " replayed", "ok");
    return JsonResponse(200, w);
  }
  if (report->test_mode && report->problem_count == 0) return JsonResponse(200, w);
  return JsonResponse(report->committed ? 201 : 422, w);
}

http::Response ReplicaApi::Records(http::Request& req) {
  const ApiPrincipal& caller = ApiAuth::Caller(req);
  auto fail = [&](const Status& s) {
    Audit(req, "replica.view", "", "error:" + std::string(StatusCodeName(s.code())));
    return http::FromStatus(s, req.request_id);
  };
  std::optional<std::string_view> atena = req.Query("atena_no");
  if (!atena) return fail(InvalidArgumentError("query parameter \"atena_no\" is required"));
  Result<AtenaNo> atena_no = AtenaNo::Parse(*atena);
  if (!atena_no.ok()) return fail(atena_no.status().WithContext("query parameter \"atena_no\""));
  std::optional<TmCode> tm;
  if (req.Query("tm")) {
    Result<TmCode> t = TmOf(req);
    if (!t.ok()) return fail(t.status());
    tm = *t;
  }
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  if (!store.ok()) return fail(store.status());
  Result<std::vector<replica::Record>> records = (*store)->Find(*atena_no, tm);
  if (!records.ok()) return fail(records.status());
  json::JsonWriter w;
  w.BeginObject().Key("atena_no").String(atena_no->str()).Key("records").BeginArray();
  for (const replica::Record& r : *records) {
    const layout::InfoName* info = catalogue_->Find(r.tm);
    const layout::LayoutVersion* v = info != nullptr ? info->Version(r.version) : nullptr;
    w.BeginObject().Key("tm").String(r.tm);
    w.Key("tm_name").String(info != nullptr ? info->name() : "");
    w.Key("version").String(r.version);
    w.Key("publish_from").String(r.publish_from).Key("publish_until").String(r.publish_until);
    if (r.envelope) {
      w.Key("registration").BeginObject();
      w.Key("record_id").String(r.envelope->record_id);
      w.Key("data_set_item_code").String(r.envelope->data_set_item_code);
      w.Key("record_key").String(r.envelope->record_key);
      w.Key("parent_record_key").String(r.envelope->parent_record_key);
      w.Key("region_code").String(r.envelope->region_code);
      w.EndObject();
    }
    w.Key("items").BeginArray();
    for (size_t i = 0; i < r.values.size(); ++i) {
      const layout::Item* item = v != nullptr && i < v->item_count() ? &v->item(i) : nullptr;
      w.BeginObject().Key("code").String(item != nullptr ? item->code() : "");
      w.Key("name").String(item != nullptr ? item->name() : "");
      w.Key("value").String(r.values[i]).EndObject();
    }
    w.EndArray().EndObject();
  }
  w.EndArray().EndObject();
  // The target names the lookup by TM only: an atena_no is personal data and stays out of logs.
  Audit(req, "replica.view",
        "records tm=" + (tm ? tm->str() : std::string("*")) +
            " found=" + std::to_string(records->size()),
        "ok");
  return JsonResponse(200, w);
}

http::Response ReplicaApi::Export(http::Request& req) {
  const ApiPrincipal& caller = ApiAuth::Caller(req);
  auto fail = [&](const Status& s) {
    Audit(req, "replica.export", "", "error:" + std::string(StatusCodeName(s.code())));
    return http::FromStatus(s, req.request_id);
  };
  Result<TmCode> tm = TmOf(req);
  if (!tm.ok()) return fail(tm.status());
  replica::ExportFormat format = replica::ExportFormat::kCsv;
  if (std::optional<std::string_view> f = req.Query("format"); f && *f != "csv") {
    if (*f != "dbm20113") return fail(InvalidArgumentError("format: expected csv or dbm20113"));
    format = replica::ExportFormat::kDbm20113;
  }
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  if (!store.ok()) return fail(store.status());
  // Checked before the 200 goes out: once it has, a failing export can only abort the
  // connection, so an unknown TM or version would look like a broken download, not a 404.
  if (Status s = (*store)->CheckExportable(*tm, VersionOf(req)); !s.ok()) return fail(s);
  // The CSV is produced while it is sent (bounded memory whatever the TM's size); the audit
  // entry follows once the producer knows how it ended.
  http::Response resp(200,
                      format == replica::ExportFormat::kCsv ? "text/csv; charset=utf-8"
                                                            : "application/xml; charset=utf-8",
                      "");
  resp.stream = [store = *store, tm = *tm, version = VersionOf(req), tenant = caller.tenant,
                 who = caller.who, rid = req.request_id, format](http::BodyWriter& out) -> Status {
    Result<int64_t> n = store->Export(
        tm, version, [&](std::string_view chunk) { return out.Write(chunk); }, format);
    const std::string target = "export tm=" + tm.str() +
                               (format == replica::ExportFormat::kCsv ? "" : " format=dbm20113") +
                               (n.ok() ? " records=" + std::to_string(*n) : std::string());
    const std::string outcome =
        n.ok() ? "ok" : "error:" + std::string(StatusCodeName(n.status().code()));
    tenant->Audit(
        {who.tenant.str(), "client:" + who.name, "replica.export", target, outcome, rid.str()});
    if (!n.ok()) {
      log::Error(
          "replica.export_failed",
          {{"tenant", who.tenant.str()}, log::RequestIdField(rid), log::StatusField(n.status())});
    }
    return n.status();
  };
  return resp;
}

http::Response ReplicaApi::Reconcile(http::Request& req, http::BodyReader& body) {
  const ApiPrincipal& caller = ApiAuth::Caller(req);
  auto fail = [&](const Status& s) {
    Audit(req, "replica.reconcile", "", "error:" + std::string(StatusCodeName(s.code())));
    return http::FromStatus(s, req.request_id);
  };
  Result<TmCode> tm = TmOf(req);
  if (!tm.ok()) return fail(tm.status());
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  if (!store.ok()) return fail(store.status());
  Result<std::unique_ptr<replica::RecordSourceFactory>> source = ImportBodySource(req, body);
  if (!source.ok()) return fail(source.status());
  Result<replica::ReconcileReport> r = (*store)->Reconcile(*tm, VersionOf(req), **source);
  if (!r.ok()) return fail(r.status());
  json::JsonWriter w;
  WriteReconcileReport(w, *tm, *r);
  Audit(req, "replica.reconcile",
        "reconcile tm=" + tm->str() + " rows=" + std::to_string(r->rows) +
            " missing=" + std::to_string(r->missing) + " extra=" + std::to_string(r->extra) +
            " different=" + std::to_string(r->different),
        "ok");
  return JsonResponse(200, w);
}

}  // namespace chukan::server
