// IAM users, their tags and permissions boundaries: CreateUser, GetUser,
// ListUsers, UpdateUser (rename or move), DeleteUser, TagUser, UntagUser, ListUserTags,
// PutUserPermissionsBoundary, DeleteUserPermissionsBoundary.
#include "iam/iam_internal.h"
#include "rampart/core/arn.h"
#include "rampart/core/ids.h"
#include "rampart/iam/iam_service.h"

namespace rampart::iam {

using internal::UserRow;

namespace internal {

Result<UserRow> AuthorizedUser(store::Database& db, const server::RequestContext& ctx,
                               std::string_view action, std::string_view name,
                               std::vector<server::ConditionKey> keys) {
  const std::string& account = ctx.principal().account_id;
  std::optional<UserRow> user;
  TagList tags;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(user, FindUser(tx, account, name));
    if (!user) return Status::Ok();
    ASSIGN_OR_RETURN(tags, LoadTags(tx, user->user_id));
    return Status::Ok();
  }));
  std::string arn = user ? user->Arn() : IamArn(account, "user", "/", name);
  std::string boundary = user ? user->boundary_arn : std::string();
  RETURN_IF_ERROR(ctx.Authorize(action, arn, TargetKeys(action, tags, boundary, std::move(keys))));
  if (!user) return NoSuchUser(name);
  return std::move(*user);
}

}  // namespace internal

namespace {

Status Conflict(std::string message) {
  return Status::Modeled("DeleteConflictException", std::move(message));
}

// The root user as GetUser shows it: no UserName or Path (AWS omits them).
Result<json::Value> RootUser(store::Database& db, const server::Principal& p) {
  int64_t created = 0;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT created_at FROM accounts WHERE account_id = ?"));
    q->Bind(1, p.account_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) created = q->Int(0);
    return Status::Ok();
  }));
  json::Value u = json::Value::MakeObject();
  u.set("UserId", p.account_id);
  u.set("Arn", RootArn(p.account_id));
  u.set("CreateDate", created);
  json::Value out = json::Value::MakeObject();
  out.set("User", std::move(u));
  return out;
}

Status SetUserBoundary(store::Tx& tx, std::string_view user_id, std::string_view arn) {
  ASSIGN_OR_RETURN(auto q,
                   tx.Prepare("UPDATE iam_users SET permissions_boundary = ? WHERE user_id = ?"));
  q->Bind(1, arn).Bind(2, user_id);
  return q->Run();
}

// What must go before a user can be deleted (besides access keys), as on
// AWS: each query counts rows that reference the user id.
struct UserDependent {
  std::string_view sql;
  std::string_view message;
};

constexpr UserDependent kUserDependents[] = {
    {"SELECT COUNT(*) FROM login_profiles WHERE user_id = ?",
     "Cannot delete entity, must delete login profile first."},
    {"SELECT COUNT(*) FROM mfa_devices WHERE user_id = ?",
     "Cannot delete entity, must delete MFA device first."},
    {"SELECT COUNT(*) FROM iam_user_policies WHERE user_id = ?",
     "Cannot delete entity, must delete policies first."},
    {"SELECT COUNT(*) FROM iam_user_attachments WHERE user_id = ?",
     "Cannot delete entity, must detach all policies first."},
    {"SELECT COUNT(*) FROM iam_group_members WHERE user_id = ?",
     "Cannot delete entity, must remove user from all groups first."},
    // AWS's own wording: SSH keys and service-specific credentials get the
    // generic message.
    {"SELECT COUNT(*) FROM iam_signing_certificates WHERE user_id = ?",
     "Cannot delete entity, must delete certificates first."},
    {"SELECT COUNT(*) FROM iam_ssh_public_keys WHERE user_id = ?",
     "Cannot delete entity, must remove referenced objects first."},
    {"SELECT COUNT(*) FROM iam_service_credentials WHERE user_id = ?",
     "Cannot delete entity, must remove referenced objects first."},
};

}  // namespace

Result<json::Value> IamService::CreateUser(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  UserRow user{account, name, "", internal::PathOr(in), internal::NowSeconds(ctx)};
  user.boundary_arn = std::string(in.get_string("PermissionsBoundary"));
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  std::vector<server::ConditionKey> keys = internal::RequestTagKeys(tags);
  for (auto& k : internal::BoundaryKey(user.boundary_arn)) keys.push_back(std::move(k));
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateUser", user.Arn(), keys));
  ASSIGN_OR_RETURN(user.user_id, ids::AccessKeyId("AIDA"));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, internal::FindUser(tx, account, name));
    if (existing) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "User with name " + name + " already exists.");
    }
    if (!user.boundary_arn.empty()) {
      RETURN_IF_ERROR(internal::RequireBoundaryPolicy(tx, account, user.boundary_arn).status());
    }
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare("INSERT INTO iam_users (account_id, name_key, user_name, user_id, path, "
                   "created_at, permissions_boundary) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    std::string key = internal::NameKey(name);
    q->Bind(1, account).Bind(2, key).Bind(3, name).Bind(4, user.user_id).Bind(5, user.path);
    q->Bind(6, user.created_at).Bind(7, user.boundary_arn);
    RETURN_IF_ERROR(q->Run());
    return internal::PutTags(tx, user.user_id, tags);
  }));
  json::Value u = internal::UserJson(user);
  if (!tags.empty()) u.set("Tags", internal::TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("User", std::move(u));
  return out;
}

Result<json::Value> IamService::GetUser(server::RequestContext& ctx, const json::Value& in) {
  const server::Principal& p = ctx.principal();
  std::string name(in.get_string("UserName"));
  if (name.empty()) {
    if (p.type == "Root") {
      RETURN_IF_ERROR(ctx.Authorize("iam:GetUser", p.arn));
      return RootUser(db_, p);
    }
    if (p.type != "IAMUser") {
      return Status::Validation("Must specify userName when calling with non-User credentials");
    }
    name = p.user_name;
  }
  ASSIGN_OR_RETURN(UserRow user, internal::AuthorizedUser(db_, ctx, "iam:GetUser", name));
  internal::TagList tags;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, internal::LoadTags(tx, user.user_id));
    return Status::Ok();
  }));
  json::Value u = internal::UserJson(user);
  if (!tags.empty()) u.set("Tags", internal::TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("User", std::move(u));
  return out;
}

Result<json::Value> IamService::ListUsers(server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListUsers", "*"));
  const std::string& account = ctx.principal().account_id;
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  std::string prefix(in.get_string("PathPrefix"));
  if (prefix.empty()) prefix = "/";
  std::vector<UserRow> users;
  internal::PageCollector collector(page);
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q, tx.Prepare("SELECT user_name, user_id, path, created_at, name_key, "
                           "permissions_boundary FROM iam_users "
                           "WHERE account_id = ? AND name_key >= ? AND substr(path, 1, ?) = ? "
                           "ORDER BY name_key LIMIT ?"));
    q->Bind(1, account).Bind(2, page.start).Bind(3, static_cast<int64_t>(prefix.size()));
    q->Bind(4, prefix).Bind(5, page.max_items + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(4))) break;
      users.push_back(
          UserRow{account, q->Text(0), q->Text(1), q->Text(2), q->Int(3), q->Text(5)});
    }
    return Status::Ok();
  }));
  json::Value list = json::Value::MakeArray();
  for (const UserRow& u : users) list.push(internal::UserJson(u));
  json::Value out = json::Value::MakeObject();
  out.set("Users", std::move(list));
  collector.Finish(out);
  return out;
}

Result<json::Value> IamService::DeleteUser(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  RETURN_IF_ERROR(internal::AuthorizedUser(db_, ctx, "iam:DeleteUser", name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, name));
    ASSIGN_OR_RETURN(
        int64_t keys,
        internal::CountOf(
            tx, "SELECT COUNT(*) FROM access_keys WHERE account_id = ? AND principal_id = ?",
            {account, user.user_id}));
    if (keys > 0) return Conflict("Cannot delete entity, must delete access keys first.");
    for (const UserDependent& d : kUserDependents) {
      ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx, d.sql, {user.user_id}));
      if (n > 0) return Conflict(std::string(d.message));
    }
    RETURN_IF_ERROR(internal::DeleteTags(tx, user.user_id));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_users WHERE user_id = ?"));
    q->Bind(1, user.user_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::TagUser(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  RETURN_IF_ERROR(internal::AuthorizedUser(db_, ctx, "iam:TagUser", name,
                                           internal::RequestTagKeys(tags))
                      .status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, name));
    return internal::PutTags(tx, user.user_id, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::UntagUser(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  std::vector<std::string> keys = internal::ReadTagKeys(in);
  RETURN_IF_ERROR(
      internal::AuthorizedUser(db_, ctx, "iam:UntagUser", name, internal::TagKeysKey(keys))
          .status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, name));
    return internal::RemoveTags(tx, user.user_id, keys);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::ListUserTags(server::RequestContext& ctx, const json::Value& in) {
  std::string name(in.get_string("UserName"));
  ASSIGN_OR_RETURN(UserRow user, internal::AuthorizedUser(db_, ctx, "iam:ListUserTags", name));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  internal::TagList tags;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, internal::LoadTags(tx, user.user_id));
    return Status::Ok();
  }));
  return internal::TagPageJson(std::move(tags), page);
}

Result<json::Value> IamService::PutUserPermissionsBoundary(server::RequestContext& ctx,
                                                           const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  std::string boundary(in.get_string("PermissionsBoundary"));
  RETURN_IF_ERROR(internal::AuthorizedUser(db_, ctx, "iam:PutUserPermissionsBoundary", name,
                                           internal::BoundaryKey(boundary))
                      .status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, name));
    ASSIGN_OR_RETURN(std::string arn, internal::RequireBoundaryPolicy(tx, account, boundary));
    return SetUserBoundary(tx, user.user_id, arn);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::DeleteUserPermissionsBoundary(server::RequestContext& ctx,
                                                              const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  RETURN_IF_ERROR(
      internal::AuthorizedUser(db_, ctx, "iam:DeleteUserPermissionsBoundary", name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, name));
    return SetUserBoundary(tx, user.user_id, "");
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam

namespace rampart::iam::internal {
namespace {

// Rewrites the user's row and every copy of its name or ARN outside the
// iam tables: its access keys and its GetSessionToken sessions, which carry
// the principal they authenticate. Everything else hangs off the user id.
Status RenameUser(store::Tx& tx, const UserRow& old_user, const UserRow& renamed) {
  ASSIGN_OR_RETURN(
      auto q, tx.Prepare("UPDATE iam_users SET name_key = ?, user_name = ?, path = ? "
                         "WHERE user_id = ?"));
  std::string key = NameKey(renamed.name);
  q->Bind(1, key).Bind(2, renamed.name).Bind(3, renamed.path).Bind(4, old_user.user_id);
  RETURN_IF_ERROR(q->Run());
  std::string arn = renamed.Arn();
  for (std::string_view table : {"access_keys", "sts_sessions"}) {
    ASSIGN_OR_RETURN(
        auto u, tx.Prepare("UPDATE " + std::string(table) +
                           " SET principal_arn = ?, user_name = ? WHERE account_id = ? AND "
                           "principal_id = ? AND principal_type = 'IAMUser'"));
    u->Bind(1, arn).Bind(2, renamed.name).Bind(3, old_user.account_id).Bind(4, old_user.user_id);
    RETURN_IF_ERROR(u->Run());
  }
  return Status::Ok();
}

}  // namespace

Result<json::Value> UpdateUser(const IamDeps& deps, server::RequestContext& ctx,
                               const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUser(deps.db, ctx, "iam:UpdateUser", name));
  UserRow renamed = user;
  if (std::string_view n = in.get_string("NewUserName"); !n.empty()) renamed.name = std::string(n);
  if (std::string_view p = in.get_string("NewPath"); !p.empty()) renamed.path = std::string(p);
  // A rename needs permission on the target name as well (IAM User Guide,
  // "Renaming an IAM user").
  if (renamed.Arn() != user.Arn()) {
    RETURN_IF_ERROR(ctx.Authorize("iam:UpdateUser", renamed.Arn()));
  }
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow current, RequireUser(tx, account, name));
    if (current.user_id != user.user_id) return NoSuchUser(name);
    ASSIGN_OR_RETURN(auto taken, FindUser(tx, account, renamed.name));
    if (taken && taken->user_id != user.user_id) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "User with name " + renamed.name + " already exists.");
    }
    return RenameUser(tx, current, renamed);
  }));
  // Cached credentials carry the old ARN and name: drop them so the next
  // request signed with the user's keys authenticates as the new identity.
  deps.creds.InvalidateCache();
  return json::Value::MakeObject();
}

Result<UserRow> AuthorizedUserOrCaller(store::Database& db, const server::RequestContext& ctx,
                                       std::string_view action, const json::Value& in) {
  std::string_view name = in.get_string("UserName");
  if (name.empty()) name = ctx.principal().user_name;
  if (name.empty()) {
    return Status::Modeled("InvalidInputException",
                           "UserName is required unless the caller is an IAM user.");
  }
  return AuthorizedUser(db, ctx, action, name);
}

}  // namespace rampart::iam::internal
