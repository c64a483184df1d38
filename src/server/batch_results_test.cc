// The result file of a stored batch: each way a line can end, written as its status columns,
// with the shipped catalogue and result layouts (no database: BatchNow is built
// here as ReadInquiryBatch gives it).
#include "server/batch_results.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "layout/catalogue_loader.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;

std::shared_ptr<const layout::Catalogue> TheCatalogue() {
  static auto* c = new std::shared_ptr<const layout::Catalogue>(
      layout::LoadCatalogue(CHUKAN_LAYOUT_DIR).value());
  return *c;
}

// A P640R110 line of city A asking TM `tm` of 宛名番号 `business_no` (identity mapping).
std::string Line(const std::string& business_no, const std::string& tm = "TM00000000000002") {
  return "01," + business_no + ",,20261126145450166,3595115400          ,,2345670000000001,0," +
         "JM90000000000001,JT90000000000101,,,2345670000000002," + tm + ",0,0,,";
}

std::vector<std::string> Columns(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1) {
    out.push_back(line.substr(start, comma - start));
  }
  out.push_back(line.substr(start));
  return out;
}

BatchLineNow Ended(int64_t line, const std::string& text, const std::string& state,
                   const std::string& reason = "",
                   std::optional<std::string> result = std::nullopt) {
  BatchLineNow l;
  l.line = line;
  l.text = text;
  l.outcome = BatchLineOutcome::kInquiry;
  InquiryView v;
  v.inquiry_id = "0123456789abcdef0123456789abcdef";
  v.state = state;
  v.reason = reason;
  v.tm = "TM00000000000002";
  v.result_json = std::move(result);
  v.result_deleted = state == "completed" && !v.result_json;
  l.inquiry = std::move(v);
  return l;
}

BatchLineNow Refused(int64_t line, const std::string& text, const std::string& code) {
  BatchLineNow l;
  l.line = line;
  l.text = text;
  l.outcome = BatchLineOutcome::kRefused;
  l.error_code = code;
  l.error_reason = "a reason for the client";
  return l;
}

class BatchResultsTest : public ::testing::Test {
 protected:
  // The shipped layouts (data/result_layout).
  BatchResultsTest()
      : layouts_(layout::LoadResultLayouts(CHUKAN_RESULT_LAYOUT_DIR, TheCatalogue()).value()) {}

  // The file's lines, split into columns.
  std::vector<std::vector<std::string>> Write(
      const BatchNow& b, replica_io::Charset charset = replica_io::Charset::kUtf8) {
    Result<BatchResultFile> f = WriteBatchResultFile(b, *layouts_, charset, atena_);
    EXPECT_OK(f);
    if (!f.ok()) return {};
    file_ = *f;
    std::vector<std::vector<std::string>> rows;
    for (size_t start = 0, end; (end = f->bytes.find("\r\n", start)) != std::string::npos;
         start = end + 2) {
      rows.push_back(Columns(f->bytes.substr(start, end - start)));
    }
    return rows;
  }

  std::shared_ptr<const layout::ResultLayouts> layouts_;
  AtenaResolver atena_ = [](const BatchInquiry& b) { return AtenaNo::Parse(b.business_no); };
  BatchResultFile file_;
};

TEST_F(BatchResultsTest, EveryWayALineEndsGetsItsStatusCodesAndMessages) {
  BatchNow b;
  b.header.batch_id = "0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6";
  b.header.file_name = "P640R110_20261204093000_0001.DAT";
  const std::string answer =
      R"({"tm":"TM00000000000002","layout_version":"0002","records":[)"
      R"({"IT00000200000001":"2025","IT00000200000008":"5000"},)"
      R"({"IT00000200000001":"2026","IT00000200000008":"6000"}],"status":"ok"})";
  b.lines.push_back(Ended(1, Line("000000000000101"), "completed", "", answer));
  b.lines.push_back(Ended(2, Line("000000000000102"), "completed", "",
                          R"({"tm":"TM00000000000002","records":[],"status":"no_data"})"));
  b.lines.push_back(Ended(3, Line("000000000000103"), "refused", "NOT_PERMITTED"));
  b.lines.push_back(Ended(4, Line("000000000000104"), "refused", "PROVIDER_REJECTED"));
  b.lines.push_back(Ended(5, Line("000000000000105"), "expired"));
  b.lines.push_back(Ended(6, Line("000000000000106"), "failed", "UNKNOWN_PROVIDER"));
  b.lines.push_back(Ended(7, Line("000000000000107"), "completed"));  // result deleted
  BatchLineNow dup;
  dup.line = 8;
  dup.text = Line("000000000000101");
  dup.outcome = BatchLineOutcome::kDuplicate;
  dup.duplicate_of = 1;
  b.lines.push_back(dup);
  b.lines.push_back(Refused(9, Line("000000000000150"), "NO_SUBJECT_CODE"));
  b.lines.push_back(Refused(10, "01,short", "FORMAT"));
  b.lines.push_back(Refused(11, Line("000000000000111", "TM99999999999999"), "UNKNOWN_TM"));
  b.lines.push_back(Refused(12, Line("000000000000112"), "UNKNOWN_PROVIDER"));
  b.lines.push_back(Refused(13, Line("000000000000113"), ""));
  std::vector<std::vector<std::string>> rows = Write(b);
  ASSERT_EQ(rows.size(), 13u);
  EXPECT_EQ(file_.file_name, "P640R110_20261204093000_0001_RESULT.DAT");
  EXPECT_EQ(file_.lines, 13);
  // Completed: the latest fiscal year's record shown (2026), the other counted.
  EXPECT_EQ(rows[0][1], "000000000000101");
  EXPECT_THAT(std::vector<std::string>(rows[0].begin() + 23, rows[0].begin() + 27),
              ElementsAre("09", "正常終了", "01", "正常終了"));
  EXPECT_EQ(rows[0][230], "6000");  // 市町村民税均等割額 (IT…08): column 231
  EXPECT_EQ(file_.records_not_shown, 1);
  EXPECT_THAT(std::vector<std::string>(rows[1].begin() + 23, rows[1].begin() + 27),
              ElementsAre("09", "正常終了", "02", "該当する特定個人情報がありません。"));
  EXPECT_EQ(rows[2][23], "94");
  EXPECT_EQ(rows[2][25], "03");
  EXPECT_EQ(
      rows[2][24],
      "指定された特定個人情報名「ＴＭ０００００００００００００２」の照会は許可されていません。");
  EXPECT_EQ(rows[3][23], "94");
  EXPECT_EQ(rows[3][25], "04");
  EXPECT_EQ(rows[3][24],
            "照会が拒否されました。（理由コード「ＰＲＯＶＩＤＥＲ＿ＲＥＪＥＣＴＥＤ」）");
  EXPECT_EQ(rows[4][23], "95");
  EXPECT_EQ(rows[4][25], "05");
  EXPECT_EQ(rows[4][24], "照会の有効期限までに情報提供者から応答がありませんでした。");
  EXPECT_EQ(rows[5][23], "96");
  EXPECT_EQ(rows[5][24],
            "照会処理に失敗しました。（理由コード「ＵＮＫＮＯＷＮ＿ＰＲＯＶＩＤＥＲ」）");
  EXPECT_EQ(rows[6][23], "96");
  EXPECT_EQ(rows[6][24], "照会処理に失敗しました。（理由コード「ＲＥＳＵＬＴ＿ＤＥＬＥＴＥＤ」）");
  EXPECT_EQ(rows[7][23], "92");
  EXPECT_EQ(rows[7][24], "「レコード識別番号」が既に存在しています。");
  EXPECT_EQ(rows[7][25], "");
  EXPECT_EQ(rows[8][23], "93");
  EXPECT_EQ(rows[8][24],
            "指定された団体内統合宛名番号「００００００００００００１５０」は符号が未取得です。");
  // The malformed line: what it has, echoed; the 27 columns of a TM nobody knows.
  ASSERT_EQ(rows[9].size(), 27u);
  EXPECT_EQ(rows[9][1], "short");
  EXPECT_EQ(rows[9][23], "91");
  EXPECT_EQ(rows[9][24],
            "照会依頼の内容に誤りがあるため照会できません。（理由コード「ＦＯＲＭＡＴ」）");
  ASSERT_EQ(rows[10].size(), 27u);
  EXPECT_EQ(rows[10][24],
            "指定された特定個人情報名「ＴＭ９９９９９９９９９９９９９９」は定義されていません。");
  EXPECT_EQ(rows[11][24], "指定された情報提供者機関コードは登録されていません。");
  EXPECT_EQ(rows[12][24],
            "照会依頼の内容に誤りがあるため照会できません。（理由コード「ＲＥＪＥＣＴＥＤ」）");
  // Every line of 地方税関係情報 has its layout's 262 columns.
  for (size_t i : {0u, 1u, 2u, 7u, 8u, 11u}) EXPECT_EQ(rows[i].size(), 262u) << i;
}

TEST_F(BatchResultsTest, AHouseholdAnswerIsOneLinePerMemberThePersonFirst) {
  const std::string household = Line("000000000000011");
  BatchNow b;
  b.lines.push_back(Ended(1, household, "completed", "",
                          R"({"layout_version":"0002","members":[)"
                          R"({"records":[{"IT00000200000001":"2026","IT00000200000008":"3000"}],)"
                          R"("self":true},{"records":[],"self":false},)"
                          R"({"records":[{"IT00000200000001":"2026","IT00000200000008":"5000"}],)"
                          R"("self":false}],"scope":"household","status":"ok",)"
                          R"("tm":"TM00000000000002"})"));
  // A household where no member has a record: every member's line says so.
  b.lines.push_back(Ended(2, household, "completed", "",
                          R"({"layout_version":"0002","members":[{"records":[],"self":true}],)"
                          R"("scope":"household","status":"no_data","tm":"TM00000000000002"})"));
  // The person unknown to the provider: no member at all, one line without data.
  b.lines.push_back(Ended(3, household, "completed", "",
                          R"({"layout_version":"0002","members":[],"scope":"household",)"
                          R"("status":"no_data","tm":"TM00000000000002"})"));
  std::vector<std::vector<std::string>> rows = Write(b);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(file_.lines, 5);
  const std::vector<std::string> given = Columns(household);
  for (const std::vector<std::string>& row : rows) {
    EXPECT_EQ(std::vector<std::string>(row.begin(), row.begin() + 18), given);
    EXPECT_EQ(row[23], "09");
  }
  EXPECT_EQ(rows[0][25], "01");
  EXPECT_EQ(rows[0][230], "3000");
  EXPECT_EQ(rows[1][25], "02");
  EXPECT_EQ(rows[1][230], "");
  EXPECT_EQ(rows[2][25], "01");
  EXPECT_EQ(rows[2][230], "5000");
  EXPECT_EQ(rows[3][25], "02");
  EXPECT_EQ(rows[4][25], "02");
}

TEST_F(BatchResultsTest, NoFileWhileALineIsOpen) {
  BatchNow b;
  b.lines.push_back(Ended(1, Line("000000000000101"), "permitted"));
  b.open = 1;
  EXPECT_THAT(WriteBatchResultFile(b, *layouts_, replica_io::Charset::kUtf8, atena_),
              StatusIs(StatusCode::kFailedPrecondition, "1 lines of the batch have not ended yet"));
  // A line still open is refused even when the count says otherwise.
  b.open = 0;
  EXPECT_THAT(WriteBatchResultFile(b, *layouts_, replica_io::Charset::kUtf8, atena_),
              StatusIs(StatusCode::kFailedPrecondition, "line 1: not ended yet"));
}

TEST_F(BatchResultsTest, ANoSubjectCodeLineWhoseMappingIsGoneIsRejectedWithoutTheNumber) {
  atena_ = [](const BatchInquiry&) -> Result<AtenaNo> {
    return InvalidArgumentError("宛名番号 (business number): not in the tenant's mapping table");
  };
  BatchNow b;
  b.lines.push_back(Refused(1, Line("000000000000150"), "NO_SUBJECT_CODE"));
  std::vector<std::vector<std::string>> rows = Write(b);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][23], "91");
  EXPECT_EQ(rows[0][24],
            "照会依頼の内容に誤りがあるため照会できません。（理由コード「ＮＯ＿ＳＵＢＪＥＣＴ＿ＣＯ"
            "ＤＥ」）");
}

TEST_F(BatchResultsTest, ShiftJisFileCarriesTheSameLines) {
  BatchNow b;
  b.lines.push_back(
      Ended(1, Line("000000000000102"), "completed", "", R"({"records":[],"status":"no_data"})"));
  Result<BatchResultFile> sjis =
      WriteBatchResultFile(b, *layouts_, replica_io::Charset::kCp932, atena_);
  ASSERT_OK(sjis);
  // 正常終了 in CP932, and no substitution needed.
  EXPECT_NE(sjis->bytes.find("\x90\xb3\x8f\xed\x8f\x49\x97\xb9"), std::string::npos);
  EXPECT_TRUE(sjis->substituted_lines.empty());
  EXPECT_TRUE(sjis->bytes.ends_with("\r\n"));
}

TEST(ResultFileNameTest, ResultBeforeTheExtension) {
  EXPECT_EQ(ResultFileName("P640R110_20261204093000.DAT", "id"),
            "P640R110_20261204093000_RESULT.DAT");
  EXPECT_EQ(ResultFileName("inquiries", "id"), "inquiries_RESULT");
  EXPECT_EQ(ResultFileName("", "0192f3a4"), "batch_0192f3a4_RESULT.DAT");
}

}  // namespace
}  // namespace chukan::server
