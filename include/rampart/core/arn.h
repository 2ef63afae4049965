// Amazon Resource Names, parsed and formatted in one place.
// arn:partition:service:region:account-id:resource
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rampart {

struct Arn {
  std::string partition = "aws";
  std::string service;
  std::string region;
  std::string account;
  std::string resource;  // everything after the fifth colon, e.g. "user/path/name"

  // nullopt unless s has the six colon-separated parts with "arn" first and
  // a non-empty partition, service and resource.
  static std::optional<Arn> Parse(std::string_view s);
  std::string ToString() const;
};

// arn:aws:iam::<account>:root
std::string RootArn(std::string_view account_id);

// True for exactly twelve ASCII digits.
bool IsAccountId(std::string_view s);

}  // namespace rampart
