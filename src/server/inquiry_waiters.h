// InquiryWaiters: the long polls of inquiries (GET /api/v1/inquiries/{id}?wait_ms=…) — who
// waits for which inquiry and until when — holding no thread per wait. Before, each wait held one
// of the server's handler threads, so 64 waits of one tenant made another tenant's simple GET
// take 18 s.
//
// A wait is a `fire` function and a deadline. It is fired, on one of the waiters' own worker
// threads, when Wake(key) names its key (its inquiry changed), when WakeAll() is called (a sweep
// may have ended many), and at its deadline. `fire(timed_out)` returns true when it has answered
// (the wait is over) or false to go on waiting (a wake-up that changed nothing for it); at the
// deadline it is called with timed_out = true and the wait is over whatever it returns.
//
// Limits: at most `per_client` waits of one client and `total` waits in all; Add() beyond them
// fails with kResourceExhausted (the API answers 429).
//
// The same worker threads also run tasks handed over with Post(): work that must not run where
// it arises because it blocks — an inquiry whose write failed, found out on the group
// committer's thread, is finished here (it reads, and writes an audit entry with the blocking
// TenantContext::Audit, which on the committer's own thread would wait for itself).
//
// Thread-safety: thread-safe. The destructor stops the threads and drops the waits and the
// tasks that are left without running them (their owners' destructors answer: a Responder
// dropped unsent answers 500).
#ifndef CHUKAN_SERVER_INQUIRY_WAITERS_H_
#define CHUKAN_SERVER_INQUIRY_WAITERS_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace chukan::server {

class InquiryWaiters {
 public:
  struct Limits {
    int per_client = 16;
    int total = 10'000;
    int threads = 4;    // run the fires (each reads the inquiry and may write an audit entry)
    int tasks = 1'000;  // Post()ed tasks queued and not yet running
  };
  using Fire = std::function<bool(bool timed_out)>;
  using Clock = std::chrono::steady_clock;

  explicit InquiryWaiters(Limits limits);
  ~InquiryWaiters();
  InquiryWaiters(const InquiryWaiters&) = delete;
  InquiryWaiters& operator=(const InquiryWaiters&) = delete;

  // Registers a wait for `key` by `client` until `deadline`, and fires it once at once (the
  // inquiry may have ended before the wait was registered). Errors: kResourceExhausted over a
  // limit (nothing registered, `fire` never called).
  Status Add(const std::string& key, const std::string& client, Clock::time_point deadline,
             Fire fire) EXCLUDES(mu_);

  // Fires the waits of `key` / of every key (see the file comment). Never blocks for long.
  void Wake(const std::string& key) EXCLUDES(mu_);
  void WakeAll() EXCLUDES(mu_);

  // Queues `task` to run once on one of the worker threads (before the waits' fires queued
  // meanwhile). Errors, and `task` is then destroyed without running: kUnavailable once the
  // destructor has begun, kResourceExhausted while Limits::tasks tasks are queued. A task still
  // queued when the destructor runs is destroyed without running (outside the lock). Never
  // blocks for long; may be called from any thread, a task included.
  Status Post(std::function<void()> task) EXCLUDES(mu_);

  // Waits registered now (tests and metrics).
  int size() const EXCLUDES(mu_);

 private:
  struct Wait {
    std::string key;
    std::string client;
    Clock::time_point deadline;
    Fire fire;
    bool queued = false;   // a fire is queued or running: wakes meanwhile only mark `again`
    bool again = false;    // woken while queued or running: fire once more afterwards
    bool expired = false;  // the deadline passed while a fire was running: fire a final time
  };
  void Queue(uint64_t id, Wait& w) REQUIRES(mu_);
  void Remove(uint64_t id) REQUIRES(mu_);
  void RunTimer() EXCLUDES(mu_);
  void RunWorker() EXCLUDES(mu_);

  const Limits limits_;
  mutable Mutex mu_;
  CondVar timer_cv_;
  CondVar work_cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Wait> waits_ GUARDED_BY(mu_);
  std::multimap<std::string, uint64_t> by_key_ GUARDED_BY(mu_);
  std::set<std::pair<Clock::time_point, uint64_t>> by_deadline_ GUARDED_BY(mu_);
  std::map<std::string, int> per_client_ GUARDED_BY(mu_);
  std::deque<std::pair<uint64_t, bool>> work_ GUARDED_BY(mu_);  // id, timed out
  std::deque<std::function<void()>> tasks_ GUARDED_BY(mu_);     // Post()ed, not yet running
  std::vector<std::thread> threads_;  // the constructor and destructor only
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_INQUIRY_WAITERS_H_
