// LinkageService (see linkage_service.h). Over 1,100 lines because it still holds several
// concepts — inquiries with their states, provisions and approvals, records, subject codes and
// the hub-facing delivery — that issue 11 splits into files of their own; the schema has moved
// to linkage_schema.cc and the long polls to inquiry_waiters.cc so far.
#include "server/linkage_service.h"

#include <algorithm>
#include <cstdint>

#include "common/log.h"
#include "common/utf8.h"
#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/sealed_box.h"
#include "http/api_util.h"
#include "http/json.h"
#include "layout/date.h"
#include "server/linkage_schema.h"

namespace chukan::server {
namespace {

crypto::Bytes Aad(std::string_view kind, const TenantId& t, std::string_view id) {
  return crypto::ToBytes("chukan-linkage-v1\n" + std::string(kind) + "\n" + t.str() + "\n" +
                         std::string(id));
}

// A reason code at the start of a hub error document, or the HTTP status.
std::string HubReason(const http::Response& r) {
  Result<http::JsonObject> o = http::ParseJsonObject(r.body);
  if (o.ok()) {
    Result<http::JsonObject> e = o->GetObject("error");
    if (e.ok()) {
      if (auto reason = e->GetOptionalString("reason", 64); reason.ok() && *reason) return **reason;
      if (auto code = e->GetOptionalString("code", 64); code.ok() && *code) return **code;
    }
  }
  return "HTTP_" + std::to_string(r.status);
}

// The hub's SHA-256 of the permit from its answer to a permit request (it answered over TLS,
// as the hub): 32 bytes, or NULL when absent or malformed — the permit that comes back with the
// answer is then verified in full.
store::Value PermitDigest(const Result<http::JsonObject>& answer) {
  if (!answer.ok()) return store::Value(nullptr);
  Result<std::optional<std::string>> text = answer->GetOptionalString("permit_sha256", 64);
  if (!text.ok() || !*text) return store::Value(nullptr);
  Result<crypto::Bytes> raw = crypto::FromBase64Url(**text);
  if (!raw.ok() || raw->size() != 32) return store::Value(nullptr);
  return store::Value(*std::move(raw));
}

}  // namespace

LinkageService::LinkageService(Platform& platform,
                               std::shared_ptr<const layout::Catalogue> catalogue, HubLink* hub,
                               Options options, const Clock& clock)
    : platform_(platform),
      catalogue_(std::move(catalogue)),
      hub_(hub),
      options_(options),
      clock_(clock) {
  // Invariant: the options come from a validated configuration.
  outbox_ = store::Outbox::Create(options_.outbox, clock_).value();
  waiters_ = std::make_unique<InquiryWaiters>(
      InquiryWaiters::Limits{options_.waits_per_client, options_.waits_total, 4});
}

LinkageService::~LinkageService() = default;

void LinkageService::SetNotifier(std::function<void()> notify) {
  std::lock_guard<std::mutex> lock(mu_);
  notify_ = std::move(notify);
}

void LinkageService::Notify() {
  std::function<void()> n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = notify_;
  }
  if (n) n();
}

Result<std::shared_ptr<TenantContext>> LinkageService::State(const TenantId& tenant) {
  return platform_.Tenant(tenant);
}

Status LinkageService::Commit(TenantContext& st, store::GroupCommitter::WriteFn write) {
  return st.Commit(std::move(write));
}

void LinkageService::Audit(TenantContext& st, const std::string& actor, const std::string& action,
                           const std::string& target, const std::string& outcome) {
  AuditAppend(st, {st.id.str(), actor, action, target, outcome, ""});
}

void LinkageService::AuditAppend(TenantContext& st, const audit::AuditEvent& event) {
  st.Audit(event);  // through the group committer: concurrent entries share one durable commit
}

void LinkageService::AuditCall(const TenantId& tenant, const audit::AuditEvent& event) {
  Result<std::shared_ptr<TenantContext>> st = State(tenant);
  if (!st.ok()) {
    log::Error("audit.append_failed", {{"tenant", tenant.str()}, log::StatusField(st.status())});
    return;
  }
  AuditAppend(**st, event);
}

Result<SubjectCode> LinkageService::RegisterCode(const TenantId& tenant, const AtenaNo& atena,
                                                 const ResidentId& rid) {
  if (hub_ == nullptr) return FailedPreconditionError("no hub is configured ([hub] url)");
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  Result<http::Response> sent =
      hub_->Post(tenant.org(), "/hub/v1/codes", R"({"resident_id":")" + rid.str() + "\"}");
  if (!sent.ok()) {
    // A transport or TLS failure between this server and the hub: not the caller's fault. The
    // detail (addresses, certificate files) goes to the server log, not to the client.
    log::Warn("server.hub_unreachable",
              {{"tenant", tenant.str()}, {"error", sent.status().ToString().substr(0, 300)}});
    return UnavailableError("the hub cannot be reached (" +
                            std::string(StatusCodeName(sent.status().code())) +
                            "); the server log has the details");
  }
  const http::Response& r = *sent;
  if (r.status != 200) {
    return UnavailableError("the hub refused the code request: " + HubReason(r));
  }
  ASSIGN_OR_RETURN(http::JsonObject o, http::ParseJsonObject(r.body));
  ASSIGN_OR_RETURN(std::string code_text, o.GetString("subject_code", 64));
  ASSIGN_OR_RETURN(SubjectCode code, SubjectCode::Parse(code_text));
  const crypto::Bytes index = crypto::Blake2bKeyed(st->index_key, crypto::AsBytes(atena.str()), 32);
  ASSIGN_OR_RETURN(crypto::Bytes sealed, crypto::Encrypt(st->data_key, crypto::AsBytes(atena.str()),
                                                         Aad("atena", tenant, code.str())));
  const int64_t now = ToUnixMicros(clock_.Now());
  Status s = Commit(*st, [&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT subject_code FROM subject_codes"
                                           " WHERE atena_index = ?",
                                           {index}));
    if (row) {
      ASSIGN_OR_RETURN(std::string existing, row->GetText(0));
      if (existing == code.str()) return Status();
      return AlreadyExistsError("this atena_no already has another subject code");
    }
    ASSIGN_OR_RETURN(auto other, tx.QueryOne("SELECT 1 FROM subject_codes WHERE subject_code = ?",
                                             {code.str()}));
    if (other) {
      return AlreadyExistsError(
          "this person's subject code is already registered under another atena_no");
    }
    return tx.Exec(
        "INSERT INTO subject_codes (subject_code, atena_index, atena_sealed,"
        " created_at_us) VALUES (?, ?, ?, ?)",
        {code.str(), index, sealed, now});
  });
  Audit(*st, "system", "code.register", "subject_code " + code.str(),
        s.ok() ? "ok" : "error:" + std::string(StatusCodeName(s.code())));
  RETURN_IF_ERROR(s);
  return code;
}

namespace {

constexpr std::string_view kInquiryColumns =
    "inquiry_id, state, reason, provider, procedure_code, tm, layout_version, permit_id,"
    " created_at_us, permitted_at_us, ended_at_us, expires_at_us, result, result_deleted";

Result<InquiryView> InquiryFromRow(const store::Row& r) {
  InquiryView v;
  ASSIGN_OR_RETURN(v.inquiry_id, r.GetText(0));
  ASSIGN_OR_RETURN(v.state, r.GetText(1));
  ASSIGN_OR_RETURN(std::optional<std::string> reason, r.GetOptionalText(2));
  v.reason = reason.value_or("");
  ASSIGN_OR_RETURN(v.provider, r.GetText(3));
  ASSIGN_OR_RETURN(v.procedure, r.GetText(4));
  ASSIGN_OR_RETURN(v.tm, r.GetText(5));
  ASSIGN_OR_RETURN(v.layout_version, r.GetText(6));
  ASSIGN_OR_RETURN(std::optional<std::string> permit, r.GetOptionalText(7));
  v.permit_id = permit.value_or("");
  ASSIGN_OR_RETURN(v.created_at_us, r.GetInt(8));
  ASSIGN_OR_RETURN(v.permitted_at_us, r.GetOptionalInt(9));
  ASSIGN_OR_RETURN(v.ended_at_us, r.GetOptionalInt(10));
  ASSIGN_OR_RETURN(v.expires_at_us, r.GetInt(11));
  ASSIGN_OR_RETURN(int64_t deleted, r.GetInt(13));
  v.result_deleted = deleted != 0;
  return v;
}

}  // namespace

Result<InquiryView> LinkageService::CreateInquiry(const TenantId& tenant, const InquiryInput& in) {
  if (hub_ == nullptr) return FailedPreconditionError("no hub is configured ([hub] url)");
  RETURN_IF_ERROR(linkage::CheckQuery(in.query));
  if (in.idempotency_key.size() > 128) {
    return InvalidArgumentError("idempotency key: at most 128 bytes");
  }
  if (in.timeout_seconds < 0 || in.timeout_seconds > options_.inquiry_timeout.count()) {
    return InvalidArgumentError("field \"timeout_seconds\": expected 1 to " +
                                std::to_string(options_.inquiry_timeout.count()) +
                                " (the server's [inquiry] timeout_seconds)");
  }
  const layout::InfoName* info = catalogue_->Find(in.tm);
  if (info == nullptr) return NotFoundError(in.tm.str() + " is not in the data standard layout");
  const layout::LayoutVersion* version = nullptr;
  if (in.layout_version.empty()) {
    // Layout validity dates are Japanese calendar days (JST, UTC+9).
    std::optional<layout::Date> today =
        layout::Date::Parse(FormatRfc3339(clock_.Now() + std::chrono::hours(9)).substr(0, 10));
    if (today) version = info->VersionAt(*today);
    if (version == nullptr) version = &info->LatestVersion();
  } else {
    version = info->Version(in.layout_version);
  }
  if (version == nullptr) {
    // The version asked for is the client's text: list the known ones instead of repeating it.
    std::string known;
    for (const layout::LayoutVersion* v : info->versions()) {
      known += (known.empty() ? "" : ", ") + v->version();
    }
    return NotFoundError(in.tm.str() + " has no such layout version (versions: " + known + ")");
  }
  size_t position = 0;
  for (const auto& [key, value] : in.query) {
    ++position;
    if (version->FindItem(key) == nullptr) {
      // Not an item code, so the key is the client's text: named by position (in.query is in
      // key order), as linkage::CheckQuery does.
      return InvalidArgumentError("query: condition " + std::to_string(position) +
                                  " in key order is not an item of " + in.tm.str() + " version " +
                                  version->version());
    }
  }
  if (catalogue_->FindProcedure(in.procedure) == nullptr) {
    return NotFoundError(in.procedure.str() + " is not in the data standard layout");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  const crypto::Bytes index =
      crypto::Blake2bKeyed(st->index_key, crypto::AsBytes(in.atena.str()), 32);
  // The request as the idempotency key first saw it (keyed: the atena_no is in it).
  std::string request_text = in.procedure.str() + "|" + in.tm.str() + "|" + in.layout_version +
                             "|" + in.provider.str() + "|" + std::to_string(in.timeout_seconds) +
                             "|" + crypto::ToHex(index);
  for (const auto& [key, value] : in.query) request_text += "|" + key + "=" + value;
  const std::string request_hash =
      crypto::ToHex(crypto::Blake2bKeyed(st->index_key, crypto::AsBytes(request_text), 16));
  auto same_request = [&](const store::Row& prev) -> Status {
    ASSIGN_OR_RETURN(std::optional<std::string> h, prev.GetOptionalText(1));
    if (h && *h != request_hash) {
      return AlreadyExistsError(
          "IDEMPOTENCY_KEY_REUSED: this idempotency key was used for a different inquiry");
    }
    return Status();
  };
  std::string subject;
  {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    if (!in.idempotency_key.empty()) {
      ASSIGN_OR_RETURN(auto prev, tx->QueryOne("SELECT inquiry_id, request_hash FROM inquiries"
                                               " WHERE idempotency_key = ?",
                                               {in.idempotency_key}));
      if (prev) {
        ASSIGN_OR_RETURN(std::string id, prev->GetText(0));
        RETURN_IF_ERROR(same_request(*prev));
        RETURN_IF_ERROR(tx->Commit());
        return GetInquiry(tenant, id);
      }
    }
    ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT subject_code FROM subject_codes"
                                            " WHERE atena_index = ?",
                                            {index}));
    if (!row) {
      return FailedPreconditionError(
          "no subject code (符号) for this atena_no: register it first (POST /api/v1/codes)");
    }
    ASSIGN_OR_RETURN(subject, row->GetText(0));
  }
  // 処理通番: time-ordered, so the inquiries table and its indexes grow at one end.
  const std::string id = PermitId::GenerateTimeOrdered(ToUnixMicros(clock_.Now()) / 1000).str();
  crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();
  ASSIGN_OR_RETURN(crypto::Bytes secret, crypto::Encrypt(st->data_key, reply.secret_key().span(),
                                                         Aad("reply-secret", tenant, id)));
  http::JsonWriter qw;
  qw.BeginObject();
  for (const auto& [key, value] : in.query) qw.Key(key).String(value);
  qw.EndObject();
  ASSIGN_OR_RETURN(std::string query_json, qw.Finish());
  const int64_t now = ToUnixMicros(clock_.Now());
  const int64_t expires =
      now + (in.timeout_seconds > 0
                 ? in.timeout_seconds * 1'000'000
                 : std::chrono::duration_cast<std::chrono::microseconds>(options_.inquiry_timeout)
                       .count());
  const std::string version_text = version->version();
  Status s = Commit(*st, [&](store::Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec(
        "INSERT INTO inquiries (inquiry_id, idempotency_key, client, subject_code,"
        " procedure_code, tm, layout_version, provider, query, state, reply_public,"
        " reply_secret, created_at_us, expires_at_us, request_hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'accepted', ?, ?, ?, ?, ?)",
        {id, in.idempotency_key.empty() ? store::Value(nullptr) : store::Value(in.idempotency_key),
         in.client, subject, in.procedure.str(), in.tm.str(), version_text, in.provider.str(),
         query_json, reply.public_key(), secret, now, expires, request_hash}));
    RETURN_IF_ERROR(
        outbox_->Enqueue(tx, kTopicPermitRequest, id, crypto::ToBytes(id), clock_.Now()));
    // The audit entry commits with the inquiry (one durable commit, not two).
    return st->audit
        ->Append(tx, {tenant.str(), "client:" + in.client, "inquiry.create",
                      "inquiry " + id + " " + in.procedure.str() + " " + in.tm.str() + " → " +
                          in.provider.str(),
                      "ok", ""})
        .status();
  });
  if (s.code() == StatusCode::kAlreadyExists && !in.idempotency_key.empty()) {
    // The same key raced in twice: answer with the one that was stored.
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    ASSIGN_OR_RETURN(auto prev, tx->QueryOne("SELECT inquiry_id, request_hash FROM inquiries"
                                             " WHERE idempotency_key = ?",
                                             {in.idempotency_key}));
    if (prev) {
      RETURN_IF_ERROR(same_request(*prev));
      return GetInquiry(tenant, prev->GetText(0).value());
    }
  }
  if (!s.ok()) {
    Audit(
        *st, "client:" + in.client, "inquiry.create",
        "inquiry " + id + " " + in.procedure.str() + " " + in.tm.str() + " → " + in.provider.str(),
        "error:" + std::string(StatusCodeName(s.code())));
    return s;
  }
  // The inquiry as stored, not re-read: the sender may already have moved it on.
  InquiryView v;
  v.inquiry_id = id;
  v.state = "accepted";
  v.provider = in.provider.str();
  v.procedure = in.procedure.str();
  v.tm = in.tm.str();
  v.layout_version = version_text;
  v.created_at_us = now;
  v.expires_at_us = expires;
  Notify();
  return v;
}

Result<InquiryView> LinkageService::GetInquiry(const TenantId& tenant,
                                               const std::string& inquiry_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
  ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT " + std::string(kInquiryColumns) +
                                              " FROM inquiries WHERE inquiry_id = ?",
                                          {inquiry_id}));
  // The id is the client's text (a path segment): not repeated.
  if (!row) return NotFoundError("no such inquiry");
  ASSIGN_OR_RETURN(InquiryView v, InquiryFromRow(*row));
  ASSIGN_OR_RETURN(std::optional<crypto::Bytes> result, row->GetOptionalBlob(12));
  if (result) {
    ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                     crypto::Decrypt(st->data_key, *result, Aad("result", tenant, v.inquiry_id)));
    v.result_json = std::string(plain.AsStringView());
  }
  return v;
}

void LinkageService::Changed(const std::string& inquiry_id) { waiters_->Wake(inquiry_id); }

void LinkageService::ChangedAll() { waiters_->WakeAll(); }

Status LinkageService::WatchInquiry(const TenantId& tenant, const std::string& inquiry_id,
                                    const std::string& client, std::chrono::milliseconds wait,
                                    InquiryDone done) {
  // Registered before the first read (Add fires once at once), so an end between the read and
  // the registration is not lost.
  auto fire = [this, tenant, inquiry_id, done = std::move(done)](bool timed_out) -> bool {
    Result<InquiryView> v = GetInquiry(tenant, inquiry_id);
    if (!timed_out && v.ok() && (v->state == "accepted" || v->state == "permitted")) {
      return false;  // still open: wait on
    }
    done(std::move(v));
    return true;
  };
  return waiters_->Add(inquiry_id, tenant.str() + "/" + client, InquiryWaiters::Clock::now() + wait,
                       std::move(fire));
}

Result<std::vector<InquiryView>> LinkageService::ListInquiries(
    const TenantId& tenant, const std::optional<std::string>& state, int64_t since_us, int limit) {
  if (limit < 1 || limit > 1000) return InvalidArgumentError("limit: expected 1 to 1000");
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
  std::vector<store::Row> rows;
  if (state) {
    ASSIGN_OR_RETURN(rows, tx->Query("SELECT " + std::string(kInquiryColumns) +
                                         " FROM inquiries WHERE state = ? AND created_at_us >= ?"
                                         " ORDER BY created_at_us, inquiry_id LIMIT ?",
                                     {*state, since_us, static_cast<int64_t>(limit)}));
  } else {
    ASSIGN_OR_RETURN(rows, tx->Query("SELECT " + std::string(kInquiryColumns) +
                                         " FROM inquiries WHERE created_at_us >= ?"
                                         " ORDER BY created_at_us, inquiry_id LIMIT ?",
                                     {since_us, static_cast<int64_t>(limit)}));
  }
  std::vector<InquiryView> out;
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(InquiryView v, InquiryFromRow(r));
    out.push_back(std::move(v));  // results only through GetInquiry
  }
  return out;
}

Result<std::string> LinkageService::BuildAnswer(TenantContext& st,
                                                const linkage::ProvisionPermit& permit) {
  const layout::InfoName* info = catalogue_->Find(permit.tm);
  const layout::LayoutVersion* version = info ? info->Version(permit.layout_version) : nullptr;
  if (version == nullptr) {
    return InvalidArgumentError("MALFORMED_PERMIT: unknown TM or layout version");
  }
  std::optional<std::string> atena;
  {
    ASSIGN_OR_RETURN(auto tx, st.db->BeginRead());
    ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT atena_sealed FROM subject_codes"
                                            " WHERE subject_code = ?",
                                            {permit.subject.str()}));
    if (row) {
      ASSIGN_OR_RETURN(crypto::Bytes sealed, row->GetBlob(0));
      ASSIGN_OR_RETURN(
          crypto::SecretBytes plain,
          crypto::Decrypt(st.data_key, sealed, Aad("atena", st.id, permit.subject.str())));
      atena = std::string(plain.AsStringView());
    }
  }
  http::JsonWriter w;
  w.BeginObject().Key("tm").String(permit.tm.str());
  w.Key("layout_version").String(permit.layout_version);
  int64_t n = 0;
  w.Key("records").BeginArray();
  if (atena) {
    ASSIGN_OR_RETURN(AtenaNo a, AtenaNo::Parse(*atena));
    ASSIGN_OR_RETURN(replica::ReplicaStore * replicas, st.Replicas());
    ASSIGN_OR_RETURN(std::vector<replica::Record> records, replicas->Find(a, permit.tm));
    for (const replica::Record& rec : records) {
      if (rec.version != permit.layout_version) continue;
      bool match = true;
      for (const auto& [key, value] : permit.query) {
        std::optional<size_t> i = version->ItemIndex(key);
        if (!i || *i >= rec.values.size() || rec.values[*i] != value) match = false;
      }
      if (!match) continue;
      w.BeginObject();
      for (size_t i = 0; i < version->item_count() && i < rec.values.size(); ++i) {
        if (rec.values[i].empty()) continue;
        w.Key(version->item(i).code()).String(rec.values[i]);
      }
      w.EndObject();
      ++n;
    }
  }
  w.EndArray();
  w.Key("status").String(n > 0 ? "ok" : "no_data").EndObject();
  return w.Finish();
}

Result<std::string> LinkageService::SealedEnvelopeBody(TenantContext& st,
                                                       const linkage::ProvisionPermit& permit,
                                                       std::string_view answer_json) {
  linkage::Envelope e;
  e.permit_id = permit.id;
  e.provider = permit.provider;
  e.inquirer = permit.inquirer;
  e.sealed_at_ms = ToUnixMicros(clock_.Now()) / 1000;
  ASSIGN_OR_RETURN(e.sealed, crypto::Seal(permit.reply_key, crypto::AsBytes(answer_json)));
  return linkage::SignedEnvelopeJson(linkage::SignEnvelope(e, st.org_key));
}

Result<std::string> LinkageService::OnProvisionRequest(
    const linkage::SignedDocument& signed_permit) {
  ASSIGN_OR_RETURN(PendingOutcome pending, StartProvisionRequest(signed_permit));
  return pending();
}

Result<LinkageService::PendingOutcome> LinkageService::StartProvisionRequest(
    const linkage::SignedDocument& signed_permit) {
  if (hub_ == nullptr) return FailedPreconditionError("no hub is configured ([hub] url)");
  Result<linkage::ProvisionPermit> verified =
      linkage::VerifyPermit(signed_permit, hub_->hub_key(), clock_.Now());
  if (!verified.ok()) {
    const Status& e = verified.status();
    if (e.code() == StatusCode::kUnauthenticated) {
      return UnauthenticatedError("BAD_PERMIT_SIGNATURE: " + e.message());
    }
    if (e.code() == StatusCode::kFailedPrecondition) {
      return FailedPreconditionError("PERMIT_EXPIRED: " + e.message());
    }
    return InvalidArgumentError("MALFORMED_PERMIT: " + e.message());
  }
  const linkage::ProvisionPermit& permit = *verified;
  const TenantId tenant = TenantId::ForOrg(permit.provider);
  Result<std::shared_ptr<TenantContext>> state = State(tenant);
  if (!state.ok()) {
    return PermissionDeniedError("MISDIRECTED_PERMIT: permit " + permit.id.str() +
                                 " is addressed to " + permit.provider.str() +
                                 ", which this server does not host");
  }
  TenantContext& st = **state;
  Result<std::shared_ptr<const linkage::PermissionList>> list = hub_->PermissionList();
  if (!list.ok()) return UnavailableError("NO_PERMISSION_LIST: " + list.status().message());
  const bool allowed =
      (*list)->Find(permit.inquirer, permit.procedure, permit.provider, permit.tm) != nullptr;
  const layout::InfoName* info = catalogue_->Find(permit.tm);
  const layout::LayoutVersion* version = info ? info->Version(permit.layout_version) : nullptr;
  if (version == nullptr) return InvalidArgumentError("MALFORMED_PERMIT: unknown TM or version");
  const bool approval = layout::NeedsApproval(*info, *version);

  std::string answer;
  std::string body;
  std::string outcome;
  if (!allowed) {
    // The inquirer is told, in an envelope like any answer, so its inquiry ends at once.
    outcome = "refused";
    ASSIGN_OR_RETURN(
        body,
        SealedEnvelopeBody(st, permit, R"({"status":"refused","reason":"NOT_PERMITTED_LOCALLY"})"));
  } else {
    ASSIGN_OR_RETURN(answer, BuildAnswer(st, permit));
    if (approval) {
      outcome = "awaiting_approval";
    } else {
      outcome = "answered";
      ASSIGN_OR_RETURN(body, SealedEnvelopeBody(st, permit, answer));
    }
  }
  std::optional<crypto::Bytes> stored_answer;
  if (outcome == "awaiting_approval") {
    ASSIGN_OR_RETURN(crypto::Bytes sealed, crypto::Encrypt(st.data_key, crypto::AsBytes(answer),
                                                           Aad("answer", tenant, permit.id.str())));
    stored_answer = std::move(sealed);
  }
  const int64_t now = ToUnixMicros(clock_.Now());
  // The write runs later, on the committer's thread: it owns copies of what it needs.
  const std::string document = signed_permit.document;
  store::Outbox* outbox = outbox_.get();
  const Clock* clock = &clock_;
  TenantContext* stp = &st;
  std::shared_future<Status> committed =
      st.Submit([=](store::Transaction& tx) -> Status {
          RETURN_IF_ERROR(tx.Exec(
              "INSERT INTO provisions (permit_id, inquirer, procedure_code, tm, layout_version,"
              " subject_code, permit, state, reason, answer, received_at_us,"
              " permit_expires_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {permit.id.str(), permit.inquirer.str(), permit.procedure.str(), permit.tm.str(),
               permit.layout_version, permit.subject.str(), document, outcome,
               outcome == "refused" ? store::Value(std::string("NOT_PERMITTED_LOCALLY"))
                                    : store::Value(nullptr),
               stored_answer ? store::Value(*stored_answer) : store::Value(nullptr), now,
               permit.expires_at_ms * 1000}));
          if (!body.empty()) {
            RETURN_IF_ERROR(outbox->Enqueue(tx, kTopicProvision, permit.id.str(),
                                            crypto::ToBytes(body), clock->Now()));
          }
          return stp->audit
              ->Append(tx, {tenant.str(), "hub", "provision.request",
                            "permit " + permit.id.str() + " from " + permit.inquirer.str() + " " +
                                permit.procedure.str() + " " + permit.tm.str(),
                            outcome, ""})
              .status();
        }).share();
  const int64_t list_version = (*list)->version();
  const bool sent = !body.empty();
  return PendingOutcome([this, committed, stp, permit, outcome, sent,
                         list_version]() -> Result<std::string> {
    TenantContext& tenant_state = *stp;
    const Status s = committed.get();
    if (s.code() == StatusCode::kAlreadyExists) {
      Audit(tenant_state, "hub", "provision.request", "permit " + permit.id.str(), "denied:replay");
      return AlreadyExistsError("PERMIT_ALREADY_USED: permit " + permit.id.str() +
                                " was received before");
    }
    if (!s.ok()) {
      Audit(tenant_state, "hub", "provision.request",
            "permit " + permit.id.str() + " from " + permit.inquirer.str() + " " +
                permit.procedure.str() + " " + permit.tm.str(),
            "error:" + std::string(StatusCodeName(s.code())));
      return s;
    }
    if (sent) Notify();
    if (outcome == "refused") {
      log::Warn("server.provision_refused_locally", {{"permit_id", permit.id.str()},
                                                     {"permission_list_version", list_version},
                                                     {"reason", "NOT_PERMITTED_LOCALLY"}});
    }
    return outcome;
  });
}

Status LinkageService::OnInquiryResult(const linkage::ProvisionResult& result) {
  ASSIGN_OR_RETURN(PendingStatus pending, StartInquiryResult(result));
  return pending();
}

Result<LinkageService::PendingStatus> LinkageService::StartInquiryResult(
    const linkage::ProvisionResult& result) {
  if (hub_ == nullptr) return FailedPreconditionError("no hub is configured ([hub] url)");
  Result<linkage::ProvisionPermit> permit = linkage::ParsePermitDocument(result.permit.document);
  // The inquiry's row, when the permit names an inquiry of a tenant hosted here.
  std::shared_ptr<TenantContext> hosted;
  std::optional<store::Row> row;
  if (permit.ok()) {
    if (Result<std::shared_ptr<TenantContext>> s = State(TenantId::ForOrg(permit->inquirer));
        s.ok()) {
      hosted = *s;
      ASSIGN_OR_RETURN(auto tx, hosted->db->BeginRead());
      ASSIGN_OR_RETURN(row, tx->QueryOne("SELECT state, permit_id, reply_secret, reply_public,"
                                         " permit_sha256 FROM inquiries WHERE inquiry_id = ?",
                                         {permit->reference}));
    }
  }
  // The hub's signature is checked unless the permit is, byte for byte, the one whose digest the
  // hub gave this server when it issued it (an answer over TLS from the hub itself): the same
  // document, so the same signature check would pass. Anything else is verified in full, first,
  // so a forged permit is refused as such whatever it names.
  bool known_permit = false;
  if (row && !row->IsNull(4)) {
    ASSIGN_OR_RETURN(crypto::Bytes digest, row->GetBlob(4));
    known_permit =
        crypto::ConstantTimeEquals(digest, crypto::Sha256(crypto::AsBytes(result.permit.document)));
  }
  if (!known_permit) {
    if (Status s = linkage::VerifyDocument(result.permit, hub_->hub_key(), "permit"); !s.ok()) {
      if (s.code() == StatusCode::kUnauthenticated) {
        return UnauthenticatedError("BAD_PERMIT_SIGNATURE: " + s.message());
      }
      return InvalidArgumentError("MALFORMED_RESULT: " + s.message());
    }
  }
  if (!permit.ok()) return InvalidArgumentError("MALFORMED_RESULT: " + permit.status().message());
  const TenantId tenant = TenantId::ForOrg(permit->inquirer);
  if (hosted == nullptr) {
    return PermissionDeniedError("MISDIRECTED_RESULT: the inquirer " + permit->inquirer.str() +
                                 " is not hosted here");
  }
  TenantContext& st = *hosted;
  const std::string id = permit->reference;
  crypto::Bytes secret_sealed;
  crypto::Bytes reply_public;
  {
    if (!row) return NotFoundError("UNKNOWN_INQUIRY: no inquiry " + id);
    ASSIGN_OR_RETURN(std::string state_text, row->GetText(0));
    ASSIGN_OR_RETURN(std::optional<std::string> permit_id, row->GetOptionalText(1));
    if (state_text == "completed" && permit_id == permit->id.str()) {
      return PendingStatus([] { return Status(); });  // re-sent
    }
    if (state_text != "accepted" && state_text != "permitted") {
      return FailedPreconditionError("INQUIRY_ENDED: inquiry " + id + " is " + state_text);
    }
    if (permit_id && *permit_id != permit->id.str()) {
      return InvalidArgumentError("ENVELOPE_MISMATCH: the inquiry has another permit");
    }
    // A result is valid only while its permit is: an expired permit authorises nothing, even
    // when its signature is good (the hub checks the same when it relays).
    if (ToUnixMicros(clock_.Now()) / 1000 > permit->expires_at_ms) {
      return FailedPreconditionError("PERMIT_EXPIRED: the permit of this result expired at " +
                                     FormatRfc3339(FromUnixMicros(permit->expires_at_ms * 1000)));
    }
    ASSIGN_OR_RETURN(std::optional<crypto::Bytes> secret, row->GetOptionalBlob(2));
    if (!secret) return FailedPreconditionError("INQUIRY_ENDED: the inquiry's key is gone");
    secret_sealed = std::move(*secret);
    ASSIGN_OR_RETURN(reply_public, row->GetBlob(3));
  }
  ASSIGN_OR_RETURN(crypto::VerifyKey provider_key, hub_->OrgKey(tenant.org(), permit->provider));
  Result<linkage::Envelope> envelope = linkage::VerifyEnvelope(result.envelope, provider_key);
  if (!envelope.ok()) {
    if (envelope.status().code() == StatusCode::kUnauthenticated) {
      return UnauthenticatedError("BAD_ENVELOPE_SIGNATURE: " + envelope.status().message());
    }
    return InvalidArgumentError("MALFORMED_RESULT: " + envelope.status().message());
  }
  if (envelope->permit_id != permit->id || envelope->inquirer != permit->inquirer ||
      envelope->provider != permit->provider) {
    return InvalidArgumentError("ENVELOPE_MISMATCH: the envelope does not answer this permit");
  }
  ASSIGN_OR_RETURN(crypto::SecretBytes secret,
                   crypto::Decrypt(st.data_key, secret_sealed, Aad("reply-secret", tenant, id)));
  // The public half is stored beside the sealed secret: no scalar multiplication to rebuild it.
  ASSIGN_OR_RETURN(crypto::BoxKeyPair reply,
                   crypto::BoxKeyPair::FromParts(std::move(reply_public), secret));
  Result<crypto::SecretBytes> answer = crypto::Open(reply, envelope->sealed);
  if (!answer.ok()) {
    return InvalidArgumentError(
        "SEALED_TO_WRONG_KEY: the answer does not open with this "
        "inquiry's key");
  }
  Result<http::JsonObject> doc = http::ParseJsonObject(answer->AsStringView(), {4 << 20, 8});
  if (!doc.ok()) return InvalidArgumentError("MALFORMED_RESULT: the answer is not JSON");
  ASSIGN_OR_RETURN(std::string status, doc->GetString("status", 32));
  std::string final_state = "completed";
  std::string reason;
  if (status == "rejected") {
    final_state = "refused";
    reason = "PROVIDER_REJECTED";
  } else if (status == "refused") {
    final_state = "refused";
    reason = "PROVIDER_REFUSED";
    if (auto r = doc->GetOptionalString("reason", 64);
        r.ok() && *r && !(*r)->empty() &&
        (*r)->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == std::string::npos) {
      reason = **r;
    }
  } else if (status != "ok" && status != "no_data") {
    return InvalidArgumentError("MALFORMED_RESULT: unknown answer status");
  }
  ASSIGN_OR_RETURN(crypto::Bytes stored,
                   crypto::Encrypt(st.data_key, answer->span(), Aad("result", tenant, id)));
  const int64_t now = ToUnixMicros(clock_.Now());
  auto late = std::make_shared<bool>(false);
  const std::string permit_id = permit->id.str();
  TenantContext* stp = &st;
  std::shared_future<Status> committed =
      st.Submit([=](store::Transaction& tx) -> Status {
          ASSIGN_OR_RETURN(
              int64_t n,
              tx.ExecCount(
                  "UPDATE inquiries SET state = ?, reason = ?, result = ?,"
                  " reply_secret = NULL, permit_id = ?, ended_at_us = ?,"
                  " permitted_at_us = COALESCE(permitted_at_us, ?)"
                  " WHERE inquiry_id = ? AND state IN ('accepted', 'permitted')",
                  {final_state, reason.empty() ? store::Value(nullptr) : store::Value(reason),
                   stored, permit_id, now, now, id}));
          if (n == 0) {
            *late = true;  // ended meanwhile (expired) or completed by a concurrent delivery
            return Status();
          }
          return stp->audit
              ->Append(tx, {tenant.str(), "hub", "inquiry.result",
                            "inquiry " + id + " permit " + permit_id, final_state, ""})
              .status();
        }).share();
  return PendingStatus([this, committed, late, tenant, id]() -> Status {
    RETURN_IF_ERROR(committed.get());
    if (*late) {
      Result<InquiryView> v = GetInquiry(tenant, id);
      if (v.ok() && v->state == "completed") return Status();
      return FailedPreconditionError("INQUIRY_ENDED: inquiry " + id + " ended before the answer");
    }
    Changed(id);
    return Status();
  });
}

Result<std::vector<RecordEntry>> LinkageService::ListRecords(const TenantId& tenant,
                                                             int64_t after_us, int limit) {
  if (limit < 1 || limit > 1000) return InvalidArgumentError("limit: expected 1 to 1000");
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
  ASSIGN_OR_RETURN(auto asked,
                   tx->Query("SELECT inquiry_id, permit_id, provider, procedure_code, tm,"
                             " layout_version, subject_code, state, reason, created_at_us,"
                             " ended_at_us FROM inquiries WHERE created_at_us > ?"
                             " ORDER BY created_at_us, inquiry_id LIMIT ?",
                             {after_us, static_cast<int64_t>(limit)}));
  ASSIGN_OR_RETURN(auto answered,
                   tx->Query("SELECT permit_id, permit_id, inquirer, procedure_code, tm,"
                             " layout_version, subject_code, state, reason, received_at_us,"
                             " COALESCE(sent_at_us, decided_at_us), decided_by FROM provisions"
                             " WHERE received_at_us > ? ORDER BY received_at_us, permit_id"
                             " LIMIT ?",
                             {after_us, static_cast<int64_t>(limit)}));
  RETURN_IF_ERROR(tx->Commit());
  std::vector<RecordEntry> out;
  auto add = [&](const store::Row& r, const char* role) -> Status {
    RecordEntry e;
    e.role = role;
    ASSIGN_OR_RETURN(e.id, r.GetText(0));
    ASSIGN_OR_RETURN(std::optional<std::string> permit, r.GetOptionalText(1));
    e.permit_id = permit.value_or("");
    ASSIGN_OR_RETURN(e.counterpart, r.GetText(2));
    ASSIGN_OR_RETURN(e.procedure, r.GetText(3));
    ASSIGN_OR_RETURN(e.tm, r.GetText(4));
    ASSIGN_OR_RETURN(e.layout_version, r.GetText(5));
    ASSIGN_OR_RETURN(e.subject_code, r.GetText(6));
    ASSIGN_OR_RETURN(e.state, r.GetText(7));
    ASSIGN_OR_RETURN(std::optional<std::string> reason, r.GetOptionalText(8));
    e.reason = reason.value_or("");
    ASSIGN_OR_RETURN(e.at_us, r.GetInt(9));
    ASSIGN_OR_RETURN(e.ended_at_us, r.GetOptionalInt(10));
    if (r.size() > 11) {
      ASSIGN_OR_RETURN(std::optional<std::string> by, r.GetOptionalText(11));
      e.decided_by = by.value_or("");
    }
    if (Result<TmCode> tm = TmCode::Parse(e.tm); tm.ok()) {
      // 不開示 by the one rule the hub records it by (layout::NonDisclosure).
      const layout::InfoName* info = catalogue_->Find(*tm);
      e.non_disclosure =
          info != nullptr && layout::NonDisclosure(*info, info->Version(e.layout_version));
    }
    out.push_back(std::move(e));
    return Status();
  };
  for (const store::Row& r : asked) RETURN_IF_ERROR(add(r, "inquirer"));
  for (const store::Row& r : answered) RETURN_IF_ERROR(add(r, "provider"));
  std::stable_sort(out.begin(), out.end(),
                   [](const RecordEntry& a, const RecordEntry& b) { return a.at_us < b.at_us; });
  // A list cut by the limit ends a page: nothing at or after its last entry's time may be
  // returned, or the next page (after the last at_us) would skip the cut list's remainder —
  // including entries of that same microsecond beyond the cut. Only when every entry shares
  // that microsecond do they all stay (the page must move on).
  int64_t cutoff = INT64_MAX;
  if (asked.size() == static_cast<size_t>(limit)) cutoff = asked.back().GetInt(9).value_or(0);
  if (answered.size() == static_cast<size_t>(limit)) {
    cutoff = std::min(cutoff, answered.back().GetInt(9).value_or(0));
  }
  while (!out.empty() && out.back().at_us > cutoff) out.pop_back();
  if (cutoff != INT64_MAX && !out.empty() && out.front().at_us < cutoff) {
    while (out.back().at_us == cutoff) out.pop_back();
  }
  return out;
}

Result<std::vector<ApprovalView>> LinkageService::ListApprovals(const TenantId& tenant) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
  ASSIGN_OR_RETURN(auto rows, tx->Query("SELECT permit_id, inquirer, procedure_code, tm,"
                                        " layout_version, received_at_us, answer FROM provisions"
                                        " WHERE state = 'awaiting_approval'"
                                        " ORDER BY received_at_us LIMIT 1000"));
  std::vector<ApprovalView> out;
  for (const store::Row& r : rows) {
    ApprovalView v;
    ASSIGN_OR_RETURN(v.permit_id, r.GetText(0));
    ASSIGN_OR_RETURN(v.inquirer, r.GetText(1));
    ASSIGN_OR_RETURN(v.procedure, r.GetText(2));
    ASSIGN_OR_RETURN(v.tm, r.GetText(3));
    ASSIGN_OR_RETURN(v.layout_version, r.GetText(4));
    ASSIGN_OR_RETURN(v.received_at_us, r.GetInt(5));
    ASSIGN_OR_RETURN(crypto::Bytes sealed, r.GetBlob(6));
    ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                     crypto::Decrypt(st->data_key, sealed, Aad("answer", tenant, v.permit_id)));
    v.answer_json = std::string(plain.AsStringView());
    out.push_back(std::move(v));
  }
  return out;
}

Status LinkageService::DecideApproval(const TenantId& tenant, const PermitId& permit_id,
                                      bool approve, const std::string& comment,
                                      const std::string& actor) {
  if (comment.size() > 1000 || !IsValidUtf8(comment)) {
    return InvalidArgumentError("comment: at most 1000 bytes of UTF-8");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  std::string permit_doc;
  crypto::Bytes sealed;
  {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT permit, answer FROM provisions"
                                            " WHERE permit_id = ? AND state = 'awaiting_approval'",
                                            {permit_id.str()}));
    if (!row) return NotFoundError("no provision " + permit_id.str() + " awaits approval");
    ASSIGN_OR_RETURN(permit_doc, row->GetText(0));
    ASSIGN_OR_RETURN(sealed, row->GetBlob(1));
  }
  ASSIGN_OR_RETURN(linkage::ProvisionPermit permit, linkage::ParsePermitDocument(permit_doc));
  if (ToUnixMicros(clock_.Now()) / 1000 > permit.expires_at_ms) {
    // Too late: the permit no longer allows an answer (the sweep would drop it soon anyway).
    Status e = Commit(*st, [&](store::Transaction& tx) -> Status {
      return tx.Exec(
          "UPDATE provisions SET state = 'expired', answer = NULL"
          " WHERE permit_id = ? AND state = 'awaiting_approval'",
          {permit_id.str()});
    });
    Audit(*st, actor, approve ? "approval.approve" : "approval.reject", "permit " + permit_id.str(),
          "denied:permit_expired");
    RETURN_IF_ERROR(e);
    return FailedPreconditionError("PERMIT_EXPIRED: permit " + permit_id.str() + " expired at " +
                                   FormatRfc3339(FromUnixMicros(permit.expires_at_ms * 1000)) +
                                   "; nothing was sent");
  }
  std::string answer;
  if (approve) {
    ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                     crypto::Decrypt(st->data_key, sealed, Aad("answer", tenant, permit_id.str())));
    answer = std::string(plain.AsStringView());
  } else {
    http::JsonWriter w;
    w.BeginObject().Key("status").String("rejected").Key("comment").String(comment).EndObject();
    ASSIGN_OR_RETURN(answer, w.Finish());
  }
  ASSIGN_OR_RETURN(std::string body, SealedEnvelopeBody(*st, permit, answer));
  const int64_t now = ToUnixMicros(clock_.Now());
  const std::string new_state = approve ? "answered" : "rejected";
  Status s = Commit(*st, [&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n,
                     tx.ExecCount("UPDATE provisions SET state = ?, answer = NULL, decided_by = ?,"
                                  " comment = ?, decided_at_us = ? WHERE permit_id = ?"
                                  " AND state = 'awaiting_approval'",
                                  {new_state, actor, comment, now, permit_id.str()}));
    if (n == 0) return NotFoundError("no provision " + permit_id.str() + " awaits approval");
    return outbox_->Enqueue(tx, kTopicProvision, permit_id.str(), crypto::ToBytes(body),
                            clock_.Now());
  });
  Audit(*st, actor, approve ? "approval.approve" : "approval.reject", "permit " + permit_id.str(),
        s.ok() ? "ok" : "error:" + std::string(StatusCodeName(s.code())));
  RETURN_IF_ERROR(s);
  Notify();
  return Status();
}

Result<LinkageSweep> LinkageService::Sweep(const TenantId& tenant) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  const int64_t now = ToUnixMicros(clock_.Now());
  const int64_t cutoff = now - options_.result_days * int64_t{86'400} * 1'000'000;
  LinkageSweep out;
  // Read first: most sweeps find nothing, and then no write transaction is made.
  {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    ASSIGN_OR_RETURN(auto due, tx->QueryOne("SELECT 1 FROM inquiries"
                                            " WHERE (state IN ('accepted', 'permitted')"
                                            " AND expires_at_us <= ?) OR (ended_at_us <= ?"
                                            " AND (result IS NOT NULL OR reply_secret IS NOT NULL))"
                                            " LIMIT 1",
                                            {now, cutoff}));
    ASSIGN_OR_RETURN(auto stale, tx->QueryOne("SELECT 1 FROM provisions"
                                              " WHERE state = 'awaiting_approval'"
                                              " AND permit_expires_at_us <= ? LIMIT 1",
                                              {now}));
    RETURN_IF_ERROR(tx->Commit());
    if (!due && !stale) return out;
  }
  int64_t approvals_expired = 0;
  Status s = Commit(*st, [&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(approvals_expired,
                     tx.ExecCount("UPDATE provisions SET state = 'expired', answer = NULL"
                                  " WHERE state = 'awaiting_approval'"
                                  " AND permit_expires_at_us <= ?",
                                  {now}));
    ASSIGN_OR_RETURN(out.expired,
                     tx.ExecCount("UPDATE inquiries SET state = 'expired', reason = 'NO_ANSWER',"
                                  " reply_secret = NULL, ended_at_us = ?"
                                  " WHERE state IN ('accepted', 'permitted')"
                                  " AND expires_at_us <= ?",
                                  {now, now}));
    ASSIGN_OR_RETURN(out.results_deleted,
                     tx.ExecCount("UPDATE inquiries SET result = NULL, reply_secret = NULL,"
                                  " result_deleted = 1 WHERE ended_at_us <= ?"
                                  " AND (result IS NOT NULL OR reply_secret IS NOT NULL)",
                                  {cutoff}));
    return Status();
  });
  RETURN_IF_ERROR(s);
  if (out.expired > 0) {
    Audit(*st, "system", "inquiry.expire", std::to_string(out.expired) + " inquiries", "ok");
    ChangedAll();
  }
  if (approvals_expired > 0) {
    Audit(*st, "system", "approval.expire",
          std::to_string(approvals_expired) + " undecided provisions whose permits expired", "ok");
  }
  if (out.results_deleted > 0) {
    Audit(*st, "system", "result.delete",
          std::to_string(out.results_deleted) + " results past retention", "ok");
  }
  return out;
}

Result<std::vector<store::OutboxItem>> LinkageService::ClaimOutbox(const TenantId& tenant,
                                                                   std::string_view owner,
                                                                   int limit,
                                                                   std::chrono::seconds lease) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  auto items = std::make_shared<std::vector<store::OutboxItem>>();
  const std::string who(owner);
  RETURN_IF_ERROR(st->Submit([this, items, who, limit, lease](store::Transaction& tx) -> Status {
                      ASSIGN_OR_RETURN(*items, outbox_->Claim(tx, who, limit, lease));
                      return Status();
                    }).get());
  return std::move(*items);
}

Status LinkageService::Deliver(const TenantId& tenant, const std::vector<store::OutboxItem>& items,
                               const std::string& owner) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  if (items.empty()) return Status();
  const std::string topic = items.front().topic;
  const bool permits = topic == kTopicPermitRequest;
  if (!permits && topic != kTopicProvision) {
    for (const store::OutboxItem& item : items) {
      log::Warn("server.delivery_failed", {{"tenant", tenant.str()},
                                           {"topic", item.topic},
                                           {"attempt", item.attempts},
                                           {"error", "unknown topic"}});
      RETURN_IF_ERROR(Commit(*st, [&](store::Transaction& tx) {
        return outbox_->Fail(tx, item.id, owner, "unknown topic");
      }));
    }
    return Status();
  }
  // What to send: a provision's sealed envelope is the payload; a permit request is built from
  // its inquiry, unless the inquiry ended (expired) or moved on meanwhile — then there is
  // nothing to send and the item is acknowledged.
  std::vector<std::optional<std::string>> bodies(items.size());
  std::vector<std::shared_future<Status>> writes;
  if (permits) {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string id(items[i].payload.begin(), items[i].payload.end());
      ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT state, provider, procedure_code, tm,"
                                              " layout_version, subject_code, reply_public, query"
                                              " FROM inquiries WHERE inquiry_id = ?",
                                              {id}));
      if (!row || row->GetText(0).value_or("") != "accepted") continue;
      http::JsonWriter w;
      w.BeginObject()
          .Key("provider")
          .String(row->GetText(1).value())
          .Key("procedure")
          .String(row->GetText(2).value())
          .Key("tm")
          .String(row->GetText(3).value())
          .Key("layout_version")
          .String(row->GetText(4).value())
          .Key("subject_code")
          .String(row->GetText(5).value())
          .Key("reply_key")
          .String(crypto::ToBase64Url(row->GetBlob(6).value()))
          .Key("reference")
          .String(id)
          .EndObject();
      ASSIGN_OR_RETURN(std::string body, w.Finish());
      // Splice the stored query object in (it is JSON already, written by CreateInquiry).
      body.pop_back();
      body += ",\"query\":" + row->GetText(7).value() + "}";
      bodies[i] = std::move(body);
    }
    RETURN_IF_ERROR(tx->Commit());
  } else {
    for (size_t i = 0; i < items.size(); ++i) {
      bodies[i] = std::string(items[i].payload.begin(), items[i].payload.end());
    }
  }
  std::vector<size_t> to_send;
  std::vector<std::string> texts;
  for (size_t i = 0; i < items.size(); ++i) {
    if (bodies[i]) {
      to_send.push_back(i);
      texts.push_back(std::move(*bodies[i]));
      continue;
    }
    const int64_t id = items[i].id;
    writes.push_back(st->Submit([this, id, owner](store::Transaction& tx) {
                         return outbox_->Ack(tx, id, owner);
                       }).share());
  }
  // Send: alone, or as one batch (http::SendItems).
  const std::vector<Result<http::Response>> answers =
      http::SendItems(texts, permits ? "/hub/v1/inquiries" : "/hub/v1/provisions",
                      permits ? "/hub/v1/batch/inquiries" : "/hub/v1/batch/provisions",
                      [&](std::string_view path, std::string body, size_t) {
                        return hub_->Post(tenant.org(), path, std::move(body));
                      });
  // Record each outcome with its acknowledgement.
  const int64_t now = ToUnixMicros(clock_.Now());
  std::vector<std::string> ended;
  for (size_t k = 0; k < to_send.size(); ++k) {
    const store::OutboxItem& item = items[to_send[k]];
    const Result<http::Response>& r = answers[k];
    const int64_t item_id = item.id;
    store::GroupCommitter::WriteFn record;
    if (http::Classify(r) == http::Delivery::kRetry) {
      const std::string error =
          r.ok() ? "HTTP " + std::to_string(r->status) : r.status().ToString();
      log::Warn("server.delivery_failed", {{"tenant", tenant.str()},
                                           {"topic", item.topic},
                                           {"attempt", item.attempts},
                                           {"error", error}});
      record = [this, item_id, owner, error](store::Transaction& tx) {
        return outbox_->Fail(tx, item_id, owner, error);
      };
    } else if (permits) {
      const std::string id(item.payload.begin(), item.payload.end());
      if (r->status == 201 || r->status == 200) {
        Result<http::JsonObject> o = http::ParseJsonObject(r->body);
        std::string permit_id = o.ok() ? o->GetString("permit_id", 64).value_or("") : "";
        const store::Value digest = PermitDigest(o);
        // Still open: long polls wait for the end, so nobody is woken for this.
        record = [this, item_id, owner, permit_id, digest, now,
                  id](store::Transaction& tx) -> Status {
          RETURN_IF_ERROR(
              tx.Exec("UPDATE inquiries SET state = 'permitted', permit_id = ?, permit_sha256 = ?,"
                      " permitted_at_us = ? WHERE inquiry_id = ? AND state = 'accepted'",
                      {permit_id, digest, now, id}));
          return outbox_->Ack(tx, item_id, owner);
        };
      } else {
        const std::string state = r->status == 403 ? "refused" : "failed";
        const std::string reason = HubReason(*r);
        ended.push_back(id);  // its waiters wake
        record = [this, item_id, owner, state, reason, now, id](store::Transaction& tx) -> Status {
          RETURN_IF_ERROR(
              tx.Exec("UPDATE inquiries SET state = ?, reason = ?, reply_secret = NULL,"
                      " ended_at_us = ? WHERE inquiry_id = ? AND state = 'accepted'",
                      {state, reason, now, id}));
          return outbox_->Ack(tx, item_id, owner);
        };
      }
    } else {
      const bool sent = r->status == 202;
      const std::string reason = sent ? "" : HubReason(*r);
      const std::string permit_id = item.dedupe_key;
      record = [this, item_id, owner, sent, reason, now,
                permit_id](store::Transaction& tx) -> Status {
        if (sent) {
          RETURN_IF_ERROR(tx.Exec("UPDATE provisions SET sent_at_us = ? WHERE permit_id = ?",
                                  {now, permit_id}));
        } else {
          RETURN_IF_ERROR(
              tx.Exec("UPDATE provisions SET state = 'send_failed', reason = ?"
                      " WHERE permit_id = ?",
                      {reason, permit_id}));
        }
        return outbox_->Ack(tx, item_id, owner);
      };
    }
    writes.push_back(st->Submit(std::move(record)).share());
  }
  Status first_error;
  for (std::shared_future<Status>& w : writes) {
    Status s = w.get();
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  for (const std::string& id : ended) Changed(id);
  return first_error;
}

}  // namespace chukan::server
