#include "audit/checkpoint_export.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan::audit {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

CheckpointRecord Record(int64_t seq) {
  CheckpointRecord r;
  r.seq = seq;
  r.time_us = 1775001600000000 + seq;
  r.scope = "platform";
  r.hash.assign(32, 0xab);
  r.verify_key.assign(32, 0x01);
  r.signature.assign(64, 0xcd);
  return r;
}

// Record(seq)'s line with `field`'s value (its JSON text) replaced.
std::string LineWith(int64_t seq, const std::string& field, const std::string& json_value) {
  std::string line = FormatCheckpointLine(Record(seq));
  const size_t at = line.find("\"" + field + "\":") + field.size() + 3;
  const size_t end = line.find_first_of(",}", line[at] == '"' ? line.find('"', at + 1) : at);
  return line.replace(at, end - at, json_value);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::vector<int64_t> Seqs(const std::vector<CheckpointRecord>& records) {
  std::vector<int64_t> seqs;
  for (const CheckpointRecord& r : records) seqs.push_back(r.seq);
  return seqs;
}

TEST(CheckpointLineTest, FormatIsTheDocumentedLine) {
  EXPECT_EQ(FormatCheckpointLine(Record(7)),
            "{\"seq\":7,\"time_us\":1775001600000007,\"scope\":\"platform\",\"hash\":\"" +
                Repeat("ab", 32) + "\",\"verify_key\":\"" + Repeat("01", 32) +
                "\",\"signature\":\"" + Repeat("cd", 64) + "\"}");
  ASSERT_OK_AND_ASSIGN(CheckpointRecord back, ParseCheckpointLine(FormatCheckpointLine(Record(7))));
  EXPECT_EQ(back, Record(7));
}

TEST(CheckpointLineTest, RejectsEachMalformedFieldWithoutQuotingIt) {
  struct Case {
    std::string line;
    std::string message;
  };
  const std::string secret = "\"zz-do-not-echo-zz\"";
  const Case cases[] = {
      {"", "empty line"},
      {"{\"seq\":", "not valid JSON"},
      {"[1,2]", "not a JSON object"},
      {LineWith(7, "seq", secret), "field \"seq\" must be an integer"},
      {LineWith(7, "seq", "0"), "field \"seq\" must be at least 1"},
      {LineWith(7, "seq", "18446744073709551615"), "field \"seq\" is out of range"},
      {LineWith(7, "time_us", "-1"), "field \"time_us\" must be at least 0"},
      {LineWith(7, "scope", "\"\""), "field \"scope\" must be 1 to 64 bytes of UTF-8"},
      {LineWith(7, "hash", secret), "field \"hash\" must be 64 hex digits"},
      {LineWith(7, "hash", "\"" + Repeat("zz", 32) + "\""), "field \"hash\" is not hex"},
      {LineWith(7, "verify_key", "1"), "field \"verify_key\" must be a string of hex digits"},
      {LineWith(7, "signature", "\"" + Repeat("cd", 32) + "\""),
       "field \"signature\" must be 128 hex digits"},
      {"{\"seq\":7}", "field \"time_us\" is missing"},
      {FormatCheckpointLine(Record(7)).insert(1, "\"extra\":" + secret + ","),
       "has fields other than the six known"},
      {std::string(kMaxCheckpointLineBytes + 1, ' '), "longer than 4096 bytes"},
  };
  for (const Case& c : cases) {
    Result<CheckpointRecord> r = ParseCheckpointLine(c.line);
    EXPECT_THAT(r, StatusIs(StatusCode::kDataLoss, c.message)) << c.line;
    EXPECT_THAT(r.status().message(), Not(HasSubstr("zz"))) << c.line;
  }
}

TEST(CheckpointFileTest, AppendsLinesToAPrivateFile) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("cp.jsonl");
  ASSERT_OK_AND_ASSIGN(auto file, CheckpointFile::Open(path));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK_AND_ASSIGN(int64_t last, file->LastExportedSeq());
  EXPECT_EQ(last, 0);

  ASSERT_OK(file->Export(Record(1)));
  ASSERT_OK(file->Export(Record(6)));
  EXPECT_EQ(Slurp(path),
            FormatCheckpointLine(Record(1)) + "\n" + FormatCheckpointLine(Record(6)) + "\n");
  ASSERT_OK_AND_ASSIGN(last, file->LastExportedSeq());
  EXPECT_EQ(last, 6);
  ASSERT_OK_AND_ASSIGN(std::vector<CheckpointRecord> back, ReadCheckpointFile(path));
  EXPECT_THAT(back, ElementsAre(Record(1), Record(6)));

  // Reopening appends to what is there.
  ASSERT_OK_AND_ASSIGN(auto again, CheckpointFile::Open(path));
  ASSERT_OK(again->Export(Record(11)));
  ASSERT_OK_AND_ASSIGN(back, ReadCheckpointFile(path));
  EXPECT_THAT(Seqs(back), ElementsAre(1, 6, 11));
}

TEST(CheckpointFileTest, ALineTornByACrashIsEndedAndReportedAlone) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("cp.jsonl");
  const std::string first = FormatCheckpointLine(Record(1));
  WriteFile(path, first + "\n" + FormatCheckpointLine(Record(6)).substr(0, 40));
  ASSERT_OK_AND_ASSIGN(auto file, CheckpointFile::Open(path));
  ASSERT_OK_AND_ASSIGN(int64_t last, file->LastExportedSeq());
  EXPECT_EQ(last, 1);  // the torn line is skipped

  ASSERT_OK(file->Export(Record(6)));
  ASSERT_OK_AND_ASSIGN(last, file->LastExportedSeq());
  EXPECT_EQ(last, 6);
  EXPECT_THAT(ReadCheckpointFile(path),
              StatusIs(StatusCode::kDataLoss, path + " line 2: not valid JSON"));
}

TEST(CheckpointFileTest, LastExportedSeqRefusesAGarbledLastLine) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("cp.jsonl");
  WriteFile(path, FormatCheckpointLine(Record(1)) + "\n" + LineWith(6, "seq", "0") + "\n");
  ASSERT_OK_AND_ASSIGN(auto file, CheckpointFile::Open(path));
  EXPECT_THAT(
      file->LastExportedSeq(),
      StatusIs(StatusCode::kDataLoss, path + ": the last line: field \"seq\" must be at least 1"));
}

TEST(ReadCheckpointFileTest, NamesTheFileAndTheLine) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("cp.jsonl");
  WriteFile(path, FormatCheckpointLine(Record(1)) + "\n" + FormatCheckpointLine(Record(6)) + "\n" +
                      LineWith(11, "signature", "\"" + Repeat("cd", 63) + "\"") + "\n");
  EXPECT_THAT(ReadCheckpointFile(path),
              StatusIs(StatusCode::kDataLoss,
                       path + " line 3: field \"signature\" must be 128 hex digits"));

  WriteFile(path,
            FormatCheckpointLine(Record(1)) + "\n\n" + FormatCheckpointLine(Record(6)) + "\n");
  EXPECT_THAT(ReadCheckpointFile(path),
              StatusIs(StatusCode::kDataLoss, path + " line 2: empty line"));

  EXPECT_THAT(ReadCheckpointFile(dir.File("missing.jsonl")),
              StatusIs(StatusCode::kNotFound, dir.File("missing.jsonl") + ": no such file"));
  EXPECT_THAT(ReadCheckpointFile(dir.path()),
              StatusIs(StatusCode::kInvalidArgument, dir.path() + ": not a regular file"));

  WriteFile(path, "");
  ASSERT_OK_AND_ASSIGN(std::vector<CheckpointRecord> none, ReadCheckpointFile(path));
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace chukan::audit
