#include "server/inquiries.h"

#include <future>
#include <memory>

#include "common/log.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/sealed_box.h"
#include "json/json.h"
#include "layout/date.h"
#include "linkage/permit.h"
#include "server/subject_codes.h"

namespace chukan::server {
namespace {

// The states a result ends an inquiry in: completed (an answer) or refused (the provider's
// refusal, sealed like an answer). Together with the permit id they tell a re-sent result.
bool EndedByAResult(std::string_view state) {
  return state == InquiryStateName(InquiryState::kCompleted) ||
         state == InquiryStateName(InquiryState::kRefused);
}

// The layout version an inquiry asks for: the one named, or the one valid today.
Result<const layout::LayoutVersion*> ChooseVersion(const layout::InfoName& info,
                                                   const InquiryInput& in, TimePoint now) {
  const layout::LayoutVersion* version = nullptr;
  if (in.layout_version.empty()) {
    // Layout validity dates are Japanese calendar days (JST, UTC+9).
    std::optional<layout::Date> today =
        layout::Date::Parse(FormatRfc3339(now + std::chrono::hours(9)).substr(0, 10));
    if (today) version = info.VersionAt(*today);
    if (version == nullptr) version = &info.LatestVersion();
  } else {
    version = info.Version(in.layout_version);
  }
  if (version == nullptr) {
    // The version asked for is the client's text: list the known ones instead of repeating it.
    std::string known;
    for (const layout::LayoutVersion* v : info.versions()) {
      known += (known.empty() ? "" : ", ") + v->version();
    }
    return NotFoundError(in.tm.str() + " has no such layout version (versions: " + known + ")");
  }
  return version;
}

// The answer's status as the inquiry's final state and reason.
struct AnswerOutcome {
  InquiryState state = InquiryState::kCompleted;
  std::string reason;
};
Result<AnswerOutcome> OutcomeOfAnswer(const json::JsonObject& doc) {
  ASSIGN_OR_RETURN(std::string status, doc.GetString("status", 32));
  AnswerOutcome out;
  if (status == "rejected") {
    out.state = InquiryState::kRefused;
    out.reason = "PROVIDER_REJECTED";
  } else if (status == "refused") {
    out.state = InquiryState::kRefused;
    out.reason = "PROVIDER_REFUSED";
    if (auto r = doc.GetOptionalString("reason", 64);
        r.ok() && *r && !(*r)->empty() &&
        (*r)->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == std::string::npos) {
      out.reason = **r;
    }
  } else if (status != "ok" && status != "no_data") {
    return InvalidArgumentError("MALFORMED_RESULT: unknown answer status");
  }
  return out;
}

// InquiryInput's department and user_id (inquiries.h), named by field, never quoted.
Status CheckRequester(const InquiryInput& in) {
  auto all_of = [](std::string_view s, std::string_view extra) {
    for (const char c : s) {
      const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      if (!alnum && extra.find(c) == std::string_view::npos) return false;
    }
    return true;
  };
  if (in.department.size() > 20 || !all_of(in.department, "")) {
    return InvalidArgumentError("department: expected 0 to 20 of 0-9 A-Z a-z");
  }
  if (in.user_id.size() > 32 || !all_of(in.user_id, "._@-")) {
    return InvalidArgumentError("user_id: expected 0 to 32 of 0-9 A-Z a-z . _ @ -");
  }
  return Status();
}

}  // namespace

Inquiries::Inquiries(const LinkageEnv& env, Options options)
    : env_(env),
      options_(options),
      waiters_(std::make_unique<InquiryWaiters>(InquiryWaiters::Limits{
          options.waits_per_client, options.waits_total, 4, options.settle_tasks})) {}

Inquiries::~Inquiries() {
  // The completions of CreateAsync's writes use this object: wait for those still in flight
  // (each ends with its commit, which the tenant's committer finishes), then stop the waiters'
  // threads while every member is still here (a task they run may use any of them).
  MutexLock lock(async_mu_);
  while (async_in_flight_ > 0) async_idle_.Wait(lock);
  lock.Unlock();
  waiters_.reset();
}

// One inquiry between its checks and the end of its write (StartCreate, CreateAsync), set up
// in full before the write is submitted: the write's completion may come before Submit or
// SubmitAsync has even returned, and finds all it needs here.
struct Inquiries::Started {
  // Set when the idempotency key found the first inquiry: nothing is written.
  std::optional<InquiryView> first;
  // Otherwise, the row to write and what its completion needs.
  std::shared_ptr<TenantContext> st;      // the tenant's context: its id is the tenant
  std::shared_ptr<const NewInquiry> row;  // shared with the write (it may run twice: kSafe)
  std::string target;                     // the audit entries' target
  // The permit request's way to the sender (WriteOf takes it, the write's completion settles it).
  std::shared_ptr<store::OutboxHandoff> handoff;
};

namespace {

// kAlreadyExists IDEMPOTENCY_KEY_REUSED when `prev` was stored for another request than the one
// hashed to `request_hash`.
Status SameRequest(const IdempotentInquiry& prev, const std::string& request_hash) {
  if (prev.request_hash && *prev.request_hash != request_hash) {
    return AlreadyExistsError(
        "IDEMPOTENCY_KEY_REUSED: this idempotency key was used for a different inquiry");
  }
  return Status();
}

}  // namespace

Result<InquiryView> Inquiries::Create(const TenantId& tenant, const InquiryInput& in) {
  ASSIGN_OR_RETURN(PendingInquiry pending, StartCreate(tenant, in));
  return pending();
}

Result<Inquiries::PendingInquiry> Inquiries::StartCreate(const TenantId& tenant,
                                                         const InquiryInput& in) {
  ASSIGN_OR_RETURN(std::shared_ptr<Started> started, Prepare(tenant, in));
  if (started->first) {
    return PendingInquiry([first = *started->first]() -> Result<InquiryView> { return first; });
  }
  // Started now, waited for by the caller: a batch starts many before it waits for any, so
  // they share durable commits. The permit request goes to the sender when the write is over,
  // not when the caller waits (its handoff's lease runs from the write).
  auto written = std::make_shared<std::promise<Status>>();
  auto wait = std::make_shared<std::future<Status>>(written->get_future());
  started->st->SubmitAsync(
      WriteOf(started),
      [started, written](Status s) {
        started->handoff->Settle(s);
        written->set_value(std::move(s));
      },
      store::GroupCommitter::Rerun::kSafe);
  return PendingInquiry([this, started, wait]() -> Result<InquiryView> {
    Status s = wait->get();
    return s.ok() ? Accepted(*started) : Settle(*started, s);
  });
}

void Inquiries::CreateAsync(const TenantId& tenant, const InquiryInput& in, Done done,
                            std::shared_ptr<CallEntry> call) {
  Result<std::shared_ptr<Started>> prepared = Prepare(tenant, in);
  if (!prepared.ok()) {
    done(prepared.status());
    return;
  }
  std::shared_ptr<Started> started = std::move(*prepared);
  if (started->first) {
    done(*started->first);
    return;
  }
  {
    MutexLock lock(async_mu_);
    ++async_in_flight_;
  }
  // Shared by the completion and the task it may post, so that a task refused (or dropped at
  // shutdown) leaves `done` to be called (or destroyed, which answers) by whoever holds it last.
  auto finish = std::make_shared<Done>(std::move(done));
  std::shared_ptr<TenantContext> st = started->st;
  st->SubmitAsync(
      WriteOf(started, call),
      // On the committer's thread (or this one, when the tenant is no longer served): the
      // success path is quick and finishes here; a failure may block, so it goes to a waiters'
      // thread.
      [this, started, finish, call](Status committed) {
        started->handoff->Settle(committed);
        if (committed.ok()) {
          if (call != nullptr) call->written = true;
          (*finish)(Accepted(*started));
        } else {
          Status posted = waiters_->Post(
              [this, started, finish, committed] { (*finish)(Settle(*started, committed)); });
          if (!posted.ok()) {
            log::Warn("server.inquiry_settle_refused", {{"tenant", started->st->id.str()},
                                                        {"inquiry_id", started->row->inquiry_id},
                                                        log::StatusField(committed),
                                                        {"post", posted.ToString()}});
            // Not settled (no race resolved, no inquiry.create entry): the caller retries, and
            // its idempotency key, if any, finds the first inquiry.
            (*finish)(UnavailableError("BUSY: the inquiry could not be finished; retry later"));
          }
        }
        MutexLock lock(async_mu_);
        if (--async_in_flight_ == 0) async_idle_.SignalAll();  // under the lock: see ~Inquiries
      },
      store::GroupCommitter::Rerun::kSafe);  // all in the transaction: safe to run twice
}

Result<std::shared_ptr<Inquiries::Started>> Inquiries::Prepare(const TenantId& tenant,
                                                               const InquiryInput& in) {
  RETURN_IF_ERROR(env_.NeedHub());
  RETURN_IF_ERROR(linkage::CheckQuery(in.query));
  RETURN_IF_ERROR(CheckRequester(in));
  if (in.idempotency_key.size() > 128) {
    return InvalidArgumentError("idempotency key: at most 128 bytes");
  }
  if (in.timeout_seconds < 0 || in.timeout_seconds > options_.inquiry_timeout.count()) {
    return InvalidArgumentError("field \"timeout_seconds\": expected 1 to " +
                                std::to_string(options_.inquiry_timeout.count()) +
                                " (the server's [inquiry] timeout_seconds)");
  }
  const layout::InfoName* info = env_.catalogue->Find(in.tm);
  if (info == nullptr) return NotFoundError(in.tm.str() + " is not in the data standard layout");
  ASSIGN_OR_RETURN(const layout::LayoutVersion* version,
                   ChooseVersion(*info, in, env_.clock.Now()));
  size_t position = 0;
  for (const auto& [key, value] : in.query) {
    ++position;
    // Reserved keys (linkage::SplitQuery, already checked): only _fiscal_item names an item.
    if (key == linkage::kQueryFiscalItem) {
      if (version->FindItem(value) == nullptr) {
        return InvalidArgumentError("query: _fiscal_item is not an item of " + in.tm.str() +
                                    " version " + version->version());
      }
      continue;
    }
    if (key.starts_with('_')) continue;
    if (version->FindItem(key) == nullptr) {
      // Not an item code, so the key is the client's text: named by position (in.query is in
      // key order), as linkage::CheckQuery does.
      return InvalidArgumentError("query: condition " + std::to_string(position) +
                                  " in key order is not an item of " + in.tm.str() + " version " +
                                  version->version());
    }
  }
  if (env_.catalogue->FindProcedure(in.procedure) == nullptr) {
    return NotFoundError(in.procedure.str() + " is not in the data standard layout");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, env_.Tenant(tenant));
  const crypto::Bytes index = SubjectCodes::AtenaIndex(*st, in.atena);
  // The request as the idempotency key first saw it (keyed: the atena_no is in it).
  std::string request_text = in.procedure.str() + "|" + in.tm.str() + "|" + in.layout_version +
                             "|" + in.provider.str() + "|" + std::to_string(in.timeout_seconds) +
                             "|" + crypto::ToHex(index);
  for (const auto& [key, value] : in.query) request_text += "|" + key + "=" + value;
  // Appended only when set, so a request without them keeps the hash it always had.
  if (in.non_disclosure) request_text += "|non_disclosure";
  if (in.inquirer_delegator) request_text += "|inquirer_delegator=" + in.inquirer_delegator->str();
  if (in.provider_delegator) request_text += "|provider_delegator=" + in.provider_delegator->str();
  const std::string request_hash =
      crypto::ToHex(crypto::Blake2bKeyed(st->index_key, crypto::AsBytes(request_text), 16));
  std::string subject;
  {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    if (!in.idempotency_key.empty()) {
      ASSIGN_OR_RETURN(std::optional<IdempotentInquiry> prev,
                       FindInquiryByKey(*tx, in.idempotency_key));
      if (prev) {
        RETURN_IF_ERROR(SameRequest(*prev, request_hash));
        RETURN_IF_ERROR(tx->Commit());
        auto known = std::make_shared<Started>();
        ASSIGN_OR_RETURN(known->first, Get(tenant, prev->inquiry_id));
        return known;
      }
    }
    ASSIGN_OR_RETURN(std::optional<std::string> code, SubjectCodes::FindCode(*tx, index));
    if (!code) {
      return FailedPreconditionError(std::string(kNoSubjectCodeMessage));
    }
    subject = std::move(*code);
  }
  NewInquiry row;
  // 処理通番: time-ordered, so the inquiries table and its indexes grow at one end.
  row.inquiry_id = PermitId::GenerateTimeOrdered(env_.NowUs() / 1000).str();
  const std::string& id = row.inquiry_id;
  crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();
  ASSIGN_OR_RETURN(
      row.reply_secret_sealed,
      st->data_keys->Seal(reply.secret_key().span(), LinkageAad("reply-secret", tenant, id)));
  row.reply_public = reply.public_key();
  json::JsonWriter qw;
  qw.BeginObject();
  for (const auto& [key, value] : in.query) qw.Key(key).String(value);
  qw.EndObject();
  ASSIGN_OR_RETURN(row.query_json, qw.Finish());
  row.created_at_us = env_.NowUs();
  row.expires_at_us =
      row.created_at_us +
      (in.timeout_seconds > 0
           ? in.timeout_seconds * 1'000'000
           : std::chrono::duration_cast<std::chrono::microseconds>(options_.inquiry_timeout)
                 .count());
  row.idempotency_key = in.idempotency_key;
  row.client = in.client;
  row.department = in.department;
  row.user_id = in.user_id;
  row.non_disclosure = in.non_disclosure;
  if (in.inquirer_delegator) row.inquirer_delegator = in.inquirer_delegator->str();
  if (in.provider_delegator) row.provider_delegator = in.provider_delegator->str();
  row.subject_code = subject;
  row.procedure = in.procedure.str();
  row.tm = in.tm.str();
  row.layout_version = version->version();
  row.provider = in.provider.str();
  row.request_hash = request_hash;
  auto started = std::make_shared<Started>();
  started->target =
      "inquiry " + id + " " + in.procedure.str() + " " + in.tm.str() + " → " + in.provider.str();
  started->st = std::move(st);
  started->row = std::make_shared<const NewInquiry>(std::move(row));
  return started;
}

store::GroupCommitter::WriteFn Inquiries::WriteOf(const std::shared_ptr<Started>& started,
                                                  std::shared_ptr<const CallEntry> call) {
  // Taken now, just before the write is submitted: settled by the write's completion.
  started->handoff = env_.hand_off(started->st->id);
  // The write owns what it needs (it runs after the caller has gone on).
  return [row = started->row, target = started->target, st_raw = started->st.get(),
          handoff = started->handoff, call = std::move(call)](store::Transaction& tx) -> Status {
    const NewInquiry& r = *row;
    RETURN_IF_ERROR(InsertInquiry(tx, r));
    RETURN_IF_ERROR(
        handoff->Enqueue(tx, kTopicPermitRequest, r.inquiry_id, crypto::ToBytes(r.inquiry_id)));
    // The audit entries commit with the inquiry (one durable commit, not two or three).
    RETURN_IF_ERROR(st_raw->audit
                        ->Append(tx, {st_raw->id.str(), "client:" + r.client, "inquiry.create",
                                      target, "ok", ""})
                        .status());
    if (call == nullptr) return Status();
    return st_raw->audit->Append(tx, call->event).status();
  };
}

InquiryView Inquiries::Accepted(const Started& started) {
  // The inquiry as stored, not re-read: the sender may already have moved it on.
  const NewInquiry& stored = *started.row;
  InquiryView v;
  v.inquiry_id = stored.inquiry_id;
  v.state = std::string(InquiryStateName(InquiryState::kAccepted));
  v.provider = stored.provider;
  v.procedure = stored.procedure;
  v.tm = stored.tm;
  v.layout_version = stored.layout_version;
  v.department = stored.department;
  v.user_id = stored.user_id;
  v.non_disclosure = stored.non_disclosure;
  v.inquirer_delegator = stored.inquirer_delegator;
  v.provider_delegator = stored.provider_delegator;
  v.created_at_us = stored.created_at_us;
  v.expires_at_us = stored.expires_at_us;
  started.st->outbox_backlog.Added(1);  // the sender was told (the handoff's Settle)
  return v;
}

Result<InquiryView> Inquiries::Settle(const Started& started, const Status& committed) {
  const NewInquiry& stored = *started.row;
  if (committed.code() == StatusCode::kAlreadyExists && !stored.idempotency_key.empty()) {
    // The same key raced in twice: answer with the one that was stored.
    ASSIGN_OR_RETURN(auto tx, started.st->db->BeginRead());
    ASSIGN_OR_RETURN(std::optional<IdempotentInquiry> prev,
                     FindInquiryByKey(*tx, stored.idempotency_key));
    if (prev) {
      RETURN_IF_ERROR(SameRequest(*prev, stored.request_hash));
      return Get(started.st->id, prev->inquiry_id);
    }
  }
  AuditLinkage(*started.st, "client:" + stored.client, "inquiry.create", started.target,
               AuditOutcome(committed));
  return committed;
}

Result<InquiryView> Inquiries::Get(const TenantId& tenant, const std::string& inquiry_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, env_.Tenant(tenant));
  ASSIGN_OR_RETURN(auto tx, st->db->BeginReadOnce());
  ASSIGN_OR_RETURN(std::optional<StoredInquiry> row, ReadInquiry(*tx, inquiry_id));
  // The id is the client's text (a path segment): not repeated.
  if (!row) return NotFoundError("no such inquiry");
  InquiryView v = std::move(row->view);
  if (row->sealed_result) {
    ASSIGN_OR_RETURN(
        crypto::SecretBytes plain,
        st->data_keys->Open(*row->sealed_result, LinkageAad("result", tenant, v.inquiry_id)));
    v.result_json = std::string(plain.AsStringView());
  }
  return v;
}

void Inquiries::Changed(const std::string& inquiry_id) {
  waiters_->Wake(inquiry_id);
  TellPeers(inquiry_id);
}

void Inquiries::ChangedAll() {
  waiters_->WakeAll();
  TellPeers("*");
}

void Inquiries::SetPeers(std::function<void(const std::string&)> publish) {
  MutexLock lock(peers_mu_);
  peers_ = std::move(publish);
}

void Inquiries::TellPeers(const std::string& message) {
  MutexLock lock(peers_mu_);
  if (peers_) peers_(message);
}

void Inquiries::PeerChanged(std::string_view message) {
  if (message == "*") {
    waiters_->WakeAll();
    return;
  }
  // An inquiry id (32 lower-case hex digits). Another message wakes nothing.
  if (!PermitId::Parse(message).ok()) return;
  waiters_->Wake(std::string(message));
}

Status Inquiries::Watch(const TenantId& tenant, const std::string& inquiry_id,
                        const std::string& client, std::chrono::milliseconds wait, Done done) {
  // Registered before the first read (Add fires once at once), so an end between the read and
  // the registration is not lost.
  auto fire = [this, tenant, inquiry_id, done = std::move(done)](bool timed_out) -> bool {
    Result<InquiryView> v = Get(tenant, inquiry_id);
    if (!timed_out && v.ok()) {
      std::optional<InquiryState> state = ParseInquiryState(v->state);
      if (state && IsOpen(*state)) return false;  // still open: wait on
    }
    done(std::move(v));
    return true;
  };
  return waiters_->Add(inquiry_id, tenant.str() + "/" + client, InquiryWaiters::Clock::now() + wait,
                       std::move(fire));
}

Result<std::vector<InquiryView>> Inquiries::List(const TenantId& tenant,
                                                 const std::optional<std::string>& state,
                                                 int64_t since_us, int limit) {
  if (limit < 1 || limit > 1000) return InvalidArgumentError("limit: expected 1 to 1000");
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, env_.Tenant(tenant));
  ASSIGN_OR_RETURN(auto tx, st->db->BeginReadOnce());
  // Results only through Get.
  return ReadInquiries(*tx, state, since_us, limit);
}

Result<Inquiries::PendingStatus> Inquiries::StartResult(const linkage::ProvisionResult& result) {
  RETURN_IF_ERROR(env_.NeedHub());
  Result<linkage::ProvisionPermit> permit = linkage::ParsePermitDocument(result.permit.document);
  // The inquiry's row, when the permit names an inquiry of a tenant hosted here.
  std::shared_ptr<TenantContext> hosted;
  std::optional<InquiryKeys> row;
  if (permit.ok()) {
    if (Result<std::shared_ptr<TenantContext>> s = env_.Tenant(TenantId::ForOrg(permit->inquirer));
        s.ok()) {
      hosted = *s;
      ASSIGN_OR_RETURN(auto tx, hosted->db->BeginReadOnce());
      ASSIGN_OR_RETURN(row, ReadInquiryKeys(*tx, permit->reference));
    }
  }
  // The hub's signature is checked unless the permit is, byte for byte, the one whose digest the
  // hub gave this server when it issued it (an answer over TLS from the hub itself): the same
  // document, so the same signature check would pass. Anything else is verified in full, first,
  // so a forged permit is refused as such whatever it names.
  const bool known_permit =
      row && row->permit_sha256 &&
      crypto::ConstantTimeEquals(*row->permit_sha256,
                                 crypto::Sha256(crypto::AsBytes(result.permit.document)));
  if (!known_permit) {
    if (Status s = linkage::VerifyDocument(result.permit, env_.hub->hub_key(), "permit"); !s.ok()) {
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
  if (!row) return NotFoundError("UNKNOWN_INQUIRY: no inquiry " + id);
  if (EndedByAResult(row->state) && row->permit_id == permit->id.str()) {
    return PendingStatus([] { return Status(); });  // re-sent: acknowledged, nothing changes
  }
  std::optional<InquiryState> state = ParseInquiryState(row->state);
  if (!state || !IsOpen(*state)) {
    return FailedPreconditionError("INQUIRY_ENDED: inquiry " + id + " is " + row->state);
  }
  if (row->permit_id && *row->permit_id != permit->id.str()) {
    return InvalidArgumentError("ENVELOPE_MISMATCH: the inquiry has another permit");
  }
  // A result is valid only while its permit is: an expired permit authorises nothing, even
  // when its signature is good (the hub checks the same when it relays).
  if (env_.NowUs() / 1000 >= permit->expires_at_ms) {
    return FailedPreconditionError("PERMIT_EXPIRED: the permit of this result expired at " +
                                   FormatRfc3339(FromUnixMicros(permit->expires_at_ms * 1000)));
  }
  if (!row->reply_secret_sealed) {
    return FailedPreconditionError("INQUIRY_ENDED: the inquiry's key is gone");
  }
  // The provider's keys that may have signed for this permit: during a key rotation the old and
  // the new one; after it, the old one still for permits issued before its overlap ended.
  Result<std::string> kid = linkage::EnvelopeKeyId(result.envelope);
  if (!kid.ok()) return InvalidArgumentError("MALFORMED_RESULT: " + kid.status().message());
  ASSIGN_OR_RETURN(std::vector<OrgKeyRecord> provider_keys,
                   env_.hub->OrgKeys(tenant.org(), permit->provider, *kid));
  Result<linkage::Envelope> envelope = linkage::VerifyEnvelopeWithKeys(
      result.envelope, KeysForPermit(provider_keys, permit->issued_at_ms, env_.NowUs() / 1000));
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
  ASSIGN_OR_RETURN(
      crypto::SecretBytes secret,
      st.data_keys->Open(*row->reply_secret_sealed, LinkageAad("reply-secret", tenant, id)));
  // The public half is stored beside the sealed secret: no scalar multiplication to rebuild it.
  ASSIGN_OR_RETURN(crypto::BoxKeyPair reply,
                   crypto::BoxKeyPair::FromParts(std::move(row->reply_public), secret));
  Result<crypto::SecretBytes> answer = crypto::Open(reply, envelope->sealed);
  if (!answer.ok()) {
    return InvalidArgumentError(
        "SEALED_TO_WRONG_KEY: the answer does not open with this "
        "inquiry's key");
  }
  Result<json::JsonObject> doc = json::ParseJsonObject(answer->AsStringView(), {4 << 20, 8});
  if (!doc.ok()) return InvalidArgumentError("MALFORMED_RESULT: the answer is not JSON");
  ASSIGN_OR_RETURN(AnswerOutcome outcome, OutcomeOfAnswer(*doc));
  ASSIGN_OR_RETURN(crypto::Bytes stored,
                   st.data_keys->Seal(answer->span(), LinkageAad("result", tenant, id)));
  const int64_t now = env_.NowUs();
  auto late = std::make_shared<bool>(false);
  const std::string permit_id = permit->id.str();
  TenantContext* stp = &st;
  std::shared_future<Status> committed =
      st.Submit(
            [=](store::Transaction& tx) -> Status {
              ASSIGN_OR_RETURN(bool changed,
                               EndAnsweredInquiry(tx, id, outcome.state, outcome.reason, stored,
                                                  permit_id, now));
              // Set by every run (it may run twice): ended meanwhile (expired) or completed by a
              // concurrent delivery.
              *late = !changed;
              if (!changed) return Status();
              return stp->audit
                  ->Append(tx, {tenant.str(), "hub", "inquiry.result",
                                "inquiry " + id + " permit " + permit_id,
                                std::string(InquiryStateName(outcome.state)), ""})
                  .status();
            },
            store::GroupCommitter::Rerun::kSafe)
          .share();
  return PendingStatus([this, committed, late, tenant, id, permit_id]() -> Status {
    RETURN_IF_ERROR(committed.get());
    if (*late) {
      Result<InquiryView> v = Get(tenant, id);
      if (v.ok() && EndedByAResult(v->state) && v->permit_id == permit_id) return Status();
      return FailedPreconditionError("INQUIRY_ENDED: inquiry " + id + " ended before the answer");
    }
    Changed(id);
    return Status();
  });
}

}  // namespace chukan::server
