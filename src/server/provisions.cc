#include "server/provisions.h"

#include <cstdio>
#include <ctime>
#include <optional>

#include "common/log.h"
#include "common/utf8.h"
#include "crypto/aead.h"
#include "crypto/sealed_box.h"
#include "json/json.h"
#include "linkage/envelope.h"
#include "store/sql_util.h"

namespace chukan::server {
namespace {

// The permit's checks, each failure as its reason code.
// `parsed`: the document already parsed (unverified), when it parsed; else VerifyPermit parses.
Result<linkage::ProvisionPermit> VerifiedPermit(const linkage::SignedDocument& signed_permit,
                                                Result<linkage::ProvisionPermit> parsed,
                                                const crypto::VerifyKey& hub_key, TimePoint now) {
  Result<linkage::ProvisionPermit> verified =
      parsed.ok() ? linkage::VerifyParsedPermit(signed_permit, std::move(*parsed), hub_key, now)
                  : linkage::VerifyPermit(signed_permit, hub_key, now);
  if (verified.ok()) return verified;
  const Status& e = verified.status();
  if (e.code() == StatusCode::kUnauthenticated) {
    return UnauthenticatedError("BAD_PERMIT_SIGNATURE: " + e.message());
  }
  if (e.code() == StatusCode::kFailedPrecondition) {
    return FailedPreconditionError("PERMIT_EXPIRED: " + e.message());
  }
  return InvalidArgumentError("MALFORMED_PERMIT: " + e.message());
}

}  // namespace

bool VersionAnswers(const layout::LayoutVersion& version, const replica::Record& record,
                    const linkage::QueryConditions& conditions, std::string_view superseded_day) {
  if (record.version != version.version()) return false;
  for (const auto& [key, value] : conditions.items) {
    std::optional<size_t> i = version.ItemIndex(key);
    if (!i || *i >= record.values.size() || record.values[*i] != value) return false;
  }
  if (conditions.from) {
    // YYYY-MM-DD strings order as the days they name.
    const std::string from = conditions.from->ToString();
    const std::string to = conditions.to->ToString();
    const std::string_view until =
        record.publish_until.empty() ? superseded_day : std::string_view(record.publish_until);
    if (!record.publish_from.empty() && record.publish_from > to) return false;
    if (!until.empty() && until < from) return false;
  }
  if (!conditions.fiscal_item.empty()) {
    std::optional<size_t> i = version.ItemIndex(conditions.fiscal_item);
    if (!i || *i >= record.values.size()) return false;
    const std::string& year = record.values[*i];
    if (year.size() != 4 || year.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    const int y = std::stoi(year);
    if (y < linkage::FiscalYear(*conditions.from) || y > linkage::FiscalYear(*conditions.to)) {
      return false;
    }
  }
  return true;
}

namespace {

// The day (Japan time) of a Unix µs time, YYYY-MM-DD: when a superseded version stopped being
// current, for a version without 公開終了日.
std::string JstDay(int64_t unix_us) {
  const std::time_t t = static_cast<std::time_t>(unix_us / 1000000 + 9 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

void WriteRecord(json::JsonWriter& w, const layout::LayoutVersion& version,
                 const replica::Record& rec) {
  w.BeginObject();
  for (size_t i = 0; i < version.item_count() && i < rec.values.size(); ++i) {
    if (rec.values[i].empty()) continue;
    w.Key(version.item(i).code()).String(rec.values[i]);
  }
  w.EndObject();
}

}  // namespace

Result<std::string> Provisions::BuildAnswer(TenantContext& st,
                                            const linkage::ProvisionPermit& permit) {
  const layout::InfoName* info = env_.catalogue->Find(permit.tm);
  const layout::LayoutVersion* version = info ? info->Version(permit.layout_version) : nullptr;
  if (version == nullptr) {
    return InvalidArgumentError("MALFORMED_PERMIT: unknown TM or layout version");
  }
  Result<linkage::QueryConditions> split = linkage::SplitQuery(permit.query);
  if (!split.ok()) return InvalidArgumentError("MALFORMED_PERMIT: " + split.status().message());
  const linkage::QueryConditions& conditions = *split;
  ASSIGN_OR_RETURN(std::optional<AtenaNo> atena, codes_.FindAtena(st, permit.subject));
  ASSIGN_OR_RETURN(replica::ReplicaStore * replicas, st.Replicas());

  // One resident's answering record versions, written as a "records" array.
  int64_t n = 0;
  // Superseded versions first, oldest first, then the current records: the order in which they
  // were valid (a result file line shows the later of two records with the same key).
  auto write_records = [&](json::JsonWriter& w, const AtenaNo& who) -> Status {
    w.Key("records").BeginArray();
    if (conditions.from) {
      // The versions valid then may have been superseded since.
      ASSIGN_OR_RETURN(std::vector<replica::RecordVersion> old, replicas->History(who, permit.tm));
      for (auto it = old.rbegin(); it != old.rend(); ++it) {
        if (!VersionAnswers(*version, it->record, conditions, JstDay(it->valid_until_us))) {
          continue;
        }
        WriteRecord(w, *version, it->record);
        ++n;
      }
    }
    ASSIGN_OR_RETURN(std::vector<replica::Record> records, replicas->Find(who, permit.tm));
    for (const replica::Record& rec : records) {
      if (!VersionAnswers(*version, rec, conditions, "")) continue;
      WriteRecord(w, *version, rec);
      ++n;
    }
    w.EndArray();
    return Status();
  };

  json::JsonWriter w;
  w.BeginObject().Key("tm").String(permit.tm.str());
  w.Key("layout_version").String(permit.layout_version);
  if (!conditions.household) {
    if (atena) {
      RETURN_IF_ERROR(write_records(w, *atena));
    } else {
      w.Key("records").BeginArray().EndArray();
    }
  } else {
    // Every member of the person's household per the 住民票関係情報 replica; only their records
    // travel — never their atena_no nor any number the answered layout does not hold.
    std::vector<AtenaNo> members;
    if (atena) {
      members.push_back(*atena);
      const TmCode household_tm = TmCode::Parse(kHouseholdTm).value();
      const layout::InfoName* jumin = env_.catalogue->Find(household_tm);
      ASSIGN_OR_RETURN(std::vector<replica::Record> own, replicas->Find(*atena, household_tm));
      std::string household_no;
      for (const replica::Record& rec : own) {
        const layout::LayoutVersion* v = jumin ? jumin->Version(rec.version) : nullptr;
        std::optional<size_t> i = v ? v->ItemIndex(kHouseholdNoItem) : std::nullopt;
        if (i && *i < rec.values.size() && !rec.values[*i].empty()) {
          household_no = rec.values[*i];
          break;
        }
      }
      if (!household_no.empty()) {
        Result<std::vector<AtenaNo>> found = replicas->FindResidentsWith(
            household_tm, kHouseholdNoItem, household_no, kMaxHouseholdMembers + 1);
        if (found.status().code() == StatusCode::kResourceExhausted) {
          return FailedPreconditionError("HOUSEHOLD_TOO_LARGE: more than " +
                                         std::to_string(kMaxHouseholdMembers) + " members");
        }
        RETURN_IF_ERROR(found.status());
        for (const AtenaNo& m : *found) {
          if (m.str() == atena->str()) continue;
          bool seen = false;  // a resident with two records of the TM is one member
          for (const AtenaNo& k : members) seen = seen || k.str() == m.str();
          if (!seen) members.push_back(m);
        }
        if (members.size() > kMaxHouseholdMembers) {
          return FailedPreconditionError("HOUSEHOLD_TOO_LARGE: more than " +
                                         std::to_string(kMaxHouseholdMembers) + " members");
        }
      }
    }
    w.Key("scope").String(linkage::kScopeHousehold);
    w.Key("members").BeginArray();
    for (size_t m = 0; m < members.size(); ++m) {
      w.BeginObject().Key("self").Bool(m == 0);
      RETURN_IF_ERROR(write_records(w, members[m]));
      w.EndObject();
    }
    w.EndArray();
  }
  w.Key("status").String(n > 0 ? "ok" : "no_data").EndObject();
  return w.Finish();
}

Result<std::string> Provisions::SealedEnvelopeBody(TenantContext& st,
                                                   const linkage::ProvisionPermit& permit,
                                                   std::string_view answer_json) {
  linkage::Envelope e;
  e.permit_id = permit.id;
  e.provider = permit.provider;
  e.inquirer = permit.inquirer;
  e.sealed_at_ms = env_.NowUs() / 1000;
  ASSIGN_OR_RETURN(e.sealed, crypto::Seal(permit.reply_key, crypto::AsBytes(answer_json)));
  const std::shared_ptr<const OrgSignKey> key = st.SignKey();
  e.kid = key->kid;
  return linkage::SignedEnvelopeJson(linkage::SignEnvelope(e, key->key));
}

Result<Provisions::PendingOutcome> Provisions::StartRequest(
    const linkage::SignedDocument& signed_permit) {
  RETURN_IF_ERROR(env_.NeedHub());
  // Backpressure first, before the signature is verified (the costliest step): a tenant whose
  // answers cannot leave fast enough takes no more requests for now (503 BUSY with Retry-After:
  // the hub sends this one again later, counting no attempt). Only the hub reaches this route
  // (its certificate is pinned), so the unverified addressee decides nothing but this.
  // The document is parsed once: here, and verified below without parsing it again.
  Result<linkage::ProvisionPermit> unverified =
      linkage::ParsePermitDocument(signed_permit.document);
  if (unverified.ok()) {
    if (Result<std::shared_ptr<TenantContext>> addressee =
            env_.Tenant(TenantId::ForOrg(unverified->provider));
        addressee.ok()) {
      RETURN_IF_ERROR((*addressee)->AdmitNewWork());
    }
  }
  ASSIGN_OR_RETURN(
      linkage::ProvisionPermit permit,
      VerifiedPermit(signed_permit, std::move(unverified), env_.hub->hub_key(), env_.clock.Now()));
  const TenantId tenant = TenantId::ForOrg(permit.provider);
  Result<std::shared_ptr<TenantContext>> state = env_.Tenant(tenant);
  if (!state.ok()) {
    return PermissionDeniedError("MISDIRECTED_PERMIT: permit " + permit.id.str() +
                                 " is addressed to " + permit.provider.str() +
                                 ", which this server does not host");
  }
  TenantContext& st = **state;
  Result<std::shared_ptr<const linkage::PermissionList>> list = env_.hub->PermissionList();
  if (!list.ok()) return UnavailableError("NO_PERMISSION_LIST: " + list.status().message());
  // For the 委任元 in place of the inquirer / provider when the permit names them, as the hub
  // checked it.
  const bool allowed = (*list)->Find(permit.legal_inquirer(), permit.procedure,
                                     permit.legal_provider(), permit.tm) != nullptr;
  const layout::InfoName* info = env_.catalogue->Find(permit.tm);
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
    ASSIGN_OR_RETURN(
        crypto::Bytes sealed,
        st.data_keys->Seal(crypto::AsBytes(answer), LinkageAad("answer", tenant, permit.id.str())));
    stored_answer = std::move(sealed);
  }
  const int64_t now = env_.NowUs();
  // The write runs later, on the committer's thread: it owns copies of what it needs.
  const std::string document = signed_permit.document;
  // The answer's way to the sender, settled by the write's completion; none when nothing is
  // sent yet (an answer awaiting approval).
  std::shared_ptr<store::OutboxHandoff> handoff;
  if (!body.empty()) handoff = env_.hand_off(st.id);
  TenantContext* stp = &st;
  const std::string target = "permit " + permit.id.str() + " from " + permit.inquirer.str() + " " +
                             permit.procedure.str() + " " + permit.tm.str();
  auto written = std::make_shared<std::promise<Status>>();
  std::shared_future<Status> committed = written->get_future().share();
  st.SubmitAsync(
      [=](store::Transaction& tx) -> Status {
        RETURN_IF_ERROR(tx.Exec(
            "INSERT INTO provisions (permit_id, inquirer, procedure_code, tm, layout_version,"
            " subject_code, permit, state, reason, answer, received_at_us,"
            " permit_expires_at_us, non_disclosure, inquirer_delegator, provider_delegator)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            {permit.id.str(), permit.inquirer.str(), permit.procedure.str(), permit.tm.str(),
             permit.layout_version, permit.subject.str(), document, outcome,
             outcome == "refused" ? store::Value(std::string("NOT_PERMITTED_LOCALLY"))
                                  : store::Value(nullptr),
             stored_answer ? store::Value(*stored_answer) : store::Value(nullptr), now,
             permit.expires_at_ms * 1000, static_cast<int64_t>(permit.non_disclosure ? 1 : 0),
             permit.inquirer_delegator ? store::Value(permit.inquirer_delegator->str())
                                       : store::Value(nullptr),
             permit.provider_delegator ? store::Value(permit.provider_delegator->str())
                                       : store::Value(nullptr)}));
        if (!body.empty()) {
          RETURN_IF_ERROR(
              handoff->Enqueue(tx, kTopicProvision, permit.id.str(), crypto::ToBytes(body)));
        }
        return stp->audit
            ->Append(tx, {tenant.str(), "hub", "provision.request", target, outcome, ""})
            .status();
      },
      [handoff, written](Status s) {
        if (handoff) handoff->Settle(s);  // the answer to the sender as soon as it is written
        written->set_value(std::move(s));
      },
      store::GroupCommitter::Rerun::kSafe);  // all in the transaction: safe to run twice
  const int64_t list_version = (*list)->version();
  const bool sent = !body.empty();
  return PendingOutcome([this, committed, stp, permit_id = permit.id.str(), target, outcome, sent,
                         list_version]() -> Result<std::string> {
    const Status s = committed.get();
    if (s.code() == StatusCode::kAlreadyExists) {
      AuditLinkage(*stp, "hub", "provision.request", "permit " + permit_id, "denied:replay");
      return AlreadyExistsError("PERMIT_ALREADY_USED: permit " + permit_id +
                                " was received before");
    }
    if (!s.ok()) {
      AuditLinkage(*stp, "hub", "provision.request", target, AuditOutcome(s));
      return s;
    }
    if (sent) stp->outbox_backlog.Added(1);  // the sender was told (the handoff's Settle)
    if (outcome == "refused") {
      log::Warn("server.provision_refused_locally", {{"permit_id", permit_id},
                                                     {"permission_list_version", list_version},
                                                     {"reason", "NOT_PERMITTED_LOCALLY"}});
    }
    return outcome;
  });
}

Result<std::vector<ApprovalView>> Provisions::ListApprovals(const TenantId& tenant) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, env_.Tenant(tenant));
  ASSIGN_OR_RETURN(auto tx, st->db->BeginReadOnce());
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
                     st->data_keys->Open(sealed, LinkageAad("answer", tenant, v.permit_id)));
    v.answer_json = std::string(plain.AsStringView());
    out.push_back(std::move(v));
  }
  return out;
}

Status Provisions::DecideApproval(const TenantId& tenant, const PermitId& permit_id, bool approve,
                                  const std::string& comment, const std::string& actor) {
  if (comment.size() > 1000 || !IsValidUtf8(comment)) {
    return InvalidArgumentError("comment: at most 1000 bytes of UTF-8");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, env_.Tenant(tenant));
  const std::string action = approve ? "approval.approve" : "approval.reject";
  const std::string target = "permit " + permit_id.str();
  std::string permit_doc;
  crypto::Bytes sealed;
  {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginReadOnce());
    ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT permit, answer FROM provisions"
                                            " WHERE permit_id = ? AND state = 'awaiting_approval'",
                                            {permit_id.str()}));
    if (!row) return NotFoundError("no provision " + permit_id.str() + " awaits approval");
    ASSIGN_OR_RETURN(permit_doc, row->GetText(0));
    ASSIGN_OR_RETURN(sealed, row->GetBlob(1));
  }
  ASSIGN_OR_RETURN(linkage::ProvisionPermit permit, linkage::ParsePermitDocument(permit_doc));
  if (env_.NowUs() / 1000 >= permit.expires_at_ms) {
    // Too late: the permit no longer allows an answer from its expiry millisecond on (the rule
    // of linkage::VerifyPermit and of the sweep, which would drop it soon anyway).
    Status e = st->Commit([&](store::Transaction& tx) -> Status {
      return tx.Exec(
          "UPDATE provisions SET state = 'expired', answer = NULL"
          " WHERE permit_id = ? AND state = 'awaiting_approval'",
          {permit_id.str()});
    });
    AuditLinkage(*st, actor, action, target, "denied:permit_expired");
    RETURN_IF_ERROR(e);
    return FailedPreconditionError("PERMIT_EXPIRED: permit " + permit_id.str() + " expired at " +
                                   FormatRfc3339(FromUnixMicros(permit.expires_at_ms * 1000)) +
                                   "; nothing was sent");
  }
  std::string answer;
  if (approve) {
    ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                     st->data_keys->Open(sealed, LinkageAad("answer", tenant, permit_id.str())));
    answer = std::string(plain.AsStringView());
  } else {
    json::JsonWriter w;
    w.BeginObject().Key("status").String("rejected").Key("comment").String(comment).EndObject();
    ASSIGN_OR_RETURN(answer, w.Finish());
  }
  ASSIGN_OR_RETURN(std::string body, SealedEnvelopeBody(*st, permit, answer));
  const int64_t now = env_.NowUs();
  const std::string new_state = approve ? "answered" : "rejected";
  std::shared_ptr<store::OutboxHandoff> handoff = env_.hand_off(st->id);
  Status s = st->Commit([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n,
                     tx.ExecCount("UPDATE provisions SET state = ?, answer = NULL, decided_by = ?,"
                                  " comment = ?, decided_at_us = ? WHERE permit_id = ?"
                                  " AND state = 'awaiting_approval'",
                                  {new_state, actor, comment, now, permit_id.str()}));
    if (n == 0) return NotFoundError("no provision " + permit_id.str() + " awaits approval");
    return handoff->Enqueue(tx, kTopicProvision, permit_id.str(), crypto::ToBytes(body));
  });
  handoff->Settle(s);
  AuditLinkage(*st, actor, action, target, AuditOutcome(s));
  RETURN_IF_ERROR(s);
  st->outbox_backlog.Added(1);
  return Status();
}

Result<int64_t> ExpireApprovals(store::Transaction& tx, int64_t now_us) {
  return tx.ExecCount(
      "UPDATE provisions SET state = 'expired', answer = NULL"
      " WHERE state = 'awaiting_approval' AND permit_expires_at_us <= ?",
      {now_us});
}

Result<bool> ApprovalsDue(store::Transaction& tx, int64_t now_us) {
  ASSIGN_OR_RETURN(auto stale, tx.QueryOne("SELECT 1 FROM provisions"
                                           " WHERE state = 'awaiting_approval'"
                                           " AND permit_expires_at_us <= ? LIMIT 1",
                                           {now_us}));
  return stale.has_value();
}

Result<int64_t> DeleteFinalProvisions(store::Transaction& tx, int64_t cutoff_us, int64_t limit) {
  return tx.ExecCount("DELETE FROM provisions WHERE " +
                          store::KeyIn(tx.backend(), "permit_id",
                                       "SELECT permit_id FROM provisions"
                                       " WHERE received_at_us <= ? AND state <> 'awaiting_approval'"
                                       " ORDER BY received_at_us LIMIT ?"),
                      {cutoff_us, limit});
}

Result<bool> FinalProvisionsDue(store::Transaction& tx, int64_t cutoff_us) {
  ASSIGN_OR_RETURN(auto due, tx.QueryOne("SELECT 1 FROM provisions WHERE received_at_us <= ?"
                                         " AND state <> 'awaiting_approval' LIMIT 1",
                                         {cutoff_us}));
  return due.has_value();
}

Status MarkProvisionSent(store::Transaction& tx, const std::string& permit_id, int64_t now_us) {
  return tx.Exec("UPDATE provisions SET sent_at_us = ? WHERE permit_id = ?", {now_us, permit_id});
}

Status MarkProvisionSendFailed(store::Transaction& tx, const std::string& permit_id,
                               const std::string& reason) {
  return tx.Exec("UPDATE provisions SET state = 'send_failed', reason = ? WHERE permit_id = ?",
                 {reason, permit_id});
}

}  // namespace chukan::server
