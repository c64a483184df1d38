// The HTTP server's Prometheus metrics: requests by route, method and status class, in-flight
// requests, connections, streamed bodies, and a latency histogram. Kept apart from server.cc
// (which holds every Beast template of the server side) because none of it needs Beast.
//
// Thread-safety: every counter is a relaxed atomic; Record* and Text may run on any threads at
// once. A scrape may see a request counted in one series and not yet in another, which
// Prometheus tolerates. Nothing allocates per request.
#ifndef CHUKAN_HTTP_SERVER_METRICS_H_
#define CHUKAN_HTTP_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace chukan::http::internal {

class ServerMetrics {
 public:
  static constexpr std::array<std::string_view, 8> kMethods = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER"};
  static constexpr int kClasses = 5;  // 1xx..5xx; anything else is counted as 5xx
  static constexpr std::array<double, 14> kBucketsSeconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

  // `route_labels`: the label of each route index that Record() will be given (route patterns,
  // then the built-in routes); their number is fixed for the server's life.
  explicit ServerMetrics(std::vector<std::string> route_labels);

  // The index of a method in kMethods; OTHER for any method not listed.
  static int MethodIndex(std::string_view method);

  // One answered request: its route index (< route_labels.size()), method index, status, and
  // the time from its complete header to the response written.
  void Record(int route, int method, int status, std::chrono::nanoseconds duration);
  // The most body bytes one stream held at once; the gauge keeps the maximum.
  void RecordStreamPeak(uint64_t peak);

  // The Prometheus text exposition (format 0.0.4) of every series; request series that are
  // still zero are left out.
  std::string Text() const;

  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> connections_open{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> connections_rejected{0};
  std::atomic<uint64_t> streamed_requests{0};
  std::atomic<uint64_t> streamed_responses{0};
  std::atomic<uint64_t> stream_buffered_max{0};

 private:
  const std::vector<std::string> labels_;
  std::unique_ptr<std::atomic<uint64_t>[]> requests_;
  std::array<std::atomic<uint64_t>, kBucketsSeconds.size() + 1> buckets_{};
  std::atomic<uint64_t> duration_sum_ns_{0};
};

}  // namespace chukan::http::internal

#endif  // CHUKAN_HTTP_SERVER_METRICS_H_
