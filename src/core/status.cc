#include "rampart/core/status.h"

#include "rampart/core/error_table.h"

namespace rampart {

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out = code_ == ErrorCode::kServiceModeled
                        ? modeled_
                        : std::string(WireErrorFor(code_).json_code);
  out += ": ";
  out += message_;
  return out;
}

}  // namespace rampart
