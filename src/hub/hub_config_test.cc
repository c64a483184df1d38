#include "hub/hub_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan::hub {
namespace {

using ::chukan::testing::StatusIs;
using ::chukan::testing::TempDir;
using ::testing::HasSubstr;

std::string Write(const TempDir& dir, const std::string& text) {
  const std::string path = dir.File("hub.toml");
  std::ofstream(path) << text;
  return path;
}

TEST(HubConfigTest, ReadsSettingsAndResolvesPathsAgainstTheFile) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(HubConfig c, LoadHubConfig(Write(dir, R"(
[hub]
port = 0
workers = 8
instance = "hub-a"
[tls]
cert = "pki/hub.crt"
key = "pki/hub.key"
client_ca = "pki/ca.crt"
[store]
data_dir = "state"
[permits]
validity_seconds = 120
[delivery]
threads = 4
timeout_ms = 2000
lease_seconds = 30
batch_items = 16
peer_requests = 3
[records]
retention_days = 3650
permit_days = 7
delivered_hours = 2
dead_days = 90
sweep_batch = 100
)")));
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.workers, 8);
  EXPECT_EQ(c.instance, "hub-a");
  EXPECT_EQ(c.tls_cert, dir.File("pki/hub.crt"));
  EXPECT_EQ(c.store.data_dir, dir.File("state"));
  EXPECT_EQ(c.keys_dir, dir.File("state") + "/keys");
  EXPECT_EQ(c.store.pg_prefix, "chukan_hub");
  EXPECT_EQ(c.permit_validity, std::chrono::seconds(120));
  EXPECT_EQ(c.approval_permit_validity, std::chrono::seconds(259'200));
  EXPECT_EQ(c.delivery.threads, 4);
  EXPECT_EQ(c.delivery.timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.delivery.batch_items, 16);
  EXPECT_EQ(c.delivery.peer_requests, 3);
  EXPECT_EQ(c.retention_days, 3650);
  EXPECT_EQ(c.permit_days, 7);
  EXPECT_EQ(c.delivered_hours, 2);
  EXPECT_EQ(c.dead_days, 90);
  EXPECT_EQ(c.sweep_batch, 100);
}

// Records of provision (情報提供等記録) are kept 7 years at least: a shorter retention is refused,
// naming the key; so is every retention key out of its range.
TEST(HubConfigTest, RetentionKeysHaveTheirLegalAndSaneBounds) {
  TempDir dir;
  const std::string tls = "[tls]\ncert = \"a\"\nkey = \"b\"\nclient_ca = \"c\"\n";
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[records]\nretention_days = 2556\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("records.retention_days")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[records]\npermit_days = 0\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("records.permit_days")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[records]\ndelivered_hours = 8761\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("records.delivered_hours")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[records]\ndead_days = 0\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("records.dead_days")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[records]\nsweep_batch = 100001\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("records.sweep_batch")));
  ASSERT_OK_AND_ASSIGN(HubConfig c, LoadHubConfig(Write(dir, tls)));
  EXPECT_EQ(c.retention_days, 2557);
  EXPECT_EQ(c.permit_days, 30);
  EXPECT_EQ(c.delivered_hours, 24);
  EXPECT_EQ(c.dead_days, 30);
  EXPECT_EQ(c.sweep_batch, 5000);
}

// How often the outbox is polled for what no commit announced: 200 ms unless set, 10 ms to 1 h
// (it replaced a fixed 200 ms).
TEST(HubConfigTest, DeliveryPollIntervalDefaultsAndIsBounded) {
  TempDir dir;
  const std::string tls = "[tls]\ncert = \"a\"\nkey = \"b\"\nclient_ca = \"c\"\n";
  ASSERT_OK_AND_ASSIGN(HubConfig d, LoadHubConfig(Write(dir, tls)));
  EXPECT_EQ(d.delivery.poll_interval, std::chrono::milliseconds(200));
  ASSERT_OK_AND_ASSIGN(HubConfig c,
                       LoadHubConfig(Write(dir, tls + "[delivery]\npoll_interval_ms = 60000\n")));
  EXPECT_EQ(c.delivery.poll_interval, std::chrono::milliseconds(60'000));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[delivery]\npoll_interval_ms = 9\n")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("hub.toml:6: key 'delivery.poll_interval_ms': 9 is outside "
                                 "[10, 3600000]")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[delivery]\npoll_interval_ms = 3600001\n")),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("hub.toml:6: key 'delivery.poll_interval_ms': 3600001 is "
                                 "outside [10, 3600000]")));
}

TEST(HubConfigTest, ErrorsNameTheKey) {
  TempDir dir;
  const std::string tls = "[tls]\ncert = \"a\"\nkey = \"b\"\nclient_ca = \"c\"\n";
  EXPECT_THAT(LoadHubConfig(Write(dir, "[hub]\nport = 0\n")),
              StatusIs(StatusCode::kNotFound, HasSubstr("tls.cert")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[hub]\nprot = 1\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("hub.prot")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[delivery]\nlease_seconds = 5\ntimeout_ms = 9000\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("delivery.lease_seconds")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[delivery]\nbatch_items = 0\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("delivery.batch_items")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[delivery]\npeer_requests = 257\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("delivery.peer_requests")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[hub]\ninstance = \"a:b\"\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("hub.instance")));
  EXPECT_THAT(LoadHubConfig(Write(dir, tls + "[store]\nbackend = \"postgres\"\n")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("store.dsn")));
}

}  // namespace
}  // namespace chukan::hub
