// Resolving the ARN a service last accessed report is generated for. Not a
// public interface.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::audit::advisor {

// An entity whose access a report counts.
struct EntityInfo {
  std::string arn;
  std::string name;
  std::string type;  // USER or ROLE (policyOwnerEntityType)
  std::string id;
  std::string path;
};

struct EntityScope {
  std::vector<std::string> documents;  // its permissions policies
  std::vector<EntityInfo> entities;    // whose access counts
};

// "arn:aws:iam::<account>:<kind>/<path><name>" split up; kind is user,
// role, group or policy.
struct EntityArn {
  std::string account;
  std::string kind;
  std::string name;
};
std::optional<EntityArn> ParseEntityArn(std::string_view arn);

// The user (with its groups' policies), role, group (its members count) or
// managed policy (the users, group members and roles it is attached to
// count) of the caller's account, or an AWS managed policy.
// InvalidInput for an ARN of another kind, NoSuchEntity when it does not
// exist (also for another account's entities).
Result<EntityScope> ResolveEntity(store::Tx& tx, std::string_view caller_account,
                                  std::string_view arn);

}  // namespace rampart::audit::advisor
