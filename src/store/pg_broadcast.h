// PgBroadcast: short messages to every other process connected to one PostgreSQL database,
// through LISTEN/NOTIFY — how the nodes of a cluster tell each other that something changed that
// they may hold in memory (an inquiry ended: the long poll waiting for it may be on another node).
//
// One dedicated connection per broadcast, owned by one thread of its own: it LISTENs on the
// channel, sends what Publish() queued (a NOTIFY per up to 7,000 bytes of messages joined by
// newlines), and hands each message of another process to `on_message`. Messages this
// connection sent itself are skipped (the notifying backend's PID is the connection's own).
//
// Delivery is PostgreSQL's: a message reaches the processes listening when it is sent, in order,
// at most once. After the connection was lost and made again, messages sent meanwhile are lost:
// `on_gap` is then called, so the receiver can treat everything as changed. Publish() never
// blocks on the network: its queue holds at most `max_queued` messages; beyond that they are
// replaced by one `overflow_message` (for the server, "*": everything may have changed). Messages
// a lost connection did not send are sent after it is made again.
//
// Thread-safety: Publish() from any thread. The callbacks run on the broadcast's thread, one at a
// time; they must not block for long.
#ifndef CHUKAN_STORE_PG_BROADCAST_H_
#define CHUKAN_STORE_PG_BROADCAST_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/mutex.h"
#include "common/status.h"

namespace chukan::store {

class PgBroadcast {
 public:
  struct Options {
    std::string dsn;      // libpq connection string
    std::string channel;  // [a-z][a-z0-9_]{0,62}
    // Each message of another process (never empty, at most kMaxMessageBytes, no newline).
    std::function<void(std::string_view message)> on_message;
    // After the connection was made again (or the queue overflowed): messages may be lost.
    std::function<void()> on_gap;
    std::chrono::milliseconds reconnect_delay{1000};
    // Messages waiting to be sent at most; when more come (the database is unreachable for
    // long), the queue is emptied and `overflow_message` sent in their place.
    size_t max_queued = 100'000;
    std::string overflow_message = "*";
    // With nothing sent or received for this long, the connection is checked (SELECT 1), so a
    // silently broken one is noticed.
    std::chrono::milliseconds heartbeat{10'000};
  };
  static constexpr size_t kMaxMessageBytes = 256;

  // Connects, LISTENs and starts the thread. Errors: kInvalidArgument (bad channel, no
  // on_message), kUnavailable (cannot connect or listen).
  static Result<std::unique_ptr<PgBroadcast>> Open(Options options);
  // Stops the thread and closes the connection; queued messages not yet sent are dropped.
  ~PgBroadcast();
  PgBroadcast(const PgBroadcast&) = delete;
  PgBroadcast& operator=(const PgBroadcast&) = delete;

  // Queues `message` for the other processes. kInvalidArgument when it is empty, longer than
  // kMaxMessageBytes or holds a newline (nothing queued).
  Status Publish(std::string_view message) EXCLUDES(mu_);

  struct Stats {
    int64_t sent = 0;        // messages sent
    int64_t received = 0;    // messages of other processes handed to on_message
    int64_t reconnects = 0;  // connections made again after a loss
    int64_t dropped = 0;     // messages dropped from a full queue
  };
  Stats stats() const;
  // The PID of the server process behind the current connection (tests cut it); 0 when none.
  int backend_pid() const { return backend_pid_.load(); }

 private:
  struct Conn;
  explicit PgBroadcast(Options options);
  Status Connect();
  void Run();
  // Sends what is queued; false when the connection broke.
  bool Flush() EXCLUDES(mu_);
  // Reads the notifications that arrived; false when the connection broke.
  bool Receive();
  void Wake();

  const Options options_;
  std::unique_ptr<Conn> conn_;  // the thread's (and Open's, before the thread starts)
  int wake_fd_ = -1;            // eventfd: Publish() and the destructor wake the thread
  std::atomic<bool> stopping_{false};
  std::atomic<int> backend_pid_{0};
  mutable Mutex mu_;
  std::deque<std::string> queue_ GUARDED_BY(mu_);
  bool overflowed_ GUARDED_BY(mu_) = false;
  std::atomic<int64_t> sent_{0}, received_{0}, reconnects_{0}, dropped_{0};
  std::thread thread_;
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_PG_BROADCAST_H_
