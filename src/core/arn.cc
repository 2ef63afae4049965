#include "rampart/core/arn.h"

namespace rampart {

std::optional<Arn> Arn::Parse(std::string_view s) {
  std::string_view parts[5];
  for (auto& part : parts) {
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    part = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
  if (parts[0] != "arn" || parts[1].empty() || parts[2].empty() || s.empty()) return std::nullopt;
  Arn arn;
  arn.partition = parts[1];
  arn.service = parts[2];
  arn.region = parts[3];
  arn.account = parts[4];
  arn.resource = s;
  return arn;
}

std::string Arn::ToString() const {
  std::string out = "arn:";
  out.append(partition).append(":").append(service).append(":").append(region).append(":");
  out.append(account).append(":").append(resource);
  return out;
}

std::string RootArn(std::string_view account_id) {
  return "arn:aws:iam::" + std::string(account_id) + ":root";
}

bool IsAccountId(std::string_view s) {
  if (s.size() != 12) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace rampart
