// Tests only: an in-process linkage — a Platform over a real store in a temp dir (or PostgreSQL
// under scripts/with-postgres), two tenants (city A, the inquirer, and city B, the provider,
// served by the same LinkageService), a fake hub and a fake clock — and the steps of an
// exchange as the hub would drive them.
#ifndef CHUKAN_SERVER_LINKAGE_TEST_UTIL_H_
#define CHUKAN_SERVER_LINKAGE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/status_matchers.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"
#include "json/json.h"
#include "layout/catalogue_loader.h"
#include "linkage/envelope.h"
#include "linkage/permission_list.h"
#include "linkage/permit.h"
#include "replica/record_source.h"
#include "replica_io/byte_source.h"
#include "server/hub_port.h"
#include "server/linkage_service.h"
#include "server/platform.h"
#include "store/store_test_util.h"

namespace chukan::server::testing {

inline OrgCode Org(std::string_view s) { return OrgCode::Parse(s).value(); }
inline const OrgCode kCityA = Org("0000000000000011");  // the inquirer
inline const OrgCode kCityB = Org("0000000000000012");  // the provider
// The cities' 地方公共団体コード in the fake hub's registry (札幌市 and 千代田区).
inline const LocalGovCode kCityALocalGovCode = LocalGovCode::Parse("011002").value();
inline const LocalGovCode kCityBLocalGovCode = LocalGovCode::Parse("131016").value();
inline const AtenaNo kAtena = AtenaNo::Parse("000000000000101").value();
inline const AtenaNo kAtena2 = AtenaNo::Parse("000000000000102").value();
inline const ResidentId kRid = ResidentId::Parse("12345678901").value();
// 地方税関係情報 for 個人住民税の賦課: answered without approval.
inline const JtCode kTaxJt = JtCode::Parse("JT90000000000101").value();
inline const TmCode kTaxTm = TmCode::Parse("TM00000000000002").value();
// 生活保護関係情報 for 生活保護の収入認定: 自動応答不可 (approval required).
inline const JtCode kWelfareJt = JtCode::Parse("JT90000000000402").value();
inline const TmCode kWelfareTm = TmCode::Parse("TM90000000000102").value();

// The hub as the linkage sees it: codes per (organisation, resident), a permission list of the
// two rules above (A may ask B) that gives both cities the class "municipality" and the
// 地方公共団体コード above, canned answers to permit requests and provisions, and every
// request it got.
class FakeHub final : public HubPort {
 public:
  struct Call {
    OrgCode as;
    std::string path;
    std::string body;
  };

  FakeHub() {
    auto list = linkage::PermissionList::ParseSource(
        "照会機関,事務手続コード,提供機関,特定個人情報名コード,根拠法令\n"
        "0000000000000011,JT90000000000101,0000000000000012,TM00000000000002,test\n"
        "0000000000000011,JT90000000000402,0000000000000012,TM90000000000102,test\n",
        "test.csv", *Catalogue());
    list_ = std::make_shared<const linkage::PermissionList>(
        0, 0, 0, list.value().rules(),
        std::map<OrgCode, std::string>{{kCityA, "municipality"}, {kCityB, "municipality"}},
        std::map<OrgCode, LocalGovCode>{{kCityA, kCityALocalGovCode},
                                        {kCityB, kCityBLocalGovCode}});
  }

  static std::shared_ptr<const layout::Catalogue> Catalogue() {
    static auto* c = new std::shared_ptr<const layout::Catalogue>(
        layout::LoadCatalogue(CHUKAN_LAYOUT_DIR).value());
    return *c;
  }

  Result<http::Response> Post(const OrgCode& as, std::string_view path, std::string body) override {
    MutexLock lock(mu_);
    calls_.push_back({as, std::string(path), body});
    if (!reachable_) return UnavailableError("connect: refused");
    if (path == "/hub/v1/codes") {
      if (codes_status_ != 200) {
        return http::Response::Json(codes_status_,
                                    R"({"error":{"code":"X","reason":"ORG_DISABLED"}})");
      }
      auto key = std::make_pair(as, body);
      auto it = codes_.find(key);
      if (it == codes_.end()) it = codes_.emplace(key, SubjectCode::Generate()).first;
      return http::Response::Json(200, R"({"subject_code":")" + it->second.str() + "\"}");
    }
    if (path == "/hub/v1/inquiries") return permit_answer_;
    if (path == "/hub/v1/provisions") return provision_answer_;
    return http::Response::Json(404, R"({"error":{"code":"NOT_FOUND"}})");
  }
  const crypto::VerifyKey& hub_key() const override { return verify_key_; }
  Result<std::shared_ptr<const linkage::PermissionList>> PermissionList() const override {
    MutexLock lock(mu_);
    if (!list_) return FailedPreconditionError("no permission list copy has been fetched");
    return list_;
  }
  Result<std::vector<OrgKeyRecord>> OrgKeys(const OrgCode&, const OrgCode& org,
                                            std::string_view) override {
    MutexLock lock(mu_);
    auto it = org_keys_.find(org);
    if (it == org_keys_.end()) return PermissionDeniedError("not active");
    return it->second;
  }

  // `org`'s one key, valid from ever to forever.
  void SetOrgKey(const OrgCode& org, crypto::VerifyKey key) {
    SetOrgKeys(org, {{{linkage::KeyIdOf(key), key}, 0, std::nullopt}});
  }
  void SetOrgKeys(const OrgCode& org, std::vector<OrgKeyRecord> keys) {
    MutexLock lock(mu_);
    org_keys_.insert_or_assign(org, std::move(keys));
  }
  void DropPermissionList() {
    MutexLock lock(mu_);
    list_.reset();
  }
  void SetReachable(bool reachable) {
    MutexLock lock(mu_);
    reachable_ = reachable;
  }
  void SetCodesStatus(int status) {
    MutexLock lock(mu_);
    codes_status_ = status;
  }
  void SetPermitAnswer(http::Response r) {
    MutexLock lock(mu_);
    permit_answer_ = std::move(r);
  }
  void SetProvisionAnswer(http::Response r) {
    MutexLock lock(mu_);
    provision_answer_ = std::move(r);
  }
  std::vector<Call> Calls(std::string_view path) const {
    MutexLock lock(mu_);
    std::vector<Call> out;
    for (const Call& c : calls_) {
      if (c.path == path) out.push_back(c);
    }
    return out;
  }

  // A permit as the hub signs it (expires `ttl` after `now`).
  linkage::SignedDocument Sign(const linkage::ProvisionPermit& p) const {
    return linkage::SignPermit(p, signing_key_);
  }

 private:
  const crypto::SigningKey signing_key_ = crypto::SigningKey::Generate();
  const crypto::VerifyKey verify_key_ = signing_key_.verify_key();
  mutable Mutex mu_;
  std::vector<Call> calls_ GUARDED_BY(mu_);
  std::map<std::pair<OrgCode, std::string>, SubjectCode> codes_ GUARDED_BY(mu_);
  std::shared_ptr<const linkage::PermissionList> list_ GUARDED_BY(mu_);
  std::map<OrgCode, std::vector<OrgKeyRecord>> org_keys_ GUARDED_BY(mu_);
  bool reachable_ GUARDED_BY(mu_) = true;
  int codes_status_ GUARDED_BY(mu_) = 200;
  http::Response permit_answer_ GUARDED_BY(mu_) = http::Response::Json(503, "{}");
  http::Response provision_answer_ GUARDED_BY(mu_) = http::Response::Json(202, "{}");
};

class LinkageTestBase : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ServerConfig c;
    c.store = Options();
    c.store.sqlite_vfs = sqlite_vfs_;
    c.keys_dir = dir().File("keys");
    c.delivery_max_backlog = max_backlog_;
    ASSERT_OK_AND_ASSIGN(platform_, Platform::Open(c, true, clock_, FakeHub::Catalogue()));
    ASSERT_OK(platform_->CreateTenant(kCityA, "city A", "test").status());
    ASSERT_OK(platform_->CreateTenant(kCityB, "city B", "test").status());
    for (const OrgCode& org : {kCityA, kCityB}) {
      ASSERT_OK_AND_ASSIGN(auto ctx, platform_->Tenant(TenantId::ForOrg(org)));
      hub_.SetOrgKey(org, ctx->SignKey()->key.verify_key());
    }
    LinkageService::Options o;
    o.inquiry_timeout = std::chrono::seconds(600);
    o.result_days = 2;
    linkage_ = std::make_unique<LinkageService>(*platform_, FakeHub::Catalogue(), &hub_, o, clock_);
  }
  void TearDown() override {
    linkage_.reset();
    platform_.reset();
    StoreTest::TearDown();
  }

  static TenantId A() { return TenantId::ForOrg(kCityA); }
  static TenantId B() { return TenantId::ForOrg(kCityB); }

  InquiryInput TaxInquiry(std::string key = "") const {
    InquiryInput in;
    in.atena = kAtena;
    in.procedure = kTaxJt;
    in.tm = kTaxTm;
    in.provider = kCityB;
    in.idempotency_key = std::move(key);
    in.client = "tax-system";
    return in;
  }

  // Claims every due outbox item of `tenant` and hands them to the courier, one topic at a time.
  Status DeliverAll(const TenantId& tenant) {
    ASSIGN_OR_RETURN(std::vector<store::OutboxItem> items,
                     linkage_->ClaimOutbox(tenant, "test:1", 100, std::chrono::seconds(60)));
    std::map<std::string, std::vector<store::OutboxItem>> by_topic;
    for (store::OutboxItem& item : items) by_topic[item.topic].push_back(std::move(item));
    for (const auto& [topic, list] : by_topic) {
      RETURN_IF_ERROR(linkage_->courier().Deliver(tenant, list, "test:1"));
    }
    return Status();
  }

  // The permit the hub would issue for the permit request it got last: A asks B, for the
  // inquiry named in the request, sealed to its reply key. `permit_id` is what the hub answered.
  linkage::ProvisionPermit PermitFor(const FakeHub::Call& request, const PermitId& permit_id,
                                     const SubjectCode& provider_subject,
                                     std::chrono::seconds ttl = std::chrono::seconds(300)) const {
    json::JsonObject o = json::ParseJsonObject(request.body).value();
    linkage::ProvisionPermit p;
    p.id = permit_id;
    p.issued_at_ms = ToUnixMicros(clock_.Now()) / 1000;
    p.expires_at_ms = p.issued_at_ms + ttl.count() * 1000;
    p.inquirer = request.as;
    p.provider = OrgCode::Parse(o.GetString("provider", 16).value()).value();
    p.procedure = JtCode::Parse(o.GetString("procedure", 16).value()).value();
    p.tm = TmCode::Parse(o.GetString("tm", 16).value()).value();
    p.layout_version = o.GetString("layout_version", 4).value();
    p.subject = provider_subject;
    p.reply_key = crypto::FromBase64Url(o.GetString("reply_key", 64).value()).value();
    p.reference = o.GetString("reference", 64).value();
    return p;
  }

  // The result the hub relays to the inquirer: the permit and the envelope B sent it.
  linkage::ProvisionResult ResultFor(const linkage::ProvisionPermit& permit,
                                     const FakeHub::Call& provision) const {
    return {hub_.Sign(permit), linkage::ParseSignedEnvelopeJson(provision.body).value()};
  }

  // Registers kAtena in both cities; returns B's code (the subject of B's permits).
  SubjectCode RegisterBoth() {
    EXPECT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
    Result<SubjectCode> b = linkage_->RegisterCode(B(), kAtena, kRid);
    EXPECT_OK(b.status());
    return b.ok() ? *b : SubjectCode::Generate();
  }

  // `atena`'s 地方税関係情報 record of 2026 with this income, imported into `tenant`'s replica
  // (副本) in `mode`; returns the import id ("" after a failure, which the test reports).
  std::string ImportTaxReplica(const TenantId& tenant, const AtenaNo& atena,
                               const std::string& income, replica::ImportMode mode) {
    auto ctx = platform_->Tenant(tenant).value();
    replica::ReplicaStore* store = ctx->Replicas().value();
    const std::string csv =
        "atena_no,IT00000200000001,IT00000200000002,IT00000200000003,IT00000200000004,"
        "IT00000200000005,IT00000200000006,IT00000200000007,IT00000200000008,IT00000200000009,"
        "IT00000200000010,IT00000200000011,IT00000200000012,IT00000200000013,IT00000200000014,"
        "IT00000200000015,IT00000200000016\n" +
        atena.str() + ",2026,2026-01-01,1," + income +
        ",100000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
    auto factory = replica::MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(csv),
                                                    replica::FileFormat::kCsv, "utf-8")
                       .value();
    Result<replica::ImportReport> r =
        store->Import({kTaxTm, "", mode, "", "client:test", "r", {}}, *factory,
                      [](store::Transaction*, const replica::ImportReport&) { return Status(); });
    EXPECT_OK(r.status());
    if (!r.ok()) return "";
    EXPECT_TRUE(r->committed);
    return r->import_id;
  }

  // The person's codes are registered in both cities, A creates an inquiry, the courier asks the
  // hub for a permit (answered 201 with a permit id), and the hub's permit is built (valid for
  // `ttl`). Returns the permit as B would get it.
  linkage::ProvisionPermit InquireAndPermit(const InquiryInput& in, std::string* inquiry_id,
                                            std::chrono::seconds ttl = std::chrono::seconds(300)) {
    const SubjectCode b_code = RegisterBoth();
    Result<InquiryView> v = linkage_->CreateInquiry(A(), in);
    EXPECT_OK(v.status());
    if (!v.ok()) return {};
    *inquiry_id = v->inquiry_id;
    const PermitId permit_id = PermitId::Generate();
    hub_.SetPermitAnswer(http::Response::Json(201, R"({"permit_id":")" + permit_id.str() + "\"}"));
    EXPECT_OK(DeliverAll(A()));
    std::vector<FakeHub::Call> asked = hub_.Calls("/hub/v1/inquiries");
    EXPECT_FALSE(asked.empty());
    if (asked.empty()) return {};
    return PermitFor(asked.back(), permit_id, b_code, ttl);
  }

  // B's provision sent (the courier), relayed to A as the hub would.
  Status Relay(const linkage::ProvisionPermit& permit) {
    RETURN_IF_ERROR(DeliverAll(B()));
    std::vector<FakeHub::Call> sent = hub_.Calls("/hub/v1/provisions");
    if (sent.empty()) return NotFoundError("nothing was sent");
    return linkage_->OnInquiryResult(ResultFor(permit, sent.back()));
  }

  // SQLite: the VFS the databases are opened with (a fault-injecting one, store/fault_vfs.h);
  // set before SetUp. Empty: SQLite's default.
  std::string sqlite_vfs_;
  // [delivery] max_backlog of the platform; set before SetUp.
  int64_t max_backlog_ = 1000;
  FakeClock clock_;
  FakeHub hub_;
  std::unique_ptr<Platform> platform_;
  std::unique_ptr<LinkageService> linkage_;
};

}  // namespace chukan::server::testing

#endif  // CHUKAN_SERVER_LINKAGE_TEST_UTIL_H_
