// Stage 4 of the policy engine: combine the policies that apply to a
// request into one decision, in AWS's documented order (IAM User Guide,
// "Policy evaluation logic", pages reference_policies_evaluation-logic.html,
// reference_policies_evaluation-logic_policy-eval-denyallow.html and
// reference_policies_evaluation-logic-cross-account.html):
//
//  1. An explicit Deny in any applicable policy wins.
//  2. SCPs: every level of the principal account's OU path (root, each OU,
//     the account) must have an applicable Allow. The management account is
//     exempt.
//  3. Resource-based policy: within one account, an Allow that names the
//     caller's own ARN (IAM user, role session, federated user session)
//     grants access even where identity policies, the permissions boundary
//     or session policies have no Allow (access_policies_boundaries.html,
//     "Resource-based policies"). An Allow naming the role of a role session,
//     or "*", stands in for an identity-policy Allow but stays limited by
//     the boundary and session policies. An Allow naming the account only
//     delegates to IAM (identity policies decide).
//  4. Identity-based policies must allow (unless step 3 stood in).
//  5. The permissions boundary, when set, must allow.
//  6. Session policies, when passed, must allow. A federated-user session
//     without session policies has no identity permissions.
//  Cross-account (resource account != principal account): the identity
//  side (4-6) AND the resource policy must both allow.
//  Some resource policies must allow on their own (role trust policies, KMS
//  key policies: resource_policy_required); for them an Allow naming only
//  the account delegates to the identity side.
//  The account root user has every identity permission in its own account
//  (still subject to explicit denies and SCPs).
//
// Thread-safety: Decide is a pure function over immutable inputs.
// PolicyCache is thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {

using PolicyPtr = std::shared_ptr<const CompiledPolicy>;

// The policies that apply to one principal, independent of the request.
// Loaded from the database once and cached (PolicyCache).
struct PrincipalPolicies {
  std::vector<PolicyPtr> identity{};  // user + its groups', or the role's
  PolicyPtr boundary{};             // permissions boundary, may be null
  // SCPs by level of the OU path, root first, the account last. Empty when
  // Organizations policies do not apply.
  std::vector<std::vector<PolicyPtr>> scp_levels{};
  bool scp_exempt = false;  // the management account
  std::string org_id{};                  // aws:PrincipalOrgID, empty outside an organization
  std::vector<std::string> org_paths{};  // aws:PrincipalOrgPaths
  // The IAM user's or the role's tags (aws:PrincipalTag/*).
  std::vector<std::pair<std::string, std::string>> tags{};
};

// Everything the engine weighs for one request.
struct PolicySet {
  const PrincipalPolicies* principal = nullptr;  // may be null: no identity policies
  // Session policies of a role or federated session (inline + managed).
  std::span<const PolicyPtr> session{};
  bool has_session_policies = false;  // a session passed policies (even if none applies)
  const CompiledPolicy* resource = nullptr;  // the resource's policy, may be null
  bool resource_policy_required = false;     // trust policies, KMS key policies
};

enum class PolicyType : uint8_t {
  kNone,
  kScp,
  kResource,
  kIdentity,
  kBoundary,
  kSession,
};
std::string_view PolicyTypePhrase(PolicyType t);  // "service control policy", ...

struct Decision {
  bool allowed = false;
  bool explicit_deny = false;
  // For a denial: the policy type that denied (explicitly) or had no Allow.
  // For an allow: the type whose Allow decided (kIdentity or kResource).
  PolicyType type = PolicyType::kNone;
  // The deciding statements: the explicit Deny, or the Allow statements
  // that granted (at most four kept).
  std::array<StatementRef, 4> statements{};
  uint8_t statement_count = 0;

  void AddStatement(StatementRef s);
  std::span<const StatementRef> deciding() const { return {statements.data(), statement_count}; }
};

// REQUIRES: the policies in set outlive the returned Decision's refs.
Decision Decide(const PolicySet& set, const AuthzRequest& request);

// AWS's denial text: "User: <arn> is not authorized to perform: <action>
// on resource: <resource> because no identity-based policy allows the
// <action> action" / "with an explicit deny in a service control policy".
std::string DenialMessage(const Decision& d, const AuthzRequest& request);
// OK when allowed, else kAccessDenied with DenialMessage.
Status DecisionStatus(const Decision& d, const AuthzRequest& request);

// A cache of PrincipalPolicies keyed by principal ARN (or any string the
// caller picks, e.g. a session id), with explicit invalidation.
//
// Generations close the race between a loader and an invalidation: read
// generation() before loading from the database, and Put with that value;
// the Put is ignored when an invalidation happened since.
class PolicyCache {
 public:
  explicit PolicyCache(size_t max_entries = 65536) : max_entries_(max_entries) {}

  std::shared_ptr<const PrincipalPolicies> Get(std::string_view key) const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Stores value unless an invalidation happened after generation was read.
  // Returns whether it was stored.
  bool Put(std::string_view key, std::shared_ptr<const PrincipalPolicies> value,
           uint64_t generation);
  // Drops one principal's entry (after its policies, groups or boundary
  // changed).
  void Invalidate(std::string_view key);
  // Drops everything (a managed policy, an SCP or the OU tree changed).
  void InvalidateAll();
  size_t size() const;

 private:
  const size_t max_entries_;
  std::atomic<uint64_t> generation_{1};
  mutable std::shared_mutex mu_;
  // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<const PrincipalPolicies>> entries_;
};

}  // namespace rampart::iam
