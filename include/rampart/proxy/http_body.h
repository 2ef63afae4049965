// Message bodies as a relaying proxy sees them (RFC 9112 sections 6, 7 and
// 9.3): how long a response body is, where a chunked body ends (without
// decoding it: the bytes are relayed unchanged), and whether a connection
// may carry another request.
//
// Thread-safety: pure functions; a ChunkedScanner is a value owned by one
// connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/core/status.h"
#include "rampart/proxy/http_head.h"

namespace rampart::proxy {

// How a response body is delimited.
struct ResponseFraming {
  enum class Kind { kNone, kLength, kChunked, kUntilClose };
  Kind kind = Kind::kNone;
  uint64_t length = 0;  // kLength
};

// HEAD answers and 1xx/204/304 have no body; then Transfer-Encoding
// "chunked", Content-Length, or the end of the connection. A response with
// both, repeated framing fields, a bad length or a coding other than
// chunked is an error (the proxy answers 502 rather than guess).
Result<ResponseFraming> GetResponseFraming(const ResponseHead& head, std::string_view request_method);

// Whether the client asked to keep its connection for another request:
// HTTP/1.1 unless Connection (or the legacy Proxy-Connection) says
// "close"; HTTP/1.0 only when one of them says "keep-alive".
bool ClientWantsKeepAlive(const RequestHead& head);

// Whether an origin's connection may carry another request after this
// response: HTTP/1.1 unless Connection says "close" (an HTTP/1.0 origin's
// keep-alive is not trusted). The body's framing is the caller's check: a
// body delimited by the close never allows it.
bool OriginKeepsConnection(const ResponseHead& head);

// Follows the framing of a chunked body (sizes, extensions, CRLFs,
// trailer section) to find where it ends. Feed it the bytes as they
// arrive; it reports how many of them belong to the body, so bytes after
// the end (a pipelined request) are never relayed as part of it.
class ChunkedScanner {
 public:
  // Consumes from `data` up to the end of the body; returns the number of
  // bytes consumed (all of them unless the body ended inside `data`, or
  // the framing is malformed, after which failed() is true).
  size_t Feed(std::string_view data);
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }

 private:
  enum class State {
    kSize, kExtension, kSizeLf, kData, kDataCr, kDataLf,
    kTrailerStart, kTrailerLine, kTrailerLf, kFinalLf, kDone, kFailed,
  };
  // One framing byte (everything but chunk data).
  void Step(char c);

  State state_ = State::kSize;
  uint64_t size_ = 0;       // of the chunk being read
  unsigned digits_ = 0;     // hex digits of its size so far
  uint64_t remaining_ = 0;  // data bytes left in the chunk
  size_t line_bytes_ = 0;   // extension / trailer bytes so far (bounded)
};

}  // namespace rampart::proxy
