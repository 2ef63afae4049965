// Fuzzes json::Parse and the JSON 1.1 decoder (KMS Encrypt and a few other
// targets) with the input as the body. Round trip: whatever parses must
// write to a text that parses, and one more round must be stable. (Not
// Value equality after one round: json::Write renders the Doubles 200.0 and
// -0.0 as "200" and "-0", which parse back as Ints.)
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/core/check.h"
#include "rampart/core/json.h"
#include "rampart/protocol/protocol.h"

namespace {

constexpr std::string_view kTargets[] = {"TrentService.Encrypt", "TrentService.CreateKey",
                                         "TrentService.GenerateRandom", "TrentService.ListKeys"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = json::Parse(text);
  if (parsed.ok()) {
    auto once = json::Parse(json::Write(*parsed));
    RAMPART_CHECK(once.ok());
    std::string text = json::Write(*once);
    auto twice = json::Parse(text);
    RAMPART_CHECK(twice.ok() && json::Write(*twice) == text);
  }
  static const protocol::ServiceModel* kms = protocol::FindService("kms");
  http::Request request;
  request.method = "POST";
  request.target = "/";
  request.headers.push_back({"X-Amz-Target", std::string(kTargets[size % 4])});
  request.body = std::string(text);
  auto decoded = protocol::Decode(*kms, request);
  http::Response response;
  if (decoded.ok()) {
    protocol::EncodeOutput(*kms, *decoded->op, decoded->input, "fuzz", response);
  } else {
    protocol::EncodeError(kms, protocol::Protocol::kJson, decoded.status(), "fuzz", response);
  }
  return 0;
}
