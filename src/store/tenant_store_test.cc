#include "store/tenant_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TenantId Tid(const char* org) { return TenantId::ForOrg(OrgCode::Parse(org).value()); }

class TenantStoreTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  // Creates table `secrets` in the tenant with one row `value`.
  void Seed(const TenantId& t, const std::string& value) {
    ASSERT_OK(store_->CreateTenant(t));
    ASSERT_OK_AND_ASSIGN(auto db, store_->Tenant(t));
    ASSERT_OK_AND_ASSIGN(auto txn, db->Begin());
    ASSERT_OK(txn->ExecScript("CREATE TABLE secrets (v TEXT NOT NULL)"));
    ASSERT_OK(txn->Exec("INSERT INTO secrets (v) VALUES (?)", {value}));
    ASSERT_OK(txn->Commit());
  }

  TenantStore* store_ = nullptr;
  const TenantId a_ = Tid("1310000000000001");
  const TenantId b_ = Tid("1310000000000002");
};

TEST_P(TenantStoreTest, TenantsHaveSeparateData) {
  Seed(a_, "secret of A");
  Seed(b_, "secret of B");
  ASSERT_OK_AND_ASSIGN(auto db, store_->Tenant(a_));
  ASSERT_OK_AND_ASSIGN(auto txn, db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, txn->Query("SELECT v FROM secrets"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].GetText(0).value(), "secret of A");
}

TEST_P(TenantStoreTest, TenantHandleCannotReachAnotherTenant) {
  Seed(a_, "secret of A");
  Seed(b_, "secret of B");
  ASSERT_OK_AND_ASSIGN(auto db, store_->Tenant(a_));
  ASSERT_OK_AND_ASSIGN(auto txn, db->Begin());
  if (GetParam() == Backend::kPostgres) {
    // Naming B's schema explicitly is refused by PostgreSQL's privileges.
    EXPECT_THAT(txn->Query("SELECT v FROM " + store_->SchemaName(b_) + ".secrets"),
                StatusIs(StatusCode::kPermissionDenied,
                         HasSubstr("permission denied for schema " + store_->SchemaName(b_))));
    ASSERT_OK(txn->Rollback());
    // Nor can it create objects in, or read tables of, the platform schema.
    ASSERT_OK_AND_ASSIGN(auto txn2, db->Begin());
    EXPECT_THAT(txn2->ExecScript("CREATE TABLE " + prefix() + "_platform.x (i INTEGER)"),
                StatusIs(StatusCode::kPermissionDenied));
  } else {
    // Opening B's file through A's handle is denied by the authorizer.
    EXPECT_THAT(txn->Exec("ATTACH DATABASE ? AS other", {store_->TenantPath(b_)}),
                StatusIs(StatusCode::kPermissionDenied, HasSubstr("not authorized")));
    ASSERT_OK(txn->Rollback());
    ASSERT_OK_AND_ASSIGN(auto txn2, db->Begin());
    EXPECT_THAT(txn2->ExecScript("ATTACH DATABASE '" + store_->TenantPath(b_) + "' AS other"),
                StatusIs(StatusCode::kPermissionDenied));
  }
}

TEST_P(TenantStoreTest, PlatformHandleCannotReadTenantData) {
  Seed(a_, "secret of A");
  ASSERT_OK_AND_ASSIGN(auto platform, store_->Platform());
  ASSERT_OK_AND_ASSIGN(auto txn, platform->BeginRead());
  if (GetParam() == Backend::kPostgres) {
    EXPECT_THAT(txn->Query("SELECT v FROM " + store_->SchemaName(a_) + ".secrets"),
                StatusIs(StatusCode::kPermissionDenied));
  } else {
    EXPECT_THAT(txn->Exec("ATTACH DATABASE ? AS t", {store_->TenantPath(a_)}),
                StatusIs(StatusCode::kPermissionDenied));
  }
}

TEST_P(TenantStoreTest, UnknownTenantIsNotFound) {
  EXPECT_THAT(store_->Tenant(a_), StatusIs(StatusCode::kNotFound, HasSubstr(a_.str())));
  EXPECT_THAT(store_->DropTenant(a_), StatusIs(StatusCode::kNotFound));
}

TEST_P(TenantStoreTest, CreateTwiceIsAlreadyExists) {
  ASSERT_OK(store_->CreateTenant(a_));
  EXPECT_THAT(store_->CreateTenant(a_), StatusIs(StatusCode::kAlreadyExists));
}

TEST_P(TenantStoreTest, ListAndDrop) {
  ASSERT_OK_AND_ASSIGN(auto none, store_->ListTenants());
  EXPECT_TRUE(none.empty());
  Seed(b_, "B");
  Seed(a_, "A");
  ASSERT_OK_AND_ASSIGN(auto both, store_->ListTenants());
  EXPECT_THAT(both, ElementsAre(a_, b_));

  ASSERT_OK_AND_ASSIGN(auto held, store_->Tenant(a_));
  ASSERT_OK(held->Close());  // the handle's owner closes it (the server's TenantContext)
  ASSERT_OK(store_->DropTenant(a_));
  EXPECT_THAT(store_->Tenant(a_), StatusIs(StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(auto left, store_->ListTenants());
  EXPECT_THAT(left, ElementsAre(b_));
  if (GetParam() == Backend::kSqlite) {
    struct stat st;
    EXPECT_NE(::stat(store_->TenantPath(a_).c_str(), &st), 0);
  }
  // Re-creating gives an empty tenant, and a new handle to it (none of the old one is kept).
  ASSERT_OK(store_->CreateTenant(a_));
  ASSERT_OK_AND_ASSIGN(auto fresh, store_->Tenant(a_));
  EXPECT_NE(fresh.get(), held.get());
  ASSERT_OK_AND_ASSIGN(auto txn, fresh->BeginRead());
  EXPECT_THAT(txn->Query("SELECT v FROM secrets"), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(TenantStoreTest, SecondStoreSeesTheSameTenants) {
  Seed(a_, "A");
  TenantStore* again = OpenStore();
  ASSERT_NE(again, nullptr);
  ASSERT_OK_AND_ASSIGN(auto db, again->Tenant(a_));
  ASSERT_OK_AND_ASSIGN(auto txn, db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto row, txn->QueryOne("SELECT v FROM secrets"));
  EXPECT_EQ(row->GetText(0).value(), "A");
}

TEST_P(TenantStoreTest, StorageIsPrivate) {
  Seed(a_, "A");
  if (GetParam() == Backend::kPostgres) {
    // The tenant role cannot log in, is no superuser, and owns exactly its schema.
    PostgresOptions o;
    o.dsn = dsn();
    ASSERT_OK_AND_ASSIGN(auto admin, OpenPostgres(o));
    ASSERT_OK_AND_ASSIGN(auto txn, admin->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto role, txn->QueryOne("SELECT rolcanlogin, rolsuper, rolinherit FROM "
                                                  "pg_roles WHERE rolname = ?",
                                                  {store_->SchemaName(a_)}));
    ASSERT_TRUE(role.has_value());
    EXPECT_EQ(role->GetInt(0).value(), 0);
    EXPECT_EQ(role->GetInt(1).value(), 0);
    EXPECT_EQ(role->GetInt(2).value(), 0);
    ASSERT_OK_AND_ASSIGN(auto owned, txn->Query("SELECT n.nspname::text FROM pg_namespace n "
                                                "JOIN pg_roles r ON r.oid = n.nspowner "
                                                "WHERE r.rolname = ?",
                                                {store_->SchemaName(a_)}));
    ASSERT_EQ(owned.size(), 1u);
    EXPECT_EQ(owned[0].GetText(0).value(), store_->SchemaName(a_));
    return;
  }
  ASSERT_OK(store_->Platform());
  // An open handle (its owner's) keeps the WAL file in existence to be checked.
  ASSERT_OK_AND_ASSIGN(auto open, store_->Tenant(a_));
  ASSERT_OK_AND_ASSIGN(auto txn, open->BeginRead());
  ASSERT_OK(txn->Query("SELECT v FROM secrets").status());
  struct stat st;
  ASSERT_EQ(::stat(Options().data_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((Options().data_dir + "/tenants").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(store_->TenantPath(a_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((store_->TenantPath(a_) + "-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((Options().data_dir + "/platform.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_P(TenantStoreTest, BadOptionsAreInvalidArgument) {
  StoreOptions o = Options();
  o.pool_size = 0;
  EXPECT_THAT(TenantStore::Open(o), StatusIs(StatusCode::kInvalidArgument));
  o = Options();
  o.data_dir = "";
  o.dsn = "";
  EXPECT_THAT(TenantStore::Open(o), StatusIs(StatusCode::kInvalidArgument));
  o = Options();
  o.pg_prefix = "Bad-Prefix";
  if (GetParam() == Backend::kPostgres) {
    EXPECT_THAT(TenantStore::Open(o), StatusIs(StatusCode::kInvalidArgument));
  }
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(TenantStoreTest);

}  // namespace
}  // namespace chukan::store
