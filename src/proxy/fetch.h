// A small blocking HTTP(S) GET for the allowlist pull (the proxy's own
// outbound fetch, configured by the operator; not subject to the client
// rules or the SSRF filter). HTTP/1.0 request, so the body ends at
// Content-Length or at the close; only 200 is success; TLS is verified
// against the system store or a given CA file, with the host name checked.
//
// Thread-safety: a pure function over its own socket; call it from any
// thread (the allowlist puller's).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "rampart/core/status.h"

namespace rampart::proxy {

struct FetchOptions {
  std::chrono::milliseconds timeout{10000};  // the whole fetch
  size_t max_body_bytes = 16u << 20;
  std::string ca_file;                        // https: trust anchors; empty = system store
};

// The body of `url` ("http://host[:port]/path" or "https://..."), or why
// not ("fetch http://...: connection refused", "... answered 404").
Result<std::string> FetchUrl(const std::string& url, const FetchOptions& options);

}  // namespace rampart::proxy
