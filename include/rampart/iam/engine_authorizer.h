// The policy engine behind the server's authorization hook: every
// RequestContext::Authorize call lands here. A caller's identity policies
// (inline and attached managed policies of an IAM user, or of the role
// behind a role session) are loaded from the
// store once, compiled, and cached per principal; IAM writes invalidate the
// cache, so the hot path never reads the database.
//
// Thread-safety: thread-safe.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "rampart/iam/engine.h"
#include "rampart/server/authorizer.h"
#include "rampart/store/store.h"

namespace rampart::iam {

class EngineAuthorizer final : public server::Authorizer {
 public:
  // REQUIRES: db and cache outlive the authorizer.
  EngineAuthorizer(store::Database& db, PolicyCache& cache) : db_(db), cache_(cache) {}

  Status Authorize(const server::RequestContext& ctx, std::string_view action,
                   std::string_view resource_arn,
                   std::span<const server::ConditionKey> keys) const override;

  // Decides action on resource_arn for the caller weighing resource_policy
  // too (e.g. a role's trust policy with resource_policy_required). Whether
  // it is allowed; the caller words the denial.
  Result<bool> Allowed(const server::RequestContext& ctx, std::string_view action,
                       std::string_view resource_arn, std::span<const server::ConditionKey> keys,
                       const CompiledPolicy& resource_policy, bool resource_policy_required) const;

 private:
  Result<std::shared_ptr<const PrincipalPolicies>> LoadRolePolicies(
      const server::Principal& p) const;
  Result<std::shared_ptr<const PrincipalPolicies>> PoliciesOf(const server::Principal& p) const;
  Result<std::shared_ptr<const PrincipalPolicies>> LoadUserPolicies(
      const server::Principal& p) const;

  store::Database& db_;
  PolicyCache& cache_;
};

}  // namespace rampart::iam
