// Streaming HTTP bodies: BodyReader (pull the bytes of a request body, or of an upload the
// client sends) and BodyWriter (push the bytes of a response body). They let a handler or a
// client move a body of any size through a bounded buffer instead of one std::string. No Boost
// here: any component may include this header.
//
// Thread-safety: a BodyReader or BodyWriter is used by one thread at a time (the handler's or
// the caller's); the HTTP library does the socket I/O on its own io threads and hands bytes
// across through a bounded buffer, so Read/Write block for backpressure.
#ifndef CHUKAN_HTTP_BODY_H_
#define CHUKAN_HTTP_BODY_H_

#include <cstddef>
#include <functional>
#include <string_view>

#include "common/status.h"

namespace chukan::http {

// A pull-based source of body bytes. Same contract as replica_io::ByteSource, so an adapter is one
// line.
class BodyReader {
 public:
  virtual ~BodyReader();

  // Reads up to `n` (≥ 1) bytes into `buf` (owned by the caller) and returns how many were
  // read; 0 means the end of the body (and every later call returns 0 again). A short read is
  // not the end. Blocks until bytes arrive. After an error, every later call returns the same
  // error. Errors of the server's request-body reader:
  //   kResourceExhausted  the body exceeds the route's RouteOptions::max_body_bytes (the server
  //   then
  //                       answers 413 whatever the handler returns)
  //   kDeadlineExceeded   no body bytes arrived for ServerLimits::body_timeout (connection
  //                       closed, no response)
  //   kUnavailable        the client closed or reset the connection, or the server is stopping
  //   kInvalidArgument    malformed chunked framing (the server answers 400)
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
};

// What Client::SendStreaming uploads: the caller implements Read exactly as above (0 = end;
// an error aborts the upload and is returned by SendStreaming).
using BodySource = BodyReader;

// A push-based sink for response body bytes.
class BodyWriter {
 public:
  virtual ~BodyWriter();

  // Appends `data` to the body (copied: the caller keeps ownership). Blocks while the bounded
  // buffer is full (the client reads slower than the producer writes). Small writes are
  // coalesced into chunks of up to 256 KiB before they go to the socket.
  // Errors: kUnavailable when the client has gone away (connection closed, write failed or
  // timed out) or the server is stopping; the producer should then return (its return value
  // no longer matters).
  virtual Status Write(std::string_view data) = 0;

  // Sends what has been written so far without waiting for a full chunk (useful for slow
  // producers whose client wants to see progress). Never blocks, never fails.
  virtual void Flush() = 0;
};

// A response body producer (see Response::stream). Called once, on a server stream worker
// thread, after the response header has been decided; it may block (database cursors, files).
// Return OK after the last Write to end the body properly; a non-OK return after bytes may
// have been sent makes the server abort the connection without the terminating chunk, so the
// client sees a truncated body and reports an error rather than a silently short one.
using BodyProducer = std::function<Status(BodyWriter&)>;

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_BODY_H_
