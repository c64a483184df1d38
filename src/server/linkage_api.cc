#include "server/linkage_api.h"

#include <charconv>

#include "common/log.h"
#include "http/json.h"
#include "linkage/envelope.h"
#include "linkage/permit.h"

namespace chukan::server {
namespace {

constexpr size_t kMaxSmallBody = 16 * 1024;
constexpr size_t kMaxBulkBody = 64 << 20;

Result<std::string> ReadAll(http::BodyReader& body, size_t max) {
  std::string out;
  char buf[16 * 1024];
  while (true) {
    ASSIGN_OR_RETURN(size_t n, body.Read(buf, sizeof(buf)));
    if (n == 0) return out;
    if (out.size() + n > max) {
      return ResourceExhaustedError("body: larger than " + std::to_string(max) + " bytes");
    }
    out.append(buf, n);
  }
}

// "REASON: text" messages put REASON in the error code (as the hub does).
http::Response ErrorResponse(const Status& s, const RequestId& rid) {
  if (s.code() == StatusCode::kInternal || s.code() == StatusCode::kUnknown ||
      s.code() == StatusCode::kDataLoss) {
    log::Error("server.request_failed", {{"error", s.ToString()}, log::RequestIdField(rid)});
    return http::FromStatus(s, rid);
  }
  std::string_view message = s.message();
  std::string code(StatusCodeName(s.code()));
  const size_t colon = message.find(": ");
  if (colon != std::string_view::npos && colon > 0 &&
      message.substr(0, colon).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") ==
          std::string_view::npos) {
    code = std::string(message.substr(0, colon));
  }
  return http::Response::Error(http::HttpStatusFor(s.code()), code, message, rid);
}

template <typename Id>
Result<Id> IdField(const http::JsonObject& o, std::string_view field) {
  ASSIGN_OR_RETURN(std::string text, o.GetString(field, 64));
  Result<Id> id = Id::Parse(text);
  if (!id.ok()) {
    return InvalidArgumentError("field \"" + std::string(field) + "\": " + id.status().message());
  }
  return id;
}

void WriteInquiry(http::JsonWriter& w, const InquiryView& v, bool with_result) {
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

Status LinkageApi::Register(http::Router& router) {
  // Authenticates, reads the body, runs `fn`, audits refusals of authentication.
  auto route = [this](std::string role, size_t max_body, auto fn) {
    return [this, role, max_body, fn](http::Request& req,
                                      http::BodyReader& body) -> http::Response {
      std::optional<std::string_view> auth = req.Header("Authorization");
      Result<ClientIdentity> who =
          auth && auth->starts_with("Bearer ")
              ? platform_.Authenticate(auth->substr(7))
              : Result<ClientIdentity>(UnauthenticatedError("a bearer token is required"));
      if (!who.ok()) {
        platform_.audit()
            .Append({"platform", "unauthenticated:" + req.peer.address, "api.authenticate",
                     req.method + " " + req.path.substr(0, 200), "denied", req.request_id.str()})
            .status()
            .IgnoreError();
        http::Response denied = http::FromStatus(who.status(), req.request_id);
        denied.headers.Set("WWW-Authenticate", "Bearer");
        return denied;
      }
      if (who->role != role) {
        return ErrorResponse(PermissionDeniedError("this call needs the " + role + " role"),
                             req.request_id);
      }
      Result<std::string> text = ReadAll(body, max_body);
      if (!text.ok()) return ErrorResponse(text.status(), req.request_id);
      Result<http::Response> r = fn(*who, req, *text);
      // Every call is audited in the tenant's log (the service adds entries for state changes).
      if (Result<std::shared_ptr<TenantContext>> ctx = platform_.Tenant(who->tenant); ctx.ok()) {
        (*ctx)
            ->audit
            ->Append({who->tenant.str(), "client:" + who->name, "api." + req.method,
                      req.path.substr(0, 200),
                      r.ok() ? "ok" : "error:" + std::string(StatusCodeName(r.status().code())),
                      req.request_id.str()})
            .status()
            .IgnoreError();
      }
      if (!r.ok()) return ErrorResponse(r.status(), req.request_id);
      return std::move(*r);
    };
  };

  {
    auto h =
        route("system", kMaxSmallBody,
              [this](const ClientIdentity& who, http::Request&,
                     const std::string& body) -> Result<http::Response> {
                ASSIGN_OR_RETURN(http::JsonObject o, http::ParseJsonObject(body));
                RETURN_IF_ERROR(o.RejectUnknownFields({"atena_no", "resident_id"}));
                ASSIGN_OR_RETURN(AtenaNo atena, IdField<AtenaNo>(o, "atena_no"));
                ASSIGN_OR_RETURN(ResidentId rid, IdField<ResidentId>(o, "resident_id"));
                ASSIGN_OR_RETURN(SubjectCode code, linkage_.RegisterCode(who.tenant, atena, rid));
                return http::Response::Json(200, R"({"subject_code":")" + code.str() + "\"}");
              });
    RETURN_IF_ERROR(router.AddStreaming("POST", "/api/v1/codes", std::move(h)));
  }
  {
    auto h = route(
        "system", kMaxBulkBody,
        [this](const ClientIdentity& who, http::Request&,
               const std::string& body) -> Result<http::Response> {
          // One "atena_no,resident_id" pair per line; each line gets its own result.
          int64_t line = 0, ok = 0, failed = 0;
          http::JsonWriter w;
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
                w.BeginObject()
                    .Key("line")
                    .Int(line)
                    .Key("message")
                    .String(s.message())
                    .EndObject();
              }
            }
          }
          w.EndArray().Key("lines").Int(line).Key("registered").Int(ok).Key("failed").Int(failed);
          w.EndObject();
          ASSIGN_OR_RETURN(std::string json, w.Finish());
          return http::Response::Json(failed == 0 ? 200 : 207, std::move(json));
        });
    RETURN_IF_ERROR(router.AddStreaming("POST", "/api/v1/codes/bulk", std::move(h)));
  }
  {
    auto h = route(
        "system", kMaxSmallBody,
        [this](const ClientIdentity& who, http::Request& req,
               const std::string& body) -> Result<http::Response> {
          ASSIGN_OR_RETURN(http::JsonObject o, http::ParseJsonObject(body, {kMaxSmallBody, 3}));
          RETURN_IF_ERROR(
              o.RejectUnknownFields({"atena_no", "procedure", "tm", "layout_version", "provider",
                                     "query", "idempotency_key", "timeout_seconds"}));
          InquiryInput in;
          ASSIGN_OR_RETURN(in.atena, IdField<AtenaNo>(o, "atena_no"));
          ASSIGN_OR_RETURN(in.procedure, IdField<JtCode>(o, "procedure"));
          ASSIGN_OR_RETURN(in.tm, IdField<TmCode>(o, "tm"));
          ASSIGN_OR_RETURN(in.provider, IdField<OrgCode>(o, "provider"));
          ASSIGN_OR_RETURN(std::optional<std::string> version,
                           o.GetOptionalString("layout_version", 4));
          in.layout_version = version.value_or("");
          if (o.Has("query")) {
            ASSIGN_OR_RETURN(in.query, linkage::ParseQuery(o));
          }
          ASSIGN_OR_RETURN(std::optional<std::string> key,
                           o.GetOptionalString("idempotency_key", 128));
          in.idempotency_key =
              key.value_or(std::string(req.Header("Idempotency-Key").value_or("")));
          ASSIGN_OR_RETURN(std::optional<int64_t> timeout,
                           o.GetOptionalInt("timeout_seconds", 1, 30 * 86'400));
          in.timeout_seconds = timeout.value_or(0);
          in.client = who.name;
          ASSIGN_OR_RETURN(InquiryView v, linkage_.CreateInquiry(who.tenant, in));
          http::JsonWriter w;
          WriteInquiry(w, v, false);
          ASSIGN_OR_RETURN(std::string json, w.Finish());
          return http::Response::Json(202, std::move(json));
        });
    RETURN_IF_ERROR(router.AddStreaming("POST", "/api/v1/inquiries", std::move(h)));
  }
  {
    auto h =
        route("system", 0,
              [this](const ClientIdentity& who, http::Request& req,
                     const std::string&) -> Result<http::Response> {
                ASSIGN_OR_RETURN(
                    InquiryView v,
                    linkage_.GetInquiry(who.tenant, std::string(req.PathParam("id").value_or(""))));
                http::JsonWriter w;
                WriteInquiry(w, v, true);
                ASSIGN_OR_RETURN(std::string json, w.Finish());
                return http::Response::Json(200, std::move(json));
              });
    RETURN_IF_ERROR(router.AddStreaming("GET", "/api/v1/inquiries/{id}", std::move(h)));
  }
  {
    auto h = route("system", 0,
                   [this](const ClientIdentity& who, http::Request& req,
                          const std::string&) -> Result<http::Response> {
                     std::optional<std::string> state;
                     if (auto s = req.Query("state")) state = std::string(s->substr(0, 16));
                     int64_t since = 0, limit = 100;
                     if (auto s = req.Query("since_us")) {
                       auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), since);
                       if (ec != std::errc()) return InvalidArgumentError("since_us: an integer");
                     }
                     if (auto s = req.Query("limit")) {
                       auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), limit);
                       if (ec != std::errc()) return InvalidArgumentError("limit: an integer");
                     }
                     ASSIGN_OR_RETURN(
                         std::vector<InquiryView> list,
                         linkage_.ListInquiries(who.tenant, state, since, static_cast<int>(limit)));
                     http::JsonWriter w;
                     w.BeginObject().Key("inquiries").BeginArray();
                     for (const InquiryView& v : list) WriteInquiry(w, v, false);
                     w.EndArray().EndObject();
                     ASSIGN_OR_RETURN(std::string json, w.Finish());
                     return http::Response::Json(200, std::move(json));
                   });
    RETURN_IF_ERROR(router.AddStreaming("GET", "/api/v1/inquiries", std::move(h)));
  }
  {
    auto h = route("approver", 0,
                   [this](const ClientIdentity& who, http::Request&,
                          const std::string&) -> Result<http::Response> {
                     ASSIGN_OR_RETURN(std::vector<ApprovalView> list,
                                      linkage_.ListApprovals(who.tenant));
                     http::JsonWriter w;
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
                   });
    RETURN_IF_ERROR(router.AddStreaming("GET", "/api/v1/approvals", std::move(h)));
  }
  {
    auto h =
        route("approver", kMaxSmallBody,
              [this](const ClientIdentity& who, http::Request& req,
                     const std::string& body) -> Result<http::Response> {
                ASSIGN_OR_RETURN(PermitId permit,
                                 PermitId::Parse(req.PathParam("permit_id").value_or("")));
                ASSIGN_OR_RETURN(http::JsonObject o, http::ParseJsonObject(body));
                RETURN_IF_ERROR(o.RejectUnknownFields({"decision", "comment"}));
                ASSIGN_OR_RETURN(std::string decision, o.GetString("decision", 16));
                if (decision != "approve" && decision != "reject") {
                  return InvalidArgumentError("field \"decision\": \"approve\" or \"reject\"");
                }
                ASSIGN_OR_RETURN(std::optional<std::string> comment,
                                 o.GetOptionalString("comment", 1000));
                RETURN_IF_ERROR(linkage_.DecideApproval(who.tenant, permit, decision == "approve",
                                                        comment.value_or(""), "staff:" + who.name));
                return http::Response::Json(200, R"({"status":"sent"})");
              });
    RETURN_IF_ERROR(router.AddStreaming("POST", "/api/v1/approvals/{permit_id}", std::move(h)));
  }
  {
    // Whether this server can provide: its copy of the permission list, or why it has none.
    auto h = route("system", 0,
                   [this](const ClientIdentity&, http::Request&,
                          const std::string&) -> Result<http::Response> {
                     http::JsonWriter w;
                     w.BeginObject().Key("permission_list").BeginObject();
                     Result<std::shared_ptr<const linkage::PermissionList>> list =
                         linkage_.hub() != nullptr
                             ? linkage_.hub()->PermissionList()
                             : FailedPreconditionError("no hub is configured ([hub] url)");
                     w.Key("valid").Bool(list.ok());
                     if (list.ok()) {
                       w.Key("version").Int((*list)->version());
                       w.Key("rules").Int(static_cast<int64_t>((*list)->rules().size()));
                       w.Key("expires_at")
                           .String(FormatRfc3339(FromUnixMicros((*list)->expires_at_ms() * 1000)));
                     } else {
                       w.Key("error").String(list.status().message());
                     }
                     w.EndObject().EndObject();
                     ASSIGN_OR_RETURN(std::string json, w.Finish());
                     return http::Response::Json(200, std::move(json));
                   });
    RETURN_IF_ERROR(router.AddStreaming("GET", "/api/v1/linkage/status", std::move(h)));
  }
  return Status();
}

Status LinkageApi::RegisterNode(http::Router& router) {
  auto node = [](auto fn) {
    return [fn](http::Request& req, http::BodyReader& body) -> http::Response {
      if (!req.peer.identity) {
        return ErrorResponse(UnauthenticatedError("a client certificate is required"),
                             req.request_id);
      }
      Result<std::string> text = ReadAll(body, linkage::kMaxEnvelopeMessageBytes);
      if (!text.ok()) return ErrorResponse(text.status(), req.request_id);
      Result<http::Response> r = fn(*text);
      if (!r.ok()) return ErrorResponse(r.status(), req.request_id);
      return std::move(*r);
    };
  };
  {
    auto h = node([this](const std::string& body) -> Result<http::Response> {
      ASSIGN_OR_RETURN(linkage::SignedDocument permit, linkage::ParseSignedPermitJson(body));
      ASSIGN_OR_RETURN(std::string outcome, linkage_.OnProvisionRequest(permit));
      return http::Response::Json(200, R"({"status":")" + outcome + "\"}");
    });
    RETURN_IF_ERROR(router.AddStreaming("POST", "/node/v1/provision-requests", std::move(h)));
  }
  {
    auto h = node([this](const std::string& body) -> Result<http::Response> {
      ASSIGN_OR_RETURN(linkage::ProvisionResult result, linkage::ParseProvisionResultJson(body));
      RETURN_IF_ERROR(linkage_.OnInquiryResult(result));
      return http::Response::Json(200, R"({"status":"accepted"})");
    });
    RETURN_IF_ERROR(router.AddStreaming("POST", "/node/v1/inquiry-results", std::move(h)));
  }
  return Status();
}

}  // namespace chukan::server
