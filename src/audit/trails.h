// Trail handlers, internal to the audit room.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "rampart/iam/engine_authorizer.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::audit::internal {

struct Deps {
  store::Database* db = nullptr;
  std::function<void()> wake_delivery;  // may be empty
  // Organization trails need it; without it they are unsupported.
  const iam::OrganizationView* organizations = nullptr;
};

// The organization whose trails the account sees as a member: its
// organization's, unless it is the management account (which owns them)
// or in no organization. Empty when there is none.
std::string MemberOrganization(const Deps& deps, std::string_view account);

// Adds the trail operations of CloudTrail.
void RegisterTrails(server::Registry& registry, const Deps& deps);

}  // namespace rampart::audit::internal
