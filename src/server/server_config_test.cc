#include "server/server_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

std::string Write(const chukan::testing::TempDir& dir, const std::string& text) {
  const std::string path = dir.File("chukan.toml");
  std::ofstream out(path);
  out << text;
  return path;
}

TEST(ServerConfigTest, DefaultsAndRelativePaths) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(ServerConfig c, LoadServerConfig(Write(dir, "[server]\nport = 0\n")));
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.store.backend, store::Backend::kSqlite);
  EXPECT_EQ(c.store.data_dir, dir.File("data"));
  EXPECT_EQ(c.master_key_file(), dir.File("data/keys/master.key"));
  EXPECT_EQ(c.layout_dir, dir.File("data/layout"));
  EXPECT_TRUE(c.tls_cert.empty());
  EXPECT_EQ(c.instance, "server");
  EXPECT_EQ(c.delivery_batch_items, 64);
  EXPECT_EQ(c.delivery_peer_requests, 2);
  EXPECT_EQ(c.delivery_lease_seconds, 60);
}

TEST(ServerConfigTest, InstanceAndDeliveryBatches) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(ServerConfig c, LoadServerConfig(Write(dir, R"([server]
instance = "node-2"
[delivery]
batch_items = 1
peer_requests = 8
)")));
  EXPECT_EQ(c.instance, "node-2");
  EXPECT_EQ(c.delivery_batch_items, 1);
  EXPECT_EQ(c.delivery_peer_requests, 8);
  EXPECT_THAT(LoadServerConfig(Write(dir, "[server]\ninstance = \"a:b\"\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'server.instance'")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[delivery]\nbatch_items = 65\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'delivery.batch_items'")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[delivery]\npeer_requests = 0\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'delivery.peer_requests'")));
  // A node's claim on outbox items: how soon another node delivers what a dead one held.
  ASSERT_OK_AND_ASSIGN(c, LoadServerConfig(Write(dir, "[delivery]\nlease_seconds = 20\n")));
  EXPECT_EQ(c.delivery_lease_seconds, 20);
  EXPECT_THAT(LoadServerConfig(Write(dir, "[delivery]\nlease_seconds = 0\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'delivery.lease_seconds'")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[delivery]\nlease_seconds = 10\ntimeout_ms = 10000\n")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("'delivery.lease_seconds' must exceed delivery.timeout_ms")));
}

TEST(ServerConfigTest, FullFile) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(ServerConfig c, LoadServerConfig(Write(dir, R"(
[server]
host = "127.0.0.1"
port = 8443
threads = 4
[tls]
cert = "pki/server.crt"
key = "/etc/chukan/server.key"
[store]
backend = "postgres"
dsn = "host=127.0.0.1 dbname=chukan"
pg_prefix = "city"
[log]
level = "warn"
)")));
  EXPECT_EQ(c.port, 8443);
  EXPECT_EQ(c.threads, 4);
  EXPECT_EQ(c.tls_cert, dir.File("pki/server.crt"));
  EXPECT_EQ(c.tls_key, "/etc/chukan/server.key");
  EXPECT_EQ(c.store.backend, store::Backend::kPostgres);
  EXPECT_EQ(c.store.pg_prefix, "city");
  EXPECT_EQ(c.log.level, log::Level::kWarn);
}

// Issue 11, defect 10: the API served plain HTTP with bearer tokens even when bound beyond
// loopback. Now that needs TLS or an explicit allow_plain_http.
TEST(ServerConfigTest, PlainHttpBeyondLoopbackNeedsAnExplicitYes) {
  chukan::testing::TempDir dir;
  EXPECT_THAT(LoadServerConfig(Write(dir, "[server]\nhost = \"0.0.0.0\"\n")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("key 'server.host': 0.0.0.0 is not a loopback address")));
  ASSERT_OK_AND_ASSIGN(
      ServerConfig ok,
      LoadServerConfig(Write(dir, "[server]\nhost = \"0.0.0.0\"\nallow_plain_http = true\n")));
  EXPECT_TRUE(ok.allow_plain_http);
  ASSERT_OK_AND_ASSIGN(ServerConfig local,
                       LoadServerConfig(Write(dir, "[server]\nhost = \"127.0.0.1\"\n")));
  EXPECT_EQ(local.metrics, "loopback");
  EXPECT_EQ(local.upload_timeout_seconds, 1800);
  EXPECT_THAT(LoadServerConfig(Write(dir, "[server]\nmetrics = \"token\"\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("server.metrics_token")));
}

// How often the outbox is polled for what no commit announced: 200 ms unless set, 10 ms to 1 h.
TEST(ServerConfigTest, DeliveryPollIntervalDefaultsAndIsBounded) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(ServerConfig d, LoadServerConfig(Write(dir, "[server]\n")));
  EXPECT_EQ(d.delivery_poll_interval_ms, 200);
  ASSERT_OK_AND_ASSIGN(ServerConfig c,
                       LoadServerConfig(Write(dir, "[delivery]\npoll_interval_ms = 60000\n")));
  EXPECT_EQ(c.delivery_poll_interval_ms, 60'000);
  EXPECT_THAT(LoadServerConfig(Write(dir, "[delivery]\npoll_interval_ms = 9\n")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("chukan.toml:2: key 'delivery.poll_interval_ms': 9 is outside "
                                 "[10, 3600000]")));
  EXPECT_THAT(LoadServerConfig(Write(dir,
                                     "[server]\nport = 0\n[delivery]\n"
                                     "poll_interval_ms = 3600001\n")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("chukan.toml:4: key 'delivery.poll_interval_ms': 3600001 is "
                                 "outside [10, 3600000]")));
}

TEST(ServerConfigTest, LongPollLimitsDefaultSmallAndAreBounded) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(ServerConfig d, LoadServerConfig(Write(dir, "[server]\n")));
  EXPECT_EQ(d.long_polls_per_client, 16);
  EXPECT_EQ(d.long_polls_total, 10'000);
  ASSERT_OK_AND_ASSIGN(ServerConfig c, LoadServerConfig(Write(dir, R"([inquiry]
long_polls_per_client = 256
long_polls_total = 512
)")));
  EXPECT_EQ(c.long_polls_per_client, 256);
  EXPECT_EQ(c.long_polls_total, 512);
  // The total may not be below one client's share.
  EXPECT_THAT(LoadServerConfig(Write(dir,
                                     "[inquiry]\nlong_polls_per_client = 64\n"
                                     "long_polls_total = 10\n")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("chukan.toml:3: key 'inquiry.long_polls_total'")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[inquiry]\nlong_polls_per_client = 0\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("inquiry.long_polls_per_client")));
}

TEST(ServerConfigTest, ConsoleWorkLimitsDefaultSmallAndAreBounded) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(ServerConfig d, LoadServerConfig(Write(dir, "[server]\n")));
  EXPECT_EQ(d.console_password_checks, 4);
  EXPECT_EQ(d.console_uploads, 4);
  ASSERT_OK_AND_ASSIGN(ServerConfig c, LoadServerConfig(Write(
                                           dir, "[console]\npassword_checks = 8\nuploads = 2\n")));
  EXPECT_EQ(c.console_password_checks, 8);
  EXPECT_EQ(c.console_uploads, 2);
  EXPECT_THAT(LoadServerConfig(Write(dir, "[console]\npassword_checks = 0\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("console.password_checks")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[console]\nuploads = 65\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("console.uploads")));
}

// [retention]: the records of provision are kept at least 7 years (2557 days); the other keys
// have their own bounds, and each error names its key and line.
TEST(ServerConfigTest, RetentionKeysHaveDefaultsAndLegalBounds) {
  chukan::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(ServerConfig d, LoadServerConfig(Write(dir, "[server]\n")));
  EXPECT_EQ(d.result_days, 30);
  EXPECT_EQ(d.records_days, 2557);
  EXPECT_EQ(d.code_days, 365);
  EXPECT_EQ(d.dead_days, 30);
  // The bounds themselves are accepted.
  const struct {
    int64_t records, code, dead;
  } accepted[] = {{2557, 30, 1}, {36'500, 36'500, 3650}};
  for (const auto& a : accepted) {
    ASSERT_OK_AND_ASSIGN(
        ServerConfig c,
        LoadServerConfig(Write(dir, "[retention]\nrecords_days = " + std::to_string(a.records) +
                                        "\ncode_days = " + std::to_string(a.code) +
                                        "\ndead_days = " + std::to_string(a.dead))));
    EXPECT_EQ(c.records_days, a.records);
    EXPECT_EQ(c.code_days, a.code);
    EXPECT_EQ(c.dead_days, a.dead);
  }
  const struct {
    const char* text;
    const char* error;
  } refused[] = {
      {"[retention]\nrecords_days = 2556\n",
       "chukan.toml:2: key 'retention.records_days': 2556 is outside [2557, 36500]"},
      {"[retention]\nrecords_days = 36501\n",
       "chukan.toml:2: key 'retention.records_days': 36501 is outside [2557, 36500]"},
      {"[retention]\ncode_days = 29\n",
       "chukan.toml:2: key 'retention.code_days': 29 is outside [30, 36500]"},
      {"[retention]\ncode_days = 36501\n",
       "chukan.toml:2: key 'retention.code_days': 36501 is outside [30, 36500]"},
      {"[retention]\ndead_days = 0\n",
       "chukan.toml:2: key 'retention.dead_days': 0 is outside [1, 3650]"},
      {"[retention]\ndead_days = 3651\n",
       "chukan.toml:2: key 'retention.dead_days': 3651 is outside [1, 3650]"},
      {"[retention]\ndone_days = 1\n", "chukan.toml:2: unknown key 'retention.done_days'"},
  };
  for (const auto& r : refused) {
    EXPECT_THAT(LoadServerConfig(Write(dir, r.text)),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(r.error)))
        << r.text;
  }
}

TEST(ServerConfigTest, ErrorsNameFileLineAndKey) {
  chukan::testing::TempDir dir;
  EXPECT_THAT(LoadServerConfig(Write(dir, "[server]\nprot = 1\n")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("chukan.toml:2: unknown key 'server.prot'")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[store]\nbackend = \"mysql\"\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'store.backend'")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[store]\nbackend = \"postgres\"\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("'store.dsn' is required")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[server]\nport = 70000\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside [0, 65535]")));
  EXPECT_THAT(LoadServerConfig(Write(dir, "[tls]\ncert = \"a.crt\"\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("given together")));
  EXPECT_THAT(LoadServerConfig(dir.File("missing.toml")), StatusIs(StatusCode::kNotFound));
}

}  // namespace
}  // namespace chukan::server
