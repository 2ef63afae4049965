// IAM (query protocol, signing name "iam"): users, their tags, access keys
// and permissions boundaries; groups and membership; customer managed
// policies with versions and tags, and the AWS managed policies; inline
// policies and attachments of users, groups and roles; roles with trust
// policies, tags and permissions boundaries.
//
// Every handler authorizes first (ctx.Authorize with the IAM action and the
// resource ARN), scopes every resource to the caller's account, and makes
// each mutation in one store transaction. Access keys live in the identity
// component's access_keys table so that SigV4 authentication finds them;
// after changing a key the CredentialStore cache is invalidated.
//
// Thread-safety: IamService is thread-safe; handlers run concurrently on
// every worker thread.
#pragma once

#include <mutex>

#include "rampart/core/status.h"
#include "rampart/iam/engine.h"
#include "rampart/server/audit.h"
#include "rampart/server/context.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::iam {

class IamService {
 public:
  // REQUIRES: db and creds outlive the service; Migrate(db) succeeded.
  IamService(store::Database& db, server::CredentialStore& creds) : db_(db), creds_(creds) {}

  // Creates or upgrades the IAM tables (component "iam").
  static Status Migrate(store::Database& db);

  // Adds the IAM handlers to the registry. REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

  // The authorizer's cache of compiled policies; every successful IAM write
  // invalidates it. REQUIRES: cache outlives the service.
  void SetPolicyCache(PolicyCache* cache) { policy_cache_ = cache; }

  // Where GetAccessKeyLastUsed reads key use. REQUIRES: queries outlives
  // the service; without it every key reads as never used.
  void SetAuditQueries(const server::AuditQueries* queries) { audit_queries_ = queries; }

  using Handler = Result<json::Value> (IamService::*)(server::RequestContext&, const json::Value&);

 private:
  // Users and tags (iam_users.cc).
  Result<json::Value> CreateUser(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetUser(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListUsers(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteUser(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> TagUser(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UntagUser(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListUserTags(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> PutUserPermissionsBoundary(server::RequestContext& ctx,
                                                 const json::Value& in);
  Result<json::Value> DeleteUserPermissionsBoundary(server::RequestContext& ctx,
                                                    const json::Value& in);

  // Access keys (iam_access_keys.cc).
  Result<json::Value> CreateAccessKey(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListAccessKeys(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UpdateAccessKey(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetAccessKeyLastUsed(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteAccessKey(server::RequestContext& ctx, const json::Value& in);

  // Managed policies (iam_policies.cc).
  Result<json::Value> CreatePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetPolicyVersion(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListPolicies(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeletePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> TagPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UntagPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListPolicyTags(server::RequestContext& ctx, const json::Value& in);

  // Managed policy versions (iam_policy_versions.cc).
  Result<json::Value> CreatePolicyVersion(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListPolicyVersions(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeletePolicyVersion(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> SetDefaultPolicyVersion(server::RequestContext& ctx, const json::Value& in);

  // Inline user policies and attachments (iam_user_policies.cc).
  Result<json::Value> PutUserPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetUserPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListUserPolicies(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteUserPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> AttachUserPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DetachUserPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListAttachedUserPolicies(server::RequestContext& ctx, const json::Value& in);

  // Groups, membership, group inline policies and attachments
  // (iam_groups.cc).
  Result<json::Value> CreateGroup(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetGroup(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListGroups(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UpdateGroup(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteGroup(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> AddUserToGroup(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> RemoveUserFromGroup(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListGroupsForUser(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> PutGroupPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetGroupPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListGroupPolicies(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteGroupPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> AttachGroupPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DetachGroupPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListAttachedGroupPolicies(server::RequestContext& ctx,
                                                const json::Value& in);

  // Roles, their inline policies and attachments (iam_roles.cc).
  Result<json::Value> CreateRole(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetRole(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListRoles(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteRole(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> PutRolePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetRolePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListRolePolicies(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteRolePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> AttachRolePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DetachRolePolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListAttachedRolePolicies(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> TagRole(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UntagRole(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListRoleTags(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> PutRolePermissionsBoundary(server::RequestContext& ctx,
                                                 const json::Value& in);
  Result<json::Value> DeleteRolePermissionsBoundary(server::RequestContext& ctx,
                                                    const json::Value& in);

  store::Database& db_;
  PolicyCache* policy_cache_ = nullptr;
  const server::AuditQueries* audit_queries_ = nullptr;
  server::CredentialStore& creds_;
  // Serialises CreateAccessKey on this node so that two concurrent calls
  // for one user do not both fail the per-user key quota check.

};

}  // namespace rampart::iam
