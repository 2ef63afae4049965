// Fuzzes the TLS ClientHello/SNI parser and host normalisation of what it
// finds. Properties: nothing crashes; for input holding a complete
// ClientHello, a prefix is either still incomplete (kNeedMore) or, when it
// already holds the whole ClientHello, gives the same answer, so the
// proxy never decides on half a message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rampart/core/check.h"
#include "rampart/proxy/domain.h"
#include "rampart/proxy/sni.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart::proxy;
  using Outcome = ClientHelloInfo::Outcome;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  ClientHelloInfo info = ParseClientHello(input);
  if (info.has_sni) {
    auto host = NormalizeHost(info.sni);
    if (host.ok()) RAMPART_CHECK(!host->name.empty() && host->name.size() <= 253 + 2 + 39);
  }
  if (info.outcome == Outcome::kOk) {
    for (size_t n : {size_t{0}, size_t{4}, size / 2}) {
      if (n >= size) continue;
      ClientHelloInfo prefix = ParseClientHello(input.substr(0, n));
      RAMPART_CHECK(prefix.outcome == Outcome::kNeedMore ||
                    (prefix.outcome == Outcome::kOk && prefix.sni == info.sni));
    }
  }
  return 0;
}
