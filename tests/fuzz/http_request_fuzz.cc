// Fuzzes the server's request parsing (src/http/request_parser.h): bytes
// from the network, fed in pieces whose sizes the input chooses, as a
// socket would deliver them. Invariants: parsing ends in a request, a
// clean refusal or a wait for more bytes, never a crash; the limits hold.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include <boost/beast/http/error.hpp>

#include "http/request_parser.h"
#include "rampart/core/check.h"

namespace {
constexpr uint32_t kHeaderLimit = 4096;
constexpr uint64_t kBodyLimit = 16384;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the piece size, the rest is the stream.
  const size_t piece = 1 + data[0] % 64;
  const char* in = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  rampart::http::internal::RequestParser parser;
  parser.header_limit(kHeaderLimit);
  // As the server does: no body limit for the head, then a refusal of a
  // declared length over the limit, then the limit armed for the body.
  parser.body_limit(boost::none);
  bool limit_armed = false;
  // What a socket has delivered and the parser has not taken yet.
  std::string pending;
  boost::system::error_code ec;
  while (!parser.is_done()) {
    if (left == 0) {
      // As Beast's read does at end of stream: EOF before any byte is no
      // message at all; after some, the parser decides.
      if (parser.got_some()) parser.put_eof(ec);
      break;
    }
    size_t n = std::min(piece, left);
    pending.append(in, n);
    in += n;
    left -= n;
    size_t used = parser.put(boost::asio::buffer(pending), ec);
    if (ec == boost::beast::http::error::need_more) {
      ec = {};
    } else if (ec) {
      break;
    }
    pending.erase(0, used);
    if (parser.is_header_done() && !limit_armed) {
      boost::optional<uint64_t> length = parser.content_length();
      if (length && *length > kBodyLimit) return 0;  // refused before the body
      parser.body_limit(kBodyLimit);
      parser.eager(true);
      limit_armed = true;
    }
  }
  if (!ec && parser.is_done()) {
    const auto& req = parser.request();
    RAMPART_CHECK(!req.method.empty());
    RAMPART_CHECK(req.body.size() <= kBodyLimit);
  }
  return 0;
}
