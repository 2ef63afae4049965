// IAM roles: CreateRole, GetRole, ListRoles, DeleteRole, UpdateRole,
// UpdateRoleDescription, UpdateAssumeRolePolicy; a role's inline
// policies (PutRolePolicy, GetRolePolicy, ListRolePolicies,
// DeleteRolePolicy), managed policy attachments (AttachRolePolicy,
// DetachRolePolicy, ListAttachedRolePolicies), tags (TagRole, UntagRole,
// ListRoleTags) and permissions boundary (PutRolePermissionsBoundary,
// DeleteRolePermissionsBoundary).
//
// The trust policy (AssumeRolePolicyDocument) is compiled by the policy
// engine as PolicyKind::kTrust when stored; STS AssumeRole evaluates it.
#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"
#include "rampart/iam/iam_service.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {

using internal::RoleRow;

namespace internal {

constexpr std::string_view kRoleColumns =
    "account_id, role_name, role_id, path, description, trust_policy, max_session_duration, "
    "created_at, permissions_boundary";

RoleRow ReadRoleRow(const store::Statement& q) {
  return RoleRow{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4),
                 q.Text(5), q.Int(6),  q.Int(7),  q.Text(8)};
}

Result<std::optional<RoleRow>> FindRole(store::Tx& tx, std::string_view account,
                                        std::string_view name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kRoleColumns) +
                                      " FROM iam_roles WHERE account_id = ? AND name_key = ?"));
  std::string key = NameKey(name);
  q->Bind(1, account).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<RoleRow>();
  return std::optional<RoleRow>(ReadRoleRow(*q));
}

Result<std::optional<RoleRow>> FindRoleByArn(store::Tx& tx, std::string_view arn) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kRoleColumns) +
                                      " FROM iam_roles WHERE arn = ? AND account_id NOT IN "
                                      "(SELECT account_id FROM accounts WHERE closed_at IS NOT "
                                      "NULL)"));
  q->Bind(1, arn);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<RoleRow>();
  return std::optional<RoleRow>(ReadRoleRow(*q));
}

Result<std::optional<RoleRow>> FindRoleById(store::Tx& tx, std::string_view role_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kRoleColumns) +
                                      " FROM iam_roles WHERE role_id = ?"));
  q->Bind(1, role_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<RoleRow>();
  return std::optional<RoleRow>(ReadRoleRow(*q));
}

Status InsertRole(store::Tx& tx, const RoleRow& role) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare("INSERT INTO iam_roles (account_id, name_key, role_name, role_id, arn, path, "
                 "description, trust_policy, max_session_duration, created_at, "
                 "permissions_boundary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  std::string key = NameKey(role.name);
  std::string arn = role.Arn();
  q->Bind(1, role.account_id).Bind(2, key).Bind(3, role.name).Bind(4, role.role_id);
  q->Bind(5, arn).Bind(6, role.path).Bind(7, role.description).Bind(8, role.trust_policy);
  q->Bind(9, role.max_session_duration).Bind(10, role.created_at).Bind(11, role.boundary_arn);
  return q->Run();
}

Status NoSuchRole(std::string_view name) {
  return Status::Modeled("NoSuchEntityException",
                         "The role with name " + std::string(name) + " cannot be found.");
}

}  // namespace internal

namespace {

// IAM quotas: a role's trust policy at most 2,048 characters, its inline
// policies together at most 10,240 (checked in iam_policy_holders.cc).
constexpr size_t kTrustPolicyLimit = 2048;
constexpr int64_t kDefaultMaxSessionDuration = 3600;

// A trust policy as CreateRole and UpdateAssumeRolePolicy take it: the
// size quota, then the engine's validation (MalformedPolicyDocument with
// its message).
Status CheckTrustPolicy(std::string_view document, std::string_view role_arn) {
  if (PolicyCharacterCount(document) > kTrustPolicyLimit) {
    return Status::Modeled("LimitExceededException", "Cannot exceed quota for ACLSizePerRole: " +
                                                         std::to_string(kTrustPolicyLimit));
  }
  return CompilePolicy(document, PolicyKind::kTrust, std::string(role_arn)).status();
}

// MaxSessionDuration's range (CreateRole, UpdateRole).
Status CheckMaxSessionDuration(int64_t seconds) {
  if (seconds >= 3600 && seconds <= 43200) return Status::Ok();
  return Status::Validation(
      "The requested MaxSessionDuration must be between 3600 and 43200 seconds.");
}

Status Conflict(std::string message) {
  return Status::Modeled("DeleteConflictException", std::move(message));
}

Result<RoleRow> RequireRole(store::Tx& tx, std::string_view account, std::string_view name) {
  ASSIGN_OR_RETURN(auto r, internal::FindRole(tx, account, name));
  if (!r) return internal::NoSuchRole(name);
  return std::move(*r);
}

// Reads the role, then authorizes action on its ARN (the path-less ARN when
// it does not exist) with keys plus the role's tags and boundary keys. The
// role, AccessDenied or NoSuchEntity.
Result<RoleRow> AuthorizedRole(store::Database& db, const server::RequestContext& ctx,
                               std::string_view action, std::string_view name,
                               std::vector<server::ConditionKey> keys = {}) {
  const std::string& account = ctx.principal().account_id;
  std::optional<RoleRow> role;
  internal::TagList tags;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(role, internal::FindRole(tx, account, name));
    if (!role) return Status::Ok();
    ASSIGN_OR_RETURN(tags, internal::LoadTags(tx, role->role_id));
    return Status::Ok();
  }));
  std::string arn = role ? role->Arn() : internal::IamArn(account, "role", "/", name);
  std::string boundary = role ? role->boundary_arn : std::string();
  RETURN_IF_ERROR(
      ctx.Authorize(action, arn, internal::TargetKeys(action, tags, boundary, std::move(keys))));
  if (!role) return internal::NoSuchRole(name);
  return std::move(*role);
}

Status SetRoleBoundary(store::Tx& tx, std::string_view role_id, std::string_view arn) {
  ASSIGN_OR_RETURN(auto q,
                   tx.Prepare("UPDATE iam_roles SET permissions_boundary = ? WHERE role_id = ?"));
  q->Bind(1, arn).Bind(2, role_id);
  return q->Run();
}

json::Value RoleJson(const RoleRow& r) {
  json::Value v = json::Value::MakeObject();
  v.set("Path", r.path);
  v.set("RoleName", r.name);
  v.set("RoleId", r.role_id);
  v.set("Arn", r.Arn());
  v.set("CreateDate", r.created_at);
  // IAM returns documents URL-encoded (RFC 3986); SDKs decode them.
  v.set("AssumeRolePolicyDocument", UriEncode(r.trust_policy));
  if (!r.description.empty()) v.set("Description", r.description);
  v.set("MaxSessionDuration", r.max_session_duration);
  if (!r.boundary_arn.empty()) v.set("PermissionsBoundary", internal::BoundaryJson(r.boundary_arn));
  return v;
}

}  // namespace

namespace internal {

json::Value RoleToJson(const RoleRow& role) { return RoleJson(role); }

namespace {

Holder AsHolder(const RoleRow& r) { return Holder{r.role_id, r.name}; }

// The policy operations that would change what a role may do: for a
// service-linked role only its service decides that.
bool ChangesPermissions(std::string_view action) {
  return action == "iam:PutRolePolicy" || action == "iam:DeleteRolePolicy" ||
         action == "iam:AttachRolePolicy" || action == "iam:DetachRolePolicy";
}

Result<Holder> AuthorizedRoleHolder(store::Database& db, const server::RequestContext& ctx,
                                    std::string_view action, std::string_view name,
                                    std::vector<server::ConditionKey> keys) {
  ASSIGN_OR_RETURN(RoleRow role, AuthorizedRole(db, ctx, action, name, std::move(keys)));
  if (IsServiceLinkedPath(role.path) && ChangesPermissions(action)) {
    return ProtectedRole(role.name);
  }
  return AsHolder(role);
}

Result<Holder> RequireRoleHolder(store::Tx& tx, std::string_view account, std::string_view name) {
  ASSIGN_OR_RETURN(RoleRow role, RequireRole(tx, account, name));
  return AsHolder(role);
}

}  // namespace

const HolderKind kRoleHolder = {"Role",
                                "role",
                                "iam_role_policies",
                                "iam_role_attachments",
                                "role_id",
                                PolicySizeKind::kInlineRole,
                                AuthorizedRoleHolder,
                                RequireRoleHolder};

}  // namespace internal

Result<json::Value> IamService::CreateRole(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  RoleRow role;
  role.account_id = account;
  role.name = std::string(in.get_string("RoleName"));
  role.path = internal::PathOr(in);
  role.description = std::string(in.get_string("Description"));
  role.trust_policy = std::string(in.get_string("AssumeRolePolicyDocument"));
  role.created_at = internal::NowSeconds(ctx);
  role.max_session_duration = kDefaultMaxSessionDuration;
  if (const json::Value* m = in.find("MaxSessionDuration"); m != nullptr && m->is_number()) {
    role.max_session_duration = m->as_int();
  }
  role.boundary_arn = std::string(in.get_string("PermissionsBoundary"));
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  std::vector<server::ConditionKey> keys = internal::RequestTagKeys(tags);
  for (auto& k : internal::BoundaryKey(role.boundary_arn)) keys.push_back(std::move(k));
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateRole", role.Arn(), keys));
  if (internal::IsServiceLinkedPath(role.path)) {
    return Status::Modeled("InvalidInputException",
                           "The path /aws-service-role/ is reserved for service-linked roles; "
                           "create them with CreateServiceLinkedRole.");
  }
  RETURN_IF_ERROR(CheckMaxSessionDuration(role.max_session_duration));
  RETURN_IF_ERROR(CheckTrustPolicy(role.trust_policy, role.Arn()));
  ASSIGN_OR_RETURN(role.role_id, ids::AccessKeyId("AROA"));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, internal::FindRole(tx, account, role.name));
    if (existing) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "Role with name " + role.name + " already exists.");
    }
    if (!role.boundary_arn.empty()) {
      RETURN_IF_ERROR(internal::RequireBoundaryPolicy(tx, account, role.boundary_arn).status());
    }
    RETURN_IF_ERROR(internal::InsertRole(tx, role));
    return internal::PutTags(tx, role.role_id, tags);
  }));
  json::Value r = RoleJson(role);
  if (!tags.empty()) r.set("Tags", internal::TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("Role", std::move(r));
  return out;
}

Result<json::Value> IamService::GetRole(server::RequestContext& ctx, const json::Value& in) {
  std::string name(in.get_string("RoleName"));
  ASSIGN_OR_RETURN(RoleRow role, AuthorizedRole(db_, ctx, "iam:GetRole", name));
  internal::TagList tags;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, internal::LoadTags(tx, role.role_id));
    return Status::Ok();
  }));
  json::Value r = RoleJson(role);
  if (!tags.empty()) r.set("Tags", internal::TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("Role", std::move(r));
  return out;
}

Result<json::Value> IamService::ListRoles(server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListRoles", "*"));
  const std::string& account = ctx.principal().account_id;
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  std::string prefix(in.get_string("PathPrefix"));
  if (prefix.empty()) prefix = "/";
  std::vector<RoleRow> roles;
  internal::PageCollector collector(page);
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare("SELECT account_id, role_name, role_id, path, description, trust_policy, "
                   "max_session_duration, created_at, permissions_boundary, name_key FROM "
                   "iam_roles "
                   "WHERE account_id = ? AND name_key >= ? AND substr(path, 1, ?) = ? "
                   "ORDER BY name_key LIMIT ?"));
    q->Bind(1, account).Bind(2, page.start).Bind(3, static_cast<int64_t>(prefix.size()));
    q->Bind(4, prefix).Bind(5, page.max_items + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(9))) break;
      roles.push_back(internal::ReadRoleRow(*q));
    }
    return Status::Ok();
  }));
  json::Value list = json::Value::MakeArray();
  for (const RoleRow& r : roles) list.push(RoleJson(r));
  json::Value out = json::Value::MakeObject();
  out.set("Roles", std::move(list));
  collector.Finish(out);
  return out;
}

Result<json::Value> IamService::DeleteRole(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("RoleName"));
  RETURN_IF_ERROR(AuthorizedRole(db_, ctx, "iam:DeleteRole", name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRow role, RequireRole(tx, account, name));
    // Only its service deletes a service-linked role (DeleteServiceLinkedRole).
    if (internal::IsServiceLinkedPath(role.path)) return internal::ProtectedRole(role.name);
    ASSIGN_OR_RETURN(
        int64_t inline_policies,
        internal::CountOf(tx, "SELECT COUNT(*) FROM iam_role_policies WHERE role_id = ?",
                          {role.role_id}));
    if (inline_policies > 0) return Conflict("Cannot delete entity, must delete policies first.");
    ASSIGN_OR_RETURN(
        int64_t attached,
        internal::CountOf(tx, "SELECT COUNT(*) FROM iam_role_attachments WHERE role_id = ?",
                          {role.role_id}));
    if (attached > 0) return Conflict("Cannot delete entity, must detach all policies first.");
    ASSIGN_OR_RETURN(int64_t profiles, internal::InstanceProfileCountOfRole(tx, role.role_id));
    if (profiles > 0) {
      return Conflict("Cannot delete entity, must remove roles from instance profile first.");
    }
    RETURN_IF_ERROR(internal::DeleteTags(tx, role.role_id));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_roles WHERE role_id = ?"));
    q->Bind(1, role.role_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::PutRolePolicy(server::RequestContext& ctx, const json::Value& in) {
  return internal::PutInlinePolicy(db_, internal::kRoleHolder, ctx, in);
}

Result<json::Value> IamService::GetRolePolicy(server::RequestContext& ctx, const json::Value& in) {
  return internal::GetInlinePolicy(db_, internal::kRoleHolder, ctx, in);
}

Result<json::Value> IamService::ListRolePolicies(server::RequestContext& ctx,
                                                 const json::Value& in) {
  return internal::ListInlinePolicies(db_, internal::kRoleHolder, ctx, in);
}

Result<json::Value> IamService::DeleteRolePolicy(server::RequestContext& ctx,
                                                 const json::Value& in) {
  return internal::DeleteInlinePolicy(db_, internal::kRoleHolder, ctx, in);
}

Result<json::Value> IamService::AttachRolePolicy(server::RequestContext& ctx,
                                                 const json::Value& in) {
  return internal::AttachManagedPolicy(db_, internal::kRoleHolder, ctx, in);
}

Result<json::Value> IamService::DetachRolePolicy(server::RequestContext& ctx,
                                                 const json::Value& in) {
  return internal::DetachManagedPolicy(db_, internal::kRoleHolder, ctx, in);
}

Result<json::Value> IamService::TagRole(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("RoleName"));
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  RETURN_IF_ERROR(
      AuthorizedRole(db_, ctx, "iam:TagRole", name, internal::RequestTagKeys(tags)).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRow role, RequireRole(tx, account, name));
    return internal::PutTags(tx, role.role_id, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::UntagRole(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("RoleName"));
  std::vector<std::string> keys = internal::ReadTagKeys(in);
  RETURN_IF_ERROR(
      AuthorizedRole(db_, ctx, "iam:UntagRole", name, internal::TagKeysKey(keys)).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRow role, RequireRole(tx, account, name));
    return internal::RemoveTags(tx, role.role_id, keys);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::ListRoleTags(server::RequestContext& ctx, const json::Value& in) {
  std::string name(in.get_string("RoleName"));
  ASSIGN_OR_RETURN(RoleRow role, AuthorizedRole(db_, ctx, "iam:ListRoleTags", name));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  internal::TagList tags;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, internal::LoadTags(tx, role.role_id));
    return Status::Ok();
  }));
  return internal::TagPageJson(std::move(tags), page);
}

Result<json::Value> IamService::PutRolePermissionsBoundary(server::RequestContext& ctx,
                                                           const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("RoleName"));
  std::string boundary(in.get_string("PermissionsBoundary"));
  ASSIGN_OR_RETURN(RoleRow current, AuthorizedRole(db_, ctx, "iam:PutRolePermissionsBoundary",
                                                  name, internal::BoundaryKey(boundary)));
  if (internal::IsServiceLinkedPath(current.path)) return internal::ProtectedRole(current.name);
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRow role, RequireRole(tx, account, name));
    ASSIGN_OR_RETURN(std::string arn, internal::RequireBoundaryPolicy(tx, account, boundary));
    return SetRoleBoundary(tx, role.role_id, arn);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::DeleteRolePermissionsBoundary(server::RequestContext& ctx,
                                                              const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("RoleName"));
  RETURN_IF_ERROR(AuthorizedRole(db_, ctx, "iam:DeleteRolePermissionsBoundary", name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRow role, RequireRole(tx, account, name));
    return SetRoleBoundary(tx, role.role_id, "");
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::ListAttachedRolePolicies(server::RequestContext& ctx,
                                                         const json::Value& in) {
  return internal::ListAttachedPolicies(db_, internal::kRoleHolder, ctx, in);
}

}  // namespace rampart::iam

namespace rampart::iam::internal {
namespace {

// Runs sql (binding value, then the role id) on the role inside one write.
Status UpdateRoleColumn(store::Database& db, std::string_view account, std::string_view name,
                        std::string_view sql, std::string_view value) {
  return db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRow role, RequireRole(tx, account, name));
    ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
    q->Bind(1, value).Bind(2, role.role_id);
    return q->Run();
  });
}

}  // namespace

Result<json::Value> UpdateAssumeRolePolicy(const IamDeps& deps, server::RequestContext& ctx,
                                           const json::Value& in) {
  std::string name(in.get_string("RoleName"));
  std::string document(in.get_string("PolicyDocument"));
  ASSIGN_OR_RETURN(RoleRow role, AuthorizedRole(deps.db, ctx, "iam:UpdateAssumeRolePolicy", name));
  if (IsServiceLinkedPath(role.path)) return ProtectedRole(role.name);
  RETURN_IF_ERROR(CheckTrustPolicy(document, role.Arn()));
  // AssumeRole reads and compiles the trust policy from the row on every
  // call, so the new document governs the very next AssumeRole.
  RETURN_IF_ERROR(UpdateRoleColumn(deps.db, ctx.principal().account_id, name,
                                   "UPDATE iam_roles SET trust_policy = ? WHERE role_id = ?",
                                   document));
  return json::Value::MakeObject();
}

Result<json::Value> UpdateRole(const IamDeps& deps, server::RequestContext& ctx,
                               const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("RoleName"));
  const json::Value* description = in.find("Description");
  std::optional<int64_t> duration;
  if (const json::Value* m = in.find("MaxSessionDuration"); m != nullptr && m->is_number()) {
    duration = m->as_int();
  }
  RETURN_IF_ERROR(AuthorizedRole(deps.db, ctx, "iam:UpdateRole", name).status());
  if (duration) RETURN_IF_ERROR(CheckMaxSessionDuration(*duration));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRow role, RequireRole(tx, account, name));
    if (description != nullptr && description->is_string()) {
      ASSIGN_OR_RETURN(auto q,
                       tx.Prepare("UPDATE iam_roles SET description = ? WHERE role_id = ?"));
      q->Bind(1, description->as_string()).Bind(2, role.role_id);
      RETURN_IF_ERROR(q->Run());
    }
    if (duration) {
      ASSIGN_OR_RETURN(
          auto q, tx.Prepare("UPDATE iam_roles SET max_session_duration = ? WHERE role_id = ?"));
      q->Bind(1, *duration).Bind(2, role.role_id);
      RETURN_IF_ERROR(q->Run());
    }
    return Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> UpdateRoleDescription(const IamDeps& deps, server::RequestContext& ctx,
                                          const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("RoleName"));
  std::string description(in.get_string("Description"));
  RETURN_IF_ERROR(AuthorizedRole(deps.db, ctx, "iam:UpdateRoleDescription", name).status());
  RETURN_IF_ERROR(UpdateRoleColumn(deps.db, account, name,
                                   "UPDATE iam_roles SET description = ? WHERE role_id = ?",
                                   description));
  std::optional<RoleRow> role;
  TagList tags;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(role, FindRole(tx, account, name));
    if (!role) return NoSuchRole(name);
    ASSIGN_OR_RETURN(tags, LoadTags(tx, role->role_id));
    return Status::Ok();
  }));
  json::Value r = RoleJson(*role);
  if (!tags.empty()) r.set("Tags", TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("Role", std::move(r));
  return out;
}

}  // namespace rampart::iam::internal
