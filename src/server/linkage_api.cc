#include "server/linkage_api.h"

#include <cstdint>
#include <map>

#include "common/log.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "http/api_util.h"
#include "json/json.h"
#include "linkage/envelope.h"
#include "linkage/permit.h"
#include "replica_io/byte_source.h"
#include "replica_io/charset.h"
#include "server/atena_map.h"
#include "server/batch_inquiry.h"
#include "server/batch_lines.h"
#include "server/batch_results.h"
#include "server/inquiry_batches.h"
#include "server/inquiry_state.h"
#include "server/linkage_env.h"

namespace chukan::server {
namespace {

constexpr size_t kMaxSmallBody = 16 * 1024;
constexpr size_t kMaxBulkBody = 64 << 20;

using http::QueryInt;
using json::IdField;

// Errors as every chukan API answers them (http::ReasonErrorResponse).
http::Response ErrorResponse(const Status& s, const RequestId& rid) {
  return http::ReasonErrorResponse(s, rid, "server.request_failed", /*hide_unavailable=*/false);
}

void WriteInquiry(json::JsonWriter& w, const InquiryView& v, bool with_result) {
  w.BeginObject()
      .Key("inquiry_id")
      .String(v.inquiry_id)
      .Key("state")
      .String(v.state)
      .Key("reason")
      .String(v.reason)
      .Key("provider")
      .String(v.provider)
      .Key("procedure")
      .String(v.procedure)
      .Key("tm")
      .String(v.tm)
      .Key("layout_version")
      .String(v.layout_version)
      .Key("permit_id")
      .String(v.permit_id)
      .Key("department")
      .String(v.department)
      .Key("user_id")
      .String(v.user_id)
      .Key("non_disclosure")
      .Bool(v.non_disclosure)
      .Key("inquirer_delegator")
      .String(v.inquirer_delegator)
      .Key("provider_delegator")
      .String(v.provider_delegator)
      .Key("created_at")
      .String(FormatRfc3339(FromUnixMicros(v.created_at_us)))
      .Key("expires_at")
      .String(FormatRfc3339(FromUnixMicros(v.expires_at_us)));
  w.Key("permitted_at");
  if (v.permitted_at_us)
    w.String(FormatRfc3339(FromUnixMicros(*v.permitted_at_us)));
  else
    w.Null();
  w.Key("ended_at");
  if (v.ended_at_us)
    w.String(FormatRfc3339(FromUnixMicros(*v.ended_at_us)));
  else
    w.Null();
  w.Key("result_deleted").Bool(v.result_deleted);
  // The answer was checked to be a JSON object when it arrived (OnInquiryResult).
  if (with_result) {
    w.Key("result");
    if (v.result_json)
      w.Raw(*v.result_json);
    else
      w.Null();
  }
  w.EndObject();
}

}  // namespace

namespace {

// Errors from a node route's gate (the hub's pinned certificate): nullopt lets it through.
std::optional<http::Response> CheckHubCertificate(const std::string& pinned, http::Request& req) {
  if (!req.peer.identity) {
    return ErrorResponse(UnauthenticatedError("a client certificate is required"), req.request_id);
  }
  if (pinned.empty() || !crypto::ConstantTimeEquals(crypto::AsBytes(req.peer.identity->cert_sha256),
                                                    crypto::AsBytes(pinned))) {
    return ErrorResponse(PermissionDeniedError("node routes accept the hub's certificate only"),
                         req.request_id);
  }
  return std::nullopt;
}

// The items of a batch body (http::ParseBatchRequest), each started by `start` before any is
// waited for, so the batch shares commits.
Result<http::Response> AnswerBatchBody(
    http::Request& req, const std::function<Result<http::BatchFinish>(const std::string&)>& start) {
  ASSIGN_OR_RETURN(std::vector<std::string> items, http::ParseBatchRequest(req.body));
  return http::AnswerBatch(items, start,
                           [&](const Status& s) { return ErrorResponse(s, req.request_id); });
}

// Sends `response` through `out` once `event` is durable in `tenant`'s audit log (or its
// failure logged): no thread waits for the commit meanwhile.
void AnswerAfterAudit(TenantContext& tenant, audit::AuditEvent event, http::Response response,
                      http::Responder out) {
  auto answer = std::make_shared<http::Response>(std::move(response));
  auto responder = std::make_shared<http::Responder>(std::move(out));
  tenant.AuditThen(std::move(event), [answer, responder] { responder->Send(std::move(*answer)); });
}

}  // namespace

Status LinkageApi::AddApi(http::Router& router, std::string_view method, std::string_view pattern,
                          ApiRole role, uint64_t max_body, ApiHandler handler, Backlog backlog) {
  return AddApiRoute(
      router, method, pattern, role, max_body,
      [this, handler](const ClientIdentity& who, http::Request& req, const ApiAnswer& answer) {
        answer((this->*handler)(who, req));
      },
      backlog);
}

Status LinkageApi::AddAsyncApi(http::Router& router, std::string_view method,
                               std::string_view pattern, ApiRole role, uint64_t max_body,
                               AsyncApiHandler handler, Backlog backlog) {
  return AddApiRoute(
      router, method, pattern, role, max_body,
      [this, handler](const ClientIdentity& who, http::Request& req, ApiAnswer answer) {
        (this->*handler)(who, req, std::move(answer));
      },
      backlog);
}

Status LinkageApi::AddApiRoute(http::Router& router, std::string_view method,
                               std::string_view pattern, ApiRole role, uint64_t max_body,
                               AnyApiHandler handler, Backlog backlog) {
  http::RouteOptions options = auth_.Route(role, max_body);
  if (backlog == Backlog::kNewWork) {
    // ApiAuth's gate runs on a worker (it may read the token store), so a due count may be too.
    options.gate = [authenticate =
                        options.gate](http::Request& req) -> std::optional<http::Response> {
      if (std::optional<http::Response> refused = authenticate(req)) return refused;
      // Not audited one by one: under overload that would be a durable write for each call
      // turned away — the very load being shed. Counted instead (and logged at most every 10 s).
      Status room = ApiAuth::Caller(req).tenant->AdmitNewWork();
      if (room.ok()) return std::nullopt;
      return ErrorResponse(room, req.request_id);
    };
  }
  // ApiAuth's gate has authenticated the caller (and checked its role) before the body was
  // read; the handler runs with the body, and every call is audited in the tenant's log (the
  // service adds entries for the state changes themselves). The answer goes out once the call's
  // entry is durable, as before, but no worker waits for that commit: the committer hands the
  // answer to the connection (TenantContext::AuditThen).
  return router.AddAsync(
      method, pattern,
      [handler = std::move(handler)](http::Request& req, http::Responder out) {
        const ApiPrincipal& caller = ApiAuth::Caller(req);
        // What the answer needs, copied: an asynchronous handler answers after it returned.
        auto call = std::make_shared<ApiAnswer::Call>(
            caller.tenant, caller.who, req.method, req.path.substr(0, 200), req.request_id,
            std::make_shared<http::Responder>(std::move(out)));
        handler(caller.who, req, ApiAnswer(std::move(call)));
      },
      std::move(options));
}

struct LinkageApi::ApiAnswer::Call {
  Call(std::shared_ptr<TenantContext> t, ClientIdentity w, std::string m, std::string p,
       RequestId r, std::shared_ptr<http::Responder> out)
      : tenant(std::move(t)),
        who(std::move(w)),
        method(std::move(m)),
        path(std::move(p)),
        rid(std::move(r)),
        responder(std::move(out)) {}
  std::shared_ptr<TenantContext> tenant;
  ClientIdentity who;
  std::string method;
  std::string path;  // at most 200 bytes of it
  RequestId rid;
  // Moved from once, by the one answer (an ApiAnswer is called once).
  std::shared_ptr<http::Responder> responder;
};

audit::AuditEvent LinkageApi::ApiAnswer::Entry(std::string outcome) const {
  return {call_->who.tenant.str(), "client:" + call_->who.name,
          "api." + call_->method,  call_->path,
          std::move(outcome),      call_->rid.str()};
}

void LinkageApi::ApiAnswer::operator()(Result<http::Response> r) const {
  AnswerAfterAudit(*call_->tenant, Entry(AuditOutcome(r.status())),
                   r.ok() ? std::move(*r) : ErrorResponse(r.status(), call_->rid),
                   std::move(*call_->responder));
}

void LinkageApi::ApiAnswer::Audited(http::Response r) const {
  call_->responder->Send(std::move(r));
}

Status LinkageApi::Register(http::Router& router) {
  RETURN_IF_ERROR(AddApi(router, "POST", "/api/v1/codes", ApiRole::kSystem, kMaxSmallBody,
                         &LinkageApi::RegisterCode));
  RETURN_IF_ERROR(AddApi(router, "POST", "/api/v1/codes/bulk", ApiRole::kSystem, kMaxBulkBody,
                         &LinkageApi::RegisterCodes));
  RETURN_IF_ERROR(AddApi(router, "POST", "/api/v1/atena-map", ApiRole::kSystem, kMaxBulkBody,
                         &LinkageApi::LoadAtenaMap));
  RETURN_IF_ERROR(
      AddApi(router, "GET", "/api/v1/atena-map", ApiRole::kSystem, 0, &LinkageApi::AtenaMapStatus));
  RETURN_IF_ERROR(AddAsyncApi(router, "POST", "/api/v1/inquiries", ApiRole::kSystem, kMaxSmallBody,
                              &LinkageApi::CreateInquiry, Backlog::kNewWork));
  RETURN_IF_ERROR(AddApi(router, "POST", "/api/v1/inquiries/batch", ApiRole::kSystem, kMaxBulkBody,
                         &LinkageApi::CreateBatchInquiries, Backlog::kNewWork));
  RETURN_IF_ERROR(AddApi(router, "GET", "/api/v1/inquiries/batch/{id}", ApiRole::kSystem, 0,
                         &LinkageApi::GetBatch));
  RETURN_IF_ERROR(AddApi(router, "GET", "/api/v1/inquiries/batch/{id}/result-file",
                         ApiRole::kSystem, 0, &LinkageApi::GetBatchResultFile));
  RETURN_IF_ERROR(router.AddAsync(
      "GET", "/api/v1/inquiries/{id}",
      [this](http::Request& req, http::Responder out) { GetInquiry(req, std::move(out)); },
      auth_.Route(ApiRole::kSystem, 0)));
  RETURN_IF_ERROR(
      AddApi(router, "GET", "/api/v1/inquiries", ApiRole::kSystem, 0, &LinkageApi::ListInquiries));
  RETURN_IF_ERROR(AddApi(router, "GET", "/api/v1/approvals", ApiRole::kApprover, 0,
                         &LinkageApi::ListApprovals));
  RETURN_IF_ERROR(AddApi(router, "POST", "/api/v1/approvals/{permit_id}", ApiRole::kApprover,
                         kMaxSmallBody, &LinkageApi::DecideApproval));
  RETURN_IF_ERROR(
      AddApi(router, "GET", "/api/v1/records", ApiRole::kAny, 0, &LinkageApi::ListRecords));
  return AddApi(router, "GET", "/api/v1/linkage/status", ApiRole::kSystem, 0,
                &LinkageApi::LinkageStatus);
}

Result<http::Response> LinkageApi::RegisterCode(const ClientIdentity& who, http::Request& req) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(req.body));
  RETURN_IF_ERROR(o.RejectUnknownFields({"atena_no", "resident_id"}));
  ASSIGN_OR_RETURN(AtenaNo atena, IdField<AtenaNo>(o, "atena_no"));
  ASSIGN_OR_RETURN(ResidentId rid, IdField<ResidentId>(o, "resident_id"));
  ASSIGN_OR_RETURN(SubjectCode code, linkage_.RegisterCode(who.tenant, atena, rid));
  return http::Response::Json(200, R"({"subject_code":")" + code.str() + "\"}");
}

Result<http::Response> LinkageApi::LoadAtenaMap(const ClientIdentity& who, http::Request& req) {
  // 宛名番号変換表 (docs/batch-inquiry-format.md): all or nothing, 422 naming each bad line.
  ASSIGN_OR_RETURN(replica_io::Charset charset,
                   replica_io::ParseCharset(req.Header("Content-Type").value_or("text/csv")));
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> tenant, linkage_.Tenant(who.tenant));
  AtenaMap map(*tenant);
  ASSIGN_OR_RETURN(AtenaMapLoad load, map.Load(std::move(req.body), charset, "client:" + who.name));
  json::JsonWriter w;
  w.BeginObject().Key("lines").Int(load.lines).Key("upserted").Int(load.upserted);
  w.Key("errors").BeginArray();
  for (const AtenaMapLineError& e : load.errors) {
    w.BeginObject()
        .Key("line")
        .Int(e.line)
        .Key("field")
        .String(e.field)
        .Key("reason")
        .String(e.reason)
        .EndObject();
  }
  w.EndArray().EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(load.errors.empty() ? 200 : 422, std::move(json));
}

Result<http::Response> LinkageApi::AtenaMapStatus(const ClientIdentity& who, http::Request&) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> tenant, linkage_.Tenant(who.tenant));
  AtenaMap map(*tenant);
  ASSIGN_OR_RETURN(AtenaMapping mode, map.Mode());
  ASSIGN_OR_RETURN(int64_t rows, map.Count());
  json::JsonWriter w;
  w.BeginObject()
      .Key("mapping")
      .String(std::string(AtenaMappingName(mode)))
      .Key("rows")
      .Int(rows)
      .EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(200, std::move(json));
}

Result<http::Response> LinkageApi::RegisterCodes(const ClientIdentity& who, http::Request& req) {
  // One "atena_no,resident_id" pair per line; each line gets its own result.
  const std::string& body = req.body;
  int64_t line = 0, ok = 0, failed = 0;
  json::JsonWriter w;
  w.BeginObject().Key("errors").BeginArray();
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    std::string_view text(body.data() + pos, end - pos);
    pos = end + 1;
    ++line;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.empty()) continue;
    const size_t comma = text.find(',');
    Status s;
    if (comma == std::string_view::npos) {
      s = InvalidArgumentError("expected atena_no,resident_id");
    } else {
      Result<AtenaNo> a = AtenaNo::Parse(text.substr(0, comma));
      Result<ResidentId> r = ResidentId::Parse(text.substr(comma + 1));
      if (!a.ok())
        s = a.status();
      else if (!r.ok())
        s = r.status();
      else
        s = linkage_.RegisterCode(who.tenant, *a, *r).status();
    }
    if (s.ok()) {
      ++ok;
    } else {
      ++failed;
      if (failed <= 100) {
        w.BeginObject().Key("line").Int(line).Key("message").String(s.message()).EndObject();
      }
    }
  }
  w.EndArray().Key("lines").Int(line).Key("registered").Int(ok).Key("failed").Int(failed);
  w.EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(failed == 0 ? 200 : 207, std::move(json));
}

namespace {

// POST /api/v1/inquiries's body as an inquiry of `who`.
Result<InquiryInput> ParseInquiryBody(const ClientIdentity& who, http::Request& req) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(req.body, {kMaxSmallBody, 3}));
  RETURN_IF_ERROR(
      o.RejectUnknownFields({"atena_no", "procedure", "tm", "layout_version", "provider", "query",
                             "idempotency_key", "timeout_seconds", "department", "user_id",
                             "non_disclosure", "inquirer_delegator", "provider_delegator"}));
  InquiryInput in;
  ASSIGN_OR_RETURN(in.atena, IdField<AtenaNo>(o, "atena_no"));
  ASSIGN_OR_RETURN(in.procedure, IdField<JtCode>(o, "procedure"));
  ASSIGN_OR_RETURN(in.tm, IdField<TmCode>(o, "tm"));
  ASSIGN_OR_RETURN(in.provider, IdField<OrgCode>(o, "provider"));
  ASSIGN_OR_RETURN(std::optional<std::string> version, o.GetOptionalString("layout_version", 4));
  in.layout_version = version.value_or("");
  if (o.Has("query")) {
    ASSIGN_OR_RETURN(in.query, linkage::ParseQuery(o));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> key, o.GetOptionalString("idempotency_key", 128));
  in.idempotency_key = key.value_or(std::string(req.Header("Idempotency-Key").value_or("")));
  ASSIGN_OR_RETURN(std::optional<int64_t> timeout,
                   o.GetOptionalInt("timeout_seconds", 1, 30 * 86'400));
  in.timeout_seconds = timeout.value_or(0);
  ASSIGN_OR_RETURN(std::optional<std::string> department, o.GetOptionalString("department", 20));
  in.department = department.value_or("");
  ASSIGN_OR_RETURN(std::optional<std::string> user_id, o.GetOptionalString("user_id", 32));
  in.user_id = user_id.value_or("");
  ASSIGN_OR_RETURN(std::optional<bool> non_disclosure, o.GetOptionalBool("non_disclosure"));
  in.non_disclosure = non_disclosure.value_or(false);
  ASSIGN_OR_RETURN(in.inquirer_delegator, linkage::OptionalOrgField(o, "inquirer_delegator"));
  ASSIGN_OR_RETURN(in.provider_delegator, linkage::OptionalOrgField(o, "provider_delegator"));
  in.client = who.name;
  return in;
}

// POST /api/v1/inquiries's answer: 202 with the inquiry.
Result<http::Response> InquiryAccepted(const Result<InquiryView>& v) {
  RETURN_IF_ERROR(v.status());
  json::JsonWriter w;
  WriteInquiry(w, *v, false);
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(202, std::move(json));
}

}  // namespace

void LinkageApi::CreateInquiry(const ClientIdentity& who, http::Request& req, ApiAnswer answer) {
  Result<InquiryInput> in = ParseInquiryBody(who, req);
  if (!in.ok()) {
    answer(in.status());
    return;
  }
  // Answered where the inquiry's write completes (usually the tenant's committer thread), with
  // no worker waiting for the commit. The call's audit entry goes into the inquiry's write, so
  // that a created inquiry is one durable commit, not two in a row (the second the answer's
  // wait); when nothing was written (an error, an idempotent repeat) it is written on its own.
  auto call = std::make_shared<Inquiries::CallEntry>();
  call->event = answer.Entry("ok");
  linkage_.CreateInquiryAsync(
      who.tenant, *in,
      [answer = std::move(answer), call](Result<InquiryView> v) {
        Result<http::Response> r = InquiryAccepted(v);
        if (call->written && r.ok()) return answer.Audited(std::move(*r));
        // Nothing written, or (never seen) created but its answer not made: audited on its own.
        answer(std::move(r));
      },
      call);
}

Result<http::Response> LinkageApi::CreateBatchInquiries(const ClientIdentity& who,
                                                        http::Request& req) {
  return RunBatchInquiryFile(linkage_, who, std::move(req.body),
                             req.Header("Content-Type").value_or("text/plain"),
                             req.Query("name").value_or(""));
}

namespace {

// A file name as a client gives it (?name=): at most 128 of [A-Za-z0-9._-], not starting
// with '.'; it names the result file, so nothing else (no path, no quote) is accepted.
Status CheckBatchFileName(std::string_view name) {
  bool ok = name.size() <= 128 && (name.empty() || name[0] != '.');
  for (char c : name) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!allowed) ok = false;
  }
  if (!ok) {
    return InvalidArgumentError(
        "query parameter name: at most 128 of A-Z a-z 0-9 . _ - (not starting with .)");
  }
  return Status::Ok();
}

LocalGovResolver HubLocalGovResolver(LinkageService& linkage) {
  HubPort* hub = linkage.hub();
  if (hub == nullptr) return NoLocalGovRegistry();
  return [hub](std::string_view digits) { return hub->OrgByLocalGovCode(digits); };
}

}  // namespace

Result<http::Response> RunBatchInquiryFile(LinkageService& linkage, const ClientIdentity& who,
                                           std::string body, std::string_view content_type,
                                           std::string_view file_name) {
  // 一括照会ファイル (P640R110, docs/batch-inquiry-format.md): one inquiry per valid line, each
  // line answered on its own, the batch stored so that its result file (照会結果ファイル) can be
  // fetched once every line has ended. Re-sending the same file returns the same batch and the
  // same inquiries (each line's idempotency key is the file's hash and the line number).
  RETURN_IF_ERROR(CheckBatchFileName(file_name));
  ASSIGN_OR_RETURN(replica_io::Charset charset, replica_io::ParseCharset(content_type));
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> tenant, linkage.Tenant(who.tenant));
  AtenaMap atena_map(*tenant);
  ASSIGN_OR_RETURN(AtenaMapping mapping, atena_map.Mode());
  const AtenaResolver atena = [&](const BatchInquiry& b) { return atena_map.Resolve(mapping, b); };
  const LocalGovResolver local_gov = HubLocalGovResolver(linkage);
  const std::string file_key = crypto::ToHex(crypto::Sha256(crypto::AsBytes(body))).substr(0, 32);
  replica_io::StringSource src(std::move(body));
  BatchOptions options;
  options.charset = charset;
  options.keep_text = true;
  ASSIGN_OR_RETURN(BatchParseResult parsed, ParseBatchInquiryFile(src, options));
  // Per line: the parse errors (every one, for the answer; the first is stored).
  std::map<int64_t, std::vector<std::pair<std::string, std::string>>> errors;
  for (const BatchLineError& e : parsed.errors) {
    errors[e.line].emplace_back(e.field, e.reason);
  }
  std::vector<BatchLinePlan> plans(static_cast<size_t>(parsed.lines));
  for (int64_t line = 1; line <= parsed.lines; ++line) {
    BatchLinePlan& p = plans[static_cast<size_t>(line - 1)];
    p.line = line;
    p.text = std::move(parsed.texts[static_cast<size_t>(line - 1)]);
    if (auto e = errors.find(line); e != errors.end()) {
      p.error_field = e->second.front().first;
      p.error_reason = e->second.front().second;
      p.error_code = "FORMAT";
    }
  }
  for (const BatchInquiry& b : parsed.inquiries) {
    BatchLinePlan& p = plans[static_cast<size_t>(b.line - 1)];
    Result<InquiryInput> in =
        FromBatchLine(b, who, linkage.catalogue(), atena, local_gov, &p.error_code);
    if (in.ok()) {
      in->idempotency_key = "batch:" + file_key + ":" + std::to_string(b.line);
      p.input = std::move(*in);
      p.error_code.clear();
    } else {
      p.error_reason = std::string(in.status().message());
    }
  }
  BatchHeader header;
  const int64_t now_us = linkage.NowUs();
  header.batch_id = PermitId::GenerateTimeOrdered(now_us / 1000).str();
  header.file_key = file_key;
  header.file_name = std::string(file_name);
  header.client = who.name;
  header.charset = charset == replica_io::Charset::kUtf8 ? "utf-8" : "shift_jis";
  header.lines = parsed.lines;
  header.created_at_us = now_us;
  ASSIGN_OR_RETURN(BatchRun run,
                   RunInquiryBatch(linkage, who.tenant, std::move(header), std::move(plans)));
  int64_t accepted = 0, duplicates = 0, failed = 0;
  for (const BatchLineResult& r : run.lines) {
    accepted += r.outcome == BatchLineOutcome::kInquiry ? 1 : 0;
    duplicates += r.outcome == BatchLineOutcome::kDuplicate ? 1 : 0;
    failed += r.outcome == BatchLineOutcome::kRefused ? 1 : 0;
  }
  json::JsonWriter w;
  w.BeginObject().Key("batch_id").String(run.batch_id).Key("lines").Int(parsed.lines);
  w.Key("accepted").Int(accepted).Key("duplicates").Int(duplicates).Key("failed").Int(failed);
  w.Key("results").BeginArray();
  for (const BatchLineResult& r : run.lines) {
    w.BeginObject().Key("line").Int(r.line);
    switch (r.outcome) {
      case BatchLineOutcome::kInquiry:
        w.Key("inquiry_id").String(r.inquiry->inquiry_id);
        w.Key("state").String(r.inquiry->state);
        break;
      case BatchLineOutcome::kDuplicate:
        w.Key("duplicate_of").Int(r.duplicate_of);
        break;
      case BatchLineOutcome::kRefused: {
        w.Key("code").String(r.error_code);
        w.Key("errors").BeginArray();
        auto e = errors.find(r.line);
        if (e != errors.end()) {
          for (const auto& [field, reason] : e->second) {
            w.BeginObject().Key("field").String(field).Key("reason").String(reason).EndObject();
          }
        } else {
          w.BeginObject()
              .Key("field")
              .String(r.error_field)
              .Key("reason")
              .String(r.error_reason)
              .EndObject();
        }
        w.EndArray();
        break;
      }
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(failed == 0 && duplicates == 0 ? 200 : 207, std::move(json));
}

Result<http::Response> LinkageApi::GetBatch(const ClientIdentity& who, http::Request& req) {
  ASSIGN_OR_RETURN(std::string id, BatchIdOf(req));
  ASSIGN_OR_RETURN(BatchSummary s, ReadBatchSummary(linkage_, who.tenant, id));
  json::JsonWriter w;
  WriteBatchSummary(w, s);
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(200, std::move(json));
}

Result<http::Response> LinkageApi::GetBatchResultFile(const ClientIdentity& who,
                                                      http::Request& req) {
  ASSIGN_OR_RETURN(std::string id, BatchIdOf(req));
  std::optional<std::string_view> charset_text = req.Query("charset");
  return BatchResultFileResponse(linkage_, who.tenant, id, charset_text, req.request_id);
}

Result<std::string> BatchIdOf(const http::Request& req) {
  // A batch id is 32 hex digits; anything else names no batch (and is not repeated).
  Result<PermitId> id = PermitId::Parse(req.PathParam("id").value_or(""));
  if (!id.ok()) return NotFoundError("no such batch");
  return id->str();
}

void WriteBatchSummary(json::JsonWriter& w, const BatchSummary& s) {
  w.BeginObject().Key("batch_id").String(s.header.batch_id);
  w.Key("file_name").String(s.header.file_name);
  w.Key("client").String(s.header.client);
  w.Key("charset").String(s.header.charset);
  w.Key("created_at").String(FormatRfc3339(FromUnixMicros(s.header.created_at_us)));
  w.Key("lines").Int(s.header.lines);
  w.Key("open").Int(s.open);
  w.Key("duplicates").Int(s.progress.duplicate);
  w.Key("refused_lines").Int(s.progress.refused);
  w.Key("inquiries").BeginObject();
  for (const auto& [state, n] : s.progress.states) w.Key(state).Int(n);
  w.EndObject();
  w.Key("result_file").String(s.open == 0 ? "ready" : "pending");
  w.Key("result_file_name").String(ResultFileName(s.header.file_name, s.header.batch_id));
  w.EndObject();
}

Result<http::Response> BatchResultFileResponse(LinkageService& linkage, const TenantId& tenant,
                                               const std::string& batch_id,
                                               std::optional<std::string_view> charset_text,
                                               const RequestId& rid) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, linkage.Tenant(tenant));
  ASSIGN_OR_RETURN(BatchNow batch, ReadInquiryBatch(linkage, tenant, batch_id));
  replica_io::Charset charset =
      batch.header.charset == "utf-8" ? replica_io::Charset::kUtf8 : replica_io::Charset::kCp932;
  if (charset_text) {
    if (*charset_text == "utf-8" || *charset_text == "UTF-8") {
      charset = replica_io::Charset::kUtf8;
    } else if (*charset_text == "shift_jis" || *charset_text == "Shift_JIS") {
      charset = replica_io::Charset::kCp932;
    } else {
      return InvalidArgumentError("query parameter charset: expected utf-8 or shift_jis");
    }
  }
  if (batch.open > 0) {
    http::Response busy = ErrorResponse(
        AbortedError("BATCH_NOT_ENDED: " + std::to_string(batch.open) + " of " +
                     std::to_string(batch.header.lines) +
                     " lines have not ended yet; the result file is written once all have"),
        rid);
    busy.headers.Set("Retry-After", "5");
    return busy;
  }
  AtenaMap atena_map(*st);
  ASSIGN_OR_RETURN(AtenaMapping mapping, atena_map.Mode());
  const AtenaResolver atena = [&](const BatchInquiry& b) { return atena_map.Resolve(mapping, b); };
  ASSIGN_OR_RETURN(BatchResultFile file,
                   WriteBatchResultFile(batch, linkage.result_layouts(), charset, atena));
  http::Response r;
  r.status = 200;
  r.content_type = charset == replica_io::Charset::kUtf8 ? "text/plain; charset=utf-8"
                                                         : "text/plain; charset=Shift_JIS";
  r.headers.Set("Content-Disposition", "attachment; filename=\"" + file.file_name + "\"");
  r.headers.Set("X-Chukan-Lines", std::to_string(file.lines));
  r.headers.Set("X-Chukan-Substituted-Lines", std::to_string(file.substituted_lines.size()));
  r.headers.Set("X-Chukan-Records-Not-Shown", std::to_string(file.records_not_shown));
  r.headers.Set("X-Chukan-Unwritable-Lines", std::to_string(file.unwritable_lines));
  r.body = std::move(file.bytes);
  return r;
}

void LinkageApi::GetInquiry(http::Request& req, http::Responder out) {
  // An inquiry and, when it has ended, its result. With wait_ms, a long poll: the answer comes
  // when the inquiry ends or the time is up, and the wait holds no thread (the waits are
  // InquiryWaiters').
  const ApiPrincipal& caller = ApiAuth::Caller(req);
  auto responder = std::make_shared<http::Responder>(std::move(out));
  // Audits the call and answers once its entry is durable (AnswerAfterAudit): a long poll's
  // answer is sent from the waiters' thread without it waiting for that commit.
  auto answer = [tenant = caller.tenant, who = caller.who, method = req.method,
                 path = req.path.substr(0, 200), rid = req.request_id,
                 responder](const Result<InquiryView>& v, bool busy) {
    Result<http::Response> r = v.status();
    if (v.ok()) {
      json::JsonWriter w;
      WriteInquiry(w, *v, true);
      Result<std::string> json = w.Finish();
      r = json.ok() ? Result<http::Response>(http::Response::Json(200, std::move(*json)))
                    : Result<http::Response>(json.status());
    }
    audit::AuditEvent event{who.tenant.str(),         "client:" + who.name,
                            "api." + method,          path,
                            AuditOutcome(r.status()), rid.str()};
    http::Response response = r.ok() ? std::move(*r) : ErrorResponse(r.status(), rid);
    if (busy) response.headers.Set("Retry-After", "1");
    AnswerAfterAudit(*tenant, std::move(event), std::move(response), std::move(*responder));
  };
  // An inquiry id is a 処理通番 of 32 hex digits; anything else names no inquiry.
  Result<PermitId> id = PermitId::Parse(req.PathParam("id").value_or(""));
  if (!id.ok()) {
    answer(NotFoundError("no such inquiry"), false);
    return;
  }
  Result<int64_t> wait_ms = QueryInt(req, "wait_ms", 0, 0, 30'000);
  if (!wait_ms.ok() || *wait_ms == 0) {
    answer(wait_ms.ok() ? linkage_.GetInquiry(caller.who.tenant, id->str())
                        : Result<InquiryView>(wait_ms.status()),
           false);
    return;
  }
  Status watching = linkage_.WatchInquiry(caller.who.tenant, id->str(), caller.who.name,
                                          std::chrono::milliseconds(*wait_ms),
                                          [answer](Result<InquiryView> v) { answer(v, false); });
  if (!watching.ok()) answer(watching, true);
}

Result<http::Response> LinkageApi::ListInquiries(const ClientIdentity& who, http::Request& req) {
  std::optional<std::string> state;
  if (auto s = req.Query("state")) {
    if (!ParseInquiryState(*s)) {
      return InvalidArgumentError(
          "query parameter state: not one of accepted, permitted, completed, refused, expired, "
          "failed");
    }
    state = std::string(*s);
  }
  ASSIGN_OR_RETURN(int64_t since, QueryInt(req, "since_us", 0, 0, INT64_MAX));
  ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100, 1, 1000));
  ASSIGN_OR_RETURN(std::vector<InquiryView> list,
                   linkage_.ListInquiries(who.tenant, state, since, static_cast<int>(limit)));
  json::JsonWriter w;
  w.BeginObject().Key("inquiries").BeginArray();
  for (const InquiryView& v : list) WriteInquiry(w, v, false);
  w.EndArray().EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(200, std::move(json));
}

Result<http::Response> LinkageApi::ListApprovals(const ClientIdentity& who, http::Request&) {
  ASSIGN_OR_RETURN(std::vector<ApprovalView> list, linkage_.ListApprovals(who.tenant));
  json::JsonWriter w;
  w.BeginObject().Key("approvals").BeginArray();
  for (const ApprovalView& a : list) {
    w.BeginObject()
        .Key("permit_id")
        .String(a.permit_id)
        .Key("inquirer")
        .String(a.inquirer)
        .Key("procedure")
        .String(a.procedure)
        .Key("tm")
        .String(a.tm)
        .Key("layout_version")
        .String(a.layout_version)
        .Key("received_at")
        .String(FormatRfc3339(FromUnixMicros(a.received_at_us)))
        .Key("answer_json")
        .String(a.answer_json)
        .EndObject();
  }
  w.EndArray().EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(200, std::move(json));
}

Result<http::Response> LinkageApi::DecideApproval(const ClientIdentity& who, http::Request& req) {
  ASSIGN_OR_RETURN(PermitId permit, PermitId::Parse(req.PathParam("permit_id").value_or("")));
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(req.body));
  RETURN_IF_ERROR(o.RejectUnknownFields({"decision", "comment"}));
  ASSIGN_OR_RETURN(std::string decision, o.GetString("decision", 16));
  if (decision != "approve" && decision != "reject") {
    return InvalidArgumentError("field \"decision\": \"approve\" or \"reject\"");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> comment, o.GetOptionalString("comment", 1000));
  RETURN_IF_ERROR(linkage_.DecideApproval(who.tenant, permit, decision == "approve",
                                          comment.value_or(""), "staff:" + who.name));
  return http::Response::Json(200, R"({"status":"sent"})");
}

Result<http::Response> LinkageApi::ListRecords(const ClientIdentity& who, http::Request& req) {
  // The tenant's records of provision (情報提供等記録), for staff and business systems alike.
  ASSIGN_OR_RETURN(int64_t after, QueryInt(req, "after_us", 0, 0, INT64_MAX));
  ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100, 1, 1000));
  ASSIGN_OR_RETURN(bool resident_view, http::QueryBool(req, "resident_view"));
  ASSIGN_OR_RETURN(std::vector<RecordEntry> page,
                   linkage_.ListRecords(who.tenant, after, static_cast<int>(limit)));
  // The page moves on by what was read, even when the resident's view holds all of it back.
  const int64_t next_after = page.empty() ? after : page.back().at_us;
  const std::vector<RecordEntry> records = resident_view ? ResidentView(std::move(page)) : page;
  json::JsonWriter w;
  w.BeginObject().Key("records").BeginArray();
  for (const RecordEntry& e : records) {
    w.BeginObject().Key("role").String(e.role).Key("id").String(e.id);
    w.Key("permit_id").String(e.permit_id).Key("counterpart").String(e.counterpart);
    w.Key("procedure").String(e.procedure).Key("tm").String(e.tm);
    w.Key("layout_version").String(e.layout_version);
    w.Key("subject_code").String(e.subject_code).Key("state").String(e.state);
    w.Key("reason").String(e.reason).Key("decided_by").String(e.decided_by);
    w.Key("department").String(e.department).Key("user_id").String(e.user_id);
    w.Key("at").String(FormatRfc3339(FromUnixMicros(e.at_us)));
    w.Key("at_us").Int(e.at_us).Key("ended_at");
    if (e.ended_at_us)
      w.String(FormatRfc3339(FromUnixMicros(*e.ended_at_us)));
    else
      w.Null();
    w.Key("non_disclosure").Bool(e.non_disclosure);
    w.Key("inquirer_non_disclosure").Bool(e.inquirer_non_disclosure);
    w.Key("inquirer_delegator").String(e.inquirer_delegator);
    w.Key("provider_delegator").String(e.provider_delegator).EndObject();
  }
  w.EndArray().Key("next_after_us").Int(next_after);
  w.EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(200, std::move(json));
}

Result<http::Response> LinkageApi::LinkageStatus(const ClientIdentity&, http::Request&) {
  // Whether this server can provide: its copy of the permission list, or why it has none.
  json::JsonWriter w;
  w.BeginObject().Key("permission_list").BeginObject();
  Result<std::shared_ptr<const linkage::PermissionList>> list =
      linkage_.hub() != nullptr ? linkage_.hub()->PermissionList()
                                : FailedPreconditionError("no hub is configured ([hub] url)");
  w.Key("valid").Bool(list.ok());
  if (list.ok()) {
    w.Key("version").Int((*list)->version());
    w.Key("rules").Int(static_cast<int64_t>((*list)->rules().size()));
    // What the copy knows of the registry: an organisation registered after it was signed is
    // known from the next refresh on ([hub] list_refresh_seconds).
    w.Key("organisations").Int(static_cast<int64_t>((*list)->classes().size()));
    w.Key("local_gov_codes").Int(static_cast<int64_t>((*list)->local_gov_codes().size()));
    w.Key("expires_at").String(FormatRfc3339(FromUnixMicros((*list)->expires_at_ms() * 1000)));
  } else {
    w.Key("error").String(list.status().message());
  }
  w.EndObject().EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(200, std::move(json));
}

Status LinkageApi::AddNode(http::Router& router, std::string_view pattern, uint64_t max_body,
                           NodeHandler handler) {
  // Node routes take messages from the hub only: the client certificate must verify against
  // [node] client_ca and be the hub's own, pinned by its SHA-256 fingerprint ([node] hub_cert),
  // so another organisation's certificate — which the same CA issues — is refused before the
  // body is read. What makes each message trustworthy is still the hub's signature inside it.
  http::RouteOptions options;
  options.inline_gate = true;  // a comparison of two strings: no I/O
  options.gate = [pinned = hub_cert_sha256_](http::Request& req) {
    return CheckHubCertificate(pinned, req);
  };
  options.max_body_bytes = max_body;
  return router.Add(
      "POST", pattern,
      [this, handler](http::Request& req) -> http::Response {
        Result<http::Response> r = (this->*handler)(req);
        if (!r.ok()) return ErrorResponse(r.status(), req.request_id);
        return std::move(*r);
      },
      std::move(options));
}

Status LinkageApi::RegisterNode(http::Router& router) {
  RETURN_IF_ERROR(AddNode(router, "/node/v1/provision-requests", linkage::kMaxEnvelopeMessageBytes,
                          &LinkageApi::ProvisionRequest));
  RETURN_IF_ERROR(AddNode(router, "/node/v1/inquiry-results", linkage::kMaxEnvelopeMessageBytes,
                          &LinkageApi::InquiryResult));
  // The batch forms (http::ParseBatchRequest).
  RETURN_IF_ERROR(AddNode(router, "/node/v1/batch/provision-requests", http::kMaxBatchBytes,
                          &LinkageApi::BatchProvisionRequests));
  return AddNode(router, "/node/v1/batch/inquiry-results", http::kMaxBatchBytes,
                 &LinkageApi::BatchInquiryResults);
}

Result<http::Response> LinkageApi::ProvisionRequest(http::Request& req) {
  ASSIGN_OR_RETURN(linkage::SignedDocument permit, linkage::ParseSignedPermitJson(req.body));
  ASSIGN_OR_RETURN(std::string outcome, linkage_.OnProvisionRequest(permit));
  return http::Response::Json(200, R"({"status":")" + outcome + "\"}");
}

Result<http::Response> LinkageApi::InquiryResult(http::Request& req) {
  ASSIGN_OR_RETURN(linkage::ProvisionResult result, linkage::ParseProvisionResultJson(req.body));
  RETURN_IF_ERROR(linkage_.OnInquiryResult(result));
  return http::Response::Json(200, R"({"status":"accepted"})");
}

Result<http::Response> LinkageApi::BatchProvisionRequests(http::Request& req) {
  return AnswerBatchBody(req, [this](const std::string& item) -> Result<http::BatchFinish> {
    ASSIGN_OR_RETURN(linkage::SignedDocument permit, linkage::ParseSignedPermitJson(item));
    ASSIGN_OR_RETURN(LinkageService::PendingOutcome pending,
                     linkage_.StartProvisionRequest(permit));
    return http::BatchFinish([pending]() -> Result<http::Response> {
      ASSIGN_OR_RETURN(std::string outcome, pending());
      return http::Response::Json(200, R"({"status":")" + outcome + "\"}");
    });
  });
}

Result<http::Response> LinkageApi::BatchInquiryResults(http::Request& req) {
  return AnswerBatchBody(req, [this](const std::string& item) -> Result<http::BatchFinish> {
    ASSIGN_OR_RETURN(linkage::ProvisionResult result, linkage::ParseProvisionResultJson(item));
    ASSIGN_OR_RETURN(LinkageService::PendingStatus pending, linkage_.StartInquiryResult(result));
    return http::BatchFinish([pending]() -> Result<http::Response> {
      RETURN_IF_ERROR(pending());
      return http::Response::Json(200, R"({"status":"accepted"})");
    });
  });
}

}  // namespace chukan::server
