// Fuzzes the audit room's handling of hostile input: LookupEvents'
// NextToken decoder and the model-driven conversion of decoded request
// members into requestParameters. Invariants: a token either decodes into a
// position or fails with InvalidNextTokenException; a secret-bearing
// member's value never survives conversion.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "audit/lookup.h"
#include "rampart/audit/event.h"
#include "rampart/core/check.h"
#include "rampart/core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  audit::LookupQuery q;
  Status st = audit::DecodeLookupToken(input, q);
  if (st.ok()) {
    RAMPART_CHECK(q.after.has_value());
  } else {
    RAMPART_CHECK(st.modeled() == "InvalidNextTokenException");
  }

  auto parsed = json::Parse(input, {.max_depth = 16, .max_bytes = 1 << 16});
  if (!parsed.ok() || !parsed->is_object()) return 0;
  static const std::string kSecret = "fuzz-secret-value-0123456789";
  if (input.find(kSecret) != std::string_view::npos) return 0;
  json::Value in = *parsed;
  in.set("Password", kSecret);
  in.set("SecretString", kSecret);
  for (auto [service, op] : {std::pair{"iam", "CreateLoginProfile"},
                             std::pair{"secretsmanager", "CreateSecret"},
                             std::pair{"iam", "CreateUser"}, std::pair{"kms", "Encrypt"}}) {
    std::string out = audit::ToCloudTrailElements(service, op, in, false);
    RAMPART_CHECK(out.find(kSecret) == std::string::npos);
    // What is written into records is always valid JSON.
    RAMPART_CHECK(out.empty() || json::Parse(out).ok());
    std::string as_output = audit::ToCloudTrailElements(service, op, in, true);
    RAMPART_CHECK(as_output.empty() || json::Parse(as_output).ok());
  }
  return 0;
}
