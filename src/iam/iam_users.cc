// IAM users and their tags: CreateUser, GetUser, ListUsers, DeleteUser,
// TagUser, UntagUser, ListUserTags.
#include "iam/iam_internal.h"
#include "rampart/core/arn.h"
#include "rampart/core/ids.h"
#include "rampart/iam/iam_service.h"

namespace rampart::iam {

using internal::UserRow;

namespace internal {

Result<UserRow> AuthorizedUser(store::Database& db, const server::RequestContext& ctx,
                               std::string_view action, std::string_view name) {
  const std::string& account = ctx.principal().account_id;
  std::optional<UserRow> user;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(user, FindUser(tx, account, name));
    return Status::Ok();
  }));
  std::string arn = user ? user->Arn() : IamArn(account, "user", "/", name);
  RETURN_IF_ERROR(ctx.Authorize(action, arn));
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

}  // namespace

Result<json::Value> IamService::CreateUser(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  UserRow user{account, name, "", internal::PathOr(in), internal::NowSeconds(ctx)};
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateUser", user.Arn()));
  if (in.find("PermissionsBoundary") != nullptr) {
    return Status::Error(ErrorCode::kNotImplemented,
                         "CreateUser with PermissionsBoundary is not implemented yet.");
  }
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  ASSIGN_OR_RETURN(user.user_id, ids::AccessKeyId("AIDA"));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, internal::FindUser(tx, account, name));
    if (existing) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "User with name " + name + " already exists.");
    }
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare(
            "INSERT INTO iam_users (account_id, name_key, user_name, user_id, path, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)"));
    std::string key = internal::NameKey(name);
    q->Bind(1, account).Bind(2, key).Bind(3, name).Bind(4, user.user_id).Bind(5, user.path);
    q->Bind(6, user.created_at);
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
  std::string next;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q, tx.Prepare("SELECT user_name, user_id, path, created_at, name_key FROM iam_users "
                           "WHERE account_id = ? AND name_key >= ? AND substr(path, 1, ?) = ? "
                           "ORDER BY name_key LIMIT ?"));
    q->Bind(1, account).Bind(2, page.start).Bind(3, static_cast<int64_t>(prefix.size()));
    q->Bind(4, prefix).Bind(5, page.max_items + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      if (static_cast<int64_t>(users.size()) == page.max_items) {
        next = q->Text(4);
        break;
      }
      users.push_back(UserRow{account, q->Text(0), q->Text(1), q->Text(2), q->Int(3)});
    }
    return Status::Ok();
  }));
  json::Value list = json::Value::MakeArray();
  for (const UserRow& u : users) list.push(internal::UserJson(u));
  json::Value out = json::Value::MakeObject();
  out.set("Users", std::move(list));
  internal::SetPage(out, !next.empty(), next);
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
    ASSIGN_OR_RETURN(
        int64_t inline_policies,
        internal::CountOf(tx, "SELECT COUNT(*) FROM iam_user_policies WHERE user_id = ?",
                          {user.user_id}));
    if (inline_policies > 0) return Conflict("Cannot delete entity, must delete policies first.");
    ASSIGN_OR_RETURN(
        int64_t attached,
        internal::CountOf(tx, "SELECT COUNT(*) FROM iam_user_attachments WHERE user_id = ?",
                          {user.user_id}));
    if (attached > 0) return Conflict("Cannot delete entity, must detach all policies first.");
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
  RETURN_IF_ERROR(internal::AuthorizedUser(db_, ctx, "iam:TagUser", name).status());
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, name));
    return internal::PutTags(tx, user.user_id, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::UntagUser(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("UserName"));
  RETURN_IF_ERROR(internal::AuthorizedUser(db_, ctx, "iam:UntagUser", name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, name));
    ASSIGN_OR_RETURN(auto q,
                     tx.Prepare("DELETE FROM iam_tags WHERE resource_id = ? AND tag_key = ?"));
    const json::Value* keys = in.find("TagKeys");
    if (keys == nullptr || !keys->is_array()) return Status::Ok();
    for (const json::Value& k : keys->as_array()) {
      if (!k.is_string()) continue;
      RETURN_IF_ERROR(q->Reset());
      q->Bind(1, user.user_id).Bind(2, k.as_string());
      RETURN_IF_ERROR(q->Run());
    }
    return Status::Ok();
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
  internal::TagList shown;
  std::string next;
  for (auto& tag : tags) {
    if (tag.first < page.start) continue;
    if (static_cast<int64_t>(shown.size()) == page.max_items) {
      next = tag.first;
      break;
    }
    shown.push_back(std::move(tag));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Tags", internal::TagsJson(shown));
  internal::SetPage(out, !next.empty(), next);
  return out;
}

}  // namespace rampart::iam
