#include "hub/hub_api.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "crypto/bytes.h"
#include "http/api_util.h"
#include "json/json.h"
#include "linkage/envelope.h"
#include "linkage/permit.h"

namespace chukan::hub {
namespace {

constexpr size_t kMaxSmallBody = 16 * 1024;

using http::QueryInt;
using json::IdField;

// Errors as every chukan API answers them (http::ReasonErrorResponse).
http::Response ErrorResponse(const Status& s, const RequestId& rid) {
  return http::ReasonErrorResponse(s, rid, "hub.request_failed", /*hide_unavailable=*/true);
}

Result<PermitRequest> ParsePermitRequest(std::string_view body) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(body, {kMaxSmallBody, 3}));
  RETURN_IF_ERROR(o.RejectUnknownFields(
      {"provider", "procedure", "tm", "layout_version", "subject_code", "reply_key", "reference",
       "query", "non_disclosure", "inquirer_delegator", "provider_delegator"}));
  PermitRequest r;
  ASSIGN_OR_RETURN(r.provider, IdField<OrgCode>(o, "provider"));
  ASSIGN_OR_RETURN(r.procedure, IdField<JtCode>(o, "procedure"));
  ASSIGN_OR_RETURN(r.tm, IdField<TmCode>(o, "tm"));
  ASSIGN_OR_RETURN(r.layout_version, o.GetString("layout_version", 4));
  if (r.layout_version.size() != 4 ||
      r.layout_version.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgumentError("field \"layout_version\": expected 4 digits");
  }
  ASSIGN_OR_RETURN(r.subject, IdField<SubjectCode>(o, "subject_code"));
  ASSIGN_OR_RETURN(std::string key, o.GetString("reply_key", 64));
  Result<crypto::Bytes> raw = crypto::FromBase64Url(key);
  if (!raw.ok() || raw->size() != 32) {
    return InvalidArgumentError("field \"reply_key\": expected 32 bytes in base64url");
  }
  r.reply_key = std::move(*raw);
  ASSIGN_OR_RETURN(r.reference, o.GetString("reference", 64));
  if (Status s = linkage::CheckReference(r.reference); !s.ok()) {
    return InvalidArgumentError("field \"reference\": " + s.message());
  }
  if (o.Has("query")) {
    ASSIGN_OR_RETURN(r.query, linkage::ParseQuery(o));
  }
  ASSIGN_OR_RETURN(std::optional<bool> non_disclosure, o.GetOptionalBool("non_disclosure"));
  r.non_disclosure = non_disclosure.value_or(false);
  ASSIGN_OR_RETURN(r.inquirer_delegator, linkage::OptionalOrgField(o, "inquirer_delegator"));
  ASSIGN_OR_RETURN(r.provider_delegator, linkage::OptionalOrgField(o, "provider_delegator"));
  return r;
}

// 201 with the permit's id (200 when the reference was asked before), or 403 REFUSED with the
// hub's reason code.
Result<http::Response> PermitResponse(const PermitOutcome& out, const RequestId& rid) {
  json::JsonWriter w;
  if (!out.permitted) {
    w.BeginObject()
        .Key("error")
        .BeginObject()
        .Key("code")
        .String("REFUSED")
        .Key("reason")
        .String(out.reason)
        .Key("message")
        .String(out.message)
        .Key("request_id")
        .String(rid.str())
        .EndObject()
        .EndObject();
    ASSIGN_OR_RETURN(std::string json, w.Finish());
    return http::Response::Json(403, std::move(json));
  }
  w.BeginObject()
      .Key("status")
      .String("permitted")
      .Key("permit_id")
      .String(out.permit_id->str())
      .Key("expires_at_ms")
      .Int(out.expires_at_ms);
  if (!out.permit_sha256.empty()) {
    w.Key("permit_sha256").String(crypto::ToBase64Url(out.permit_sha256));
  }
  w.EndObject();
  ASSIGN_OR_RETURN(std::string json, w.Finish());
  return http::Response::Json(out.repeated ? 200 : 201, std::move(json));
}

// The answers of a batch's items as they come in, on whichever thread each is decided on; the
// batch response (http::BatchResponseJson, 200) goes to `out` with the last one. Each item is
// answered once.
class BatchAnswers {
 public:
  BatchAnswers(size_t items, http::Responder out)
      : results_(items), left_(items), out_(std::move(out)) {
    if (items == 0) Finish();
  }
  void Set(size_t i, http::Response r) {
    results_[i] = std::move(r);
    // acq_rel: the thread that answers the last item sees every other item's slot.
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) Finish();
  }

 private:
  void Finish() { out_.Send(http::Response::Json(200, http::BatchResponseJson(results_))); }

  std::vector<http::Response> results_;
  std::atomic<size_t> left_;
  http::Responder out_;
};

}  // namespace

namespace {

// The organisation a request comes from, as the gate found it in the registry.
struct HubCaller final : http::Principal {
  explicit HubCaller(OrgRecord r) : org(std::move(r)) {}
  OrgRecord org;
};

// A route's handler with its options (the gate and the body limit).
struct Route {
  http::Handler handler;
  http::RouteOptions options;
};

Status Add(http::Router& router, std::string_view method, std::string_view pattern, Route r) {
  return router.Add(method, pattern, std::move(r.handler), std::move(r.options));
}

}  // namespace

Status HubApi::Register(http::Router& router) {
  // Every hub route: the caller is the registered organisation whose pinned certificate it
  // presented (Hub::Authenticate, an in-memory registry lookup: the gate runs on the io thread
  // before any body byte is read); then `fn` runs with the body, its errors made responses.
  auto gate = [this](http::Request& req) -> std::optional<http::Response> {
    const std::optional<OrgCode> org =
        req.peer.identity ? req.peer.identity->org : std::optional<OrgCode>();
    const std::string fingerprint = req.peer.identity ? req.peer.identity->cert_sha256 : "";
    Result<OrgRecord> caller = hub_.Authenticate(org, fingerprint);
    if (!caller.ok()) return ErrorResponse(caller.status(), req.request_id);
    req.principal = std::make_shared<const HubCaller>(std::move(*caller));
    return std::nullopt;
  };
  auto options = [gate](uint64_t max_body) {
    http::RouteOptions o;
    o.gate = gate;
    o.inline_gate = true;
    o.max_body_bytes = max_body;
    return o;
  };
  // The permit routes, which add to the hub's delivery backlog, also ask it for room (an
  // atomic read: still no I/O on the io thread) once the caller is known; while the backlog is
  // full they answer 503 with Retry-After before the body is read. Answers to permits
  // (provisions) are taken whatever the backlog: they finish work already admitted.
  auto admitting = [this, options](uint64_t max_body) {
    http::RouteOptions o = options(max_body);
    o.gate = [this, authenticate = o.gate](http::Request& req) -> std::optional<http::Response> {
      if (std::optional<http::Response> refused = authenticate(req)) return refused;
      if (Status room = hub_.AdmitPermit(); !room.ok()) return ErrorResponse(room, req.request_id);
      return std::nullopt;
    };
    return o;
  };
  auto caller_of = [](const http::Request& req) -> const OrgRecord& {
    return static_cast<const HubCaller&>(*req.principal).org;
  };
  auto handle = [caller_of](auto fn) {
    return [fn, caller_of](http::Request& req) -> http::Response {
      Result<http::Response> r = fn(caller_of(req), req, req.body);
      if (!r.ok()) return ErrorResponse(r.status(), req.request_id);
      return std::move(*r);
    };
  };
  auto route = [options, handle](uint64_t max_body, auto fn) {
    return Route{handle(fn), options(max_body)};
  };

  // A subject code is answered from its commit (Hub::IssueCodeThen): no worker waits for it.
  RETURN_IF_ERROR(router.AddAsync(
      "POST", "/hub/v1/codes",
      [this, caller_of](http::Request& req, http::Responder out) {
        auto refuse = [&out, &req](const Status& s) { out.Send(ErrorResponse(s, req.request_id)); };
        Result<json::JsonObject> o = json::ParseJsonObject(req.body, {kMaxSmallBody, 2});
        if (!o.ok()) return refuse(o.status());
        if (Status known = o->RejectUnknownFields({"resident_id"}); !known.ok()) {
          return refuse(known);
        }
        Result<ResidentId> rid = IdField<ResidentId>(*o, "resident_id");
        if (!rid.ok()) return refuse(rid.status());
        auto responder = std::make_shared<http::Responder>(std::move(out));
        hub_.IssueCodeThen(caller_of(req).code, *rid,
                           [responder, request_id = req.request_id](Result<SubjectCode> code) {
                             if (!code.ok()) {
                               return responder->Send(ErrorResponse(code.status(), request_id));
                             }
                             json::JsonWriter w;
                             w.BeginObject().Key("subject_code").String(code->str()).EndObject();
                             Result<std::string> json = w.Finish();
                             responder->Send(json.ok() ? http::Response::Json(200, std::move(*json))
                                                       : ErrorResponse(json.status(), request_id));
                           });
      },
      options(kMaxSmallBody)));

  // A permit request (/hub/v1/inquiries) and an answer to one (/hub/v1/provisions) are each
  // answered from their own commit (Hub::RequestPermitThen, Hub::AcceptProvisionThen): the worker
  // that checked and signed is free again at once, and the group committer hands the answer on
  // once the write is durable. Each `start` takes one item's body and gives its response to
  // `answer` once, on whichever thread decides it.
  using Answer = std::function<void(http::Response)>;
  using Start = std::function<void(const OrgCode&, std::string_view, const RequestId&, Answer)>;
  Start start_permit = [this](const OrgCode& caller, std::string_view body, const RequestId& rid,
                              Answer answer) {
    auto done = [answer = std::move(answer), rid](Result<PermitOutcome> r) {
      Result<http::Response> resp =
          r.ok() ? PermitResponse(*r, rid) : Result<http::Response>(r.status());
      answer(resp.ok() ? std::move(*resp) : ErrorResponse(resp.status(), rid));
    };
    // A batch's item is bounded here; a lone request already was, by its route's body limit.
    if (body.size() > kMaxSmallBody) {
      return done(
          InvalidArgumentError("body: larger than " + std::to_string(kMaxSmallBody) + " bytes"));
    }
    Result<PermitRequest> pr = ParsePermitRequest(body);
    if (!pr.ok()) return done(pr.status());
    hub_.RequestPermitThen(caller, *pr, std::move(done));
  };
  Start start_provision = [this](const OrgCode& caller, std::string_view body, const RequestId& rid,
                                 Answer answer) {
    auto done = [answer = std::move(answer), rid](const Status& s) {
      answer(s.ok() ? http::Response::Json(202, R"({"status":"accepted"})")
                    : ErrorResponse(s, rid));
    };
    Result<linkage::SignedDocument> envelope = linkage::ParseSignedEnvelopeJson(body);
    if (!envelope.ok()) {
      return done(InvalidArgumentError("MALFORMED_ENVELOPE: " + envelope.status().message()));
    }
    hub_.AcceptProvisionThen(caller, *envelope, std::move(done));
  };
  auto add_one = [&router, caller_of](std::string_view path, Start start, http::RouteOptions o) {
    return router.AddAsync(
        "POST", path,
        [start = std::move(start), caller_of](http::Request& req, http::Responder out) {
          auto responder = std::make_shared<http::Responder>(std::move(out));
          start(caller_of(req).code, req.body, req.request_id,
                [responder](http::Response r) { responder->Send(std::move(r)); });
        },
        std::move(o));
  };
  // The batch forms (http::ParseBatchRequest): every item is started before any commit is
  // waited for, so a batch shares its commits; the batch response goes out once the last
  // item's answer is in, and no worker waits for the commits.
  auto add_batch = [&router, caller_of](std::string_view path, Start start, http::RouteOptions o) {
    return router.AddAsync(
        "POST", path,
        [start = std::move(start), caller_of](http::Request& req, http::Responder out) {
          Result<std::vector<std::string>> items = http::ParseBatchRequest(req.body);
          if (!items.ok()) return out.Send(ErrorResponse(items.status(), req.request_id));
          auto answers = std::make_shared<BatchAnswers>(items->size(), std::move(out));
          const OrgCode caller = caller_of(req).code;
          for (size_t i = 0; i < items->size(); ++i) {
            start(caller, (*items)[i], req.request_id,
                  [answers, i](http::Response r) { answers->Set(i, std::move(r)); });
          }
        },
        std::move(o));
  };
  RETURN_IF_ERROR(add_one("/hub/v1/inquiries", start_permit, admitting(kMaxSmallBody)));
  RETURN_IF_ERROR(
      add_one("/hub/v1/provisions", start_provision, options(linkage::kMaxEnvelopeMessageBytes)));
  RETURN_IF_ERROR(
      add_batch("/hub/v1/batch/inquiries", start_permit, admitting(http::kMaxBatchBytes)));
  RETURN_IF_ERROR(
      add_batch("/hub/v1/batch/provisions", start_provision, options(http::kMaxBatchBytes)));

  {
    auto handler =
        route(0,
              [this](const OrgRecord& caller, http::Request& req,
                     const std::string&) -> Result<http::Response> {
                ASSIGN_OR_RETURN(int64_t after, QueryInt(req, "after", 0, 0, INT64_MAX));
                ASSIGN_OR_RETURN(int64_t limit, QueryInt(req, "limit", 100, 1, 1000));
                ASSIGN_OR_RETURN(bool resident_view, http::QueryBool(req, "resident_view"));
                ASSIGN_OR_RETURN(
                    std::vector<RecordView> records,
                    hub_.ListRecords(caller.code, after, static_cast<int>(limit), resident_view));
                json::JsonWriter w;
                w.BeginObject().Key("records").BeginArray();
                for (const RecordView& r : records) {
                  w.BeginObject()
                      .Key("id")
                      .Int(r.id)
                      .Key("role")
                      .String(r.role)
                      .Key("counterpart")
                      .String(r.counterpart)
                      .Key("procedure")
                      .String(r.procedure)
                      .Key("tm")
                      .String(r.tm)
                      .Key("layout_version")
                      .String(r.layout_version)
                      .Key("subject_code")
                      .String(r.subject_code)
                      .Key("permit_id")
                      .String(r.permit_id)
                      .Key("reference")
                      .String(r.reference)
                      .Key("requested_at")
                      .String(FormatRfc3339(FromUnixMicros(r.requested_at_us)));
                  w.Key("provided_at");
                  if (r.provided_at_us) {
                    w.String(FormatRfc3339(FromUnixMicros(*r.provided_at_us)));
                  } else {
                    w.Null();
                  }
                  w.Key("outcome")
                      .String(r.outcome)
                      .Key("reason")
                      .String(r.reason)
                      .Key("non_disclosure")
                      .Bool(r.non_disclosure)
                      .Key("inquirer_non_disclosure")
                      .Bool(r.inquirer_non_disclosure)
                      .Key("inquirer_delegator")
                      .String(r.inquirer_delegator)
                      .Key("provider_delegator")
                      .String(r.provider_delegator)
                      .EndObject();
                }
                w.EndArray().Key("next_after").Int(records.empty() ? after : records.back().id);
                w.EndObject();
                ASSIGN_OR_RETURN(std::string json, w.Finish());
                return http::Response::Json(200, std::move(json));
              });
    RETURN_IF_ERROR(Add(router, "GET", "/hub/v1/records", std::move(handler)));
  }

  {
    auto handler = route(
        0,
        [this](const OrgRecord&, http::Request& req, const std::string&) -> Result<http::Response> {
          ASSIGN_OR_RETURN(Hub::PublishedListCopy copy, hub_.PublishedPermissionListCopy());
          // The caller's copy is this one (If-None-Match: its tag): 304, nothing to send, parse
          // or verify again. Any other value gets the body.
          if (std::optional<std::string_view> held = req.Header("If-None-Match");
              held && *held == copy.etag) {
            http::Response r(304, "application/json", "");
            r.headers.Set("ETag", copy.etag);
            return r;
          }
          http::Response r = http::Response::Json(200, *copy.body);
          r.headers.Set("ETag", copy.etag);
          return r;
        });
    RETURN_IF_ERROR(Add(router, "GET", "/hub/v1/permission-list", std::move(handler)));
  }

  {
    auto handler = route(
        0,
        [this](const OrgRecord&, http::Request& req, const std::string&) -> Result<http::Response> {
          ASSIGN_OR_RETURN(OrgCode code, OrgCode::Parse(req.PathParam("org_code").value_or("")));
          ASSIGN_OR_RETURN(OrgRecord org, hub_.FindOrg(code));
          json::JsonWriter w;
          w.BeginObject()
              .Key("org_code")
              .String(org.code.str())
              .Key("name")
              .String(org.name)
              .Key("class")
              .String(org.org_class)
              .Key("state")
              .String(org.state)
              .Key("sign_key")
              .String(crypto::ToBase64Url(org.sign_key))
              .Key("sign_keys")
              .BeginArray();
          for (const OrgKey& k : hub_.PublishedOrgKeys(code)) {
            w.BeginObject()
                .Key("kid")
                .String(k.kid)
                .Key("key")
                .String(crypto::ToBase64Url(k.sign_key))
                .Key("not_before_ms")
                .Int(k.not_before_us / 1000);
            if (k.not_after_us) w.Key("not_after_ms").Int(*k.not_after_us / 1000);
            w.EndObject();
          }
          w.EndArray().EndObject();
          ASSIGN_OR_RETURN(std::string json, w.Finish());
          return http::Response::Json(200, std::move(json));
        });
    RETURN_IF_ERROR(Add(router, "GET", "/hub/v1/orgs/{org_code}", std::move(handler)));
  }
  return Status();
}

}  // namespace chukan::hub
