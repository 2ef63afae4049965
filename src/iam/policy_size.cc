// IAM's policy size quotas (IAM User Guide, "IAM and AWS STS quotas":
// "IAM doesn't count white space when calculating the size of a policy").
#include <string>

#include "rampart/iam/policy_ast.h"

namespace rampart::iam {

size_t PolicySizeLimit(PolicySizeKind kind) {
  switch (kind) {
    case PolicySizeKind::kManaged: return 6144;
    case PolicySizeKind::kInlineUser: return 2048;
    case PolicySizeKind::kInlineGroup: return 5120;
    case PolicySizeKind::kInlineRole: return 10240;
  }
  return 0;
}

size_t PolicyCharacterCount(std::string_view text) {
  size_t n = 0;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    bool continuation = (c & 0xC0) == 0x80;
    if (!space && !continuation) ++n;
  }
  return n;
}

Status CheckPolicySize(std::string_view text, PolicySizeKind kind) {
  size_t limit = PolicySizeLimit(kind);
  if (PolicyCharacterCount(text) <= limit) return Status::Ok();
  return Status::Modeled("LimitExceededException",
                         "Cannot exceed quota for PolicySize: " + std::to_string(limit));
}

}  // namespace rampart::iam
