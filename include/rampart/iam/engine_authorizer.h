// The policy engine behind the server's authorization hook: every
// RequestContext::Authorize call lands here. A caller's identity policies
// (inline and attached managed policies of an IAM user and of every group
// it is in, or of the role behind a role session), its permissions
// boundary and its tags (aws:PrincipalTag/*) are loaded from the store
// once, compiled, and cached per principal; IAM writes invalidate the
// cache, so the hot path never reads the database.
//
// A role session's session tags override the role's tags of the same key,
// and its session policies are compiled once per session (cached by access
// key id: a session never changes). The session's MFA flag, token issue
// time and source identity become aws:MultiFactorAuthPresent,
// aws:TokenIssueTime and aws:SourceIdentity.
//
// Thread-safety: thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rampart/iam/engine.h"
#include "rampart/iam/policy_context.h"
#include "rampart/server/authorizer.h"
#include "rampart/store/store.h"

namespace rampart::iam {

// Where an account sits in an organization: the SCPs that apply to its
// principals and the aws:PrincipalOrgID / aws:PrincipalOrgPaths values.
struct OrgPlacement {
  std::string org_id;              // empty: the account is in no organization
  std::vector<std::string> paths;  // "o-xxx/r-xxxx/ou-xxxx-yyyyyyyy/"
  bool management = false;         // the management account: exempt from SCPs
  // SCPs attached at each level of the account's path, root first, the
  // account last; empty when SCPs are not enabled.
  std::vector<std::vector<PolicyPtr>> scp_levels;
};

// Organizations implements this; the authorizer asks it once per cached
// principal. Organizations writes invalidate the whole PolicyCache.
class OrganizationView {
 public:
  virtual ~OrganizationView() = default;
  virtual Result<OrgPlacement> PlacementOf(std::string_view account_id) const = 0;
};

// The stored identity policies of an IAM user (with its groups'), role or
// group, compiled as the authorizer compiles them, with the boundary and
// tags of a user or role. Policy ids: "<arn>/inline:<name>",
// "<user arn>/group/<group>/inline:<name>", or the managed policy's ARN.
// For the policy simulator.
enum class EntityKind : uint8_t { kUser, kRole, kGroup };
Result<std::shared_ptr<const PrincipalPolicies>> LoadEntityPolicies(store::Database& db,
                                                                    EntityKind kind,
                                                                    std::string_view id,
                                                                    std::string_view arn);

class EngineAuthorizer final : public server::Authorizer {
 public:
  // REQUIRES: db and cache outlive the authorizer.
  EngineAuthorizer(store::Database& db, PolicyCache& cache) : db_(db), cache_(cache) {}

  // Enables SCPs and the aws:PrincipalOrg* keys. REQUIRES: view outlives
  // the authorizer; called before the server starts.
  void SetOrganizationView(const OrganizationView* view) { org_view_ = view; }

  Status Authorize(const server::RequestContext& ctx, std::string_view action,
                   std::string_view resource_arn,
                   std::span<const server::ConditionKey> keys) const override;

  // Decides action on resource_arn for the caller weighing resource_policy
  // too (e.g. a KMS key policy with resource_policy_required): OK, or
  // AccessDenied worded by the engine for the deciding policy type.
  Status AuthorizeWithResourcePolicy(const server::RequestContext& ctx, std::string_view action,
                                     std::string_view resource_arn,
                                     std::span<const server::ConditionKey> keys,
                                     const CompiledPolicy& resource_policy,
                                     bool resource_policy_required) const;

  // The same decision with its parts, for callers that weigh more than
  // policies (KMS grants may allow what no policy allows, but never what a
  // policy explicitly denies).
  struct Verdict {
    bool allowed = false;
    bool explicit_deny = false;
    Status denial;  // OK when allowed, else AccessDenied in the engine's words
  };
  Result<Verdict> Check(const server::RequestContext& ctx, std::string_view action,
                        std::string_view resource_arn, std::span<const server::ConditionKey> keys,
                        const CompiledPolicy& resource_policy, bool resource_policy_required) const;
  // The same with more condition keys prepared once for the resource (a
  // KMS key's kms:KeySpec, aws:ResourceTag/*, ...): they are borrowed, not
  // copied. A key in both keeps its value from resource_keys.
  Result<Verdict> Check(const server::RequestContext& ctx, std::string_view action,
                        std::string_view resource_arn, std::span<const server::ConditionKey> keys,
                        std::span<const PreparedKey> resource_keys,
                        const CompiledPolicy& resource_policy, bool resource_policy_required) const;

  // The same decision as a yes/no (e.g. a role's trust policy, where STS
  // words the denial itself).
  Result<bool> Allowed(const server::RequestContext& ctx, std::string_view action,
                       std::string_view resource_arn, std::span<const server::ConditionKey> keys,
                       const CompiledPolicy& resource_policy, bool resource_policy_required) const;

 private:
  Result<std::shared_ptr<const PrincipalPolicies>> LoadRolePolicies(
      const server::Principal& p) const;
  Result<std::shared_ptr<const PrincipalPolicies>> PoliciesOf(const server::Principal& p) const;
  Result<std::shared_ptr<const PrincipalPolicies>> LoadUserPolicies(
      const server::Principal& p) const;
  using SessionPolicies = std::shared_ptr<const std::vector<PolicyPtr>>;
  // The compiled session policies of p (empty when it passed none).
  SessionPolicies SessionPoliciesOf(const server::Principal& p) const;
  Result<bool> Evaluate(const server::RequestContext& ctx, std::string_view action,
                        std::string_view resource_arn, std::span<const server::ConditionKey> keys,
                        std::span<const PreparedKey> resource_keys, PolicySet set,
                        Status* denial, bool* explicit_deny = nullptr) const;

  // Bounds the session-policy cache; it is cleared when full (sessions
  // expire, so old entries are dead weight).
  static constexpr size_t kMaxSessions = 65536;

  store::Database& db_;
  PolicyCache& cache_;
  const OrganizationView* org_view_ = nullptr;
  mutable std::mutex session_mu_;
  // Access key id of a session -> its compiled session policies. Guarded
  // by session_mu_.
  mutable std::unordered_map<std::string, SessionPolicies> sessions_;
};

}  // namespace rampart::iam
