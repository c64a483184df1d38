#include "server/tenant_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "linkage/envelope.h"
#include "server/platform.h"
#include "store/store_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const OrgCode kCity = OrgCode::Parse("0000000000000141").value();
const TenantId kTenant = TenantId::ForOrg(kCity);

class TenantKeysTest : public store::testing::StoreTest {
 protected:
  ServerConfig Config() const {
    ServerConfig c;
    c.store = Options();
    c.keys_dir = dir().File("keys");
    return c;
  }
  std::unique_ptr<Platform> OpenPlatform() {
    auto p = Platform::Open(Config(), true, clock_);
    EXPECT_OK(p);
    return p.ok() ? std::move(p).value() : nullptr;
  }
  std::shared_ptr<TenantContext> Tenant(Platform& p) {
    auto ctx = p.Tenant(kTenant);
    EXPECT_OK(ctx);
    return ctx.ok() ? *ctx : nullptr;
  }
  static int64_t Count(store::Database& db, const std::string& sql) {
    auto tx = db.BeginRead().value();
    return tx->QueryOne(sql).value()->GetInt(0).value();
  }
  static std::vector<std::string> States(TenantContext& ctx) {
    std::vector<std::string> out;
    Result<std::vector<TenantKeyInfo>> keys = ctx.ListKeys();
    EXPECT_OK(keys.status());
    if (!keys.ok()) return out;
    for (const TenantKeyInfo& k : *keys) out.push_back(k.purpose + ":" + k.state);
    return out;
  }
  // What the keys of a tenant were before the key table: derived from its data key.
  static crypto::Bytes Derived(const crypto::SecretBytes& data_key, std::string_view purpose) {
    return crypto::Blake2bKeyed(data_key, crypto::AsBytes(purpose), 32);
  }
  FakeClock clock_;
};

TEST_P(TenantKeysTest, ANewTenantsKeysAreStoredSealedUnderItsDataKey) {
  auto p = OpenPlatform();
  ASSERT_OK(p->CreateTenant(kCity, "city", "cli:test").status());
  auto ctx = Tenant(*p);
  const std::shared_ptr<const OrgSignKey> key = ctx->SignKey();
  EXPECT_EQ(key->kid, linkage::KeyIdOf(key->key.verify_key()));
  EXPECT_THAT(States(*ctx),
              ElementsAre("replica-index:active", "org-sign:active", "atena-index:active"));
  // Only sealed: neither secret is in the table in the clear.
  {
    auto tx = ctx->db->BeginRead().value();
    auto rows = tx->Query("SELECT sealed_key FROM tenant_keys").value();
    ASSERT_EQ(rows.size(), 3u);
    for (const store::Row& r : rows) {
      const std::string sealed = crypto::ToHex(r.GetBlob(0).value());
      EXPECT_EQ(sealed.size(), 2u * (32 + 40));
      EXPECT_EQ(sealed.find(crypto::ToHex(key->key.seed().span())), std::string::npos);
      EXPECT_EQ(sealed.find(crypto::ToHex(ctx->index_key.span())), std::string::npos);
    }
  }
  // What opens is the stored key, not a derivation: a rotated (random) key survives a reopen.
  bool created = false;
  ASSERT_OK(ctx->RotateSignKey("cli:test", &created).status());
  ASSERT_OK_AND_ASSIGN(TenantKeyInfo active, ctx->ActivateSignKey("cli:test", ""));
  const std::string index = crypto::ToHex(ctx->index_key.span());
  ctx.reset();
  p.reset();
  p = OpenPlatform();
  ctx = Tenant(*p);
  EXPECT_EQ(ctx->SignKey()->kid, active.kid);
  EXPECT_EQ(crypto::ToHex(ctx->SignKey()->key.verify_key().bytes()),
            crypto::ToHex(active.public_key));
  EXPECT_EQ(crypto::ToHex(ctx->index_key.span()), index);
}

TEST_P(TenantKeysTest, ATenantFromBeforeTheTableKeepsItsDerivedKeys) {
  auto p = OpenPlatform();
  ASSERT_OK(p->CreateTenant(kCity, "city", "cli:test").status());
  auto ctx = Tenant(*p);
  const crypto::SecretBytes data_key = ctx->data_keys->Snapshot()->CloneCurrentForExport();
  std::shared_ptr<store::Database> db = ctx->db;
  // The old code path's database: no key table, nothing recorded of it.
  {
    auto tx = db->Begin().value();
    ASSERT_OK(tx->Exec("DROP TABLE tenant_keys"));
    ASSERT_OK(tx->Exec("DELETE FROM schema_migrations WHERE component = 'keys'"));
    ASSERT_OK(tx->Commit());
  }
  ctx.reset();
  db.reset();
  p.reset();
  p = OpenPlatform();
  ctx = Tenant(*p);
  // The public key the hub has registered for it is the same, and so is the index key.
  ASSERT_OK_AND_ASSIGN(crypto::SigningKey old_key,
                       crypto::SigningKey::FromSeed(crypto::SecretBytes::FromBytes(
                           Derived(data_key, "chukan-tenant-org-sign-v1"))));
  EXPECT_EQ(crypto::ToHex(ctx->SignKey()->key.verify_key().bytes()),
            crypto::ToHex(old_key.verify_key().bytes()));
  EXPECT_EQ(crypto::ToHex(ctx->index_key.span()),
            crypto::ToHex(Derived(data_key, "chukan-linkage-atena-index-v1")));
  // The replica's index key is the one the data key derived (replica::LegacyIndexKey), so
  // every key_hash stored before stays valid after the data key rotates.
  {
    auto tx = ctx->db->BeginRead().value();
    auto row =
        tx->QueryOne("SELECT sealed_key FROM tenant_keys WHERE purpose = 'replica-index'").value();
    ASSERT_TRUE(row.has_value());
    ASSERT_OK_AND_ASSIGN(
        crypto::SecretBytes replica_index,
        ctx->data_keys->Open(row->GetBlob(0).value(),
                             TenantKeyAad(kTenant, "replica-index", "replica-index-1")));
    EXPECT_EQ(crypto::ToHex(replica_index.span()),
              crypto::ToHex(Derived(data_key, "replica-index-v1")));
  }
  // Its first open stored them (two entries: the first keys, the replica's), this open again
  // (the table was gone).
  EXPECT_EQ(Count(*ctx->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'tenant.keys.store'"),
            4);
  // Stored once: the next open reads them.
  ctx.reset();
  p.reset();
  p = OpenPlatform();
  ctx = Tenant(*p);
  EXPECT_EQ(crypto::ToHex(ctx->SignKey()->key.verify_key().bytes()),
            crypto::ToHex(old_key.verify_key().bytes()));
  EXPECT_EQ(Count(*ctx->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'tenant.keys.store'"),
            4);
}

TEST_P(TenantKeysTest, RotationMakesNextThenActivatesItAndErasesTheOldSecret) {
  auto p = OpenPlatform();
  ASSERT_OK(p->CreateTenant(kCity, "city", "cli:test").status());
  auto ctx = Tenant(*p);
  const std::string old_kid = ctx->SignKey()->kid;
  EXPECT_THAT(ctx->ActivateSignKey("cli:test", ""),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("no next signing key")));

  bool created = false;
  ASSERT_OK_AND_ASSIGN(TenantKeyInfo next, ctx->RotateSignKey("cli:test", &created));
  EXPECT_TRUE(created);
  EXPECT_EQ(next.state, "next");
  EXPECT_EQ(next.kid, linkage::KeyIdOf(crypto::VerifyKey::FromBytes(next.public_key).value()));
  EXPECT_NE(next.kid, old_kid);
  EXPECT_EQ(ctx->SignKey()->kid, old_kid);  // the next key does not sign yet
  // Asked again: the same next key (its public half can be written again), nothing new.
  ASSERT_OK_AND_ASSIGN(TenantKeyInfo again, ctx->RotateSignKey("cli:test", &created));
  EXPECT_FALSE(created);
  EXPECT_EQ(again.kid, next.kid);
  EXPECT_THAT(States(*ctx), ElementsAre("replica-index:active", "org-sign:next", "org-sign:active",
                                        "atena-index:active"));

  EXPECT_THAT(ctx->ActivateSignKey("cli:test", old_kid),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("the next signing key is")));
  ASSERT_OK_AND_ASSIGN(TenantKeyInfo active, ctx->ActivateSignKey("cli:test", next.kid));
  EXPECT_EQ(active.kid, next.kid);
  EXPECT_EQ(ctx->SignKey()->kid, next.kid);
  EXPECT_EQ(crypto::ToHex(ctx->SignKey()->key.verify_key().bytes()),
            crypto::ToHex(next.public_key));
  EXPECT_THAT(States(*ctx), ElementsAre("replica-index:active", "org-sign:active",
                                        "org-sign:retired", "atena-index:active"));
  // The retired key's secret is gone; its id and public half stay for the record.
  EXPECT_EQ(Count(*ctx->db, "SELECT COUNT(*) FROM tenant_keys WHERE kid = '" + old_kid +
                                "' AND sealed_key IS NULL AND public_key IS NOT NULL"),
            1);
  EXPECT_EQ(Count(*ctx->db,
                  "SELECT COUNT(*) FROM audit_log WHERE action IN ('tenant.sign_key.create',"
                  " 'tenant.sign_key.activate') AND outcome = 'ok'"),
            2);
  EXPECT_EQ(Count(*ctx->db,
                  "SELECT COUNT(*) FROM audit_log WHERE action = 'tenant.sign_key.activate'"
                  " AND outcome = 'error:FAILED_PRECONDITION'"),
            2);
}

TEST_P(TenantKeysTest, ARunningContextPicksUpAKeyActivatedByAnotherProcess) {
  auto server = OpenPlatform();
  ASSERT_OK(server->CreateTenant(kCity, "city", "cli:test").status());
  auto serving = Tenant(*server);
  const std::string old_kid = serving->SignKey()->kid;
  // `chukan tenant rotate-sign-key` / `activate-sign-key`: another Platform on the same store.
  auto cli = OpenPlatform();
  auto admin = Tenant(*cli);
  bool created = false;
  ASSERT_OK_AND_ASSIGN(TenantKeyInfo next, admin->RotateSignKey("cli:test", &created));
  ASSERT_OK_AND_ASSIGN(bool changed, serving->ReloadSignKey());
  EXPECT_FALSE(changed);  // a next key is not the active one
  ASSERT_OK(admin->ActivateSignKey("cli:test", "").status());
  EXPECT_EQ(serving->SignKey()->kid, old_kid);  // until the server's refresh
  ASSERT_OK(server->ReloadSignKeys());
  EXPECT_EQ(serving->SignKey()->kid, next.kid);
  ASSERT_OK_AND_ASSIGN(changed, serving->ReloadSignKey());
  EXPECT_FALSE(changed);
}

TEST_P(TenantKeysTest, ASealedKeyOpensOnlyInItsOwnRow) {
  auto p = OpenPlatform();
  ASSERT_OK(p->CreateTenant(kCity, "city", "cli:test").status());
  auto ctx = Tenant(*p);
  bool created = false;
  ASSERT_OK_AND_ASSIGN(TenantKeyInfo next, ctx->RotateSignKey("cli:test", &created));
  // The next key's sealed bytes copied onto the active key's row (another key id).
  {
    auto tx = ctx->db->Begin().value();
    ASSERT_OK(tx->Exec(
        "UPDATE tenant_keys SET sealed_key = (SELECT sealed_key FROM tenant_keys WHERE kid = ?)"
        " WHERE state = 'active' AND purpose = 'org-sign'",
        {next.kid}));
    ASSERT_OK(tx->Commit());
  }
  ctx.reset();
  p.reset();
  p = OpenPlatform();
  EXPECT_THAT(p->Tenant(kTenant), StatusIs(StatusCode::kDataLoss,
                                           HasSubstr("does not open under the tenant's data key")));
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(TenantKeysTest);

}  // namespace
}  // namespace chukan::server
