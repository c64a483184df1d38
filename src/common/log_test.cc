#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan::log {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(LogTest, FormatsOneJsonObject) {
  EXPECT_EQ(FormatLine("T", Level::kInfo, "http.listen",
                       {{"port", 8443}, {"tls", true}, {"host", "127.0.0.1"}}),
            R"({"ts":"T","level":"info","event":"http.listen","port":8443,"tls":true,)"
            R"("host":"127.0.0.1"})");
}

TEST(LogTest, RedactsPersonalDataKeys) {
  const std::string line = FormatLine("T", Level::kWarn, "x",
                                      {{"atena_no", "000000000000001"},
                                       {"resident_id", "12345678901"},
                                       {"token", "secret-token"},
                                       {"tenant", "t0000000000000131"}});
  EXPECT_THAT(line, Not(HasSubstr("000000000000001")));
  EXPECT_THAT(line, Not(HasSubstr("12345678901")));
  EXPECT_THAT(line, Not(HasSubstr("secret-token")));
  EXPECT_THAT(line, HasSubstr(R"("atena_no":"[redacted]")"));
  EXPECT_THAT(line, HasSubstr(R"("tenant":"t0000000000000131")"));
}

TEST(LogTest, EscapesControlAndInvalidUtf8) {
  std::string out;
  AppendJsonString(out, std::string_view("a\"b\\c\n\x01\xff日本"));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\u0001\xEF\xBF\xBD日本\"");
}

// Runs of plain ASCII are copied whole (one append a run); what needs an escape, at a run's
// start, end or between two, is escaped as before.
TEST(LogTest, AppendJsonStringCopiesRunsAndEscapesBetweenThem) {
  const std::string run(300, 'x');
  std::string out = "{";
  AppendJsonString(out, "\"" + run + "\x7f" + run + "\\\n~ \t");
  EXPECT_EQ(out, "{\"\\\"" + run + "\\u007f" + run + "\\\\\\n~ \\t\"");
  out.clear();
  AppendJsonString(out, "");
  EXPECT_EQ(out, "\"\"");
  out.clear();
  AppendJsonString(out, "abc\xe6\x97\xa5z\xc3");  // 日, then a truncated sequence
  EXPECT_EQ(out, "\"abc\xe6\x97\xa5z\xEF\xBF\xBD\"");
}

TEST(LogTest, WritesToFileAndHonoursLevel) {
  chukan::testing::TempDir dir;
  ASSERT_OK(Init({Level::kInfo, dir.File("log.jsonl")}));
  Debug("hidden.event");
  Info("shown.event", {RequestIdField(RequestId::Parse("req-12345678").value())});
  ASSERT_OK(Init({}));  // back to stderr, flushing and closing the file
  std::ifstream in(dir.File("log.jsonl"));
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_THAT(ss.str(), Not(HasSubstr("hidden.event")));
  EXPECT_THAT(ss.str(), HasSubstr(R"("event":"shown.event","request_id":"req-12345678"})"));
}

// Each line is on disk as soon as it is written, while the logger is still open (a process
// killed with SIGKILL must leave its trace), and the file is readable by its owner only.
TEST(LogTest, EveryLineReachesTheFileAtOnceAndTheFileIsPrivate) {
  chukan::testing::TempDir dir;
  const std::string path = dir.File("server.log");
  {
    std::ofstream existing(path);  // an older, world-readable file is narrowed too
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_OK(Init({Level::kInfo, path}));
  Info("first.event");
  auto read = [&] {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  EXPECT_THAT(read(), HasSubstr(R"("event":"first.event")"));
  Info("second.event");
  EXPECT_THAT(read(), HasSubstr(R"("event":"second.event")"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK(Init({}));
}

TEST(LogTest, ParseLevel) {
  EXPECT_EQ(*ParseLevel("warn"), Level::kWarn);
  EXPECT_THAT(ParseLevel("loud"), ::chukan::testing::StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace chukan::log
