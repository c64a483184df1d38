#include "server/tenant_keks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

const TenantId kA = TenantId::ForOrg(OrgCode::Parse("0000000000000131").value());
const TenantId kB = TenantId::ForOrg(OrgCode::Parse("0000000000000132").value());

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A key directory with a master key: <dir>/<sub>/master.key and <dir>/<sub>/tenants/.
struct KeyDir {
  explicit KeyDir(const chukan::testing::TempDir& dir, const std::string& sub = "keys")
      : master_path(dir.File(sub + "/master.key")),
        master(crypto::LoadOrCreateKeyFile(master_path, 32, true).value()),
        kek_dir(dir.File(sub + "/tenants")) {}
  std::string master_path;
  crypto::SecretBytes master;
  std::string kek_dir;
};

TEST(TenantKeksTest, EachRegistrationGetsAKekFileOfItsOwn) {
  chukan::testing::TempDir dir;
  KeyDir kd(dir);
  TenantKeks keks(kd.master_path, kd.kek_dir);
  EXPECT_THAT(keks.Load(kA, ""),
              StatusIs(StatusCode::kNotFound,
                       HasSubstr(kA.str() + ".kek: the tenant's key-encryption key is missing")));
  ASSERT_OK_AND_ASSIGN(TenantKeks::NewKek a1, keks.Create(kA));
  ASSERT_OK_AND_ASSIGN(TenantKeks::NewKek a2, keks.Create(kA));
  EXPECT_THAT(a1.file, ::testing::MatchesRegex(kA.str() + "\\.[0-9a-f]{16}\\.kek"));
  EXPECT_NE(a1.file, a2.file);
  EXPECT_FALSE(a1.kek.ConstantTimeEquals(a2.kek));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes loaded1, keks.Load(kA, a1.file));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes loaded2, keks.Load(kA, a2.file));
  EXPECT_TRUE(loaded1.ConstantTimeEquals(a1.kek));
  EXPECT_TRUE(loaded2.ConstantTimeEquals(a2.kek));
  ASSERT_OK_AND_ASSIGN(TenantKeks::NewKek b, keks.Create(kB));
  // On disk: only the wrapped KEK, as hex, mode 0600, in a 0700 directory; no temporary left.
  ASSERT_OK_AND_ASSIGN(const std::string path, keks.PathFor(kA, a1.file));
  const std::string text = Slurp(path);
  EXPECT_EQ(text.size(), 2 * (32 + 41) + 1u);
  EXPECT_EQ(text.find(crypto::ToHex(a1.kek.span())), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(kd.kek_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(kd.kek_dir),
                          std::filesystem::directory_iterator()),
            3);
  // A row can name only a file of its own tenant's.
  for (const std::string& bad : {b.file, std::string("../master.key"), kA.str() + ".x.kek",
                                 kA.str() + ".0123456789ABCDEF.kek"}) {
    EXPECT_THAT(keks.Load(kA, bad),
                StatusIs(StatusCode::kDataLoss, HasSubstr("not one of its own")))
        << bad;
    EXPECT_THAT(keks.Destroy(kA, bad), StatusIs(StatusCode::kDataLoss)) << bad;
  }
}

TEST(TenantKeksTest, AKekFileOpensOnlyUnderItsMasterKeyForItsTenant) {
  chukan::testing::TempDir dir;
  KeyDir kd(dir);
  TenantKeks keks(kd.master_path, kd.kek_dir);
  ASSERT_OK_AND_ASSIGN(TenantKeks::NewKek a, keks.Create(kA));
  const std::string a_path = keks.PathFor(kA, a.file).value();
  KeyDir other(dir, "other");
  EXPECT_THAT(TenantKeks(other.master_path, kd.kek_dir).Load(kA, a.file),
              StatusIs(StatusCode::kDataLoss, HasSubstr("does not open under the master key")));
  // A's file under B's name (a swapped file) does not open either.
  const std::string b_file = kB.str() + a.file.substr(kA.str().size());
  std::filesystem::copy_file(a_path, keks.PathFor(kB, b_file).value());
  EXPECT_THAT(keks.Load(kB, b_file), StatusIs(StatusCode::kDataLoss, HasSubstr(b_file)));
  std::ofstream(keks.PathFor(kB, b_file).value(), std::ios::trunc) << "zz\n";
  EXPECT_THAT(keks.Load(kB, b_file),
              StatusIs(StatusCode::kDataLoss, HasSubstr("not a key-encryption")));
  ::chmod(a_path.c_str(), 0644);
  EXPECT_THAT(keks.Load(kA, a.file), StatusIs(StatusCode::kPermissionDenied, HasSubstr("0600")));
}

TEST(TenantKeksTest, DestroyRemovesTheFileAndIsIdempotent) {
  chukan::testing::TempDir dir;
  KeyDir kd(dir);
  TenantKeks keks(kd.master_path, kd.kek_dir);
  ASSERT_OK_AND_ASSIGN(TenantKeks::NewKek a, keks.Create(kA));
  ASSERT_OK_AND_ASSIGN(TenantKeks::NewKek b, keks.Create(kB));
  ASSERT_OK(keks.Destroy(kA, a.file));
  EXPECT_FALSE(std::filesystem::exists(keks.PathFor(kA, a.file).value()));
  EXPECT_THAT(keks.Load(kA, a.file), StatusIs(StatusCode::kNotFound));
  EXPECT_OK(keks.Destroy(kA, a.file));
  EXPECT_OK(keks.Load(kB, b.file).status());
}

// Writes `key` as a master key file at `path` (to open KEK files as someone holding a copy of
// that key would).
void WriteMasterFile(const std::string& path, const crypto::SecretBytes& key) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ASSERT_OK(crypto::WriteSecretFileAtomically(path, crypto::KeyFileContents(key).span(), false));
}

// The KEK file names of a test's tenants, as their rows would hold them.
class Registry {
 public:
  crypto::SecretBytes Make(const TenantKeks& keks, const TenantId& t) {
    TenantKeks::NewKek made = keks.Create(t).value();
    files_[t.str()] = made.file;
    return std::move(made.kek);
  }
  Result<crypto::SecretBytes> Load(const TenantKeks& keks, const TenantId& t) const {
    return keks.Load(t, files_.at(t.str()));
  }
  std::string Path(const TenantKeks& keks, const TenantId& t) const {
    return keks.PathFor(t, files_.at(t.str())).value();
  }

 private:
  std::map<std::string, std::string> files_;
};

// Master-key rotation (issue 14): every KEK file moves under a new master key, the KEKs
// themselves unchanged; the old key is gone from the key directory and opens none of them.
TEST(TenantKeksTest, RotateMasterRewrapsEveryKekAndOverwritesTheOldKey) {
  chukan::testing::TempDir dir;
  KeyDir kd(dir);
  TenantKeks keks(kd.master_path, kd.kek_dir);
  Registry reg;
  const TenantId kC = TenantId::ForOrg(OrgCode::Parse("0000000000000133").value());
  std::vector<crypto::SecretBytes> before;
  for (const TenantId& t : {kA, kB, kC}) {
    crypto::SecretBytes kek = reg.Make(keks, t);
    before.push_back(std::move(kek));
  }
  const std::string old_text = Slurp(kd.master_path);

  ASSERT_OK_AND_ASSIGN(TenantKeks::Rotation done, keks.RotateMaster({}));
  EXPECT_EQ(done.rewrapped, 3);
  EXPECT_EQ(done.already, 0);
  EXPECT_FALSE(std::filesystem::exists(keks.NextMasterPath()));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes now,
                       crypto::LoadOrCreateKeyFile(kd.master_path, 32, false));
  EXPECT_FALSE(now.ConstantTimeEquals(kd.master));
  size_t i = 0;
  for (const TenantId& t : {kA, kB, kC}) {
    ASSERT_OK_AND_ASSIGN(crypto::SecretBytes kek, reg.Load(keks, t));
    EXPECT_TRUE(kek.ConstantTimeEquals(before[i++])) << t.str();
  }
  // The old master key opens no KEK file any more, and no file of the key directory holds it.
  WriteMasterFile(dir.File("old/master.key"), kd.master);
  for (const TenantId& t : {kA, kB, kC}) {
    EXPECT_THAT(reg.Load(TenantKeks(dir.File("old/master.key"), kd.kek_dir), t),
                StatusIs(StatusCode::kDataLoss, HasSubstr("does not open under the master key")));
  }
  const std::string old_hex = old_text.substr(0, 64);
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.File("keys"))) {
    if (e.is_regular_file()) {
      EXPECT_EQ(Slurp(e.path()).find(old_hex), std::string::npos) << e.path();
    }
  }
  // Rotating again works from the new key.
  ASSERT_OK_AND_ASSIGN(done, keks.RotateMaster({}));
  EXPECT_EQ(done.rewrapped, 3);
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes a, reg.Load(keks, kA));
  EXPECT_TRUE(a.ConstantTimeEquals(before[0]));
}

// A rotation interrupted half-way (a crash) leaves every KEK readable — under the old key or
// the new one — and new KEKs can be made meanwhile; running it again finishes with the same new
// key and clears what the crash left behind.
TEST(TenantKeksTest, AnInterruptedRotationLeavesEveryKekReadableAndARerunFinishesIt) {
  chukan::testing::TempDir dir;
  KeyDir kd(dir);
  TenantKeks keks(kd.master_path, kd.kek_dir);
  Registry reg;
  const TenantId kC = TenantId::ForOrg(OrgCode::Parse("0000000000000133").value());
  const TenantId kD = TenantId::ForOrg(OrgCode::Parse("0000000000000134").value());
  crypto::SecretBytes a = reg.Make(keks, kA);
  crypto::SecretBytes b = reg.Make(keks, kB);
  crypto::SecretBytes c = reg.Make(keks, kC);
  // A temporary file as an interrupted write leaves it.
  std::filesystem::copy_file(reg.Path(keks, kA), reg.Path(keks, kA) + ".tmp-Ab12Cd");

  EXPECT_THAT(keks.RotateMaster({.stop_after = 1}), StatusIs(StatusCode::kAborted));
  ASSERT_TRUE(std::filesystem::exists(keks.NextMasterPath()));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes next,
                       crypto::LoadOrCreateKeyFile(keks.NextMasterPath(), 32, false));
  // One file is under the new key already, the others under the old one; all open.
  WriteMasterFile(dir.File("new/master.key"), next);
  EXPECT_OK(reg.Load(TenantKeks(dir.File("new/master.key"), kd.kek_dir), kA).status());
  EXPECT_THAT(reg.Load(TenantKeks(dir.File("new/master.key"), kd.kek_dir), kB),
              StatusIs(StatusCode::kDataLoss));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes a2, reg.Load(keks, kA));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes b2, reg.Load(keks, kB));
  EXPECT_TRUE(a2.ConstantTimeEquals(a));
  EXPECT_TRUE(b2.ConstantTimeEquals(b));
  crypto::SecretBytes d = reg.Make(keks, kD);

  ASSERT_OK_AND_ASSIGN(TenantKeks::Rotation done, keks.RotateMaster({}));
  EXPECT_EQ(done.rewrapped, 3);  // B, C and D
  EXPECT_EQ(done.already, 1);    // A
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes now,
                       crypto::LoadOrCreateKeyFile(kd.master_path, 32, false));
  EXPECT_TRUE(now.ConstantTimeEquals(next));
  EXPECT_FALSE(std::filesystem::exists(keks.NextMasterPath()));
  EXPECT_FALSE(std::filesystem::exists(reg.Path(keks, kA) + ".tmp-Ab12Cd"));
  for (const auto& [t, kek] : std::vector<std::pair<TenantId, const crypto::SecretBytes*>>{
           {kA, &a}, {kB, &b}, {kC, &c}, {kD, &d}}) {
    ASSERT_OK_AND_ASSIGN(crypto::SecretBytes loaded,
                         reg.Load(TenantKeks(dir.File("new/master.key"), kd.kek_dir), t));
    EXPECT_TRUE(loaded.ConstantTimeEquals(*kek)) << t.str();
  }
}

// A KEK file that opens under neither key stops the rotation there, naming the file; the keys
// are kept, so nothing becomes unreadable.
TEST(TenantKeksTest, RotationStopsAtAKekFileThatOpensUnderNeitherKey) {
  chukan::testing::TempDir dir;
  KeyDir kd(dir);
  KeyDir stranger(dir, "stranger");
  TenantKeks keks(kd.master_path, kd.kek_dir);
  Registry reg;
  reg.Make(keks, kA);
  reg.Make(TenantKeks(stranger.master_path, kd.kek_dir), kB);
  EXPECT_THAT(keks.RotateMaster({}),
              StatusIs(StatusCode::kDataLoss,
                       AllOf(HasSubstr(reg.Path(keks, kB)), HasSubstr("both keys are kept"))));
  EXPECT_TRUE(std::filesystem::exists(keks.NextMasterPath()));
  EXPECT_OK(reg.Load(keks, kA).status());
}

// KEK operations of other threads (as of a running server) during rotations: each sees a whole
// key directory — every load succeeds and returns the same KEK.
TEST(TenantKeksTest, LoadsDuringRotationsAlwaysSucceed) {
  chukan::testing::TempDir dir;
  KeyDir kd(dir);
  TenantKeks keks(kd.master_path, kd.kek_dir);
  Registry reg;
  std::vector<TenantId> tenants;
  std::vector<crypto::SecretBytes> kek;
  for (int i = 0; i < 8; ++i) {
    tenants.push_back(
        TenantId::ForOrg(OrgCode::Parse("00000000000002" + std::to_string(10 + i)).value()));
    kek.push_back(reg.Make(keks, tenants.back()));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> loads{0}, failures{0};
  std::thread reader([&] {
    TenantKeks mine(kd.master_path, kd.kek_dir);  // another owner, as another process has
    for (size_t i = 0; !stop.load(); ++i) {
      Result<crypto::SecretBytes> k = reg.Load(mine, tenants[i % tenants.size()]);
      if (!k.ok() || !k->ConstantTimeEquals(kek[i % tenants.size()])) failures.fetch_add(1);
      loads.fetch_add(1);
    }
  });
  for (int r = 0; r < 5; ++r) ASSERT_OK(keks.RotateMaster({}).status());
  while (loads.load() < 50) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace chukan::server
