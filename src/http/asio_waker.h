// Waker (internal to chukan_http; includes Asio, so only server.cc and client.cc include it):
// lets an ordinary thread resume an io coroutine that waits for a StreamPipe. The coroutine
// waits on a timer that never expires; the thread posts the timer's cancellation to the
// coroutine's executor. A wait always follows a failed, arming StreamPipe check in the same
// executor turn, so a wake cannot be lost; a stale wake only makes the caller's loop re-check.
// The pipe holds a weak reference and posted handlers a strong one. A wake function touches the
// Waker only while its owner's IoLife says the io_context is alive, and releases what it took
// before that changes: so no thread ever destroys a timer (or posts to an executor) of an
// io_context that is gone — a long poll answered after its server stopped did exactly that.
#ifndef CHUKAN_HTTP_ASIO_WAKER_H_
#define CHUKAN_HTTP_ASIO_WAKER_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>

#include "common/mutex.h"

namespace chukan::http::internal {

struct Waker {
  explicit Waker(const boost::asio::any_io_executor& ex) : timer(ex) {}
  boost::asio::steady_timer timer;
};

// Whether the io_context of the Wakers made by one owner (a server, a client) still exists.
// The owner calls End() once its io threads are joined and before the io_context is destroyed;
// End() waits for a wake function in progress.
struct IoLife {
  void End() EXCLUDES(mu) {
    MutexLock lock(mu);
    alive = false;
  }
  Mutex mu;
  bool alive GUARDED_BY(mu) = true;
};

// The wake function to give StreamPipe::SetWake (or a Responder's slot). Any thread.
inline std::function<void()> WakeFn(const std::shared_ptr<Waker>& waker,
                                    std::shared_ptr<IoLife> life) {
  std::weak_ptr<Waker> weak = waker;
  return [weak, life = std::move(life)] {
    MutexLock lock(life->mu);
    if (!life->alive) return;  // the io side is gone: nothing waits any more
    if (std::shared_ptr<Waker> w = weak.lock()) {
      boost::asio::any_io_executor ex = w->timer.get_executor();
      boost::asio::post(ex, [w] { w->timer.cancel(); });
    }  // `w` and `ex` are released here, while the io_context certainly exists
  };
}

// Waits until woken (call only after an arming StreamPipe check failed).
inline boost::asio::awaitable<void> WaitForWake(Waker& waker) {
  waker.timer.expires_at(boost::asio::steady_timer::time_point::max());
  auto [ec] = co_await waker.timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  (void)ec;  // cancelled = woken
}

}  // namespace chukan::http::internal

#endif  // CHUKAN_HTTP_ASIO_WAKER_H_
