// AWS Organizations (JSON 1.1, signing name "organizations"): one
// organization per management account, its root, organizational units,
// member accounts created by CreateAccount (a real Rampart account with an
// OrganizationAccountAccessRole the management account can assume), and
// service control policies (SCPs) attached to the root, OUs and accounts.
//
// OrganizationsView tells the policy engine where an account sits: its
// aws:PrincipalOrgID / aws:PrincipalOrgPaths values and the compiled SCPs
// at every level of its path, which the engine enforces on every call made
// by the account's principals (the management account is exempt).
//
// Every handler authorizes first (ctx.Authorize with "organizations:<Op>"
// and the resource ARN), and makes each mutation in one store transaction;
// every successful write invalidates the authorizer's PolicyCache because
// SCPs or the OU tree may have changed.
//
// Thread-safety: OrganizationsService and OrganizationsView are
// thread-safe; handlers run concurrently on every worker thread.
#pragma once

#include <functional>
#include <string_view>

#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/iam/engine.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/server/context.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::iam {

// Reads the Organizations tables for the authorizer (once per cached
// principal, never on the hot path).
class OrganizationsView final : public OrganizationView {
 public:
  // REQUIRES: db outlives the view; OrganizationsService::Migrate(db) ran.
  explicit OrganizationsView(store::Database& db) : db_(db) {}

  // The account's organization, OU path and SCPs; an empty placement when
  // the account belongs to no organization.
  Result<OrgPlacement> PlacementOf(std::string_view account_id) const override;

 private:
  store::Database& db_;
};

class OrganizationsService {
 public:
  // REQUIRES: db outlives the service; the identity, IAM and
  // Organizations migrations ran.
  explicit OrganizationsService(store::Database& db) : db_(db) {}

  // Creates or upgrades the Organizations tables (component "organizations").
  static Status Migrate(store::Database& db);

  // Adds the Organizations handlers. REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

  // The authorizer's cache; every successful Organizations write
  // invalidates all of it. REQUIRES: cache outlives the service.
  void SetPolicyCache(PolicyCache* cache) { policy_cache_ = cache; }

  // Lets delegated administrators read the organization (their own
  // policies decide). REQUIRES: engine outlives the service.
  void SetAuthorizer(const EngineAuthorizer* engine) { engine_ = engine; }

  // The credentials whose cache CloseAccount drops, so that a closed
  // account's keys stop working at once. REQUIRES: creds outlives the
  // service.
  void SetCredentialStore(server::CredentialStore* creds) { creds_ = creds; }

  using Handler = Result<json::Value> (OrganizationsService::*)(server::RequestContext&,
                                                                const json::Value&);

 private:
  // The organization and its root (org_organization.cc).
  Result<json::Value> CreateOrganization(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DescribeOrganization(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteOrganization(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListRoots(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> EnablePolicyType(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DisablePolicyType(server::RequestContext& ctx, const json::Value& in);

  // Accounts (org_accounts.cc).
  Result<json::Value> CreateAccount(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DescribeCreateAccountStatus(server::RequestContext& ctx,
                                                  const json::Value& in);
  Result<json::Value> ListCreateAccountStatus(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DescribeAccount(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListAccounts(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListAccountsForParent(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> MoveAccount(server::RequestContext& ctx, const json::Value& in);

  // Organizational units and the tree (org_units.cc).
  Result<json::Value> CreateOrganizationalUnit(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UpdateOrganizationalUnit(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DescribeOrganizationalUnit(server::RequestContext& ctx,
                                                 const json::Value& in);
  Result<json::Value> DeleteOrganizationalUnit(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListOrganizationalUnitsForParent(server::RequestContext& ctx,
                                                       const json::Value& in);
  Result<json::Value> ListChildren(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListParents(server::RequestContext& ctx, const json::Value& in);

  // Policies and attachments (org_policies.cc).
  Result<json::Value> CreatePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UpdatePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeletePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DescribePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListPolicies(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> AttachPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DetachPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListPoliciesForTarget(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListTargetsForPolicy(server::RequestContext& ctx, const json::Value& in);

  // Tags (org_tags.cc).
  Result<json::Value> TagResource(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UntagResource(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListTagsForResource(server::RequestContext& ctx, const json::Value& in);

  // Accounts leaving the organization (org_membership.cc).
  Result<json::Value> RemoveAccountFromOrganization(server::RequestContext& ctx,
                                                    const json::Value& in);
  Result<json::Value> LeaveOrganization(server::RequestContext& ctx, const json::Value& in);

  // Invitations (org_handshakes.cc).
  Result<json::Value> InviteAccountToOrganization(server::RequestContext& ctx,
                                                  const json::Value& in);
  Result<json::Value> AcceptHandshake(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeclineHandshake(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> CancelHandshake(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DescribeHandshake(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListHandshakesForAccount(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListHandshakesForOrganization(server::RequestContext& ctx,
                                                    const json::Value& in);
  Result<json::Value> EnableAllFeatures(server::RequestContext& ctx, const json::Value& in);
  // DeclineHandshake (by the invited account) and CancelHandshake (by the
  // management account).
  Result<json::Value> CloseHandshake(server::RequestContext& ctx, std::string_view id,
                                     bool by_target);

  // Trusted access and delegated administrators (org_services.cc).
  Result<json::Value> EnableAWSServiceAccess(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DisableAWSServiceAccess(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListAWSServiceAccessForOrganization(server::RequestContext& ctx,
                                                          const json::Value& in);
  Result<json::Value> RegisterDelegatedAdministrator(server::RequestContext& ctx,
                                                     const json::Value& in);
  Result<json::Value> DeregisterDelegatedAdministrator(server::RequestContext& ctx,
                                                       const json::Value& in);
  Result<json::Value> ListDelegatedAdministrators(server::RequestContext& ctx,
                                                  const json::Value& in);
  Result<json::Value> ListDelegatedServicesForAccount(server::RequestContext& ctx,
                                                      const json::Value& in);
  Result<json::Value> CloseAccount(server::RequestContext& ctx, const json::Value& in);
  // org_resource_policy.cc
  Result<json::Value> PutResourcePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DescribeResourcePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteResourcePolicy(server::RequestContext& ctx, const json::Value& in);

  // Runs fn in one write transaction and, when it commits, drops the
  // authorizer's cached policies (SCPs, the OU tree or roles changed).
  Status WriteAndInvalidate(const std::function<Status(store::Tx&)>& fn);

  store::Database& db_;
  PolicyCache* policy_cache_ = nullptr;
  const EngineAuthorizer* engine_ = nullptr;
  server::CredentialStore* creds_ = nullptr;
};

}  // namespace rampart::iam
