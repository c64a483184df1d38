// The inquiry result file: status codes and messages of every outcome, the exact columns of the
// shipped layouts and of the default, several records, unwritable values, CP932 bytes.
#include "layout/result_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "layout/catalogue_loader.h"

namespace chukan::layout {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<const ResultLayouts> Layouts() {
  static const std::shared_ptr<const ResultLayouts> layouts = [] {
    auto c = LoadCatalogue(CHUKAN_LAYOUT_DIR);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return std::shared_ptr<const ResultLayouts>();
    auto r = LoadResultLayouts(CHUKAN_RESULT_LAYOUT_DIR, *c);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nullptr;
  }();
  return layouts;
}

std::vector<std::string> Split(std::string_view line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    out.emplace_back(line.substr(start, comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

// The example line of a P640R110 file as public municipal tools write it (issue 13).
constexpr std::string_view kTaxLine =
    "01,000000000012345,,20261126145450166,3595115400          ,,0220113112101700,1,"
    "JM01000000121000,JT01010000000214,,,13101           ,TM00000000000002,0,0,,";
constexpr std::string_view kAccountLine =
    "01,000000000012345,,20261126145450166,3595115400          ,,0220113112101700,1,"
    "JM01000000121000,JT01010000000001,,,0000000000000089,TM00000000000089,0,0,,";

struct Fields {
  explicit Fields(std::string_view line) : owned(Split(line)) {
    for (const std::string& f : owned) views.push_back(f);
  }
  std::vector<std::string> owned;
  std::vector<std::string_view> views;
};

// The whole expected line: the 18 fields, the four status columns, and `items` (column → value),
// every other column empty.
std::string Expected(std::string_view inquiry_line, size_t columns, std::vector<std::string> status,
                     std::vector<std::pair<size_t, std::string>> items) {
  std::vector<std::string> cols(columns);
  const std::vector<std::string> fields = Split(inquiry_line);
  for (size_t i = 0; i < 18; ++i) cols[i] = fields[i];
  for (size_t i = 0; i < 4; ++i) cols[23 + i] = status[i];
  for (const auto& [c, v] : items) cols[c - 1] = v;
  std::string out;
  for (size_t i = 0; i < cols.size(); ++i) out += (i > 0 ? "," : "") + cols[i];
  return out;
}

TEST(ResultFileTest, ToFullWidth) {
  EXPECT_EQ(ToFullWidth("000000014689427"), "０００００００１４６８９４２７");
  EXPECT_EQ(ToFullWidth("TM00000000000002"), "ＴＭ０００００００００００００２");
  EXPECT_EQ(ToFullWidth("NO_ANSWER"), "ＮＯ＿ＡＮＳＷＥＲ");
  EXPECT_EQ(ToFullWidth("!az~ 9"), "！ａｚ～　９");
  EXPECT_EQ(ToFullWidth("漢字1ｱ"), "漢字１ｱ");  // only ASCII changes
  EXPECT_EQ(ToFullWidth(""), "");
}

struct OutcomeCase {
  LineResult in;
  std::vector<std::string> want;  // line status, line message, info status, info message
};

TEST(ResultFileTest, StatusAndMessageOfEveryOutcome) {
  const std::string not_permitted =
      "指定された特定個人情報名「ＴＭ０００００００００００００２」の照会は許可されていません。";
  const std::vector<OutcomeCase> cases = {
      {{LineOutcome::kCompleted, "", "", ""}, {"09", "正常終了", "01", "正常終了"}},
      {{LineOutcome::kNoData, "", "", ""},
       {"09", "正常終了", "02", "該当する特定個人情報がありません。"}},
      {{LineOutcome::kNoSubjectCode, "", "000000014689427", "TM00000000000002"},
       {"93", "指定された団体内統合宛名番号「０００００００１４６８９４２７」は符号が未取得です。",
        "", ""}},
      {{LineOutcome::kDuplicateLine, "", "", ""},
       {"92", "「レコード識別番号」が既に存在しています。", "", ""}},
      {{LineOutcome::kRefused, "NOT_PERMITTED", "", "TM00000000000002"},
       {"94", not_permitted, "03", not_permitted}},
      {{LineOutcome::kRefused, "PROVIDER_REJECTED", "", "TM00000000000002"},
       {"94", "照会が拒否されました。（理由コード「ＰＲＯＶＩＤＥＲ＿ＲＥＪＥＣＴＥＤ」）", "04",
        "照会が拒否されました。（理由コード「ＰＲＯＶＩＤＥＲ＿ＲＥＪＥＣＴＥＤ」）"}},
      {{LineOutcome::kRefused, "NOT_PERMITTED_LOCALLY", "", ""},
       {"94", "照会が拒否されました。（理由コード「ＮＯＴ＿ＰＥＲＭＩＴＴＥＤ＿ＬＯＣＡＬＬＹ」）",
        "04",
        "照会が拒否されました。（理由コード「ＮＯＴ＿ＰＥＲＭＩＴＴＥＤ＿ＬＯＣＡＬＬＹ」）"}},
      {{LineOutcome::kRefused, "", "", ""},
       {"94", "照会が拒否されました。", "04", "照会が拒否されました。"}},
      {{LineOutcome::kExpired, "NO_ANSWER", "", ""},
       {"95", "照会の有効期限までに情報提供者から応答がありませんでした。", "05",
        "照会の有効期限までに情報提供者から応答がありませんでした。"}},
      {{LineOutcome::kFailed, "UNAUTHENTICATED", "", ""},
       {"96", "照会処理に失敗しました。（理由コード「ＵＮＡＵＴＨＥＮＴＩＣＡＴＥＤ」）", "06",
        "照会処理に失敗しました。（理由コード「ＵＮＡＵＴＨＥＮＴＩＣＡＴＥＤ」）"}},
      {{LineOutcome::kRejected, "FORMAT", "", ""},
       {"91", "照会依頼の内容に誤りがあるため照会できません。（理由コード「ＦＯＲＭＡＴ」）", "",
        ""}},
      {{LineOutcome::kRejected, "UNKNOWN_PROVIDER", "", ""},
       {"91", "指定された情報提供者機関コードは登録されていません。", "", ""}},
      {{LineOutcome::kRejected, "UNKNOWN_TM", "", "TM99999999999999"},
       {"91", "指定された特定個人情報名「ＴＭ９９９９９９９９９９９９９９」は定義されていません。",
        "", ""}},
  };
  for (const OutcomeCase& c : cases) {
    SCOPED_TRACE(std::string(LineOutcomeName(c.in.outcome)) + " " + std::string(c.in.reason));
    ASSERT_OK_AND_ASSIGN(LineStatus s, DescribeLine(c.in));
    EXPECT_THAT(
        (std::vector<std::string>{s.line_status, s.line_message, s.info_status, s.info_message}),
        ::testing::ElementsAreArray(c.want));
  }
}

TEST(ResultFileTest, DescribeLineRefusesWhatItCannotWriteAndQuotesNothing) {
  const std::vector<LineResult> bad = {
      {LineOutcome::kRefused, "not_permitted", "", "TM00000000000002"},  // not a reason code
      {LineOutcome::kFailed, "12345,67", "", ""},
      {LineOutcome::kNoSubjectCode, "", "", ""},
      {LineOutcome::kNoSubjectCode, "", "12345", ""},
      {LineOutcome::kNoSubjectCode, "", "00000000000012X", ""},
      {LineOutcome::kRefused, "NOT_PERMITTED", "", "12345"},
      {LineOutcome::kRejected, "UNKNOWN_TM", "", ""},
  };
  for (const LineResult& r : bad) {
    auto s = DescribeLine(r);
    EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(s.status().message(), Not(HasSubstr("12345")));
    EXPECT_THAT(s.status().message(), Not(HasSubstr("not_permitted")));
  }
}

TEST(ResultFileTest, LocalTaxCompletedLine) {
  ASSERT_NE(Layouts(), nullptr);
  const Fields f(kTaxLine);
  const std::vector<ResultRecord> records = {{{"IT00000200000001", "2026"},
                                              {"IT00000200000008", "5000"},
                                              {"IT00000200000017", "380000"},
                                              {"IT00000200000018", "123400"},
                                              {"IT00000200000005", "9999999"}}};
  ASSERT_OK_AND_ASSIGN(
      RenderedLine line,
      RenderResultLine(Layouts()->For("TM00000000000002"), f.views,
                       {LineOutcome::kCompleted, "", "", "TM00000000000002"}, records));
  EXPECT_EQ(line.text, Expected(kTaxLine, 262, {"09", "正常終了", "01", "正常終了"},
                                {{165, "380000"}, {231, "5000"}, {255, "123400"}}));
  const std::vector<std::string> cols = Split(line.text);
  ASSERT_EQ(cols.size(), 262u);
  EXPECT_EQ(cols[1], "000000000012345");    // column 2: 宛名番号
  EXPECT_EQ(cols[12], "13101           ");  // column 13: 情報提供者機関コード, as given
  EXPECT_EQ(line.records_not_shown, 0u);
  EXPECT_EQ(line.unwritable_column, 0u);
}

TEST(ResultFileTest, LocalTaxErrorLines) {
  ASSERT_NE(Layouts(), nullptr);
  const ResultLayout& tax = Layouts()->For("TM00000000000002");
  const Fields f(kTaxLine);
  struct Case {
    LineResult in;
    std::vector<std::string> status;
  };
  const std::vector<Case> cases = {
      {{LineOutcome::kNoSubjectCode, "", "000000014689427", "TM00000000000002"},
       {"93", "指定された団体内統合宛名番号「０００００００１４６８９４２７」は符号が未取得です。",
        "", ""}},
      {{LineOutcome::kDuplicateLine, "", "", ""},
       {"92", "「レコード識別番号」が既に存在しています。", "", ""}},
      {{LineOutcome::kRefused, "NOT_PERMITTED", "", "TM00000000000002"},
       {"94",
        "指定された特定個人情報名「ＴＭ０００００００００００００２」の照会は許可されていません。",
        "03",
        "指定された特定個人情報名「ＴＭ０００００００００００００２」の照会は許可されていません"
        "。"}},
      {{LineOutcome::kCompleted, "", "", ""},  // no record: written as no data
       {"09", "正常終了", "02", "該当する特定個人情報がありません。"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status[1]);
    ASSERT_OK_AND_ASSIGN(RenderedLine line, RenderResultLine(tax, f.views, c.in, {}));
    EXPECT_EQ(line.text, Expected(kTaxLine, 262, c.status, {}));
  }
  const std::vector<ResultRecord> one = {{{"IT00000200000001", "2026"}}};
  EXPECT_THAT(
      RenderResultLine(tax, f.views, {LineOutcome::kExpired, "NO_ANSWER", "", ""}, one),
      StatusIs(StatusCode::kInvalidArgument, "records are given for a line that did not complete"));
}

TEST(ResultFileTest, PublicFundAccountCompletedLine) {
  ASSERT_NE(Layouts(), nullptr);
  const Fields f(kAccountLine);
  const std::vector<ResultRecord> records = {{{"IT00008900000001", "0001"},
                                              {"IT00008900000002", "ﾐｽﾞﾎ"},
                                              {"IT00008900000003", "123"},
                                              {"IT00008900000005", "1"},
                                              {"IT00008900000006", "0123456"},
                                              {"IT00008900000007", "ﾔﾏﾀﾞ ﾀﾛｳ"}}};
  ASSERT_OK_AND_ASSIGN(RenderedLine line,
                       RenderResultLine(Layouts()->For("TM00000000000089"), f.views,
                                        {LineOutcome::kCompleted, "", "", ""}, records));
  EXPECT_EQ(line.text,
            Expected(kAccountLine, 52, {"09", "正常終了", "01", "正常終了"},
                     {{35, "0001"}, {39, "123"}, {43, "1"}, {45, "0123456"}, {47, "ﾔﾏﾀﾞ ﾀﾛｳ"}}));
  EXPECT_EQ(Split(line.text)[26], "正常終了");  // column 27, what the tools check
}

TEST(ResultFileTest, DefaultLayoutLine) {
  ASSERT_NE(Layouts(), nullptr);
  const ResultLayout& jumin = Layouts()->For("TM90000000000101");
  ASSERT_TRUE(jumin.is_default());
  const Fields f(kTaxLine);
  ResultRecord r;
  std::vector<std::pair<size_t, std::string>> want;
  const LayoutVersion& v = jumin.info()->LatestVersion();
  for (size_t i = 0; i < v.item_count(); ++i) {
    r[v.item(i).code()] = "v" + std::to_string(i);
    want.emplace_back(28 + i, "v" + std::to_string(i));
  }
  ASSERT_OK_AND_ASSIGN(RenderedLine line,
                       RenderResultLine(jumin, f.views, {LineOutcome::kCompleted, "", "", ""},
                                        std::vector<ResultRecord>{r}));
  EXPECT_EQ(line.text,
            Expected(kTaxLine, 27 + v.item_count(), {"09", "正常終了", "01", "正常終了"}, want));

  // A TM the catalogue does not know: the 27 fixed columns.
  ASSERT_OK_AND_ASSIGN(
      line, RenderResultLine(Layouts()->For("TM99999999999999"), f.views,
                             {LineOutcome::kRejected, "UNKNOWN_TM", "", "TM99999999999999"}, {}));
  EXPECT_EQ(line.text,
            Expected(kTaxLine, 27,
                     {"91",
                      "指定された特定個人情報名「ＴＭ９９９９９９９９９９９９９９」は定義されていま"
                      "せん。",
                      "", ""},
                     {}));
}

TEST(ResultFileTest, SeveralRecordsShowTheLatestKeyPerDataSet) {
  ASSERT_NE(Layouts(), nullptr);
  const Fields f(kTaxLine);
  // Fiscal years 2024, 2026, 2025 (and 2026 again, later: a tie goes to the later record).
  const std::vector<ResultRecord> years = {
      {{"IT00000200000001", "2024"}, {"IT00000200000008", "1"}},
      {{"IT00000200000001", "2026"}, {"IT00000200000008", "2"}},
      {{"IT00000200000001", "2025"}, {"IT00000200000008", "3"}},
      {{"IT00000200000001", "02026"}, {"IT00000200000008", "4"}},  // numbers compare by value
  };
  ASSERT_OK_AND_ASSIGN(RenderedLine line,
                       RenderResultLine(Layouts()->For("TM00000000000002"), f.views,
                                        {LineOutcome::kCompleted, "", "", ""}, years));
  EXPECT_EQ(Split(line.text)[230], "4");
  EXPECT_EQ(line.records_not_shown, 3u);

  // 介護保険関係情報 (default layout, data sets): one record per data set, the highest 連番.
  const ResultLayout& kaigo = Layouts()->For("TM00000000000004");
  auto column = [&](std::string_view code) {
    for (size_t i = 0; i < kaigo.columns().size(); ++i) {
      const ResultColumn& c = kaigo.columns()[i];
      if (c.fill == ResultFill::kItem && c.item->code() == code) return i;
    }
    return size_t{0};
  };
  const std::vector<ResultRecord> sets = {
      {{"IT00000400000001", "0202"}, {"IT00000400000002", "2"}, {"IT00000402020001", "2"}},
      {{"IT00000400000001", "0101"},
       {"IT00000400000002", "1"},
       {"IT00000400000003", "131016"},
       {"IT00000401010001", "a"}},
      {{"IT00000400000001", "0202"}, {"IT00000400000002", "10"}, {"IT00000402020001", "3"}},
      {{"IT00000400000001", "0202"}, {"IT00000400000002", "1"}, {"IT00000402020001", "1"}},
  };
  ASSERT_OK_AND_ASSIGN(
      line, RenderResultLine(kaigo, f.views, {LineOutcome::kCompleted, "", "", ""}, sets));
  const std::vector<std::string> cols = Split(line.text);
  ASSERT_EQ(cols.size(), kaigo.columns().size());
  EXPECT_EQ(cols[column("IT00000402020001")], "3");  // 負担割合 of 連番 10 (not "2" > "10")
  EXPECT_EQ(cols[column("IT00000401010001")], "a");  // the 0101 record
  // Common items come from the greatest key overall: data set 0202, 連番 10 (no 保険者番号).
  EXPECT_EQ(cols[column("IT00000400000001")], "0202");
  EXPECT_EQ(cols[column("IT00000400000002")], "10");
  EXPECT_EQ(cols[column("IT00000400000003")], "");
  EXPECT_EQ(line.records_not_shown, 2u);
}

TEST(ResultFileTest, ValuesThatWouldBreakTheLineAreNeverWritten) {
  ASSERT_NE(Layouts(), nullptr);
  const ResultLayout& account = Layouts()->For("TM00000000000089");
  const Fields f(kAccountLine);
  const std::string message =
      "照会結果に出力できない文字（カンマ・改行等）が含まれるため、項目を出力していません。"
      "（項目コード「ＩＴ００００８９０００００００７」）";
  for (std::string name : {"ﾔﾏﾀﾞ,ﾀﾛｳ", "ﾔﾏﾀﾞ\r\nﾀﾛｳ", "ﾔﾏﾀﾞ\nﾀﾛｳ", "ﾔﾏﾀﾞ\tﾀﾛｳ"}) {
    const std::vector<ResultRecord> records = {{{"IT00008900000001", "0001"},
                                                {"IT00008900000006", "0123456"},
                                                {"IT00008900000007", name}}};
    ASSERT_OK_AND_ASSIGN(
        RenderedLine line,
        RenderResultLine(account, f.views, {LineOutcome::kCompleted, "", "", ""}, records));
    EXPECT_EQ(line.text, Expected(kAccountLine, 52, {"97", message, "01", message}, {}));
    EXPECT_EQ(line.unwritable_column, 47u);
    EXPECT_EQ(line.text.find_first_of("\r\n\t"), std::string::npos);
  }
  // Echoed fields: one holding a CR, and fields missing from a malformed line, are empty.
  std::vector<std::string_view> short_line = {"01", "00000000001\r2345", "", "20261126145450166"};
  ASSERT_OK_AND_ASSIGN(
      RenderedLine line,
      RenderResultLine(account, short_line, {LineOutcome::kRejected, "FORMAT", "", ""}, {}));
  const std::vector<std::string> cols = Split(line.text);
  ASSERT_EQ(cols.size(), 52u);
  EXPECT_EQ(cols[0], "01");
  EXPECT_EQ(cols[1], "");
  EXPECT_EQ(cols[3], "20261126145450166");
  EXPECT_EQ(cols[13], "");
  EXPECT_EQ(cols[23], "91");
}

TEST(ResultFileTest, EncodeUtf8AndCp932) {
  const std::vector<std::string> lines = {"正常終了,ｱ,髙,〜,①", "01,,"};
  ASSERT_OK_AND_ASSIGN(EncodedResultFile utf8, EncodeResultFile(lines, replica_io::Charset::kUtf8));
  EXPECT_EQ(utf8.bytes, "正常終了,ｱ,髙,〜,①\r\n01,,\r\n");
  EXPECT_TRUE(utf8.substituted_lines.empty());

  ASSERT_OK_AND_ASSIGN(EncodedResultFile sjis,
                       EncodeResultFile(lines, replica_io::Charset::kCp932));
  EXPECT_EQ(sjis.bytes,
            "\x90\xB3\x8F\xED\x8F\x49\x97\xB9,\xB1,\xFB\xFC,\x81\x60,\x87\x40\r\n01,,\r\n");
  EXPECT_TRUE(sjis.substituted_lines.empty());

  // Not representable in CP932: 〓 (0x81 0xAC), and the line is listed; UTF-8 keeps it.
  const std::vector<std::string> rare = {"ok", "𠮷田,😀"};
  ASSERT_OK_AND_ASSIGN(sjis, EncodeResultFile(rare, replica_io::Charset::kCp932));
  EXPECT_EQ(sjis.bytes, "ok\r\n\x81\xAC\x93\x63,\x81\xAC\r\n");
  EXPECT_THAT(sjis.substituted_lines, ElementsAre(2u));
  ASSERT_OK_AND_ASSIGN(utf8, EncodeResultFile(rare, replica_io::Charset::kUtf8));
  EXPECT_EQ(utf8.bytes, "ok\r\n𠮷田,😀\r\n");

  for (auto charset : {replica_io::Charset::kUtf8, replica_io::Charset::kCp932}) {
    EXPECT_THAT(EncodeResultFile(std::vector<std::string>{"a", "b\xFF"}, charset),
                StatusIs(StatusCode::kInvalidArgument, "line 2: invalid UTF-8"));
    EXPECT_THAT(EncodeResultFile(std::vector<std::string>{"a\nb"}, charset),
                StatusIs(StatusCode::kInvalidArgument, "line 1: contains a line break"));
  }
  ASSERT_OK_AND_ASSIGN(utf8, EncodeResultFile({}, replica_io::Charset::kUtf8));
  EXPECT_EQ(utf8.bytes, "");
}

}  // namespace
}  // namespace chukan::layout
