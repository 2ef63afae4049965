// A strict parser for the head of an HTTP/1.x request as a forward proxy
// receives it (RFC 9112): request line, header fields, and the target in
// absolute-form ("http://host:port/path") or, for CONNECT, authority-form
// ("host:port").
//
// Strictness is a security property here: whatever a proxy and an origin
// could read differently (bare LF, obs-fold, whitespace before ':',
// duplicate Host or Content-Length, Transfer-Encoding with Content-Length)
// is rejected rather than repaired.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::proxy {

inline constexpr size_t kMaxHeaderFields = 100;

struct RequestHead {
  std::string method;
  std::string target;  // as sent
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> fields;  // names as sent

  // The value of the only field with this name (case-insensitive); nullopt
  // when absent. Callers that need "exactly one" use CountField first.
  std::optional<std::string_view> Field(std::string_view name) const;
  size_t CountField(std::string_view name) const;
};

// The head of an HTTP/1.x response from an origin, parsed with the same
// strictness as a request head.
struct ResponseHead {
  int version_minor = 1;
  int status = 0;      // 100..999
  std::string reason;  // may be empty
  std::vector<std::pair<std::string, std::string>> fields;  // names as sent

  std::optional<std::string_view> Field(std::string_view name) const;
  size_t CountField(std::string_view name) const;
};

// Where the end of the head is: the offset just past "\r\n\r\n", or
// nullopt when the bytes so far do not hold it yet.
std::optional<size_t> FindHeadEnd(std::string_view bytes);

// Parses head bytes (up to and including the blank line).
Result<RequestHead> ParseRequestHead(std::string_view head);

// Parses a response head (status line, fields, blank line).
Result<ResponseHead> ParseResponseHead(std::string_view head);

// The parts of a proxy request target.
struct Target {
  std::string host;  // as written (brackets removed for IPv6); normalise later
  uint16_t port = 0;
  std::string path;  // origin-form for forwarding: "/p?q" (empty for CONNECT)
};

// CONNECT's authority-form "host:port" (port required).
Result<Target> ParseAuthorityTarget(std::string_view target);
// absolute-form with the http scheme; no userinfo, no fragment; port 80 by
// default.
Result<Target> ParseAbsoluteTarget(std::string_view target);
// A Host header value "host[:port]"; port defaults to default_port.
Result<Target> ParseHostHeader(std::string_view value, uint16_t default_port);

// How a request body is delimited. Transfer-Encoding is reported as
// chunked only for exactly "chunked"; any other coding is an error.
struct BodyFraming {
  bool chunked = false;
  uint64_t content_length = 0;
};
Result<BodyFraming> GetBodyFraming(const RequestHead& head);

// ASCII case-insensitive equality. Inline: header field names are compared
// with it many times per request, and most comparisons end at the sizes.
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace rampart::proxy
