// Fuzzes the query-protocol decoder for IAM: the input is the form body,
// prefixed with a valid Action so the member decoder is reached; the raw
// input is also tried as a GET query string.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/protocol/protocol.h"

namespace {

constexpr std::string_view kActions[] = {"CreateUser",    "TagUser",   "SimulateCustomPolicy",
                                         "PutUserPolicy", "ListUsers", "CreateRole"};

void Exercise(const rampart::protocol::ServiceModel& iam, rampart::http::Request& request) {
  using namespace rampart;
  auto decoded = protocol::Decode(iam, request);
  http::Response response;
  if (decoded.ok()) {
    protocol::EncodeOutput(iam, *decoded->op, decoded->input, "fuzz", response);
  } else {
    protocol::EncodeError(&iam, protocol::Protocol::kQuery, decoded.status(), "fuzz", response);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart;
  static const protocol::ServiceModel* iam = protocol::FindService("iam");
  std::string_view text(reinterpret_cast<const char*>(data), size);
  http::Request request;
  request.method = "POST";
  request.target = "/";
  request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  request.body = "Action=" + std::string(kActions[size % 6]) + "&Version=2010-05-08&";
  request.body.append(text);
  Exercise(*iam, request);
  http::Request get;
  get.method = "GET";
  get.target = "/?" + std::string(text);
  Exercise(*iam, get);
  return 0;
}
