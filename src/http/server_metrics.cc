#include "http/server_metrics.h"

#include <cstdio>
#include <utility>

#include "common/log.h"

namespace chukan::http::internal {

ServerMetrics::ServerMetrics(std::vector<std::string> route_labels)
    : labels_(std::move(route_labels)),
      requests_(
          std::make_unique<std::atomic<uint64_t>[]>(labels_.size() * kMethods.size() * kClasses)) {}

int ServerMetrics::MethodIndex(std::string_view method) {
  for (size_t i = 0; i + 1 < kMethods.size(); ++i) {
    if (kMethods[i] == method) return static_cast<int>(i);
  }
  return static_cast<int>(kMethods.size() - 1);
}

void ServerMetrics::Record(int route, int method, int status, std::chrono::nanoseconds duration) {
  int cls = status / 100 - 1;
  if (cls < 0 || cls >= kClasses) cls = kClasses - 1;
  requests_[(static_cast<size_t>(route) * kMethods.size() + static_cast<size_t>(method)) *
                kClasses +
            static_cast<size_t>(cls)]
      .fetch_add(1, std::memory_order_relaxed);
  const double s = std::chrono::duration<double>(duration).count();
  size_t b = 0;
  while (b < kBucketsSeconds.size() && s > kBucketsSeconds[b]) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  duration_sum_ns_.fetch_add(static_cast<uint64_t>(duration.count()), std::memory_order_relaxed);
}

void ServerMetrics::RecordStreamPeak(uint64_t peak) {
  uint64_t cur = stream_buffered_max.load(std::memory_order_relaxed);
  while (peak > cur &&
         !stream_buffered_max.compare_exchange_weak(cur, peak, std::memory_order_relaxed)) {
  }
}

namespace {

// "# HELP name help\n# TYPE name type\nname value\n"
void AppendSingle(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, const std::string& value) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out.append(name).append(" ").append(type).append("\n");
  out.append(name).append(" ").append(value).append("\n");
}

}  // namespace

std::string ServerMetrics::Text() const {
  std::string out;
  out.reserve(4096);
  out +=
      "# HELP chukan_http_requests_total HTTP requests answered, by method, route pattern and "
      "status class.\n# TYPE chukan_http_requests_total counter\n";
  for (size_t r = 0; r < labels_.size(); ++r) {
    for (size_t m = 0; m < kMethods.size(); ++m) {
      for (int c = 0; c < kClasses; ++c) {
        const uint64_t v =
            requests_[(r * kMethods.size() + m) * kClasses + static_cast<size_t>(c)].load(
                std::memory_order_relaxed);
        if (v == 0) continue;
        std::string route;
        log::AppendJsonString(route, labels_[r]);  // quoted and escaped like Prometheus
        out += "chukan_http_requests_total{method=\"" + std::string(kMethods[m]) +
               "\",route=" + route + ",code=\"" + std::to_string(c + 1) + "xx\"} " +
               std::to_string(v) + "\n";
      }
    }
  }
  AppendSingle(out, "chukan_http_requests_in_flight", "gauge", "Requests being handled now.",
               std::to_string(in_flight.load()));
  AppendSingle(out, "chukan_http_connections_open", "gauge", "Open client connections.",
               std::to_string(connections_open.load()));
  AppendSingle(out, "chukan_http_connections_total", "counter", "Connections accepted.",
               std::to_string(connections_total.load()));
  AppendSingle(out, "chukan_http_connections_rejected_total", "counter",
               "Connections closed at once because max_connections were open.",
               std::to_string(connections_rejected.load()));
  AppendSingle(out, "chukan_http_streamed_requests_total", "counter",
               "Requests whose body was streamed to a streaming handler.",
               std::to_string(streamed_requests.load()));
  AppendSingle(out, "chukan_http_streamed_responses_total", "counter",
               "Responses whose body was streamed (chunked).",
               std::to_string(streamed_responses.load()));
  AppendSingle(out, "chukan_http_stream_buffered_bytes_max", "gauge",
               "Most body bytes buffered at once by one stream.",
               std::to_string(stream_buffered_max.load()));
  out +=
      "# HELP chukan_http_request_duration_seconds Time from a complete request header to the "
      "response written.\n# TYPE chukan_http_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  char buf[512];
  for (size_t b = 0; b < kBucketsSeconds.size(); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    std::snprintf(buf, sizeof(buf), "chukan_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                  kBucketsSeconds[b], static_cast<unsigned long long>(cumulative));
    out += buf;
  }
  cumulative += buckets_.back().load(std::memory_order_relaxed);
  std::snprintf(buf, sizeof(buf),
                "chukan_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                "chukan_http_request_duration_seconds_sum %.9f\n"
                "chukan_http_request_duration_seconds_count %llu\n",
                static_cast<unsigned long long>(cumulative),
                static_cast<double>(duration_sum_ns_.load()) / 1e9,
                static_cast<unsigned long long>(cumulative));
  out += buf;
  return out;
}

}  // namespace chukan::http::internal
