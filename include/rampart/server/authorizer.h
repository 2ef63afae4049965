// The authorization hook. Handlers call RequestContext::Authorize, which
// lands here. The IAM policy engine implements this interface; until it
// does, RootOnlyAuthorizer lets an account's root do everything in its own
// account and nothing anywhere else.
#pragma once

#include <span>
#include <string_view>

#include "rampart/core/status.h"
#include "rampart/server/context.h"

namespace rampart::server {

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual Status Authorize(const RequestContext& ctx, std::string_view action,
                           std::string_view resource_arn,
                           std::span<const ConditionKey> keys) const = 0;
};

class RootOnlyAuthorizer final : public Authorizer {
 public:
  Status Authorize(const RequestContext& ctx, std::string_view action,
                   std::string_view resource_arn,
                   std::span<const ConditionKey> keys) const override;
};

// AWS's denial message: "User: <arn> is not authorized to perform: <action>
// on resource: <arn>".
Status AccessDenied(std::string_view principal_arn, std::string_view action,
                    std::string_view resource_arn);

}  // namespace rampart::server
