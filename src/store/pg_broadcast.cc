#include "store/pg_broadcast.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "common/log.h"
#include "common/thread_name.h"

namespace chukan::store {
namespace {

// PostgreSQL's limit on a NOTIFY payload is 8,000 bytes; messages are joined below it.
constexpr size_t kPayloadBytes = 7000;

bool ValidChannel(std::string_view c) {
  if (c.empty() || c.size() > 63 || !(c[0] >= 'a' && c[0] <= 'z')) return false;
  for (char ch : c) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  }
  return true;
}

void IgnoreNotice(void*, const char*) {}

std::string ErrorText(PGconn* c) {
  std::string s = c != nullptr ? PQerrorMessage(c) : "out of memory";
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

struct PgBroadcast::Conn {
  explicit Conn(PGconn* c) : pg(c) {}
  ~Conn() {
    if (pg != nullptr) PQfinish(pg);
  }
  PGconn* pg;
};

PgBroadcast::PgBroadcast(Options options) : options_(std::move(options)) {}

Result<std::unique_ptr<PgBroadcast>> PgBroadcast::Open(Options options) {
  if (!ValidChannel(options.channel)) {
    return InvalidArgumentError("broadcast: the channel must be [a-z][a-z0-9_]{0,62}");
  }
  if (!options.on_message) return InvalidArgumentError("broadcast: no on_message");
  if (options.max_queued < 1 || options.overflow_message.empty() ||
      options.overflow_message.size() > kMaxMessageBytes) {
    return InvalidArgumentError("broadcast: max_queued and overflow_message must be set");
  }
  std::unique_ptr<PgBroadcast> b(new PgBroadcast(std::move(options)));
  b->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (b->wake_fd_ < 0) return InternalError("broadcast: eventfd failed");
  RETURN_IF_ERROR(b->Connect());
  b->thread_ = std::thread([p = b.get()] {
    NameThisThread("pg-listen");
    p->Run();
  });
  return b;
}

PgBroadcast::~PgBroadcast() {
  stopping_.store(true);
  Wake();
  if (thread_.joinable()) thread_.join();
  conn_.reset();
  if (wake_fd_ >= 0) close(wake_fd_);
}

Status PgBroadcast::Connect() {
  auto conn = std::make_unique<Conn>(PQconnectdb(options_.dsn.c_str()));
  if (conn->pg == nullptr || PQstatus(conn->pg) != CONNECTION_OK) {
    return UnavailableError("broadcast: cannot connect: " + ErrorText(conn->pg));
  }
  PQsetNoticeProcessor(conn->pg, IgnoreNotice, nullptr);
  const std::string listen = "LISTEN " + options_.channel;
  PGresult* r = PQexec(conn->pg, listen.c_str());
  const bool ok = r != nullptr && PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) return UnavailableError("broadcast: LISTEN failed: " + ErrorText(conn->pg));
  backend_pid_.store(PQbackendPID(conn->pg));
  conn_ = std::move(conn);
  return Status();
}

Status PgBroadcast::Publish(std::string_view message) {
  if (message.empty() || message.size() > kMaxMessageBytes ||
      message.find('\n') != std::string_view::npos) {
    return InvalidArgumentError("broadcast: a message is 1–256 bytes without a newline");
  }
  {
    MutexLock lock(mu_);
    if (queue_.size() >= options_.max_queued) {
      dropped_.fetch_add(static_cast<int64_t>(queue_.size()));
      queue_.clear();
      queue_.push_back(options_.overflow_message);
    }
    queue_.emplace_back(message);
  }
  Wake();
  return Status();
}

PgBroadcast::Stats PgBroadcast::stats() const {
  return Stats{sent_.load(), received_.load(), reconnects_.load(), dropped_.load()};
}

void PgBroadcast::Wake() {
  const uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
}

bool PgBroadcast::Receive() {
  if (PQconsumeInput(conn_->pg) == 0) return false;
  const int own = PQbackendPID(conn_->pg);
  while (PGnotify* n = PQnotifies(conn_->pg)) {
    if (n->be_pid != own && n->extra != nullptr) {
      std::string_view payload(n->extra);
      while (!payload.empty()) {
        const size_t end = payload.find('\n');
        const std::string_view m = payload.substr(0, end);
        if (!m.empty() && m.size() <= kMaxMessageBytes) {
          received_.fetch_add(1);
          options_.on_message(m);
        }
        if (end == std::string_view::npos) break;
        payload.remove_prefix(end + 1);
      }
    }
    PQfreemem(n);
  }
  return PQstatus(conn_->pg) == CONNECTION_OK;
}

bool PgBroadcast::Flush() {
  std::deque<std::string> batch;
  {
    MutexLock lock(mu_);
    batch.swap(queue_);
  }
  while (!batch.empty()) {
    std::string payload;
    size_t taken = 0;
    for (const std::string& m : batch) {
      if (!payload.empty() && payload.size() + 1 + m.size() > kPayloadBytes) break;
      if (!payload.empty()) payload += '\n';
      payload += m;
      ++taken;
    }
    const char* values[2] = {options_.channel.c_str(), payload.c_str()};
    PGresult* r = PQexecParams(conn_->pg, "SELECT pg_notify($1, $2)", 2, nullptr, values, nullptr,
                               nullptr, 0);
    const bool ok = r != nullptr && PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) {
      // Sent again once the connection is made again, ahead of what was queued meanwhile.
      MutexLock lock(mu_);
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
      return false;
    }
    sent_.fetch_add(static_cast<int64_t>(taken));
    batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(taken));
  }
  return true;
}

void PgBroadcast::Run() {
  auto last_activity = std::chrono::steady_clock::now();
  while (!stopping_.load()) {
    if (conn_ == nullptr) {
      pollfd w{wake_fd_, POLLIN, 0};
      (void)poll(&w, 1, static_cast<int>(options_.reconnect_delay.count()));
      if (stopping_.load()) break;
      if (Status s = Connect(); !s.ok()) {
        log::Warn("store.broadcast_reconnect_failed",
                  {{"channel", options_.channel}, log::StatusField(s)});
        continue;
      }
      reconnects_.fetch_add(1);
      log::Info("store.broadcast_reconnected", {{"channel", options_.channel}});
      if (options_.on_gap) options_.on_gap();
      last_activity = std::chrono::steady_clock::now();
    }
    pollfd fds[2] = {{PQsocket(conn_->pg), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    (void)poll(fds, 2, 1000);
    if ((fds[1].revents & POLLIN) != 0) {
      uint64_t v;
      (void)!read(wake_fd_, &v, sizeof v);
    }
    if (stopping_.load()) break;
    bool ok = Receive() && Flush() && Receive();
    const auto now = std::chrono::steady_clock::now();
    if ((fds[0].revents | fds[1].revents) != 0) {
      last_activity = now;
    } else if (ok && now - last_activity >= options_.heartbeat) {
      PGresult* r = PQexec(conn_->pg, "SELECT 1");
      ok = r != nullptr && PQresultStatus(r) == PGRES_TUPLES_OK;
      PQclear(r);
      ok = ok && Receive();
      last_activity = now;
    }
    if (!ok) {
      log::Warn("store.broadcast_connection_lost",
                {{"channel", options_.channel}, {"error", ErrorText(conn_->pg)}});
      conn_.reset();
      backend_pid_.store(0);
    }
  }
}

}  // namespace chukan::store
