#include "replica_io/csv_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "replica_io/charset.h"
#include "replica_io/test_sources.h"

namespace chukan::replica_io {
namespace {

using ::chukan::replica_io::testing::ChunkedSource;
using ::chukan::replica_io::testing::FailingSource;
using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Records = std::vector<std::vector<std::string>>;

struct Outcome {
  Records records;
  std::vector<int64_t> lines;  // line() of each record
  Status status;               // OK, or the error that ended reading

  bool operator==(const Outcome&) const = default;
};

Outcome ReadAll(ByteSource& src, CsvOptions options = {}) {
  Outcome out;
  CsvReader reader(src, options);
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok()) {
      out.status = more.status();
      // Errors are sticky.
      EXPECT_EQ(reader.Next().status(), out.status);
      return out;
    }
    if (!*more) break;
    out.records.emplace_back(reader.fields().begin(), reader.fields().end());
    out.lines.push_back(reader.line());
    EXPECT_EQ(reader.records(), static_cast<int64_t>(out.records.size()));
  }
  Result<bool> again = reader.Next();
  EXPECT_TRUE(again.ok() && !*again) << "end of input is sticky";
  return out;
}

// Reads `text` whole, one byte at a time and in random chunks; all three must agree.
Outcome Read(std::string_view text, CsvOptions options = {}) {
  StringSource whole(text);
  const Outcome expected = ReadAll(whole, options);
  ChunkedSource bytewise(text, 1);
  EXPECT_EQ(ReadAll(bytewise, options), expected) << "one byte at a time";
  for (unsigned seed : {1u, 2u, 3u}) {
    ChunkedSource random(text, 1 + text.size() / 3, seed);
    EXPECT_EQ(ReadAll(random, options), expected) << "random chunks, seed " << seed;
  }
  return expected;
}

Records ReadOk(std::string_view text) {
  Outcome o = Read(text);
  EXPECT_OK(o.status);
  return o.records;
}

TEST(CsvReaderTest, ReadsRecordsWithLfAndCrlfAndWithoutFinalNewline) {
  const Records expected = {{"a", "b", "c"}, {"1", "2", "3"}};
  EXPECT_EQ(ReadOk("a,b,c\n1,2,3\n"), expected);
  EXPECT_EQ(ReadOk("a,b,c\r\n1,2,3\r\n"), expected);
  EXPECT_EQ(ReadOk("a,b,c\r\n1,2,3"), expected);
  EXPECT_EQ(ReadOk("a,b,c\n1,2,3\r\n"), expected);
}

TEST(CsvReaderTest, CountsLinesAndRecords) {
  Outcome o = Read("h1,h2\nx,\"multi\nline\"\ny,z\n");
  ASSERT_OK(o.status);
  EXPECT_EQ(o.records, (Records{{"h1", "h2"}, {"x", "multi\nline"}, {"y", "z"}}));
  EXPECT_THAT(o.lines, ElementsAre(1, 2, 4));
}

TEST(CsvReaderTest, QuotedFieldsMayHoldSeparatorsQuotesAndLineEnds) {
  EXPECT_EQ(ReadOk("\"a,b\",\"say \"\"hi\"\"\",\"\"\"\",\"x\r\ny\",\"\"\n"),
            (Records{{"a,b", "say \"hi\"", "\"", "x\r\ny", ""}}));
  EXPECT_EQ(ReadOk("\"東京都,千代田区\",\"ｶﾀｶﾅ\"\"\""), (Records{{"東京都,千代田区", "ｶﾀｶﾅ\""}}));
  EXPECT_EQ(ReadOk("\"cr\ralone\"\n"), (Records{{"cr\ralone"}}));
}

TEST(CsvReaderTest, EmptyFields) {
  EXPECT_EQ(ReadOk(",\n"), (Records{{"", ""}}));
  EXPECT_EQ(ReadOk("a,,b\r\n"), (Records{{"a", "", "b"}}));
  EXPECT_EQ(ReadOk("a,"), (Records{{"a", ""}}));
  EXPECT_EQ(ReadOk("\"\"\n\"\",\"\""), (Records{{""}, {"", ""}}));
  EXPECT_EQ(ReadOk("a,\r\nb,\n"), (Records{{"a", ""}, {"b", ""}}));
}

TEST(CsvReaderTest, EmptyInputHasNoRecords) {
  EXPECT_EQ(ReadOk(""), Records{});
  EXPECT_EQ(ReadOk("\n"), Records{});
  EXPECT_EQ(ReadOk("\r\n"), Records{});
  EXPECT_EQ(ReadOk("\xEF\xBB\xBF"), Records{});
}

TEST(CsvReaderTest, SingleTrailingEmptyLineIsTolerated) {
  EXPECT_EQ(ReadOk("a\n\n"), (Records{{"a"}}));
  EXPECT_EQ(ReadOk("a\r\n\r\n"), (Records{{"a"}}));
}

TEST(CsvReaderTest, OtherEmptyLinesAreErrors) {
  EXPECT_THAT(Read("a\n\nb\n").status,
              StatusIs(StatusCode::kInvalidArgument, "line 2: empty line"));
  EXPECT_THAT(Read("a\r\n\r\nb").status,
              StatusIs(StatusCode::kInvalidArgument, "line 2: empty line"));
  EXPECT_THAT(Read("a\n\n\n").status, StatusIs(StatusCode::kInvalidArgument, "line 2: empty line"));
  EXPECT_THAT(Read("\na\n").status, StatusIs(StatusCode::kInvalidArgument, "line 1: empty line"));
  // The record before the empty line is still delivered.
  EXPECT_EQ(Read("a\n\nb\n").records, (Records{{"a"}}));
}

TEST(CsvReaderTest, QuoteInUnquotedField) {
  EXPECT_THAT(Read("h\na,b\"c\n").status,
              StatusIs(StatusCode::kInvalidArgument, "line 2: column 2: quote in unquoted field"));
  EXPECT_THAT(Read("ab\"").status,
              StatusIs(StatusCode::kInvalidArgument, "line 1: column 1: quote in unquoted field"));
}

TEST(CsvReaderTest, TextAfterClosingQuote) {
  EXPECT_THAT(Read("\"ab\"c,d\n").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1: column 1: unexpected character after closing quote"));
  EXPECT_THAT(Read("x,\"a\nb\" ,d\n").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 2: column 2: unexpected character after closing quote"));
}

TEST(CsvReaderTest, LoneCarriageReturn) {
  const char* kCol1 = "line 1: column 1: carriage return not followed by line feed";
  EXPECT_THAT(Read("a\rb,c\n").status, StatusIs(StatusCode::kInvalidArgument, kCol1));
  EXPECT_THAT(Read("a\r").status, StatusIs(StatusCode::kInvalidArgument, kCol1));
  EXPECT_THAT(Read("x,\"q\"\ry\n").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1: column 2: carriage return not followed by line feed"));
  EXPECT_THAT(Read("x,\ry\n").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1: column 2: carriage return not followed by line feed"));
  EXPECT_THAT(Read("a\n\rb\n").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 2: column 1: carriage return not followed by line feed"));
}

TEST(CsvReaderTest, UnterminatedQuoteNamesWhereItOpened) {
  EXPECT_THAT(Read("h\nx,\"abc\nd\ne\n").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 4: column 2: unterminated quoted field (opened on line 2)"));
  EXPECT_THAT(Read("\"abc").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1: column 1: unterminated quoted field (opened on line 1)"));
  // "" inside an unterminated field does not close it.
  EXPECT_THAT(Read("a,\"b\"\"").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1: column 2: unterminated quoted field (opened on line 1)"));
}

TEST(CsvReaderTest, InvalidUtf8NamesLineAndColumn) {
  EXPECT_THAT(Read("a,b\nc,\xFF\n").status,
              StatusIs(StatusCode::kInvalidArgument, "line 2: column 2: invalid UTF-8"));
  // Overlong encoding of '/', a surrogate, and a truncated sequence before the separator.
  EXPECT_THAT(Read("\xC0\xAF").status,
              StatusIs(StatusCode::kInvalidArgument, "line 1: column 1: invalid UTF-8"));
  EXPECT_THAT(Read("a,\xED\xA0\x80").status,
              StatusIs(StatusCode::kInvalidArgument, "line 1: column 2: invalid UTF-8"));
  EXPECT_THAT(Read("a,\xE5\x9C,b").status,
              StatusIs(StatusCode::kInvalidArgument, "line 1: column 2: invalid UTF-8"));
  // The 3-byte fast path: E0 needs A0..BF next (overlong otherwise); a sequence cut short.
  EXPECT_THAT(Read("\xE0\x80\x80").status,
              StatusIs(StatusCode::kInvalidArgument, "line 1: column 1: invalid UTF-8"));
  EXPECT_THAT(Read("ok,\xE3\x81").status,
              StatusIs(StatusCode::kInvalidArgument, "line 1: column 2: invalid UTF-8"));
  EXPECT_THAT(Read("\xE3\x81\xC2").status,
              StatusIs(StatusCode::kInvalidArgument, "line 1: column 1: invalid UTF-8"));
  EXPECT_EQ(ReadOk("\xEF\xBF\xBF,\xE0\xA0\x80,\xF0\x9F\x98\x80"),
            (Records{{"\xEF\xBF\xBF", "\xE0\xA0\x80", "😀"}}));
  // Inside a quoted field that spans lines: the physical line of the bad byte.
  EXPECT_THAT(Read("x,\"one\ntwo\nthr\xC3\"\n").status,
              StatusIs(StatusCode::kInvalidArgument, "line 3: column 2: invalid UTF-8"));
}

TEST(CsvReaderTest, SkipsAByteOrderMarkOnlyAtTheStart) {
  EXPECT_EQ(ReadOk("\xEF\xBB\xBF"
                   "a,b\n"),
            (Records{{"a", "b"}}));
  EXPECT_EQ(ReadOk("\xEF\xBB\xBF\"a\",b\n"), (Records{{"a", "b"}}));
  EXPECT_EQ(ReadOk("a\n\xEF\xBB\xBF"
                   "b\n"),
            (Records{{"a"},
                     {"\xEF\xBB\xBF"
                      "b"}}));
  EXPECT_THAT(Read("\xEF\xBB").status,
              StatusIs(StatusCode::kInvalidArgument, "line 1: column 1: invalid UTF-8"));
}

TEST(CsvReaderTest, FieldCountLimit) {
  CsvOptions options;
  options.max_fields = 3;
  EXPECT_EQ(Read("a,b,c\n", options).records, (Records{{"a", "b", "c"}}));
  EXPECT_THAT(Read("a,b,c\nd,e,f,g\n", options).status,
              StatusIs(StatusCode::kResourceExhausted,
                       "line 2: record has more than max_fields (3) fields"));
  EXPECT_THAT(Read("a,b,c,", options).status,
              StatusIs(StatusCode::kResourceExhausted,
                       "line 1: record has more than max_fields (3) fields"));
}

TEST(CsvReaderTest, FieldSizeLimitCountsTheDecodedValue) {
  CsvOptions options;
  options.max_field_bytes = 4;
  EXPECT_EQ(Read("abcd,\"ab\"\"c\"\n", options).records, (Records{{"abcd", "ab\"c"}}));
  EXPECT_THAT(Read("abcd,abcde\n", options).status,
              StatusIs(StatusCode::kResourceExhausted,
                       "line 1: column 2: field exceeds max_field_bytes (4)"));
  EXPECT_THAT(Read("x\n\"ab\ncd\"\n", options).status,
              StatusIs(StatusCode::kResourceExhausted,
                       "line 2: column 1: field exceeds max_field_bytes (4)"));
}

TEST(CsvReaderTest, RecordSizeLimit) {
  CsvOptions options;
  options.max_record_bytes = 10;
  EXPECT_EQ(Read("123456789\n", options).records, (Records{{"123456789"}}));
  EXPECT_THAT(
      Read("a\n1234567890\n", options).status,
      StatusIs(StatusCode::kResourceExhausted, "line 2: record exceeds max_record_bytes (10)"));
}

// Endless input without a line end: the record limit must stop the reader, with the buffer
// bounded, rather than reading forever.
class EndlessSource final : public ByteSource {
 public:
  Result<size_t> Read(char* buf, size_t n) override {
    std::memset(buf, 'a', n);
    total_ += n;
    return n;
  }
  size_t total() const { return total_; }

 private:
  size_t total_ = 0;
};

TEST(CsvReaderTest, RecordLimitBoundsMemoryOnEndlessInput) {
  EndlessSource src;
  CsvOptions options;
  options.max_record_bytes = 4 << 20;
  options.max_field_bytes = 8 << 20;
  CsvReader reader(src, options);
  EXPECT_THAT(reader.Next(), StatusIs(StatusCode::kResourceExhausted,
                                      "line 1: record exceeds max_record_bytes (4194304)"));
  EXPECT_LE(src.total(), size_t{(4 << 20) + ChunkBuffer::kChunk * 2});
}

TEST(CsvReaderTest, UnboundedLimitsDoNotOverflow) {
  CsvOptions options;
  options.max_record_bytes = SIZE_MAX;
  options.max_field_bytes = SIZE_MAX;
  options.max_fields = SIZE_MAX;
  EXPECT_EQ(Read("a,b\n", options).records, (Records{{"a", "b"}}));
}

TEST(CsvReaderTest, SourceErrorsPropagate) {
  FailingSource src("a,b\nc,", DataLossError("disk on fire"));
  Outcome o = ReadAll(src);
  EXPECT_THAT(o.status, StatusIs(StatusCode::kDataLoss, "disk on fire"));
  EXPECT_EQ(o.records, (Records{{"a", "b"}}));
}

// A varied input: Japanese text, quoting, embedded line ends, CRLF, empty fields.
std::string MixedInput(int rows, unsigned seed) {
  const char* cells[] = {"地方税",
                         "\"髙橋, 一郎\"",
                         "①",
                         "ｶﾀｶﾅ",
                         "",
                         "123456789012345",
                         "\"multi\nline\"",
                         "\"q\"\"uote\"",
                         "20250401",
                         "東京都千代田区1-2-3"};
  std::mt19937 rng(seed);
  std::string out;
  for (int r = 0; r < rows; ++r) {
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < n; ++f) {
      if (f > 0) out += ',';
      const std::string_view cell = cells[rng() % std::size(cells)];
      out += (n == 1 && cell.empty()) ? "x" : cell;  // a lone empty field would be an empty line
    }
    out += (rng() % 2) ? "\r\n" : "\n";
  }
  return out;
}

TEST(CsvReaderTest, ChunkBoundariesDoNotChangeTheResult) {
  const std::string text = MixedInput(3000, 11);
  Outcome o = Read(text);  // compares whole, bytewise and random chunks
  ASSERT_OK(o.status);
  EXPECT_EQ(o.records.size(), 3000u);
}

TEST(CsvReaderTest, LargeInputAcrossManyChunks) {
  // More than one 256 KiB chunk, read whole and in random chunks up to 100 KiB.
  const std::string text = MixedInput(60'000, 5);
  ASSERT_GT(text.size(), 3 * ChunkBuffer::kChunk);
  StringSource whole(text);
  const Outcome expected = ReadAll(whole);
  ASSERT_OK(expected.status);
  EXPECT_EQ(expected.records.size(), 60'000u);
  ChunkedSource random(text, 100'000, 42);
  EXPECT_EQ(ReadAll(random), expected);
}

std::string LargeFile(int64_t lines, int64_t bad_line, std::string_view bad_record,
                      std::string_view name = "\"山田 太郎\"") {
  std::string text = "atena_no,name,amount\n";
  for (int64_t i = 2; i <= lines; ++i) {
    if (i == bad_line) {
      text += bad_record;
    } else {
      text += std::to_string(100000000000000 + i) + "," + std::string(name) + ",12345";
    }
    text += '\n';
  }
  return text;
}

TEST(CsvReaderTest, BrokenQuoteDeepInALargeInputIsNamed) {
  {
    const std::string text = LargeFile(1'000'000, 700'000, "000000000000001,\"ab\"c,1");
    StringSource src(text);
    Outcome o = ReadAll(src);
    EXPECT_THAT(o.status, StatusIs(StatusCode::kInvalidArgument,
                                   "line 700000: column 2: unexpected character after closing "
                                   "quote"));
    EXPECT_EQ(o.records.size(), 699'999u);
  }
  {
    // No other quotes follow, so the field runs to the end of the input.
    const std::string text = LargeFile(1'000'000, 700'000, "000000000000001,\"ab,1", "山田 太郎");
    CsvOptions unlimited;
    unlimited.max_record_bytes = unlimited.max_field_bytes = 64 << 20;
    ChunkedSource src(text, 70'000, 3);
    EXPECT_THAT(ReadAll(src, unlimited).status,
                StatusIs(StatusCode::kInvalidArgument,
                         "line 1000000: column 2: unterminated quoted field (opened on line "
                         "700000)"));
    // With the default limits the open quote swallows lines until the record limit.
    StringSource whole(text);
    EXPECT_THAT(ReadAll(whole).status,
                StatusIs(StatusCode::kResourceExhausted,
                         "line 700000: record exceeds max_record_bytes (1048576); column 2: "
                         "quoted field opened on line 700000 is still open"));
  }
}

TEST(CsvReaderTest, WithCp932SourceReportsTheDecoderErrorOnItsLine) {
  std::string cp932 = "h1,h2\n";
  for (int i = 2; i <= 6; ++i) cp932 += "\x92\x6E\x95\xFB\x90\xC5,\x87\x40\r\n";
  cp932 += "ok,\x85\x40\r\n";  // line 7
  for (int i = 8; i <= 20; ++i) cp932 += "a,b\r\n";
  for (const size_t chunk : {size_t{1}, size_t{7}, size_t{1} << 20}) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSource> src,
                         MakeCp932ToUtf8Source(std::make_unique<ChunkedSource>(cp932, chunk)));
    Outcome o = ReadAll(*src);
    EXPECT_THAT(o.status, StatusIs(StatusCode::kInvalidArgument,
                                   "line 7, byte 4: invalid Shift_JIS (CP932) byte sequence"));
    ASSERT_EQ(o.records.size(), 6u);
    EXPECT_EQ(o.records[1], (std::vector<std::string>{"地方税", "①"}));
  }
}

TEST(CsvReaderTest, EarlierCsvErrorWinsOverALaterDecodingError) {
  const std::string cp932 = "h\na\"b\nc\n\x85\x40\n";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSource> src,
                       MakeCp932ToUtf8Source(std::make_unique<StringSource>(cp932)));
  EXPECT_THAT(ReadAll(*src).status,
              StatusIs(StatusCode::kInvalidArgument, "line 2: column 1: quote in unquoted field"));
}

}  // namespace
}  // namespace chukan::replica_io
