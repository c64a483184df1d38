// Hub (see hub.h). Over 600 lines: the hub's one state machine — registry snapshot, codes (符号),
// permit requests with their list check and records, provisions relayed blind, the published
// permission list and the sweep — shares one snapshot, one committer and one audit log here;
// delivery is deliverer.cc, the HTTP mapping hub_api.cc, storage hub_store.cc.
#include "hub/hub.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <limits>
#include <map>

#include "common/log.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/key_file.h"
#include "linkage/envelope.h"
#include "linkage/permit.h"
#include "store/sql_util.h"

namespace chukan::hub {
namespace {

constexpr std::string_view kRidHashContext = "chukan-hub-resident-id-v1";

int64_t NowMs(const Clock& clock) { return ToUnixMicros(clock.Now()) / 1000; }

store::Value OrgOrNull(const std::optional<OrgCode>& code) {
  return code ? store::Value(code->str()) : store::Value(nullptr);
}

std::string OutboxPayload(const OrgCode& to, const std::string& body) {
  return to.str() + "\n" + body;
}

// Writes the public half of the hub key beside it, so operators can hand it to servers.
Status WritePublicKey(const std::string& path, const crypto::VerifyKey& key) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return Status();
  std::ofstream out(path, std::ios::trunc);
  out << crypto::ToHex(key.bytes()) << "\n";
  if (!out) return InternalError(path + ": cannot write the hub's public key");
  return Status();
}

}  // namespace

struct Hub::Snapshot {
  std::string registry_stamp;
  int64_t list_version = 0;
  std::map<OrgCode, OrgRecord> orgs;
  // Each organisation's envelope keys (two during a key rotation's overlap), parsed and checked
  // as curve points once per load rather than for every provision (the check cost the hub about
  // half as much as the verification). Disabled keys are left out.
  struct Key {
    linkage::OrgVerifyKey key;
    int64_t not_before_us = 0;
    std::optional<int64_t> not_after_us;
  };
  std::map<OrgCode, std::vector<Key>> sign_keys;
  std::shared_ptr<const linkage::PermissionList> list;  // null until a list is loaded
};

Result<HubKeys> LoadHubKeys(const HubConfig& config, bool create) {
  ASSIGN_OR_RETURN(crypto::SecretBytes seed,
                   crypto::LoadOrCreateKeyFile(config.signing_key_file(), 32, create));
  ASSIGN_OR_RETURN(crypto::SigningKey signing, crypto::SigningKey::FromSeed(seed));
  ASSIGN_OR_RETURN(crypto::SecretBytes code_secret,
                   crypto::LoadOrCreateKeyFile(config.code_secret_file(), 32, create));
  ASSIGN_OR_RETURN(crypto::SecretBytes audit_seed,
                   crypto::LoadOrCreateKeyFile(config.audit_key_file(), 32, create));
  ASSIGN_OR_RETURN(crypto::SigningKey audit, crypto::SigningKey::FromSeed(audit_seed));
  if (create) {
    RETURN_IF_ERROR(WritePublicKey(config.keys_dir + "/hub-signing.pub", signing.verify_key()));
  }
  return HubKeys{std::move(signing), std::move(code_secret), std::move(audit)};
}

Result<std::shared_ptr<store::Database>> OpenHubDatabase(
    const HubConfig& config, std::unique_ptr<store::TenantStore>* owner) {
  ASSIGN_OR_RETURN(*owner, store::TenantStore::Open(config.store));
  return (*owner)->Platform();
}

Hub::Hub(const HubConfig& config, std::shared_ptr<store::Database> db, HubKeys keys,
         std::shared_ptr<const layout::Catalogue> catalogue, const Clock& clock)
    : config_(config),
      db_(std::move(db)),
      keys_(std::move(keys)),
      catalogue_(std::move(catalogue)),
      clock_(clock) {}

Hub::~Hub() {
  if (committer_) committer_->Stop();
}

Result<std::unique_ptr<Hub>> Hub::Open(const HubConfig& config, std::shared_ptr<store::Database> db,
                                       HubKeys keys,
                                       std::shared_ptr<const layout::Catalogue> catalogue,
                                       const Clock& clock) {
  std::unique_ptr<Hub> hub(
      new Hub(config, std::move(db), std::move(keys), std::move(catalogue), clock));
  ASSIGN_OR_RETURN(std::shared_ptr<audit::CheckpointSink> sink,
                   audit::OpenCheckpointSink(config.audit_checkpoint_dir, "hub"));
  ASSIGN_OR_RETURN(hub->store_, HubStore::Open(hub->db_, &hub->keys_.audit, clock, sink));
  RETURN_IF_ERROR(store::ApplyMigrations(*hub->db_, "outbox", store::OutboxMigrations(), clock));
  store::OutboxOptions oo;
  oo.max_attempts = config.delivery.max_attempts;
  oo.backoff_base = config.delivery.backoff_base;
  oo.backoff_cap = config.delivery.backoff_cap;
  // Both topics are delivered alike ([delivery]); see docs/hub.md.
  store::DeliveryPolicy policy;
  policy.poll_interval = config.delivery.poll_interval;
  policy.batch = config.delivery.batch;
  policy.lease = config.delivery.lease;
  policy.max_attempts = config.delivery.max_attempts;
  policy.backoff_base = config.delivery.backoff_base;
  policy.backoff_cap = config.delivery.backoff_cap;
  for (std::string_view topic : {kTopicProvisionRequest, kTopicInquiryResult}) {
    oo.topics.emplace(std::string(topic), policy);
  }
  ASSIGN_OR_RETURN(hub->outbox_, store::Outbox::Create(oo, clock));
  hub->backlog_ = std::make_unique<store::OutboxBacklog>(config.delivery.max_backlog, clock);
  RETURN_IF_ERROR(hub->backlog_->Recount(*hub->db_));
  // Optimistic: every write below may run twice (GroupCommitter::Options::optimistic), so each
  // resets what it sets outside the transaction.
  store::GroupCommitter::Options commit_options;
  commit_options.optimistic = true;
  // Wait up to 2 ms for more writes, but only behind a queue: when the committer takes up a batch
  // with at least 4 writes pending beside its first (delay_siblings). An unconditional 2 ms wait
  // made fewer, larger commits under load (0.84x the hub's CPU a permit), but every linkage
  // crosses about six hub commits, and at 100 linkages/s its p50 went from 9.5 to 22.0 ms. At low
  // rates a batch should rarely find 4 others pending and commit at once; measured only on a
  // loaded machine so far (docs/performance.md, "Hub: a commit wait only behind a queue").
  commit_options.max_delay = std::chrono::milliseconds(2);
  commit_options.delay_siblings = 4;
  ASSIGN_OR_RETURN(hub->committer_, store::GroupCommitter::Create(hub->db_, commit_options));
  RETURN_IF_ERROR(hub->Refresh());
  return hub;
}

std::shared_ptr<const Hub::Snapshot> Hub::snapshot() const {
  MutexLock lock(mu_);
  return snapshot_;
}

void Hub::SetDeliveryPump(store::OutboxPump* pump) {
  MutexLock lock(mu_);
  pump_ = pump;
}

Status Hub::AdmitPermit() const { return backlog_->Admit(); }

Status Hub::RecountBacklog() { return backlog_->Recount(*db_); }

void Hub::Delivered(int64_t n) { backlog_->Delivered(n); }

std::shared_ptr<store::OutboxHandoff> Hub::HandOff() {
  store::OutboxPump* pump = nullptr;
  {
    MutexLock lock(mu_);
    pump = pump_;
  }
  if (pump != nullptr) return pump->HandOff("");
  return std::make_shared<store::OutboxHandoff>(*outbox_, nullptr);
}

Status Hub::Commit(store::GroupCommitter::WriteFn write) {
  return committer_->Submit(std::move(write)).get();
}

Status Hub::Refresh() {
  ASSIGN_OR_RETURN(std::string stamp, store_->RegistryStamp());
  ASSIGN_OR_RETURN(int64_t version, store_->LatestPermissionListVersion());
  {
    std::shared_ptr<const Snapshot> current = snapshot();
    if (current && current->registry_stamp == stamp && current->list_version == version) {
      return Status();
    }
  }
  auto next = std::make_shared<Snapshot>();
  next->registry_stamp = stamp;
  ASSIGN_OR_RETURN(std::vector<OrgRecord> orgs, store_->ListOrgs());
  std::map<OrgCode, std::string> classes;
  std::map<OrgCode, LocalGovCode> local_gov_codes;
  for (OrgRecord& o : orgs) {
    if (o.state == "active") {
      classes[o.code] = o.org_class;
      if (o.local_gov_code) local_gov_codes.emplace(o.code, *o.local_gov_code);
    }
    OrgCode code = o.code;
    next->orgs.emplace(std::move(code), std::move(o));
  }
  ASSIGN_OR_RETURN(std::vector<OrgKey> keys, store_->ListOrgKeys(std::nullopt));
  for (const OrgKey& k : keys) {
    if (k.state != "active") continue;
    if (Result<crypto::VerifyKey> key = crypto::VerifyKey::FromBytes(k.sign_key); key.ok()) {
      next->sign_keys[k.org].push_back({{k.kid, *std::move(key)}, k.not_before_us, k.not_after_us});
    }
  }
  ASSIGN_OR_RETURN(std::optional<PermissionListVersion> list, store_->LatestPermissionList());
  if (list) {
    next->list_version = list->version;
    next->list = std::make_shared<linkage::PermissionList>(
        list->version, 0, 0, list->rules, std::move(classes), std::move(local_gov_codes));
  }
  log::Info("hub.state_loaded", {{"orgs", static_cast<int64_t>(next->orgs.size())},
                                 {"permission_list_version", next->list_version}});
  MutexLock lock(mu_);
  snapshot_ = std::move(next);
  return Status();
}

Result<OrgRecord> Hub::Authenticate(const std::optional<OrgCode>& cert_org,
                                    const std::string& cert_sha256) {
  if (!cert_org || cert_sha256.empty()) {
    return UnauthenticatedError(
        "a client certificate naming a registered organisation is required");
  }
  std::shared_ptr<const Snapshot> s = snapshot();
  auto it = s->orgs.find(*cert_org);
  if (it == s->orgs.end() || !crypto::ConstantTimeEquals(crypto::AsBytes(it->second.cert_sha256),
                                                         crypto::AsBytes(cert_sha256))) {
    // One answer for "unknown" and "not the registered certificate".
    return UnauthenticatedError("organisation " + cert_org->str() +
                                " is not registered with this certificate");
  }
  if (it->second.state != "active") {
    return PermissionDeniedError("organisation " + cert_org->str() + " is disabled");
  }
  return it->second;
}

Result<OrgRecord> Hub::FindOrg(const OrgCode& code) {
  std::shared_ptr<const Snapshot> s = snapshot();
  auto it = s->orgs.find(code);
  if (it == s->orgs.end())
    return NotFoundError("organisation " + code.str() + " is not registered");
  return it->second;
}

std::vector<linkage::OrgVerifyKey> Hub::OrgSignKeys(const OrgCode& code) {
  std::shared_ptr<const Snapshot> s = snapshot();
  std::vector<linkage::OrgVerifyKey> out;
  auto it = s->sign_keys.find(code);
  if (it == s->sign_keys.end()) return out;
  const int64_t now = ToUnixMicros(clock_.Now());
  for (const Snapshot::Key& k : it->second) {
    if (k.not_before_us <= now && (!k.not_after_us || now < *k.not_after_us)) {
      out.push_back(k.key);
    }
  }
  return out;
}

std::vector<OrgKey> Hub::PublishedOrgKeys(const OrgCode& code) {
  std::shared_ptr<const Snapshot> s = snapshot();
  std::vector<OrgKey> out;
  auto it = s->sign_keys.find(code);
  if (it == s->sign_keys.end()) return out;
  // A key that ended may still have signed answers to permits that are still valid (the
  // inquirer accepts it for permits issued before it ended): listed while such permits live.
  const int64_t horizon = ToUnixMicros(clock_.Now()) -
                          std::chrono::duration_cast<std::chrono::microseconds>(
                              std::max(config_.permit_validity, config_.approval_permit_validity))
                              .count();
  for (const Snapshot::Key& k : it->second) {
    if (k.not_after_us && *k.not_after_us <= horizon) continue;
    OrgKey o;
    o.org = code;
    o.kid = k.key.kid;
    o.sign_key = k.key.key.bytes();
    o.state = "active";
    o.not_before_us = k.not_before_us;
    o.not_after_us = k.not_after_us;
    out.push_back(std::move(o));
  }
  return out;
}

Result<SubjectCode> Hub::IssueCode(const OrgCode& org, const ResidentId& rid) {
  std::promise<Result<SubjectCode>> issued;
  std::future<Result<SubjectCode>> code = issued.get_future();
  IssueCodeThen(org, rid, [&issued](Result<SubjectCode> r) { issued.set_value(std::move(r)); });
  return code.get();
}

void Hub::IssueCodeThen(const OrgCode& org, const ResidentId& rid, CodeDone done) {
  crypto::Blake2bHasher hasher(keys_.code_secret, 32);
  hasher.Update(kRidHashContext).Update(std::string_view("\0", 1)).Update(rid.str());
  const crypto::Bytes rid_hash = hasher.Finish();
  const int64_t now = ToUnixMicros(clock_.Now());
  auto result = std::make_shared<std::optional<SubjectCode>>();
  // Sets *result on every path that succeeds, so a rerun leaves what its last run found.
  store::GroupCommitter::WriteFn write = [org, rid_hash, now,
                                          result](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto person, tx.QueryOne("SELECT person_id FROM hub_person WHERE rid_hash = ?",
                                              {rid_hash}));
    int64_t person_id = 0;
    if (person) {
      ASSIGN_OR_RETURN(person_id, person->GetInt(0));
      ASSIGN_OR_RETURN(auto code, tx.QueryOne("SELECT subject_code FROM hub_code"
                                              " WHERE person_id = ? AND org_code = ?",
                                              {person_id, org.str()}));
      if (code) {
        ASSIGN_OR_RETURN(std::string text, code->GetText(0));
        ASSIGN_OR_RETURN(SubjectCode existing, SubjectCode::Parse(text));
        *result = existing;
        return Status();
      }
    } else {
      ASSIGN_OR_RETURN(auto inserted, tx.QueryOne("INSERT INTO hub_person (rid_hash, created_at_us)"
                                                  " VALUES (?, ?) RETURNING person_id",
                                                  {rid_hash, now}));
      ASSIGN_OR_RETURN(person_id, inserted->GetInt(0));
    }
    SubjectCode fresh = SubjectCode::Generate();
    RETURN_IF_ERROR(
        tx.Exec("INSERT INTO hub_code (subject_code, org_code, person_id,"
                " created_at_us) VALUES (?, ?, ?, ?)",
                {fresh.str(), org.str(), person_id, now}));
    *result = fresh;
    return Status();
  };
  auto finish = [result, done](const Status& s) {
    if (!s.ok()) return done(s);
    done(**result);
  };
  committer_->SubmitAsync(
      write,
      [this, write, finish](Status s) {
        // Two hubs (or two requests on PostgreSQL) creating the same person or code at once:
        // one wins the unique constraint, the other reads the winner's row, in a second write.
        if (s.code() == StatusCode::kAlreadyExists) {
          return committer_->SubmitAsync(write, finish, store::GroupCommitter::Rerun::kSafe);
        }
        finish(s);
      },
      store::GroupCommitter::Rerun::kSafe);
}

namespace {

// The columns RecordedOutcome reads, of hub_record `r` left-joined with its permit `p`.
constexpr std::string_view kRecordedColumns =
    "r.outcome, r.reason, r.permit_id, p.expires_at_ms, p.document";

// The outcome recorded earlier, from hub_record's outcome, reason and permit_id and the permit's
// expires_at_ms and document, in five columns from `first` (kRecordedColumns).
Result<PermitOutcome> RecordedOutcome(const store::Row& row, int first) {
  PermitOutcome out;
  out.repeated = true;
  ASSIGN_OR_RETURN(std::string outcome, row.GetText(first));
  ASSIGN_OR_RETURN(std::optional<std::string> reason, row.GetOptionalText(first + 1));
  ASSIGN_OR_RETURN(std::optional<std::string> permit_id, row.GetOptionalText(first + 2));
  ASSIGN_OR_RETURN(std::optional<int64_t> expires, row.GetOptionalInt(first + 3));
  ASSIGN_OR_RETURN(std::optional<std::string> document, row.GetOptionalText(first + 4));
  out.permitted = outcome != "refused";
  if (out.permitted && permit_id) {
    ASSIGN_OR_RETURN(PermitId id, PermitId::Parse(*permit_id));
    out.permit_id = id;
    out.expires_at_ms = expires.value_or(0);
    if (document) out.permit_sha256 = crypto::Sha256(crypto::AsBytes(*document));
  } else {
    out.reason = reason.value_or("");
    out.message = "refused earlier for this reference";
  }
  return out;
}

}  // namespace

Result<std::optional<PermitOutcome>> Hub::Previous(const OrgCode& inquirer,
                                                   const std::string& reference) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginReadOnce());
  ASSIGN_OR_RETURN(std::optional<PermitOutcome> out, PreviousIn(*tx, inquirer, reference));
  RETURN_IF_ERROR(tx->Commit());
  return out;
}

Result<std::optional<PermitOutcome>> Hub::PreviousIn(store::Transaction& tx,
                                                     const OrgCode& inquirer,
                                                     const std::string& reference) {
  static const std::string kQuery = "SELECT " + std::string(kRecordedColumns) +
                                    " FROM hub_record r"
                                    " LEFT JOIN hub_permit p ON p.permit_id = r.permit_id"
                                    " WHERE r.inquirer = ? AND r.reference = ?";
  ASSIGN_OR_RETURN(auto row, tx.QueryOne(kQuery, {inquirer.str(), reference}));
  if (!row) return std::optional<PermitOutcome>();
  ASSIGN_OR_RETURN(PermitOutcome out, RecordedOutcome(*row, 0));
  return std::optional<PermitOutcome>(std::move(out));
}

Result<Hub::Known> Hub::LookUp(const OrgCode& inquirer, const PermitRequest& request) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginReadOnce());
  // One row whatever matches: (inquirer, reference) is unique in hub_record, subject_code in
  // hub_code, (person_id, org_code) too.
  static const std::string kQuery = "SELECT " + std::string(kRecordedColumns) +
                                    ", c1.person_id, c2.subject_code"
                                    " FROM (SELECT 1 AS one) AS q"
                                    " LEFT JOIN hub_record r ON r.inquirer = ?"
                                    " AND r.reference = ?"
                                    " LEFT JOIN hub_permit p ON p.permit_id = r.permit_id"
                                    " LEFT JOIN hub_code c1 ON c1.subject_code = ?"
                                    " AND c1.org_code = ?"
                                    " LEFT JOIN hub_code c2 ON c2.person_id = c1.person_id"
                                    " AND c2.org_code = ?";
  ASSIGN_OR_RETURN(auto row,
                   tx->QueryOne(kQuery, {inquirer.str(), request.reference, request.subject.str(),
                                         inquirer.str(), request.provider.str()}));
  RETURN_IF_ERROR(tx->Commit());
  if (!row) return InternalError("hub: the request's look-up returned no row");
  Known known;
  ASSIGN_OR_RETURN(std::optional<std::string> outcome, row->GetOptionalText(0));
  if (outcome) {
    ASSIGN_OR_RETURN(PermitOutcome previous, RecordedOutcome(*row, 0));
    known.previous = std::move(previous);
    return known;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> person, row->GetOptionalInt(5));
  known.subject_known = person.has_value();
  ASSIGN_OR_RETURN(known.provider_code, row->GetOptionalText(6));
  return known;
}

Result<PermitOutcome> Hub::Refuse(const OrgCode& inquirer, const PermitRequest& request,
                                  std::string_view reason, std::string message,
                                  bool non_disclosure) {
  const int64_t now = ToUnixMicros(clock_.Now());
  const std::string reason_text(reason);
  Status s = Commit([&](store::Transaction& tx) {
    return tx.Exec(
        "INSERT INTO hub_record (inquirer, reference, provider, procedure_code, tm,"
        " layout_version, inquirer_code, requested_at_us, outcome, reason, non_disclosure,"
        " inquirer_non_disclosure, inquirer_delegator, provider_delegator)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'refused', ?, ?, ?, ?, ?)",
        {inquirer.str(), request.reference, request.provider.str(), request.procedure.str(),
         request.tm.str(), request.layout_version, request.subject.str(), now, reason_text,
         static_cast<int64_t>(non_disclosure || request.non_disclosure ? 1 : 0),
         static_cast<int64_t>(request.non_disclosure ? 1 : 0),
         OrgOrNull(request.inquirer_delegator), OrgOrNull(request.provider_delegator)});
  });
  if (s.code() == StatusCode::kAlreadyExists) {
    ASSIGN_OR_RETURN(std::optional<PermitOutcome> previous, Previous(inquirer, request.reference));
    if (previous) return *previous;
  }
  RETURN_IF_ERROR(s);
  log::Info("hub.permit_refused", {{"inquirer", inquirer.str()},
                                   {"provider", request.provider.str()},
                                   {"reason", reason_text}});
  PermitOutcome out;
  out.reason = reason_text;
  out.message = std::move(message);
  return out;
}

Result<PermitOutcome> Hub::RequestPermit(const OrgCode& inquirer, const PermitRequest& request) {
  ASSIGN_OR_RETURN(PendingPermit pending, StartRequestPermit(inquirer, request));
  return pending();
}

namespace {
// An outcome known before any commit of its own.
Hub::PendingPermit Done(Result<PermitOutcome> r) {
  return [r = std::move(r)]() { return r; };
}
}  // namespace

struct Hub::Decision {
  std::optional<Result<PermitOutcome>> known;  // decided without a write of its own
  store::GroupCommitter::WriteFn write;        // else the permit's write …
  PermitOutcome out;                           // … and its outcome once written
  // The permit's way to the deliverer: settled by the write's completion.
  std::shared_ptr<store::OutboxHandoff> handoff;
};

Result<Hub::PendingPermit> Hub::StartRequestPermit(const OrgCode& inquirer,
                                                   const PermitRequest& request) {
  ASSIGN_OR_RETURN(Decision d, Decide(inquirer, request));
  if (d.known) return Done(std::move(*d.known));
  // The permit goes to the deliverer when its write is over, not when the caller waits.
  auto settled = std::make_shared<std::promise<Status>>();
  std::shared_future<Status> committed = settled->get_future().share();
  committer_->SubmitAsync(std::move(d.write), [this, handoff = d.handoff, settled](Status written) {
    handoff->Settle(written);
    if (written.ok()) backlog_->Added(1);
    settled->set_value(std::move(written));
  });
  return PendingPermit([this, committed, inquirer, reference = request.reference,
                        out = std::move(d.out)]() -> Result<PermitOutcome> {
    const Status written = committed.get();
    if (written.code() == StatusCode::kAlreadyExists) {
      // The same reference raced in twice: answer with the one that was recorded.
      ASSIGN_OR_RETURN(std::optional<PermitOutcome> raced, Previous(inquirer, reference));
      if (raced) return *raced;
    }
    RETURN_IF_ERROR(written);
    return out;
  });
}

void Hub::RequestPermitThen(const OrgCode& inquirer, const PermitRequest& request,
                            PermitDone done) {
  Result<Decision> d = Decide(inquirer, request);
  if (!d.ok()) return done(d.status());
  if (d->known) return done(std::move(*d->known));
  committer_->SubmitAsync(std::move(d->write), [this, inquirer, reference = request.reference,
                                                out = std::move(d->out), handoff = d->handoff,
                                                done = std::move(done)](Status written) mutable {
    handoff->Settle(written);
    if (written.code() == StatusCode::kAlreadyExists) {
      // The same reference raced in twice: answer with the one that was recorded, read
      // through the committer as well (its thread begins no transaction of its own).
      auto raced =
          std::make_shared<Result<std::optional<PermitOutcome>>>(std::optional<PermitOutcome>());
      committer_->SubmitAsync(
          [raced, inquirer, reference](store::Transaction& tx) -> Status {
            *raced = PreviousIn(tx, inquirer, reference);
            return Status();
          },
          [raced, written, done = std::move(done)](Status read) {
            if (!read.ok()) return done(read);
            if (!raced->ok()) return done(raced->status());
            if (**raced) return done(***raced);
            done(written);
          },
          store::GroupCommitter::Rerun::kSafe);
      return;
    }
    if (!written.ok()) return done(written);
    backlog_->Added(1);
    done(std::move(out));
  });
}

Result<Hub::Decision> Hub::Decide(const OrgCode& inquirer, const PermitRequest& request) {
  auto decided = [](Result<PermitOutcome> r) {
    Decision d;
    d.known = std::move(r);
    return d;
  };
  RETURN_IF_ERROR(linkage::CheckReference(request.reference));
  RETURN_IF_ERROR(linkage::CheckQuery(request.query));
  if (request.reply_key.size() != 32) {
    return InvalidArgumentError("reply_key: expected 32 bytes");
  }
  ASSIGN_OR_RETURN(Known prior, LookUp(inquirer, request));
  if (prior.previous) return decided(*prior.previous);

  std::shared_ptr<const Snapshot> s = snapshot();
  const layout::InfoName* info = catalogue_->Find(request.tm);
  // Known once the TM is; refined to the version's items once the version is resolved.
  bool non_disclosure = info != nullptr && layout::NonDisclosure(*info, nullptr);
  if (!s->list) {
    return decided(Refuse(inquirer, request, kNoPermissionList,
                          "the hub has no permission list loaded", non_disclosure));
  }
  if (info == nullptr) {
    return decided(Refuse(inquirer, request, kUnknownTm,
                          request.tm.str() + " is not in the data standard layout", false));
  }
  const layout::LayoutVersion* version = info->Version(request.layout_version);
  if (version != nullptr) non_disclosure = layout::NonDisclosure(*info, version);
  if (version == nullptr) {
    // The version is the requester's text: list the known ones instead of repeating it.
    std::string known;
    for (const layout::LayoutVersion* v : info->versions()) {
      known += (known.empty() ? "" : ", ") + v->version();
    }
    return decided(
        Refuse(inquirer, request, kUnknownLayoutVersion,
               request.tm.str() + " has no such layout version (versions: " + known + ")",
               non_disclosure));
  }
  auto provider = s->orgs.find(request.provider);
  if (provider == s->orgs.end()) {
    return decided(Refuse(inquirer, request, kUnknownProvider,
                          "provider " + request.provider.str() + " is not registered",
                          non_disclosure));
  }
  if (provider->second.state != "active") {
    return decided(Refuse(inquirer, request, kProviderDisabled,
                          "provider " + request.provider.str() + " is disabled", non_disclosure));
  }
  // 委任元: each named must be a registered, active organisation; the list is then checked for
  // it in place of the inquirer / provider (docs/linkage.md, "委任元").
  for (const auto& [delegator, side] : {std::pair{&request.inquirer_delegator, "inquirer"},
                                        std::pair{&request.provider_delegator, "provider"}}) {
    if (!*delegator) continue;
    auto org = s->orgs.find(**delegator);
    if (org == s->orgs.end() || org->second.state != "active") {
      return decided(Refuse(inquirer, request, kUnknownDelegator,
                            std::string("the ") + side + "'s 委任元 (delegating organisation) " +
                                (*delegator)->str() + " is not a registered active organisation",
                            non_disclosure));
    }
  }
  const OrgCode& legal_inquirer =
      request.inquirer_delegator ? *request.inquirer_delegator : inquirer;
  const OrgCode& legal_provider =
      request.provider_delegator ? *request.provider_delegator : request.provider;
  const linkage::PermissionRule* rule =
      s->list->Find(legal_inquirer, request.procedure, legal_provider, request.tm);
  if (rule == nullptr && (request.inquirer_delegator || request.provider_delegator)) {
    return decided(Refuse(inquirer, request, kDelegatorNotPermitted,
                          "the permission list (version " + std::to_string(s->list_version) +
                              ") does not allow " + request.procedure.str() + " / " +
                              request.tm.str() + " from " + legal_inquirer.str() + " to " +
                              legal_provider.str() + " (委任元 in place of " + inquirer.str() +
                              " / " + request.provider.str() + ")",
                          non_disclosure));
  }
  if (rule == nullptr) {
    return decided(Refuse(inquirer, request, kNotPermitted,
                          "the permission list (version " + std::to_string(s->list_version) +
                              ") does not allow " + request.procedure.str() + " / " +
                              request.tm.str() + " from " + inquirer.str() + " to " +
                              request.provider.str(),
                          non_disclosure));
  }
  // The inquirer's code translated into the provider's (read by LookUp).
  if (!prior.subject_known) {
    return decided(Refuse(inquirer, request, kUnknownSubject,
                          "subject_code is not one of the inquirer's codes", non_disclosure));
  }
  std::optional<SubjectCode> provider_code;
  if (prior.provider_code) {
    ASSIGN_OR_RETURN(SubjectCode c, SubjectCode::Parse(*prior.provider_code));
    provider_code = c;
  }
  if (!provider_code) {
    return decided(Refuse(inquirer, request, kNoSubjectAtProvider,
                          "the provider has no code for this person", non_disclosure));
  }

  linkage::ProvisionPermit permit;
  permit.issued_at_ms = NowMs(clock_);
  // Time-ordered: permits, records and outbox keys are indexed by it (one B-tree page per
  // commit, not one per permit).
  permit.id = PermitId::GenerateTimeOrdered(permit.issued_at_ms);
  const auto validity = layout::NeedsApproval(*info, *version) ? config_.approval_permit_validity
                                                               : config_.permit_validity;
  permit.expires_at_ms =
      permit.issued_at_ms + std::chrono::duration_cast<std::chrono::milliseconds>(validity).count();
  permit.inquirer = inquirer;
  permit.provider = request.provider;
  permit.procedure = request.procedure;
  permit.tm = request.tm;
  permit.layout_version = request.layout_version;
  permit.subject = *provider_code;
  permit.reply_key = request.reply_key;
  permit.reference = request.reference;
  permit.query = request.query;
  permit.non_disclosure = request.non_disclosure;
  permit.inquirer_delegator = request.inquirer_delegator;
  permit.provider_delegator = request.provider_delegator;
  const linkage::SignedDocument signed_permit = linkage::SignPermit(permit, keys_.signing);
  const std::string body = linkage::SignedPermitJson(signed_permit);
  const int64_t now = ToUnixMicros(clock_.Now());
  const std::string payload = OutboxPayload(request.provider, body);
  const std::string provider_code_text = provider_code->str();
  Decision d;
  d.handoff = HandOff();
  d.write = [=, handoff = d.handoff](store::Transaction& tx) -> Status {
    RETURN_IF_ERROR(
        tx.Exec("INSERT INTO hub_record (inquirer, reference, provider, procedure_code, tm,"
                " layout_version, inquirer_code, provider_code, permit_id, "
                "requested_at_us, outcome, non_disclosure, inquirer_non_disclosure,"
                " inquirer_delegator, provider_delegator)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'permitted', ?, ?, ?, ?)",
                {inquirer.str(), request.reference, request.provider.str(), request.procedure.str(),
                 request.tm.str(), request.layout_version, request.subject.str(),
                 provider_code_text, permit.id.str(), now,
                 static_cast<int64_t>(non_disclosure || request.non_disclosure ? 1 : 0),
                 static_cast<int64_t>(request.non_disclosure ? 1 : 0),
                 OrgOrNull(request.inquirer_delegator), OrgOrNull(request.provider_delegator)}));
    RETURN_IF_ERROR(
        tx.Exec("INSERT INTO hub_permit (permit_id, inquirer, provider,"
                " expires_at_ms, document, signature, created_at_us)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                {permit.id.str(), inquirer.str(), request.provider.str(), permit.expires_at_ms,
                 signed_permit.document, signed_permit.signature, now}));
    return handoff->Enqueue(tx, kTopicProvisionRequest, permit.id.str(), crypto::ToBytes(payload));
  };
  d.out.permitted = true;
  d.out.permit_id = permit.id;
  d.out.expires_at_ms = permit.expires_at_ms;
  d.out.permit_sha256 = crypto::Sha256(crypto::AsBytes(signed_permit.document));
  return d;
}

Status Hub::AcceptProvision(const OrgCode& provider, const linkage::SignedDocument& envelope) {
  ASSIGN_OR_RETURN(PendingStatus pending, StartAcceptProvision(provider, envelope));
  return pending();
}

struct Hub::ProvisionDecision {
  bool resent = false;                   // the same envelope again: nothing to write
  store::GroupCommitter::WriteFn write;  // else the provision's write
  // Set by `write` when the permit had been answered meanwhile (nothing written then).
  std::shared_ptr<bool> again;
  std::string permit_id;
  crypto::Bytes hash;  // of the envelope's document
  // The result's way to the deliverer: settled by the write's completion.
  std::shared_ptr<store::OutboxHandoff> handoff;
};

namespace {

// The provision's write found the permit answered meanwhile: OK when by this same envelope
// (`hash`), else ALREADY_PROVIDED. Reads in `tx`.
Status DecideByTheWinner(store::Transaction& tx, const std::string& permit_id,
                         const crypto::Bytes& hash) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT envelope_sha256 FROM hub_permit"
                                         " WHERE permit_id = ?",
                                         {permit_id}));
  if (row && !row->IsNull(0) && crypto::ConstantTimeEquals(row->GetBlob(0).value(), hash)) {
    return Status();
  }
  return AlreadyExistsError("ALREADY_PROVIDED: permit " + permit_id +
                            " was already answered with another envelope");
}

}  // namespace

Result<Hub::PendingStatus> Hub::StartAcceptProvision(const OrgCode& provider,
                                                     const linkage::SignedDocument& envelope) {
  ASSIGN_OR_RETURN(ProvisionDecision d, DecideProvision(provider, envelope));
  if (d.resent) return PendingStatus([] { return Status(); });
  auto settled = std::make_shared<std::promise<Status>>();
  std::shared_future<Status> committed = settled->get_future().share();
  committer_->SubmitAsync(std::move(d.write),
                          [this, handoff = d.handoff, again = d.again, settled](Status written) {
                            handoff->Settle(written);
                            if (written.ok() && !*again) backlog_->Added(1);
                            settled->set_value(std::move(written));
                          });
  return PendingStatus(
      [this, committed, again = d.again, permit_id = d.permit_id, hash = d.hash]() -> Status {
        RETURN_IF_ERROR(committed.get());
        if (*again) {
          // Decide by the envelope that won.
          ASSIGN_OR_RETURN(auto tx, db_->BeginReadOnce());
          return DecideByTheWinner(*tx, permit_id, hash);
        }
        return Status();
      });
}

void Hub::AcceptProvisionThen(const OrgCode& provider, const linkage::SignedDocument& envelope,
                              StatusDone done) {
  Result<ProvisionDecision> d = DecideProvision(provider, envelope);
  if (!d.ok()) return done(d.status());
  if (d->resent) return done(Status());
  committer_->SubmitAsync(
      std::move(d->write), [this, again = d->again, permit_id = d->permit_id, hash = d->hash,
                            handoff = d->handoff, done = std::move(done)](Status written) mutable {
        handoff->Settle(written);
        if (!written.ok()) return done(written);
        if (*again) {
          // Decide by the envelope that won, read through the committer as well (its thread
          // begins no transaction of its own).
          auto decided = std::make_shared<Status>();
          committer_->SubmitAsync(
              [decided, permit_id, hash](store::Transaction& tx) -> Status {
                *decided = DecideByTheWinner(tx, permit_id, hash);
                return Status();
              },
              [decided, done = std::move(done)](Status read) { done(read.ok() ? *decided : read); },
              store::GroupCommitter::Rerun::kSafe);
          return;
        }
        backlog_->Added(1);
        done(Status());
      });
}

Result<Hub::ProvisionDecision> Hub::DecideProvision(const OrgCode& provider,
                                                    const linkage::SignedDocument& envelope) {
  Result<linkage::Envelope> parsed = linkage::ParseEnvelopeDocument(envelope.document);
  if (!parsed.ok()) {
    return InvalidArgumentError("MALFORMED_ENVELOPE: " + parsed.status().message());
  }
  std::string permit_document;
  crypto::Bytes permit_signature;
  std::optional<crypto::Bytes> provided_hash;
  std::string permit_provider;
  std::string permit_inquirer;
  int64_t expires_at_ms = 0;
  {
    ASSIGN_OR_RETURN(auto tx, db_->BeginReadOnce());
    ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT inquirer, provider, expires_at_ms, document,"
                                            " signature, envelope_sha256 FROM hub_permit"
                                            " WHERE permit_id = ?",
                                            {parsed->permit_id.str()}));
    if (!row) {
      return NotFoundError("UNKNOWN_PERMIT: no permit " + parsed->permit_id.str());
    }
    ASSIGN_OR_RETURN(permit_inquirer, row->GetText(0));
    ASSIGN_OR_RETURN(permit_provider, row->GetText(1));
    ASSIGN_OR_RETURN(expires_at_ms, row->GetInt(2));
    ASSIGN_OR_RETURN(permit_document, row->GetText(3));
    ASSIGN_OR_RETURN(permit_signature, row->GetBlob(4));
    ASSIGN_OR_RETURN(provided_hash, row->GetOptionalBlob(5));
  }
  if (permit_provider != provider.str()) {
    return PermissionDeniedError("WRONG_PROVIDER: permit " + parsed->permit_id.str() +
                                 " is not addressed to " + provider.str());
  }
  if (parsed->provider != provider || parsed->inquirer.str() != permit_inquirer) {
    return InvalidArgumentError(
        "ENVELOPE_MISMATCH: the envelope's provider or inquirer differs from the permit's");
  }
  // The provider's keys accepted now (during a key rotation's overlap, the old and the new).
  if (Status s = linkage::VerifyEnvelopeWithKeys(envelope, OrgSignKeys(provider)).status();
      !s.ok()) {
    if (s.code() == StatusCode::kUnauthenticated) {
      return UnauthenticatedError("BAD_SIGNATURE: " + s.message());
    }
    return InvalidArgumentError("MALFORMED_ENVELOPE: " + s.message());
  }
  const crypto::Bytes hash = crypto::Sha256(crypto::AsBytes(envelope.document));
  if (provided_hash) {
    if (crypto::ConstantTimeEquals(*provided_hash, hash)) {
      ProvisionDecision d;
      d.resent = true;
      return d;
    }
    return AlreadyExistsError("ALREADY_PROVIDED: permit " + parsed->permit_id.str() +
                              " was already answered with another envelope");
  }
  if (NowMs(clock_) >= expires_at_ms) {
    return FailedPreconditionError("PERMIT_EXPIRED: permit " + parsed->permit_id.str() +
                                   " expired at " +
                                   FormatRfc3339(FromUnixMicros(expires_at_ms * 1000)));
  }
  linkage::ProvisionResult result;
  result.permit = {permit_document, permit_signature};
  result.envelope = envelope;
  const std::string body = linkage::ProvisionResultJson(result);
  const OrgCode inquirer = parsed->inquirer;
  const int64_t now = ToUnixMicros(clock_.Now());
  auto again = std::make_shared<bool>(false);
  const std::string permit_id = parsed->permit_id.str();
  const std::string payload = OutboxPayload(inquirer, body);
  ProvisionDecision d;
  d.handoff = HandOff();
  d.write = [=, handoff = d.handoff](store::Transaction& tx) -> Status {
    *again = false;  // as if for the first time, if run again
    ASSIGN_OR_RETURN(int64_t n, tx.ExecCount("UPDATE hub_permit SET envelope_sha256 = ?,"
                                             " provided_at_us = ? WHERE permit_id = ?"
                                             " AND envelope_sha256 IS NULL",
                                             {hash, now, permit_id}));
    if (n == 0) {  // answered concurrently
      *again = true;
      return Status();
    }
    RETURN_IF_ERROR(
        tx.Exec("UPDATE hub_record SET provided_at_us = ?, outcome = 'provided'"
                " WHERE permit_id = ?",
                {now, permit_id}));
    return handoff->Enqueue(tx, kTopicInquiryResult, permit_id, crypto::ToBytes(payload));
  };
  d.again = again;
  d.permit_id = permit_id;
  d.hash = hash;
  return d;
}

Result<std::vector<RecordView>> Hub::ListRecords(const OrgCode& org, int64_t after_id, int limit,
                                                 bool resident_view) {
  if (limit < 1 || limit > 1000) return InvalidArgumentError("limit: expected 1 to 1000");
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  // A provider never sees refusals: it was not contacted, and its code was never handed out.
  ASSIGN_OR_RETURN(
      auto rows,
      tx->Query("SELECT id, inquirer, provider, procedure_code, tm, layout_version,"
                " inquirer_code, provider_code, permit_id, reference, requested_at_us,"
                " provided_at_us, outcome, reason, non_disclosure, inquirer_non_disclosure,"
                " inquirer_delegator, provider_delegator FROM hub_record"
                " WHERE id > ? AND (inquirer = ? OR (provider = ? AND outcome <> 'refused'))" +
                    std::string(resident_view ? " AND non_disclosure = 0" : "") +
                    " ORDER BY id LIMIT ?",
                {after_id, org.str(), org.str(), static_cast<int64_t>(limit)}));
  std::vector<RecordView> out;
  out.reserve(rows.size());
  for (const store::Row& r : rows) {
    RecordView v;
    ASSIGN_OR_RETURN(v.id, r.GetInt(0));
    ASSIGN_OR_RETURN(std::string inquirer, r.GetText(1));
    ASSIGN_OR_RETURN(std::string provider, r.GetText(2));
    const bool as_inquirer = inquirer == org.str();
    v.role = as_inquirer ? "inquirer" : "provider";
    v.counterpart = as_inquirer ? provider : inquirer;
    ASSIGN_OR_RETURN(v.procedure, r.GetText(3));
    ASSIGN_OR_RETURN(v.tm, r.GetText(4));
    ASSIGN_OR_RETURN(v.layout_version, r.GetText(5));
    ASSIGN_OR_RETURN(std::string inquirer_code, r.GetText(6));
    ASSIGN_OR_RETURN(std::optional<std::string> provider_code, r.GetOptionalText(7));
    v.subject_code = as_inquirer ? inquirer_code : provider_code.value_or("");
    ASSIGN_OR_RETURN(std::optional<std::string> permit_id, r.GetOptionalText(8));
    v.permit_id = permit_id.value_or("");
    ASSIGN_OR_RETURN(std::string reference, r.GetText(9));
    if (as_inquirer) v.reference = reference;
    ASSIGN_OR_RETURN(v.requested_at_us, r.GetInt(10));
    ASSIGN_OR_RETURN(v.provided_at_us, r.GetOptionalInt(11));
    ASSIGN_OR_RETURN(v.outcome, r.GetText(12));
    ASSIGN_OR_RETURN(std::optional<std::string> reason, r.GetOptionalText(13));
    v.reason = reason.value_or("");
    ASSIGN_OR_RETURN(int64_t nd, r.GetInt(14));
    v.non_disclosure = nd != 0;
    ASSIGN_OR_RETURN(int64_t ind, r.GetInt(15));
    v.inquirer_non_disclosure = ind != 0;
    ASSIGN_OR_RETURN(std::optional<std::string> inquirer_delegator, r.GetOptionalText(16));
    v.inquirer_delegator = inquirer_delegator.value_or("");
    ASSIGN_OR_RETURN(std::optional<std::string> provider_delegator, r.GetOptionalText(17));
    v.provider_delegator = provider_delegator.value_or("");
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::string> Hub::PublishedPermissionList() {
  ASSIGN_OR_RETURN(PublishedListCopy copy, PublishedPermissionListCopy());
  return *copy.body;
}

Result<Hub::PublishedListCopy> Hub::PublishedPermissionListCopy() {
  std::shared_ptr<const Snapshot> s = snapshot();
  if (!s->list) return FailedPreconditionError("no permission list has been loaded");
  const TimePoint now = clock_.Now();
  {
    MutexLock lock(mu_);
    // Re-sign when the list or the registry changed, or after a tenth of the validity, so that
    // every copy handed out stays valid for at least 90% of list_validity.
    if (published_ && published_->version == s->list_version &&
        published_->stamp == s->registry_stamp &&
        now - published_->signed_at < config_.list_validity / 10) {
      return PublishedListCopy{published_->body, published_->etag};
    }
  }
  const int64_t issued = ToUnixMicros(now) / 1000;
  linkage::PermissionList list(
      s->list_version, issued,
      issued + std::chrono::duration_cast<std::chrono::milliseconds>(config_.list_validity).count(),
      s->list->rules(), s->list->classes(), s->list->local_gov_codes());
  ASSIGN_OR_RETURN(linkage::SignedDocument signed_list,
                   linkage::SignDocument(list.Document(), keys_.signing));
  auto body = std::make_shared<const std::string>(linkage::PublishedListJson(signed_list));
  const crypto::Bytes digest =
      crypto::Sha256(std::span(reinterpret_cast<const uint8_t*>(body->data()), body->size()));
  std::string etag =
      "\"" + crypto::ToHex(std::span(digest.data(), std::min<size_t>(16, digest.size()))) + "\"";
  MutexLock lock(mu_);
  published_ = PublishedList{s->list_version, s->registry_stamp, now, body, etag};
  return PublishedListCopy{std::move(body), std::move(etag)};
}

Result<SweepReport> Hub::Sweep() {
  SweepReport report;
  const TimePoint now = clock_.Now();
  constexpr int64_t kDayUs = int64_t{86'400} * 1'000'000;
  const int64_t record_cutoff_us = ToUnixMicros(now) - config_.retention_days * kDayUs;
  const int64_t permit_cutoff_ms = (ToUnixMicros(now) - config_.permit_days * kDayUs) / 1000;
  const int64_t batch = config_.sweep_batch;
  // In transactions of at most `batch` rows of each table, each with its own audit entry, so
  // that a backlog of millions never holds the writer for long: linkage writes go on between
  // them. At most kMaxBatches a sweep; what is left waits for the next one.
  constexpr int kMaxBatches = 1000;
  for (int i = 0; i < kMaxBatches; ++i) {
    ASSIGN_OR_RETURN(auto tx, db_->Begin());
    ASSIGN_OR_RETURN(int64_t records,
                     tx->ExecCount("DELETE FROM hub_record WHERE " +
                                       store::KeyIn(tx->backend(), "id",
                                                    "SELECT id FROM hub_record WHERE"
                                                    " requested_at_us < ?"
                                                    " ORDER BY requested_at_us LIMIT ?"),
                                   {record_cutoff_us, batch}));
    ASSIGN_OR_RETURN(int64_t permits,
                     tx->ExecCount("DELETE FROM hub_permit WHERE " +
                                       store::KeyIn(tx->backend(), "permit_id",
                                                    "SELECT permit_id FROM hub_permit"
                                                    " WHERE expires_at_ms < ?"
                                                    " ORDER BY expires_at_ms LIMIT ?"),
                                   {permit_cutoff_ms, batch}));
    if (records == 0 && permits == 0) break;  // nothing written: the transaction just ends
    RETURN_IF_ERROR(store_->audit()
                        .Append(*tx, {"hub", "system", "records.sweep",
                                      std::to_string(records) + " records, " +
                                          std::to_string(permits) + " permits",
                                      "ok", ""})
                        .status());
    RETURN_IF_ERROR(tx->Commit());
    report.records_purged += records;
    report.permits_purged += permits;
    ++report.batches;
    if (records < batch && permits < batch) break;
  }
  // Delivered items `delivered_hours` after delivery, dead ones `dead_days` after they died:
  // their dedupe keys (permit ids) cannot be queued again by then — a permit expires within
  // days and an envelope for a purged permit is refused. Bounded like the rows above.
  const TimePoint done_before = now - std::chrono::hours(config_.delivered_hours);
  const TimePoint dead_before = now - std::chrono::hours(24 * config_.dead_days);
  for (int i = 0; i < kMaxBatches; ++i) {
    ASSIGN_OR_RETURN(int64_t n, outbox_->Purge(*db_, done_before, dead_before, batch));
    report.outbox_purged += n;
    if (n < batch) break;
  }
  // The audit log's oldest entries, up to a signed checkpoint, each batch recorded in the log.
  const int64_t audit_cutoff_us = ToUnixMicros(now) - config_.audit_days * kDayUs;
  for (int i = 0; i < kMaxBatches; ++i) {
    ASSIGN_OR_RETURN(auto tx, db_->Begin());
    ASSIGN_OR_RETURN(const bool due, audit::AuditLog::PruneDue(*tx, audit_cutoff_us));
    if (!due) break;
    ASSIGN_OR_RETURN(const audit::AuditPrune pruned,
                     store_->audit().PruneRecorded(*tx, "hub", audit_cutoff_us, batch));
    if (pruned.deleted == 0) break;
    RETURN_IF_ERROR(tx->Commit());
    report.audit_pruned += pruned.deleted;
  }
  if (report.records_purged + report.permits_purged + report.outbox_purged + report.audit_pruned >
      0) {
    if (Status s = db_->EraseFreed(); !s.ok()) {
      log::Error("hub.erase_failed", {log::StatusField(s)});
      return s.WithContext(
          "hub sweep: purged, but the purged rows were not erased from the "
          "database's files");
    }
  }
  return report;
}

}  // namespace chukan::hub
