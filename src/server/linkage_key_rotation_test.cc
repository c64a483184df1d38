// 署名鍵の更新 while linkage runs: city B (the provider) rotates its signing key between
// inquiries of city A; answers signed before, during and after the switch all complete, an
// answer signed with the old key and delivered after the switch is accepted during the overlap,
// and the old key is refused for permits issued after it ended.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "linkage/envelope.h"
#include "server/linkage_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names

class LinkageKeyRotationTest : public LinkageTestBase {
 protected:
  // B's envelope for `permit` as the fake hub received it.
  linkage::SignedDocument SentEnvelope(const linkage::ProvisionPermit& permit) {
    for (const FakeHub::Call& c : hub_.Calls("/hub/v1/provisions")) {
      linkage::SignedDocument env = linkage::ParseSignedEnvelopeJson(c.body).value();
      if (linkage::ParseEnvelopeDocument(env.document).value().permit_id == permit.id) return env;
    }
    ADD_FAILURE() << "no envelope for permit " << permit.id.str();
    return {};
  }
  // The same answer signed again by `key` under id `kid`.
  static linkage::SignedDocument Resigned(const linkage::SignedDocument& env,
                                          const OrgSignKey& key) {
    linkage::Envelope e = linkage::ParseEnvelopeDocument(env.document).value();
    e.kid = key.kid;
    return linkage::SignEnvelope(e, key.key);
  }
  std::string KidOf(const linkage::SignedDocument& env) {
    return linkage::ParseEnvelopeDocument(env.document).value().kid;
  }
  std::string StateOf(const std::string& id) { return linkage_->GetInquiry(A(), id).value().state; }
  // `chukan tenant …` run beside the server: another Platform on the same store.
  std::unique_ptr<Platform> Cli() {
    ServerConfig c;
    c.store = Options();
    c.store.sqlite_vfs = sqlite_vfs_;
    c.keys_dir = dir().File("keys");
    auto p = Platform::Open(c, false, clock_);
    EXPECT_OK(p);
    return p.ok() ? std::move(p).value() : nullptr;
  }
};

TEST_P(LinkageKeyRotationTest, InquiriesCompleteBeforeDuringAndAfterTheSwitch) {
  ASSERT_OK_AND_ASSIGN(auto b, platform_->Tenant(B()));
  const std::shared_ptr<const OrgSignKey> old_key = b->SignKey();

  // Before: signed with the key the hub has always had.
  std::string id1;
  linkage::ProvisionPermit p1 = InquireAndPermit(TaxInquiry(), &id1);
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(p1)).status());
  ASSERT_OK(DeliverAll(B()));
  EXPECT_EQ(KidOf(SentEnvelope(p1)), old_key->kid);
  ASSERT_OK(linkage_->OnInquiryResult(ResultFor(p1, hub_.Calls("/hub/v1/provisions").back())));
  EXPECT_EQ(StateOf(id1), "completed");

  // B makes its next key; an answer is signed (old key) and waits in B's outbox.
  auto cli = Cli();
  ASSERT_OK_AND_ASSIGN(auto b_cli, cli->Tenant(B()));
  bool created = false;
  ASSERT_OK_AND_ASSIGN(TenantKeyInfo next, b_cli->RotateSignKey("cli:test", &created));
  std::string id2;
  linkage::ProvisionPermit p2 = InquireAndPermit(TaxInquiry(), &id2);
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(p2)).status());
  // The hub registers the next key with a one-hour overlap.
  const int64_t now_ms = ToUnixMicros(clock_.Now()) / 1000;
  const crypto::VerifyKey next_pub = crypto::VerifyKey::FromBytes(next.public_key).value();
  hub_.SetOrgKeys(kCityB, {{{next.kid, next_pub}, now_ms, std::nullopt},
                           {{old_key->kid, old_key->key.verify_key()}, 0, now_ms + 3'600'000}});
  // B activates it (the CLI's process); the running server picks it up at its next refresh.
  ASSERT_OK(b_cli->ActivateSignKey("cli:test", next.kid).status());
  EXPECT_EQ(b->SignKey()->kid, old_key->kid);
  ASSERT_OK(platform_->ReloadSignKeys());
  EXPECT_EQ(b->SignKey()->kid, next.kid);

  // After the switch: a new answer is signed with the new key; the one signed before goes out
  // now, both reach A and complete.
  std::string id3;
  linkage::ProvisionPermit p3 = InquireAndPermit(TaxInquiry(), &id3);
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(p3)).status());
  ASSERT_OK(DeliverAll(B()));
  EXPECT_EQ(KidOf(SentEnvelope(p2)), old_key->kid);
  EXPECT_EQ(KidOf(SentEnvelope(p3)), next.kid);
  ASSERT_OK(linkage_->OnInquiryResult({hub_.Sign(p2), SentEnvelope(p2)}));
  ASSERT_OK(linkage_->OnInquiryResult({hub_.Sign(p3), SentEnvelope(p3)}));
  EXPECT_EQ(StateOf(id2), "completed");
  EXPECT_EQ(StateOf(id3), "completed");

  // A permit issued just before the old key's end, answered with it, delivered after the end:
  // accepted (the hub accepted it in time).
  clock_.Advance(std::chrono::minutes(55));
  std::string id4;
  linkage::ProvisionPermit p4 = InquireAndPermit(TaxInquiry(), &id4, std::chrono::minutes(15));
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(p4)).status());
  ASSERT_OK(DeliverAll(B()));
  const linkage::SignedDocument late_old = Resigned(SentEnvelope(p4), *old_key);
  clock_.Advance(std::chrono::minutes(6));
  ASSERT_OK(linkage_->OnInquiryResult({hub_.Sign(p4), late_old}));
  EXPECT_EQ(StateOf(id4), "completed");

  // After the overlap: for a permit issued now, the old key is refused; the new one completes.
  std::string id5;
  linkage::ProvisionPermit p5 = InquireAndPermit(TaxInquiry(), &id5);
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(p5)).status());
  ASSERT_OK(DeliverAll(B()));
  EXPECT_THAT(
      linkage_->OnInquiryResult({hub_.Sign(p5), Resigned(SentEnvelope(p5), *old_key)}),
      StatusIs(StatusCode::kUnauthenticated, "BAD_ENVELOPE_SIGNATURE: envelope: signed with key " +
                                                 old_key->kid + ", which is not accepted"));
  EXPECT_EQ(StateOf(id5), "permitted");
  ASSERT_OK(linkage_->OnInquiryResult({hub_.Sign(p5), SentEnvelope(p5)}));
  EXPECT_EQ(StateOf(id5), "completed");
  // The tenant's log has the rotation.
  auto tx = b->db->BeginRead().value();
  EXPECT_EQ(tx->QueryOne("SELECT COUNT(*) FROM audit_log WHERE action IN"
                         " ('tenant.sign_key.create', 'tenant.sign_key.activate')")
                .value()
                ->GetInt(0)
                .value(),
            2);
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(LinkageKeyRotationTest);

}  // namespace
}  // namespace chukan::server
