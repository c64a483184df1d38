#include "replica_io/csv_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "replica_io/csv_reader.h"
#include "replica_io/test_sources.h"

namespace chukan::replica_io {
namespace {

std::string Write(std::vector<std::string_view> fields) {
  std::string out;
  AppendCsvRecord(out, fields);
  return out;
}

TEST(CsvWriterTest, PlainFieldsAreWrittenAsIs) {
  EXPECT_EQ(Write({"a", "地方税", "", "123"}), "a,地方税,,123\n");
  EXPECT_EQ(Write({"", ""}), ",\n");
  EXPECT_EQ(Write({"in ner", "全角　空白"}), "in ner,全角　空白\n");
}

TEST(CsvWriterTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(Write({"a,b"}), "\"a,b\"\n");
  EXPECT_EQ(Write({"say \"hi\""}), "\"say \"\"hi\"\"\"\n");
  EXPECT_EQ(Write({"\""}), "\"\"\"\"\n");
  EXPECT_EQ(Write({"l1\nl2", "cr\r"}), "\"l1\nl2\",\"cr\r\"\n");
  EXPECT_EQ(Write({" lead", "trail ", "\ttab"}), "\" lead\",\"trail \",\"\ttab\"\n");
  EXPECT_EQ(Write({"\xEF\xBB\xBF"
                   "x"}),
            "\"\xEF\xBB\xBF"
            "x\"\n");
}

TEST(CsvWriterTest, SingleEmptyFieldIsQuotedSoItIsNotAnEmptyLine) {
  EXPECT_EQ(Write({""}), "\"\"\n");
  EXPECT_EQ(Write({}), "\"\"\n");
}

TEST(CsvWriterTest, AppendsToExistingOutput) {
  std::string out = "h1,h2\n";
  const std::string_view row[] = {"x", "y"};
  AppendCsvRecord(out, row);
  EXPECT_EQ(out, "h1,h2\nx,y\n");
}

// Property: for random records of random fields — Japanese text, quotes, separators, CR, LF,
// spaces, a leading U+FEFF, empty strings — writing and reading back is an identity, however the
// bytes are chunked.
TEST(CsvWriterTest, RoundTripsThroughCsvReader) {
  const std::string_view atoms[] = {"a",  "Z",    "0",  " ",  "\t", ",",      "\"", "\r",
                                    "\n", "\r\n", "地", "髙", "①",  "ｶ",      "～", "\xEF\xBB\xBF",
                                    "😀",  "\\",   "'",  "",   "表", "\"\"\"", ",,"};
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::vector<std::string>> records(200);
    std::string text;
    for (auto& record : records) {
      const size_t n = 1 + rng() % 8;
      std::vector<std::string_view> views;
      for (size_t i = 0; i < n; ++i) {
        std::string field;
        const size_t len = rng() % 6;
        for (size_t k = 0; k < len; ++k) field += atoms[rng() % std::size(atoms)];
        record.push_back(field);
      }
      for (const std::string& f : record) views.push_back(f);
      AppendCsvRecord(text, views);
    }
    for (const size_t chunk : {size_t{1}, size_t{13}, text.size()}) {
      testing::ChunkedSource src(text, chunk, chunk == 13 ? seed : 0);
      CsvReader reader(src);
      for (size_t r = 0; r < records.size(); ++r) {
        ASSERT_OK_AND_ASSIGN(bool more, reader.Next());
        ASSERT_TRUE(more) << "seed " << seed << " record " << r;
        EXPECT_EQ(std::vector<std::string>(reader.fields().begin(), reader.fields().end()),
                  records[r])
            << "seed " << seed << " record " << r;
      }
      ASSERT_OK_AND_ASSIGN(bool more, reader.Next());
      EXPECT_FALSE(more);
    }
  }
}

}  // namespace
}  // namespace chukan::replica_io
