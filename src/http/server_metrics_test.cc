#include "http/server_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

namespace chukan::http::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ServerMetricsTest, MethodIndexNamesKnownMethodsAndFoldsTheRestIntoOther) {
  EXPECT_EQ(ServerMetrics::MethodIndex("GET"), 0);
  EXPECT_EQ(ServerMetrics::MethodIndex("POST"), 2);
  EXPECT_EQ(ServerMetrics::MethodIndex("OPTIONS"), 6);
  EXPECT_EQ(ServerMetrics::MethodIndex("get"), 7);
  EXPECT_EQ(ServerMetrics::MethodIndex("BREW"), 7);
}

TEST(ServerMetricsTest, RequestsAreCountedByRouteMethodAndClass) {
  ServerMetrics m({"/api/v1/x/{id}", "/healthz", "unmatched"});
  using std::chrono::microseconds;
  m.Record(0, ServerMetrics::MethodIndex("GET"), 200, microseconds(50));
  m.Record(0, ServerMetrics::MethodIndex("GET"), 204, microseconds(300));
  m.Record(0, ServerMetrics::MethodIndex("POST"), 413, microseconds(2000));
  m.Record(2, ServerMetrics::MethodIndex("BREW"), 404, microseconds(7'000'000));
  m.Record(1, ServerMetrics::MethodIndex("GET"), 999, microseconds(1));  // counted as 5xx
  const std::string text = m.Text();
  EXPECT_THAT(text, HasSubstr("chukan_http_requests_total{method=\"GET\",route=\"/api/v1/x/{id}\","
                              "code=\"2xx\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_requests_total{method=\"POST\",route=\"/api/v1/x/{id}\","
                              "code=\"4xx\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_requests_total{method=\"OTHER\",route=\"unmatched\","
                              "code=\"4xx\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_requests_total{method=\"GET\",route=\"/healthz\","
                              "code=\"5xx\"} 1\n"));
  // Series never hit are left out.
  EXPECT_THAT(text, Not(HasSubstr("code=\"3xx\"")));
  // The histogram is cumulative: 1 µs and 50 µs fall in le=0.0001, 300 µs in le=0.0005, 2 ms
  // in le=0.0025, 7 s only in +Inf.
  EXPECT_THAT(text, HasSubstr("chukan_http_request_duration_seconds_bucket{le=\"0.0001\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_request_duration_seconds_bucket{le=\"0.00025\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_request_duration_seconds_bucket{le=\"0.0005\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_request_duration_seconds_bucket{le=\"0.0025\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_request_duration_seconds_bucket{le=\"5\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_request_duration_seconds_count 5\n"));
  EXPECT_THAT(text, HasSubstr("chukan_http_request_duration_seconds_sum 7.002351000\n"));
}

TEST(ServerMetricsTest, GaugesAndTheStreamPeakKeepTheirValues) {
  ServerMetrics m({"unmatched"});
  m.connections_open = 3;
  m.connections_total = 10;
  m.connections_rejected = 1;
  m.RecordStreamPeak(4096);
  m.RecordStreamPeak(1024);  // lower: the maximum stays
  const std::string text = m.Text();
  EXPECT_THAT(text, HasSubstr("\nchukan_http_connections_open 3\n"));
  EXPECT_THAT(text, HasSubstr("\nchukan_http_connections_total 10\n"));
  EXPECT_THAT(text, HasSubstr("\nchukan_http_connections_rejected_total 1\n"));
  EXPECT_THAT(text, HasSubstr("\nchukan_http_stream_buffered_bytes_max 4096\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE chukan_http_connections_open gauge\n"));
  EXPECT_THAT(text, Not(HasSubstr("chukan_http_requests_total{")));
}

TEST(ServerMetricsTest, RouteLabelsAreEscapedAsJsonStrings) {
  ServerMetrics m({"/a\"b\\c"});
  m.Record(0, 0, 200, std::chrono::nanoseconds(1));
  EXPECT_THAT(m.Text(), HasSubstr("route=\"/a\\\"b\\\\c\""));
}

}  // namespace
}  // namespace chukan::http::internal
