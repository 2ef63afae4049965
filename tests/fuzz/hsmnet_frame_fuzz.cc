// Fuzzes the network HSM codec (rampart/hsmnet/wire.h) with hostile frames:
// the first byte picks the operation, the rest is a header followed by a
// body. Invariants: decoding never reads out of bounds; whatever decodes
// re-encodes to a frame that decodes to the same fields (the encoder and
// decoder describe one layout); a header that decodes has a body bound of
// at most kMaxBody.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/core/check.h"
#include "rampart/hsmnet/wire.h"

namespace {

using namespace rampart::hsmnet;  // NOLINT(google-build-using-namespace)

void CheckRequest(Op op, std::string_view body) {
  auto q = DecodeRequest(op, body);
  if (!q) return;
  std::string again = EncodeRequest(*q);
  RAMPART_CHECK(again.substr(kHeaderSize) == body);
  auto h = DecodeHeader(std::string_view(again).substr(0, kHeaderSize));
  RAMPART_CHECK(h && h->op == op && h->body_size == body.size());
}

void CheckResponse(Op op, std::string_view body) {
  auto r = DecodeResponse(op, body);
  if (!r) return;
  std::string again = EncodeResponse(*r);
  RAMPART_CHECK(again.substr(kHeaderSize) == body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  Op op = static_cast<Op>(1 + data[0] % kMaxOp);
  CheckRequest(op, input);
  CheckResponse(op, input);
  if (input.size() >= kHeaderSize) {
    auto h = DecodeHeader(input.substr(0, kHeaderSize));
    if (h) {
      RAMPART_CHECK(h->body_size <= kMaxBody);
      std::string_view body = input.substr(kHeaderSize);
      if (body.size() > h->body_size) body = body.substr(0, h->body_size);
      CheckRequest(h->op, body);
      CheckResponse(h->op, body);
    }
  }
  return 0;
}
