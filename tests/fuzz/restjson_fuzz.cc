// Fuzzes rest-json routing and decoding for Security Hub and Access
// Analyzer. Input layout: first byte picks the method, then the target up to
// the first newline, then the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/protocol/protocol.h"

namespace {
constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart;
  if (size == 0) return 0;
  static const protocol::ServiceModel* services[] = {protocol::FindService("securityhub"),
                                                     protocol::FindService("access-analyzer")};
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t newline = text.find('\n');
  http::Request request;
  request.method = std::string(kMethods[data[0] % 5]);
  request.target = std::string(text.substr(0, newline));
  if (newline != std::string_view::npos) request.body = std::string(text.substr(newline + 1));
  request.headers.push_back({"X-Amz-Date", "20240101T000000Z"});
  const protocol::ServiceModel& service = *services[(data[0] >> 4) & 1];
  auto decoded = protocol::Decode(service, request);
  http::Response response;
  if (decoded.ok()) {
    protocol::EncodeOutput(service, *decoded->op, decoded->input, "fuzz", response);
  } else {
    protocol::EncodeError(&service, protocol::Protocol::kRestJson, decoded.status(), "fuzz",
                          response);
  }
  return 0;
}
