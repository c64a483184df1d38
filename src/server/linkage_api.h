// LinkageApi: the HTTP side of LinkageService.
//
// For existing systems (bearer tokens, like the replica API; every call audited in the tenant's
// log, a call with the wrong role as denied:role):
//   POST /api/v1/codes                {"atena_no","resident_id"} → {"subject_code"}   (FGU)
//   POST /api/v1/codes/bulk           text/csv "atena_no,resident_id" lines → per-line results
//   POST /api/v1/atena-map            text/csv "番号体系,宛名番号,統合宛名番号" → counts, or 422
//                                     naming each bad line (AtenaMap::Load; all or nothing)
//   GET  /api/v1/atena-map            {"mapping":"identity"|"table","rows"}
//   POST /api/v1/inquiries            → 202 {"inquiry_id","state":"accepted"}          (SKI)
//   POST /api/v1/inquiries/batch[?name=]  batch inquiry file (一括照会ファイル) → the batch's id
//                                     and per-line results
//   GET  /api/v1/inquiries/batch/{id} how far the batch has come (lines open, by state)
//   GET  /api/v1/inquiries/batch/{id}/result-file[?charset=]  the inquiry result file
//                                     (照会結果ファイル) once every line has ended; 409 before
//   GET  /api/v1/inquiries/{id}[?wait_ms=]  state, times, and the decoded result when completed;
//                                     wait_ms (≤ 30000) long-polls while the inquiry is open
//   GET  /api/v1/inquiries?state=&since_us=&limit=
//   GET  /api/v1/approvals            (approver role) answers waiting for a decision (自動応答不可)
//   POST /api/v1/approvals/{permit_id} {"decision":"approve"|"reject","comment"}
//   GET  /api/v1/linkage/status       the permission list copy
// docs/linkage.md describes them; docs/api/openapi.yaml has every field and status.
//
// For the hub (the node listener, mutual TLS; RegisterNode):
//   POST /node/v1/provision-requests  a permit to answer                              (TKY)
//   POST /node/v1/inquiry-results     the relayed, sealed answer to one of our inquiries
//
// Each route is one named handler below; Register wires them to their paths, roles and body
// limits, and audits every /api/v1 call in the tenant's log.
//
// Thread-safety: Register once; handlers are thread-safe.
#ifndef CHUKAN_SERVER_LINKAGE_API_H_
#define CHUKAN_SERVER_LINKAGE_API_H_

#include <optional>
#include <string>
#include <string_view>

#include "http/router.h"
#include "json/json.h"
#include "server/api_auth.h"
#include "server/inquiry_batches.h"
#include "server/linkage_service.h"

namespace chukan::server {

// 一括照会ファイル (P640R110, docs/batch-inquiry-format.md) of `who`: one inquiry per valid line,
// the batch stored (inquiry_batches.h), its id and the per-line results as JSON (200, or 207
// when a line failed or repeated an earlier one). Shared by POST /api/v1/inquiries/batch and the
// console. `content_type` names the charset (Shift_JIS or UTF-8); `file_name` (may be empty)
// names the result file. Errors: kInvalidArgument for an unknown charset, a file name that is
// not [A-Za-z0-9._-]{0,128}, or a file that cannot be read at all.
Result<http::Response> RunBatchInquiryFile(LinkageService& linkage, const ClientIdentity& who,
                                           std::string body, std::string_view content_type,
                                           std::string_view file_name = "");

// The batch id of the request's {id} path parameter; kNotFound "no such batch" for anything
// that is not 32 hex digits.
Result<std::string> BatchIdOf(const http::Request& req);
// The batch as GET /api/v1/inquiries/batch/{id} shows it.
void WriteBatchSummary(json::JsonWriter& w, const BatchSummary& s);
// The result file of a batch (200, text/plain with Content-Disposition), or 409 BATCH_NOT_ENDED
// with Retry-After while lines are open. `charset_text`: utf-8 or shift_jis (default: the
// inquiry file's). Shared with the console.
Result<http::Response> BatchResultFileResponse(LinkageService& linkage, const TenantId& tenant,
                                               const std::string& batch_id,
                                               std::optional<std::string_view> charset_text,
                                               const RequestId& rid);

class LinkageApi {
 public:
  // `hub_cert_sha256`: the lower-case hex SHA-256 of the hub's client certificate, the only
  // one the node routes accept (empty: they accept none).
  LinkageApi(const ApiAuth& auth, LinkageService& linkage, std::string hub_cert_sha256 = "")
      : auth_(auth), linkage_(linkage), hub_cert_sha256_(std::move(hub_cert_sha256)) {}
  // The /api/v1 routes.
  Status Register(http::Router& router);
  // The /node/v1 routes (to be served on the mutual-TLS node listener only).
  Status RegisterNode(http::Router& router);

 private:
  // An /api/v1 handler, given the caller ApiAuth's gate established.
  using ApiHandler = Result<http::Response> (LinkageApi::*)(const ClientIdentity& who,
                                                            http::Request& req);
  // A /node/v1 handler (the caller is the hub, pinned by the gate).
  using NodeHandler = Result<http::Response> (LinkageApi::*)(http::Request& req);
  // What a route does when the tenant's backlog of messages for the hub is full: kAdmitAll
  // takes the call anyway; kNewWork (routes that queue new inquiries) answers 503 with
  // Retry-After, after authentication and before the body is read (TenantContext::AdmitNewWork).
  enum class Backlog { kAdmitAll, kNewWork };
  Status AddApi(http::Router& router, std::string_view method, std::string_view pattern,
                ApiRole role, uint64_t max_body, ApiHandler handler,
                Backlog backlog = Backlog::kAdmitAll);
  // How an /api/v1 handler answers, once, from any thread, quickly (it never blocks). The
  // Request lives until then.
  class ApiAnswer {
   public:
    struct Call;  // the caller, the call and its connection (linkage_api.cc)
    explicit ApiAnswer(std::shared_ptr<const Call> call) : call_(std::move(call)) {}
    // Audits the call in the tenant's log with the outcome of `r` (TenantContext::AuditThen)
    // and hands `r` to the connection once that entry is durable.
    void operator()(Result<http::Response> r) const;
    // The call's audit entry as operator() writes it, with `outcome`: for a handler that
    // appends it in its own write transaction, so that the call costs one durable commit.
    audit::AuditEvent Entry(std::string outcome) const;
    // Hands `r` to the connection at once: only after Entry() committed (with r's outcome).
    void Audited(http::Response r) const;

   private:
    std::shared_ptr<const Call> call_;
  };
  using AsyncApiHandler = void (LinkageApi::*)(const ClientIdentity& who, http::Request& req,
                                               ApiAnswer answer);
  Status AddAsyncApi(http::Router& router, std::string_view method, std::string_view pattern,
                     ApiRole role, uint64_t max_body, AsyncApiHandler handler,
                     Backlog backlog = Backlog::kAdmitAll);
  // What AddApi and AddAsyncApi share: the gate (and backlog check), the audit of every call.
  using AnyApiHandler =
      std::function<void(const ClientIdentity& who, http::Request& req, ApiAnswer answer)>;
  Status AddApiRoute(http::Router& router, std::string_view method, std::string_view pattern,
                     ApiRole role, uint64_t max_body, AnyApiHandler handler, Backlog backlog);
  Status AddNode(http::Router& router, std::string_view pattern, uint64_t max_body,
                 NodeHandler handler);

  // POST /api/v1/codes
  Result<http::Response> RegisterCode(const ClientIdentity& who, http::Request& req);
  // POST /api/v1/codes/bulk
  Result<http::Response> RegisterCodes(const ClientIdentity& who, http::Request& req);
  // POST /api/v1/atena-map
  Result<http::Response> LoadAtenaMap(const ClientIdentity& who, http::Request& req);
  // GET /api/v1/atena-map
  Result<http::Response> AtenaMapStatus(const ClientIdentity& who, http::Request& req);
  // POST /api/v1/inquiries (asynchronous: no thread waits while the inquiry commits)
  void CreateInquiry(const ClientIdentity& who, http::Request& req, ApiAnswer answer);
  // POST /api/v1/inquiries/batch
  Result<http::Response> CreateBatchInquiries(const ClientIdentity& who, http::Request& req);
  // GET /api/v1/inquiries/batch/{id}
  Result<http::Response> GetBatch(const ClientIdentity& who, http::Request& req);
  // GET /api/v1/inquiries/batch/{id}/result-file
  Result<http::Response> GetBatchResultFile(const ClientIdentity& who, http::Request& req);
  // GET /api/v1/inquiries/{id}[?wait_ms=] (asynchronous: a long poll holds no thread)
  void GetInquiry(http::Request& req, http::Responder out);
  // GET /api/v1/inquiries
  Result<http::Response> ListInquiries(const ClientIdentity& who, http::Request& req);
  // GET /api/v1/approvals
  Result<http::Response> ListApprovals(const ClientIdentity& who, http::Request& req);
  // POST /api/v1/approvals/{permit_id}
  Result<http::Response> DecideApproval(const ClientIdentity& who, http::Request& req);
  // GET /api/v1/records
  Result<http::Response> ListRecords(const ClientIdentity& who, http::Request& req);
  // GET /api/v1/linkage/status
  Result<http::Response> LinkageStatus(const ClientIdentity& who, http::Request& req);

  // POST /node/v1/provision-requests
  Result<http::Response> ProvisionRequest(http::Request& req);
  // POST /node/v1/inquiry-results
  Result<http::Response> InquiryResult(http::Request& req);
  // POST /node/v1/batch/provision-requests
  Result<http::Response> BatchProvisionRequests(http::Request& req);
  // POST /node/v1/batch/inquiry-results
  Result<http::Response> BatchInquiryResults(http::Request& req);

  const ApiAuth& auth_;
  LinkageService& linkage_;
  const std::string hub_cert_sha256_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_API_H_
