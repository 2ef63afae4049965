// Base64 for blob members on the JSON wire: core's codec, appended in place
// between the quotes (no temporary string per value).
#include "rampart/core/encoding.h"
#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {

void WriteBase64JsonString(std::string_view bytes, std::string& out) {
  out += '"';
  Base64EncodeAppend(bytes, out);  // the alphabet and '=' need no JSON escaping
  out += '"';
}

bool DecodeBase64(std::string_view text, std::string& out) { return Base64DecodeInto(text, out); }

}  // namespace rampart::protocol::internal
