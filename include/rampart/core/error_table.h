// The one table that maps Rampart's generic ErrorCodes to AWS wire codes.
#pragma once

#include <string_view>

#include "rampart/core/status.h"

namespace rampart {

struct WireError {
  std::string_view json_code;   // JSON 1.1 / rest-json: __type and x-amzn-ErrorType
  std::string_view query_code;  // query protocol (IAM, STS): <Code>
  int http_status;
  bool sender_fault;            // query protocol <Type>Sender</Type> vs Receiver
};

// REQUIRES: code != kOk && code != kServiceModeled
const WireError& WireErrorFor(ErrorCode code);

}  // namespace rampart
