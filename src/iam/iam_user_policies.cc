// A user's inline policies and managed-policy attachments: the shared
// implementation in iam_policy_holders.cc, bound to the user tables.
#include "iam/iam_internal.h"
#include "rampart/iam/iam_service.h"

namespace rampart::iam {
namespace internal {
namespace {

Holder AsHolder(const UserRow& u) { return Holder{u.user_id, u.name}; }

Result<Holder> AuthorizedUserHolder(store::Database& db, const server::RequestContext& ctx,
                                    std::string_view action, std::string_view name,
                                    std::vector<server::ConditionKey> keys) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUser(db, ctx, action, name, std::move(keys)));
  return AsHolder(user);
}

Result<Holder> RequireUserHolder(store::Tx& tx, std::string_view account, std::string_view name) {
  ASSIGN_OR_RETURN(UserRow user, RequireUser(tx, account, name));
  return AsHolder(user);
}

}  // namespace

const HolderKind kUserHolder = {"User",
                                "user",
                                "iam_user_policies",
                                "iam_user_attachments",
                                "user_id",
                                PolicySizeKind::kInlineUser,
                                AuthorizedUserHolder,
                                RequireUserHolder};

}  // namespace internal

Result<json::Value> IamService::PutUserPolicy(server::RequestContext& ctx, const json::Value& in) {
  return internal::PutInlinePolicy(db_, internal::kUserHolder, ctx, in);
}

Result<json::Value> IamService::GetUserPolicy(server::RequestContext& ctx, const json::Value& in) {
  return internal::GetInlinePolicy(db_, internal::kUserHolder, ctx, in);
}

Result<json::Value> IamService::ListUserPolicies(server::RequestContext& ctx, const json::Value& in) {
  return internal::ListInlinePolicies(db_, internal::kUserHolder, ctx, in);
}

Result<json::Value> IamService::DeleteUserPolicy(server::RequestContext& ctx, const json::Value& in) {
  return internal::DeleteInlinePolicy(db_, internal::kUserHolder, ctx, in);
}

Result<json::Value> IamService::AttachUserPolicy(server::RequestContext& ctx, const json::Value& in) {
  return internal::AttachManagedPolicy(db_, internal::kUserHolder, ctx, in);
}

Result<json::Value> IamService::DetachUserPolicy(server::RequestContext& ctx, const json::Value& in) {
  return internal::DetachManagedPolicy(db_, internal::kUserHolder, ctx, in);
}

Result<json::Value> IamService::ListAttachedUserPolicies(server::RequestContext& ctx, const json::Value& in) {
  return internal::ListAttachedPolicies(db_, internal::kUserHolder, ctx, in);
}

}  // namespace rampart::iam
