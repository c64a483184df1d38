#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kSample[] = R"(# sample
[server]
listen = "127.0.0.1:0"
workers = 2
tls = true
names = ["a", "b"]

[store]
backend = "sqlite"
)";

TEST(ConfigTest, ReadsTypedValues) {
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kSample, "chukan.toml"));
  EXPECT_EQ(*c.GetString("server.listen"), "127.0.0.1:0");
  EXPECT_EQ(*c.GetInt("server.workers", 1, 64), 2);
  EXPECT_EQ(*c.GetBool("server.tls"), true);
  EXPECT_EQ(c.GetStringArray("server.names")->size(), 2u);
  EXPECT_EQ(*c.GetString("store.dsn", "none"), "none");
  EXPECT_EQ(*c.GetInt("server.backlog", 128, 1, 4096), 128);
}

TEST(ConfigTest, WrongTypeNamesFileLineAndKey) {
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kSample, "chukan.toml"));
  EXPECT_THAT(c.GetInt("server.listen", 0, 10),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("chukan.toml:3: key 'server.listen': expected an integer, "
                                 "found a string")));
}

TEST(ConfigTest, OutOfRangeAndMissing) {
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kSample, "chukan.toml"));
  EXPECT_THAT(c.GetInt("server.workers", 4, 8),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside [4, 8]")));
  EXPECT_THAT(c.GetString("server.missing"),
              StatusIs(StatusCode::kNotFound, HasSubstr("key 'server.missing' is required")));
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  EXPECT_THAT(Config::Parse("a = 1\nb = = 2\n", "bad.toml"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("bad.toml:2:")));
}

TEST(ConfigTest, UnknownKeyIsAnError) {
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kSample, "chukan.toml"));
  EXPECT_OK(c.CheckKnownKeys({"server.*", "store.backend"}));
  EXPECT_THAT(c.CheckKnownKeys({"server.listen", "server.workers", "server.tls", "store.*"}),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("chukan.toml:6: unknown key 'server.names'")));
}

TEST(ConfigTest, LoadFileErrors) {
  chukan::testing::TempDir dir;
  EXPECT_THAT(Config::LoadFile(dir.File("nope.toml")),
              StatusIs(StatusCode::kNotFound, HasSubstr("nope.toml")));
  {
    std::ofstream out(dir.File("ok.toml"));
    out << kSample;
  }
  ASSERT_OK_AND_ASSIGN(Config c, Config::LoadFile(dir.File("ok.toml")));
  EXPECT_EQ(c.source(), dir.File("ok.toml"));
}

}  // namespace
}  // namespace chukan
