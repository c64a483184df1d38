#include "server/data_key_rotation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "common/status_matchers.h"
#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "server/linkage_env.h"
#include "server/platform.h"
#include "server/staff_directory.h"
#include "server/tenant_transfer.h"
#include "store/store_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const OrgCode kCity = OrgCode::Parse("0000000000000141").value();
const TenantId kTenant = TenantId::ForOrg(kCity);
constexpr int kCodes = 1200;  // more than two batches of 500

std::string Code(int i) {
  std::string s = std::to_string(i);
  return "C" + std::string(15 - s.size(), '0') + s;
}
std::string Atena(int i) {
  std::string s = std::to_string(i);
  return std::string(15 - s.size(), '0') + s;
}

class DataKeyRotationTest : public store::testing::StoreTest {
 protected:
  ServerConfig Config() const {
    ServerConfig c;
    c.store = Options();
    c.keys_dir = dir().File("keys");
    return c;
  }
  void Open() {
    ctx_.reset();
    p_.reset();
    ASSERT_OK_AND_ASSIGN(p_, Platform::Open(Config(), true, clock_));
    ASSERT_OK_AND_ASSIGN(ctx_, p_->Tenant(kTenant));
  }
  void Create() {
    ASSERT_OK_AND_ASSIGN(p_, Platform::Open(Config(), true, clock_));
    ASSERT_OK(p_->CreateTenant(kCity, "city", "cli:test").status());
    ASSERT_OK_AND_ASSIGN(ctx_, p_->Tenant(kTenant));
  }
  // Codes sealed as subject_codes.cc seals them (under whatever key is current).
  void AddCodes(int from, int to) {
    ASSERT_OK(ctx_->Commit([&](store::Transaction& tx) -> Status {
      for (int i = from; i < to; ++i) {
        ASSIGN_OR_RETURN(crypto::Bytes sealed,
                         ctx_->data_keys->Seal(crypto::AsBytes(Atena(i)),
                                               LinkageAad("atena", kTenant, Code(i))));
        RETURN_IF_ERROR(
            tx.Exec("INSERT INTO subject_codes (subject_code, atena_index,"
                    " atena_sealed, created_at_us) VALUES (?, ?, ?, 0)",
                    {Code(i), crypto::ToBytes(Code(i)), sealed}));
      }
      return Status();
    }));
  }
  // The atena_no of code i, read with the context's keys; "" when it does not open.
  std::string ReadCode(int i, bool current_only) {
    auto tx = ctx_->db->BeginRead().value();
    auto row =
        tx->QueryOne("SELECT atena_sealed FROM subject_codes WHERE subject_code = ?", {Code(i)})
            .value();
    if (!row) return "(missing)";
    const crypto::Bytes sealed = row->GetBlob(0).value();
    const crypto::Bytes ad = LinkageAad("atena", kTenant, Code(i));
    auto keys = ctx_->data_keys->Snapshot();
    Result<crypto::SecretBytes> plain =
        current_only ? keys->OpenCurrent(sealed, ad) : keys->Open(sealed, ad);
    return plain.ok() ? std::string(plain->AsStringView()) : "";
  }
  std::vector<uint8_t> PlatformBlob(const std::string& column) {
    auto db = p_->store().Platform().value();
    auto tx = db->BeginRead().value();
    auto row = tx->QueryOne("SELECT " + column + " FROM tenants WHERE org_code = ?", {kCity.str()})
                   .value();
    if (!row || row->IsNull(0)) return {};
    return row->GetBlob(0).value();
  }
  Platform::DataKeyState State() { return p_->GetDataKeyState(kCity).value(); }
  StaffDirectory Staff() { return StaffDirectory(*ctx_, {}, clock_); }
  RekeyOptions Batches(int64_t n, bool finish = true) {
    RekeyOptions o;
    o.max_batches = n;
    o.finish = finish;
    return o;
  }

  FakeClock clock_;
  std::unique_ptr<Platform> p_;
  std::shared_ptr<TenantContext> ctx_;
};

TEST_P(DataKeyRotationTest, RowsBeforeAreReencryptedNewWritesUseTheNewKeyAndARestartResumes) {
  Create();
  AddCodes(0, kCodes);
  ASSERT_OK(
      Staff()
          .Add("tanaka", "田中 一郎", "shimin", ParseStaffRoles("inquirer").value(), "cli:test")
          .status());
  const std::string sign_kid = ctx_->SignKey()->kid;
  const std::string index = crypto::ToHex(ctx_->index_key.span());

  bool started = false;
  ASSERT_OK_AND_ASSIGN(Platform::DataKeyState st,
                       p_->StartDataKeyRotation(kCity, "cli:test", &started));
  EXPECT_TRUE(started);
  EXPECT_TRUE(st.rotating);
  EXPECT_EQ(st.version, 1);
  EXPECT_EQ(ctx_->data_keys->Snapshot()->version(), 2);
  // Both keys open; the old rows are not under the new one yet.
  EXPECT_EQ(ReadCode(7, false), Atena(7));
  EXPECT_EQ(ReadCode(7, true), "");
  // A write during the rotation is under the new key.
  AddCodes(kCodes, kCodes + 1);
  EXPECT_EQ(ReadCode(kCodes, true), Atena(kCodes));
  ASSERT_OK(
      Staff()
          .Add("suzuki", "鈴木 花子", "zeimu", ParseStaffRoles("inquirer").value(), "cli:test")
          .status());
  // Starting again changes nothing.
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  EXPECT_FALSE(started);
  clock_.Advance(kDataKeyFinishGrace);  // every server has loaded the new key

  // Two batches, then the process "crashes" (everything closed and reopened).
  ASSERT_OK_AND_ASSIGN(RekeyStatus part, RunRekey(*p_, kCity, Batches(2)));
  EXPECT_FALSE(part.finished);
  EXPECT_EQ(part.target_version, 2);
  Open();
  EXPECT_EQ(ctx_->data_keys->Snapshot()->version(), 2);
  EXPECT_TRUE(ctx_->data_keys->Snapshot()->has_previous());
  ASSERT_OK_AND_ASSIGN(RekeyStatus before, ReadRekeyStatus(*ctx_->db, 1));
  ASSERT_FALSE(before.columns.empty());
  EXPECT_EQ(before.columns[0].table, "subject_codes");
  EXPECT_EQ(before.columns[0].rows_done, 1000);  // resumes after the two batches done
  EXPECT_FALSE(before.columns[0].done);

  ASSERT_OK_AND_ASSIGN(RekeyStatus done, RunRekey(*p_, kCity, Batches(0)));
  EXPECT_TRUE(done.finished);
  EXPECT_EQ(done.rows_done(), done.rows_total());
  const RekeyColumnProgress& codes = done.columns[0];
  EXPECT_EQ(codes.rows_total, kCodes);     // counted at the start
  EXPECT_EQ(codes.rows_done, kCodes + 1);  // the scan also met the one written since
  EXPECT_EQ(codes.rows_resealed, kCodes);  // the one written during the rotation was new
  for (const RekeyColumnProgress& c : done.columns) {
    if (c.table == "staff" && c.column == "name_sealed") {
      EXPECT_EQ(c.rows_total, 1);  // counted at the start: suzuki came after
      EXPECT_EQ(c.rows_resealed, 1);
    }
    if (c.table == "tenant_keys") {
      EXPECT_EQ(c.rows_resealed, 3);
    }
  }
  st = State();
  EXPECT_EQ(st.version, 2);
  EXPECT_FALSE(st.rotating);
  EXPECT_FALSE(ctx_->data_keys->Snapshot()->has_previous());
  EXPECT_EQ(ReadCode(0, true), Atena(0));
  EXPECT_EQ(ReadCode(kCodes - 1, true), Atena(kCodes - 1));
  EXPECT_EQ(ReadCode(kCodes, true), Atena(kCodes));
  EXPECT_EQ(*CountNotUnderCurrentKey(*ctx_), 0);

  // A fresh process opens the tenant under the new key alone, with the same keys it had.
  Open();
  EXPECT_EQ(ctx_->data_keys->Snapshot()->version(), 2);
  EXPECT_EQ(ctx_->SignKey()->kid, sign_kid);
  EXPECT_EQ(crypto::ToHex(ctx_->index_key.span()), index);
  EXPECT_EQ(ReadCode(5, true), Atena(5));
  ASSERT_OK_AND_ASSIGN(StaffMember m, Staff().Get("tanaka"));
  EXPECT_EQ(m.name, "田中 一郎");
  ASSERT_OK_AND_ASSIGN(StaffMember n, Staff().Get("suzuki"));
  EXPECT_EQ(n.name, "鈴木 花子");
  // A second rotation goes to v3.
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  clock_.Advance(kDataKeyFinishGrace);
  ASSERT_OK_AND_ASSIGN(RekeyStatus again, RunRekey(*p_, kCity, Batches(0)));
  EXPECT_TRUE(again.finished);
  EXPECT_EQ(again.target_version, 3);
  EXPECT_EQ(ReadCode(9, true), Atena(9));
}

TEST_P(DataKeyRotationTest, AnApplicationWriteRacingTheReencryptorIsKept) {
  Create();
  AddCodes(0, 10);
  bool started = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  RekeyOptions o = Batches(1, false);
  o.before_write = [&] {
    // After the re-encryptor read and re-sealed code 3, the application rewrites it.
    ASSERT_OK(ctx_->Commit([&](store::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(crypto::Bytes sealed,
                       ctx_->data_keys->Seal(crypto::AsBytes("999999999999999"),
                                             LinkageAad("atena", kTenant, Code(3))));
      return tx.Exec("UPDATE subject_codes SET atena_sealed = ? WHERE subject_code = ?",
                     {sealed, Code(3)});
    }));
  };
  ASSERT_OK(RunRekey(*p_, kCity, o).status());
  EXPECT_EQ(ReadCode(3, true), "999999999999999");
  EXPECT_EQ(ReadCode(4, true), Atena(4));
  ASSERT_OK_AND_ASSIGN(RekeyStatus st, ReadRekeyStatus(*ctx_->db, 1));
  EXPECT_EQ(st.columns[0].rows_resealed, 9);  // the CAS lost one, on purpose
}

TEST_P(DataKeyRotationTest, FinishRefusesWhileAValueIsLeftUnderTheOldKeyThenRunsItAgain) {
  Create();
  AddCodes(0, 3);
  const crypto::SecretBytes old_key = ctx_->data_keys->Snapshot()->CloneCurrentForExport();
  bool started = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  clock_.Advance(kDataKeyFinishGrace);
  ASSERT_OK(RunRekey(*p_, kCity, Batches(0, false)).status());
  // A process that had not loaded the new key yet writes under the old one.
  ASSERT_OK(ctx_->Commit([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(crypto::Bytes sealed, crypto::Encrypt(old_key, crypto::AsBytes(Atena(50)),
                                                           LinkageAad("atena", kTenant, Code(50))));
    return tx.Exec(
        "INSERT INTO subject_codes (subject_code, atena_index, atena_sealed,"
        " created_at_us) VALUES (?, ?, ?, 0)",
        {Code(50), crypto::ToBytes(Code(50)), sealed});
  }));
  EXPECT_THAT(p_->FinishDataKeyRotation(kCity, 2, "cli:test"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("1 sealed values")));
  EXPECT_TRUE(State().rotating);
  EXPECT_EQ(ReadCode(50, false), Atena(50));  // still readable: the old key is kept
  // The re-encryptor's finish finds it, runs the column again, and the next run finishes.
  ASSERT_OK_AND_ASSIGN(RekeyStatus first, RunRekey(*p_, kCity, Batches(0)));
  EXPECT_FALSE(first.finished);
  ASSERT_OK_AND_ASSIGN(RekeyStatus second, RunRekey(*p_, kCity, Batches(0)));
  EXPECT_TRUE(second.finished);
  EXPECT_EQ(ReadCode(50, true), Atena(50));
  EXPECT_THAT(p_->FinishDataKeyRotation(kCity, 2, "cli:test"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("no data-key rotation")));
}

TEST_P(DataKeyRotationTest, TheOldWrappedKeyIsGoneFromThePlatformDatabaseAfterFinish) {
  Create();
  AddCodes(0, 3);
  const std::vector<uint8_t> old_wrapped = PlatformBlob("wrapped_key");
  bool started = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  const std::vector<uint8_t> next_wrapped = PlatformBlob("next_wrapped_key");
  ASSERT_EQ(next_wrapped.size(), old_wrapped.size());
  const bool sqlite = GetParam() == store::Backend::kSqlite;
  if (sqlite) {  // the scan finds it while it exists, so it could fail below
    EXPECT_THAT(store::testing::FilesHoldingAnyPiece(Options().data_dir, old_wrapped),
                ::testing::Contains(::testing::StartsWith("platform.db")));
  }
  clock_.Advance(kDataKeyFinishGrace);
  ASSERT_OK_AND_ASSIGN(RekeyStatus done, RunRekey(*p_, kCity, Batches(0)));
  ASSERT_TRUE(done.finished);
  EXPECT_EQ(crypto::ToHex(PlatformBlob("wrapped_key")), crypto::ToHex(next_wrapped));
  EXPECT_THAT(PlatformBlob("next_wrapped_key"), IsEmpty());
  if (sqlite) {
    EXPECT_THAT(store::testing::FilesHoldingAnyPiece(Options().data_dir, old_wrapped), IsEmpty());
  }
}

TEST_P(DataKeyRotationTest, DeletingDuringARotationErasesBothKeys) {
  Create();
  bool started = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  const std::vector<uint8_t> old_wrapped = PlatformBlob("wrapped_key");
  const std::vector<uint8_t> next_wrapped = PlatformBlob("next_wrapped_key");
  ASSERT_FALSE(next_wrapped.empty());
  ctx_.reset();
  ASSERT_OK(p_->DeleteTenant(kCity, "cli:test"));
  EXPECT_THAT(PlatformBlob("wrapped_key"), IsEmpty());
  EXPECT_THAT(PlatformBlob("next_wrapped_key"), IsEmpty());
  if (GetParam() == store::Backend::kSqlite) {
    EXPECT_THAT(store::testing::FilesHoldingAnyPiece(Options().data_dir, old_wrapped), IsEmpty());
    EXPECT_THAT(store::testing::FilesHoldingAnyPiece(Options().data_dir, next_wrapped), IsEmpty());
  }
  // Re-created: a fresh key at version 1, no rotation.
  ASSERT_OK(p_->CreateTenant(kCity, "city", "cli:test").status());
  EXPECT_EQ(State().version, 1);
  EXPECT_FALSE(State().rotating);
}

TEST_P(DataKeyRotationTest, AnExportIsRefusedDuringARotation) {
  Create();
  bool started = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  ExportOptions o{.org = kCity,
                  .destination_key = crypto::BoxKeyPair::Generate().public_key(),
                  .out_path = dir().File("city.export"),
                  .actor = "cli:test",
                  .chukan_version = "test",
                  .limits = {},
                  .progress = nullptr};
  EXPECT_THAT(ExportTenant(*p_, o).status(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("data-key rotation")));
  EXPECT_FALSE(std::filesystem::exists(o.out_path));
}

TEST_P(DataKeyRotationTest, AnotherProcessSeesTheRotationAtItsNextReload) {
  Create();
  AddCodes(0, 2);
  // A second platform over the same storage: the running server beside the CLI.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Platform> server, Platform::Open(Config(), false, clock_));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> sctx, server->Tenant(kTenant));
  bool started = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  EXPECT_EQ(sctx->data_keys->Snapshot()->version(), 1);
  ASSERT_OK(server->ReloadDataKeys());
  EXPECT_EQ(sctx->data_keys->Snapshot()->version(), 2);
  EXPECT_TRUE(sctx->data_keys->Snapshot()->has_previous());
  clock_.Advance(kDataKeyFinishGrace);
  ASSERT_OK_AND_ASSIGN(RekeyStatus done, RunRekey(*p_, kCity, Batches(0)));
  ASSERT_TRUE(done.finished);
  ASSERT_OK(server->ReloadDataKeys());
  EXPECT_FALSE(sctx->data_keys->Snapshot()->has_previous());
  EXPECT_EQ(sctx->data_keys->Snapshot()->version(), 2);
}

// The stale-writer window: a server that has not loaded the new key yet still seals under the
// old one. The finish waits kDataKeyFinishGrace after the start (on the platform's clock), so
// such a write comes before the finish's last check, which finds it and runs its column again.
TEST_P(DataKeyRotationTest, TheFinishWaitsForTheGracePeriodSoAStaleWriterIsCaught) {
  Create();
  AddCodes(0, 3);
  // The running server, opened before the rotation starts (and not reloading until told).
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Platform> server, Platform::Open(Config(), false, clock_));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> sctx, server->Tenant(kTenant));
  bool started = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  // A small tenant: re-encrypted at once, but not finished.
  ASSERT_OK_AND_ASSIGN(RekeyStatus early, RunRekey(*p_, kCity, Batches(0)));
  EXPECT_TRUE(early.all_columns_done());
  EXPECT_FALSE(early.finished);
  EXPECT_TRUE(State().rotating);
  EXPECT_THAT(p_->FinishDataKeyRotation(kCity, 2, "cli:test"),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("started less than 10 s ago (every server loads the new key "
                                 "first): finish in 10 s")));
  // The server, still on the old key, writes a code.
  ASSERT_EQ(sctx->data_keys->Snapshot()->version(), 1);
  ASSERT_OK(sctx->Commit([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(
        crypto::Bytes sealed,
        sctx->data_keys->Seal(crypto::AsBytes(Atena(60)), LinkageAad("atena", kTenant, Code(60))));
    return tx.Exec(
        "INSERT INTO subject_codes (subject_code, atena_index, atena_sealed,"
        " created_at_us) VALUES (?, ?, ?, 0)",
        {Code(60), crypto::ToBytes(Code(60)), sealed});
  }));
  clock_.Advance(kDataKeyFinishGrace - std::chrono::seconds(1));
  EXPECT_THAT(p_->FinishDataKeyRotation(kCity, 2, "cli:test"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("finish in 1 s")));
  ASSERT_OK_AND_ASSIGN(RekeyStatus waiting, RunRekey(*p_, kCity, Batches(0)));
  EXPECT_FALSE(waiting.finished);
  // The server reloads (within a second in production), then the grace period ends.
  ASSERT_OK(server->ReloadDataKeys());
  clock_.Advance(std::chrono::seconds(1));
  // The last check finds the stale write and runs its column again; the next run finishes.
  ASSERT_OK_AND_ASSIGN(RekeyStatus first, RunRekey(*p_, kCity, Batches(0)));
  EXPECT_FALSE(first.finished);
  ASSERT_OK_AND_ASSIGN(RekeyStatus second, RunRekey(*p_, kCity, Batches(0)));
  EXPECT_TRUE(second.finished);
  EXPECT_EQ(ReadCode(60, true), Atena(60));
  EXPECT_EQ(*CountNotUnderCurrentKey(*ctx_), 0);
}

// A reader that has not loaded the new key yet (another node, or a server beside a
// `--wait` that re-encrypts at once) meets a value under it: it reloads once and reads it.
TEST_P(DataKeyRotationTest, AReaderThatHasNotReloadedReadsAValueUnderTheNewKey) {
  Create();
  ASSERT_OK(
      Staff()
          .Add("tanaka", "田中 一郎", "shimin", ParseStaffRoles("inquirer").value(), "cli:test")
          .status());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Platform> server, Platform::Open(Config(), false, clock_));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> sctx, server->Tenant(kTenant));
  bool started = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &started).status());
  ASSERT_OK(RunRekey(*p_, kCity, Batches(0, false)).status());  // the name is under v2 now
  ASSERT_EQ(sctx->data_keys->Snapshot()->version(), 1);
  ASSERT_OK_AND_ASSIGN(StaffMember m, StaffDirectory(*sctx, {}, clock_).Get("tanaka"));
  EXPECT_EQ(m.name, "田中 一郎");
  EXPECT_EQ(sctx->data_keys->Snapshot()->version(), 2);
  EXPECT_TRUE(sctx->data_keys->Snapshot()->has_previous());
  // A context that outlives its platform no longer reloads (and does not crash trying).
  AddCodes(0, 1);
  clock_.Advance(kDataKeyFinishGrace);
  ASSERT_OK_AND_ASSIGN(RekeyStatus done, RunRekey(*p_, kCity, Batches(0)));
  ASSERT_TRUE(done.finished);
  ASSERT_OK(server->ReloadDataKeys());
  ASSERT_FALSE(sctx->data_keys->Snapshot()->has_previous());
  bool second = false;
  ASSERT_OK(p_->StartDataKeyRotation(kCity, "cli:test", &second).status());  // v3
  ASSERT_OK(RunRekey(*p_, kCity, Batches(0, false)).status());
  server.reset();
  auto tx = ctx_->db->BeginRead().value();
  const crypto::Bytes sealed =
      tx->QueryOne("SELECT atena_sealed FROM subject_codes WHERE subject_code = ?", {Code(0)})
          .value()
          ->GetBlob(0)
          .value();
  ASSERT_OK(tx->Commit());
  EXPECT_THAT(sctx->data_keys->Open(sealed, LinkageAad("atena", kTenant, Code(0))).status(),
              StatusIs(StatusCode::kDataLoss));
}

// Every BLOB column of the tenant schema is either in the registry of sealed columns or named
// here as not sealed under the data key: a new sealed column cannot be forgotten silently.
TEST_P(DataKeyRotationTest, TheRegistryListsEverySealedColumnOfTheTenantSchema) {
  if (GetParam() != store::Backend::kSqlite) GTEST_SKIP() << "reads SQLite's catalogue";
  Create();
  const std::set<std::string> not_sealed = {
      "subject_codes.atena_index",  // keyed hash (index key)
      "atena_map.business_index",   // keyed hash
      "inquiries.reply_public",     // a public key
      "inquiries.permit_sha256",    // a digest
      "replica_record.key_hash",    // keyed hash
      "replica_history.key_hash",   // keyed hash
      "tenant_keys.public_key",     // public halves
      "data_key_rekey.cursor",      // primary-key values of rows (no personal data)
      // The audit chain: hashes, signatures and the checkpoint key's public half.
      "audit_log.hash",
      "audit_log.prev_hash",
      "audit_head.hash",
      "audit_anchor.hash",
      "audit_anchor.signature",
      "audit_anchor.verify_key",
      "audit_checkpoint.hash",
      "audit_checkpoint.signature",
      "audit_checkpoint.verify_key",
      // The outbox's messages to the hub: not under the data key (an answer travels sealed to
      // the inquirer's reply key; docs/storage.md "Outbox").
      "outbox_payload.payload",
  };
  std::set<std::string> registry;
  for (const SealedColumn& c : SealedColumns()) {
    registry.insert(std::string(c.table) + "." + std::string(c.column));
  }
  std::set<std::string> unclassified;
  auto tx = ctx_->db->BeginRead().value();
  auto tables =
      tx->Query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
          .value();
  for (const store::Row& t : tables) {
    const std::string table = t.GetText(0).value();
    auto cols = tx->Query("SELECT name, type FROM pragma_table_info('" + table + "')").value();
    for (const store::Row& c : cols) {
      const std::string name = table + "." + c.GetText(0).value();
      if (c.GetText(1).value() != "BLOB") continue;
      if (registry.count(name) == 0 && not_sealed.count(name) == 0) unclassified.insert(name);
      registry.erase(name);
    }
  }
  EXPECT_THAT(unclassified, IsEmpty()) << "add them to SealedColumns() or to not_sealed";
  EXPECT_THAT(registry, IsEmpty()) << "registry entries that are not BLOB columns of the schema";
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(DataKeyRotationTest);

}  // namespace
}  // namespace chukan::server
