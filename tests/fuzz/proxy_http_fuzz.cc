// Fuzzes the proxy's request-head parser and what is built on it: target
// parsing, Host agreement, body framing and the origin-form rewrite.
// Properties: nothing crashes; whatever is interpreted as a forwardable
// request rewrites to a head that parses again with the same method and
// the origin-form path, and carries no hop-by-hop field but our own
// "Connection: close".
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rampart/core/check.h"
#include "rampart/proxy/http_head.h"
#include "rampart/proxy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart::proxy;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto end = FindHeadEnd(input);
  if (!end) return 0;
  auto head = ParseRequestHead(input.substr(0, *end));
  if (!head.ok()) return 0;
  Interpreted in = InterpretRequest(*head);
  if (in.error_status != 0 || in.request.is_connect) return 0;
  std::string rewritten = BuildOriginHead(*head, in.request);
  auto again = ParseRequestHead(rewritten);
  RAMPART_CHECK(again.ok());
  RAMPART_CHECK(again->method == head->method);
  RAMPART_CHECK(again->target == in.request.path);
  RAMPART_CHECK(again->CountField("Connection") == 1);
  RAMPART_CHECK(again->CountField("Proxy-Authorization") == 0);
  RAMPART_CHECK(again->CountField("Transfer-Encoding") == 0);
  return 0;
}
