#include "server/atena_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "replica_io/byte_source.h"
#include "server/platform.h"
#include "server/tenant_context.h"
#include "store/store_test_util.h"

namespace chukan::server {

void PrintTo(const AtenaMapLineError& e, std::ostream* os) {
  *os << "{" << e.line << ", \"" << e.field << "\", \"" << e.reason << "\"}";
}

namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const OrgCode kOrg = OrgCode::Parse("0000000000000141").value();
const AtenaNo kA = AtenaNo::Parse("900000000000001").value();
const AtenaNo kB = AtenaNo::Parse("900000000000002").value();

class AtenaMapTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ServerConfig c;
    c.store = Options();
    c.keys_dir = dir().File("keys");
    ASSERT_OK_AND_ASSIGN(platform_, Platform::Open(c, true, clock_));
    ASSERT_OK(platform_->CreateTenant(kOrg, "札幌市", "cli:test").status());
    ASSERT_OK_AND_ASSIGN(tenant_, platform_->Tenant(TenantId::ForOrg(kOrg)));
  }
  void TearDown() override {
    tenant_.reset();
    platform_.reset();
    StoreTest::TearDown();
  }

  // Every audit entry of `action` as "actor|target|outcome".
  std::vector<std::string> AuditOf(std::string_view action) {
    std::vector<std::string> out;
    auto tx = tenant_->db->BeginRead();
    EXPECT_OK(tx);
    if (!tx.ok()) return out;
    auto rows =
        (*tx)->Query("SELECT actor, target, outcome FROM audit_log WHERE action = ? ORDER BY seq",
                     {std::string(action)});
    EXPECT_OK(rows);
    if (!rows.ok()) return out;
    for (const store::Row& r : *rows) {
      out.push_back(*r.GetText(0) + "|" + *r.GetText(1) + "|" + *r.GetText(2));
    }
    return out;
  }

  // Every byte of every cell of table atena_map, concatenated.
  std::string RawBytes() {
    std::string out;
    auto tx = tenant_->db->BeginRead();
    auto rows = (*tx)->Query("SELECT business_index, scheme, atena_sealed FROM atena_map");
    for (const store::Row& r : *rows) {
      for (size_t i : {0u, 2u}) {
        crypto::Bytes b = *r.GetBlob(i);
        out.append(b.begin(), b.end());
      }
      out += *r.GetText(1);
    }
    return out;
  }

  // A batch line (parsed, as the batch does) with these numbers.
  BatchInquiry Line(const std::string& scheme, const std::string& business_no,
                    std::optional<AtenaNo> atena = std::nullopt) {
    replica_io::StringSource src(
        scheme + "," + business_no + "," + (atena ? atena->str() : "") +
        ",20261126145450166,3595115400,,0000000000000141,0,JM01000000121000,JT01010000000214,,,"
        "13101,TM00000000000002,0,0,,\r\n");
    Result<BatchParseResult> r = ParseBatchInquiryFile(src, {});
    EXPECT_TRUE(r.ok() && r->errors.empty());
    return r->inquiries.at(0);
  }

  FakeClock clock_;
  std::unique_ptr<Platform> platform_;
  std::shared_ptr<TenantContext> tenant_;
};

TEST_P(AtenaMapTest, SettingDefaultsToIdentityAndIsAudited) {
  AtenaMap map(*tenant_, clock_);
  ASSERT_OK_AND_ASSIGN(AtenaMapping m, map.Mode());
  EXPECT_EQ(m, AtenaMapping::kIdentity);
  ASSERT_OK(map.SetMode(AtenaMapping::kTable, "staff:admin1"));
  ASSERT_OK_AND_ASSIGN(m, map.Mode());
  EXPECT_EQ(m, AtenaMapping::kTable);
  ASSERT_OK(map.SetMode(AtenaMapping::kIdentity, "cli"));
  EXPECT_THAT(AuditOf("atena_map.settings"),
              ElementsAre("staff:admin1|staff_settings atena_mapping=table|ok",
                          "cli|staff_settings atena_mapping=identity|ok"));
  EXPECT_THAT(ParseAtenaMapping("tables"),
              StatusIs(StatusCode::kInvalidArgument, "atena mapping must be identity or table"));
}

TEST_P(AtenaMapTest, IdentityZeroPadsTheBusinessNumber) {
  AtenaMap map(*tenant_, clock_);
  ASSERT_OK_AND_ASSIGN(AtenaNo a,
                       map.Resolve(AtenaMapping::kIdentity, Line("01", "000000000004711")));
  EXPECT_EQ(a.str(), "000000000004711");
  // Field 3 given: taken as it is.
  ASSERT_OK_AND_ASSIGN(a, map.Resolve(AtenaMapping::kIdentity, Line("01", "000000000004711", kA)));
  EXPECT_EQ(a, kA);
  ASSERT_OK_AND_ASSIGN(a, map.Resolve(AtenaMapping::kIdentity, Line("07", "000000000004711", kA)));
  EXPECT_EQ(a, kA);
  EXPECT_THAT(map.Resolve(AtenaMapping::kIdentity, Line("07", "000000000004711")),
              StatusIs(StatusCode::kInvalidArgument,
                       "番号体系 (numbering scheme): this tenant maps 宛名番号 by identity, which "
                       "is for 番号体系 \"01\" only; give 統合宛名番号 (atena_no) or load a "
                       "mapping table"));
}

TEST_P(AtenaMapTest, LoadsUpsertsAndResolvesPerScheme) {
  AtenaMap map(*tenant_, clock_);
  // With a header, CRLF, an unpadded 宛名番号, and the same number in two schemes.
  ASSERT_OK_AND_ASSIGN(AtenaMapLoad load,
                       map.Load("番号体系,宛名番号,統合宛名番号\r\n01,4711,900000000000001\r\n"
                                "02,000000000004711,900000000000002\r\n",
                                replica_io::Charset::kUtf8, "client:zeimu"));
  EXPECT_EQ(load.lines, 2);
  EXPECT_EQ(load.upserted, 2);
  EXPECT_THAT(load.errors, IsEmpty());
  ASSERT_OK_AND_ASSIGN(int64_t rows, map.Count());
  EXPECT_EQ(rows, 2);

  ASSERT_OK_AND_ASSIGN(AtenaNo a, map.Resolve(AtenaMapping::kTable, Line("01", "000000000004711")));
  EXPECT_EQ(a, kA);
  ASSERT_OK_AND_ASSIGN(a, map.Resolve(AtenaMapping::kTable, Line("02", "000000000004711")));
  EXPECT_EQ(a, kB);
  // Field 3 agreeing is fine; disagreeing is a line error.
  ASSERT_OK_AND_ASSIGN(a, map.Resolve(AtenaMapping::kTable, Line("01", "000000000004711", kA)));
  EXPECT_EQ(a, kA);
  EXPECT_THAT(map.Resolve(AtenaMapping::kTable, Line("01", "000000000004711", kB)),
              StatusIs(StatusCode::kInvalidArgument,
                       "統合宛名番号 (atena_no): differs from the tenant's mapping of the 宛名番号 "
                       "(business number)"));
  EXPECT_THAT(map.Resolve(AtenaMapping::kTable, Line("01", "000000000004712")),
              StatusIs(StatusCode::kInvalidArgument,
                       "宛名番号 (business number): not in the tenant's mapping table for this "
                       "番号体系 (numbering scheme)"));
  // Not in the table, but given: taken.
  ASSERT_OK_AND_ASSIGN(a, map.Resolve(AtenaMapping::kTable, Line("01", "000000000004712", kB)));
  EXPECT_EQ(a, kB);

  // Upsert, without a header, LF, no final line ending, Shift_JIS.
  ASSERT_OK_AND_ASSIGN(load, map.Load("01,000000000004711,900000000000002\n03,1,900000000000001",
                                      replica_io::Charset::kCp932, "client:zeimu"));
  EXPECT_EQ(load.upserted, 2);
  ASSERT_OK_AND_ASSIGN(rows, map.Count());
  EXPECT_EQ(rows, 3);
  ASSERT_OK_AND_ASSIGN(a, map.Resolve(AtenaMapping::kTable, Line("01", "000000000004711")));
  EXPECT_EQ(a, kB);
  EXPECT_THAT(AuditOf("atena_map.load"),
              ElementsAre("client:zeimu|atena_map lines=2 upserted=2 errors=0|ok",
                          "client:zeimu|atena_map lines=2 upserted=2 errors=0|ok"));
}

TEST_P(AtenaMapTest, NumbersAreStoredOnlyHashedAndSealed) {
  AtenaMap map(*tenant_, clock_);
  ASSERT_OK(
      map.Load("01,314159265358979,271828182845904\n", replica_io::Charset::kUtf8, "cli").status());
  const std::string raw = RawBytes();
  EXPECT_THAT(raw, Not(HasSubstr("314159265358979")));
  EXPECT_THAT(raw, Not(HasSubstr("271828182845904")));
  EXPECT_THAT(raw, HasSubstr("01"));  // the scheme is kept in clear (counts per scheme)
}

TEST_P(AtenaMapTest, BadLinesStoreNothingAndNameLineAndField) {
  AtenaMap map(*tenant_, clock_);
  const std::string file =
      "01,4711,900000000000001\n"              // 1: fine
      "1,4711,900000000000001\n"               // 2: scheme
      "01,47X1,900000000000001\n"              // 3: 宛名番号
      "01,4712,90000000000000\n"               // 4: 統合宛名番号
      "01,0000000000004711,900000000000001\n"  // 5: 16 digits
      "\n"                                     // 6: empty
      "01,4712\n"                              // 7: fields
      "01,000000000004711,900000000000002\n";  // 8: duplicate of line 1
  ASSERT_OK_AND_ASSIGN(AtenaMapLoad load, map.Load(file, replica_io::Charset::kUtf8, "cli"));
  EXPECT_EQ(load.lines, 8);
  EXPECT_EQ(load.upserted, 0);
  EXPECT_THAT(
      load.errors,
      ElementsAre(
          AtenaMapLineError{2, "番号体系 (numbering scheme)", "must be two digits, 01-99"},
          AtenaMapLineError{3, "宛名番号 (business number)", "must be 1-15 digits"},
          AtenaMapLineError{4, "統合宛名番号 (atena_no)", "must be 15 digits"},
          AtenaMapLineError{5, "宛名番号 (business number)", "must be 1-15 digits"},
          AtenaMapLineError{6, "レコード (record)", "empty line"},
          AtenaMapLineError{7, "レコード (record)", "3 comma-separated fields expected, got 2"},
          AtenaMapLineError{8, "宛名番号 (business number)",
                            "the same 番号体系 and 宛名番号 as line 1"}));
  ASSERT_OK_AND_ASSIGN(int64_t rows, map.Count());
  EXPECT_EQ(rows, 0);
  EXPECT_THAT(AuditOf("atena_map.load"),
              ElementsAre("cli|atena_map lines=8 upserted=0 errors=7|denied:invalid"));
}

TEST_P(AtenaMapTest, FileLimits) {
  AtenaMap map(*tenant_, clock_);
  AtenaMap::Limits limits;
  limits.max_lines = 2;
  EXPECT_THAT(
      map.Load("番号体系,宛名番号,統合宛名番号\n01,1,900000000000001\n01,2,900000000000001\n"
               "01,3,900000000000001\n",
               replica_io::Charset::kUtf8, "cli", limits),
      StatusIs(StatusCode::kResourceExhausted, "atena map file: more than 2 lines"));
  limits = AtenaMap::Limits{};
  EXPECT_THAT(
      map.Load("01,1,900000000000001\n" + std::string(300, '9'), replica_io::Charset::kUtf8, "cli",
               limits),
      StatusIs(StatusCode::kResourceExhausted, "atena map file: line 2: longer than 256 bytes"));
  EXPECT_THAT(map.Load("", replica_io::Charset::kUtf8, "cli"),
              StatusIs(StatusCode::kInvalidArgument, "atena map file: empty"));
  EXPECT_THAT(map.Load("番号体系,宛名番号,統合宛名番号\r\n", replica_io::Charset::kUtf8, "cli"),
              StatusIs(StatusCode::kInvalidArgument, "atena map file: empty"));
  EXPECT_THAT(map.Load("01,1,90000\x81\x20", replica_io::Charset::kCp932, "cli"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("atena map file: ")));
  ASSERT_OK_AND_ASSIGN(int64_t rows, map.Count());
  EXPECT_EQ(rows, 0);
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(AtenaMapTest);

}  // namespace
}  // namespace chukan::server
