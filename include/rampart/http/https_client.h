// A small HTTPS client for fetching documents from servers outside
// Rampart (OpenID Connect discovery documents and JSON Web Key Sets), kept
// free of Boost in its interface so that service rooms can call it.
//
// One GET per call, HTTP/1.1 over TLS 1.2 or later, no redirects, no
// compression, no proxies. The whole exchange (name resolution included)
// has one deadline, and the response head and body have size caps, so a
// slow or hostile server can hold a caller for at most the timeout and
// make it buffer at most the cap.
//
// Trust: the server's certificate is accepted when either
//   - its chain verifies against the system trust store and names the host
//     (the usual web PKI check), or
//   - the SHA-1 thumbprint of the top certificate of the chain the server
//     presents is one of options.thumbprints, and the presented chain
//     verifies up to that certificate (taken as the trust anchor) and names
//     the host. This is how IAM OIDC providers pin their issuer's CA.
//
// Thread-safety: HttpsGet is thread-safe; each call has its own I/O
// context and TLS context and blocks the calling thread until it ends.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::http {

struct HttpsGetOptions {
  std::chrono::milliseconds timeout{5000};
  size_t max_body_bytes = 512 * 1024;
  // Hex SHA-1 thumbprints (any case) of pinned top certificates.
  std::vector<std::string> thumbprints{};
  // Whether the system trust store may vouch for the server.
  bool system_trust = true;
};

struct HttpsResponse {
  int status = 0;
  std::string body;
};

// An https URL split for a request: host (without brackets for IPv6),
// port ("443" when absent) and request target ("/" when empty).
struct HttpsUrl {
  std::string host;
  std::string port;
  std::string target;
};
// kValidation for anything but https://host[:port][/path][?query].
Result<HttpsUrl> ParseHttpsUrl(std::string_view url);

// GETs url. kAccessDenied when the server's certificate is not trusted
// (see above); kUnavailable with a reason for network, TLS, timeout and
// size failures; kValidation for a malformed URL. Any HTTP status is
// returned as a response (callers decide what a non-200 means).
Result<HttpsResponse> HttpsGet(std::string_view url, const HttpsGetOptions& options);

}  // namespace rampart::http
