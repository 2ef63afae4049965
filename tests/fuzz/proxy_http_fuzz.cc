// Fuzzes the proxy's HTTP parsers and what is built on them: request
// targets, Host agreement, body framing, the origin-form rewrite, the
// response-head rewrite and the chunked-body scanner.
// Properties: nothing crashes; whatever is interpreted as a forwardable
// request rewrites to a head that parses again with the same method, the
// origin-form path, its framing fields unchanged and no hop-by-hop field
// but our own "Connection: close"; a response head rewrites to one that
// parses again with one Connection field; the chunked scanner finds the
// same end of body however the bytes are split.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rampart/core/check.h"
#include "rampart/proxy/http_body.h"
#include "rampart/proxy/http_head.h"
#include "rampart/proxy/policy.h"

namespace {

using namespace rampart::proxy;

void CheckRequest(std::string_view head_bytes) {
  auto head = ParseRequestHead(head_bytes);
  if (!head.ok()) return;
  Interpreted in = InterpretRequest(*head);
  if (in.error_status != 0 || in.request.is_connect) return;
  std::string rewritten = BuildOriginHead(*head, in.request);
  auto again = ParseRequestHead(rewritten);
  // As for responses below: a rewritten head gains a Connection field.
  if (head->fields.size() >= kMaxHeaderFields) return;
  RAMPART_CHECK(again.ok());
  RAMPART_CHECK(again->method == head->method);
  RAMPART_CHECK(again->target == in.request.path);
  RAMPART_CHECK(again->CountField("Connection") == 1);
  RAMPART_CHECK(again->CountField("Proxy-Authorization") == 0);
  RAMPART_CHECK(again->CountField("Transfer-Encoding") == head->CountField("Transfer-Encoding"));
  RAMPART_CHECK(again->CountField("Content-Length") == head->CountField("Content-Length"));
}

void CheckResponse(std::string_view head_bytes) {
  auto head = ParseResponseHead(head_bytes);
  if (!head.ok()) return;
  auto again = ParseResponseHead(BuildClientResponseHead(*head, "close"));
  // The rebuilt head gains a Connection field: one that already had the
  // most fields the parser takes may then not parse back, which is no fault.
  if (head->fields.size() >= kMaxHeaderFields) return;
  RAMPART_CHECK(again.ok());
  RAMPART_CHECK(again->status == head->status);
  RAMPART_CHECK(again->CountField("Connection") == 1);
  (void)GetResponseFraming(*head, "GET");
}

void CheckChunked(std::string_view body) {
  ChunkedScanner whole;
  size_t used = whole.Feed(body);
  RAMPART_CHECK(used <= body.size());
  RAMPART_CHECK(!(whole.done() && whole.failed()));
  RAMPART_CHECK(whole.done() || whole.failed() || used == body.size());
  size_t split = body.size() / 2;
  ChunkedScanner halves;
  size_t used2 = halves.Feed(body.substr(0, split));
  if (!halves.done() && !halves.failed()) used2 += halves.Feed(body.substr(split));
  RAMPART_CHECK(halves.done() == whole.done());
  RAMPART_CHECK(halves.failed() == whole.failed());
  if (whole.done()) RAMPART_CHECK(used2 == used);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto end = FindHeadEnd(input);
  if (end) {
    CheckRequest(input.substr(0, *end));
    CheckResponse(input.substr(0, *end));
  }
  CheckChunked(end ? input.substr(*end) : input);
  return 0;
}
