// IAM groups: CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup;
// membership (AddUserToGroup, RemoveUserFromGroup, ListGroupsForUser);
// a group's inline policies and managed-policy attachments through the
// shared holder code (iam_policy_holders.cc).
//
// A group is not a principal: its policies apply to its members, and the
// authorizer loads them with each member's own (engine_authorizer.cc).
#include "iam/iam_internal.h"
#include "rampart/core/ids.h"
#include "rampart/iam/iam_service.h"

namespace rampart::iam {
namespace internal {
namespace {

// IAM quota: a user is in at most 10 groups.
constexpr int64_t kGroupsPerUser = 10;

struct GroupRow {
  std::string account_id;
  std::string name;
  std::string group_id;
  std::string path;
  int64_t created_at = 0;
  std::string Arn() const { return IamArn(account_id, "group", path, name); }
};

constexpr std::string_view kGroupColumns = "account_id, group_name, group_id, path, created_at";

GroupRow ReadGroupRow(const store::Statement& q) {
  return GroupRow{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4)};
}

Status NoSuchGroup(std::string_view name) {
  return Status::Modeled("NoSuchEntityException",
                         "The group with name " + std::string(name) + " cannot be found.");
}

Result<std::optional<GroupRow>> FindGroup(store::Tx& tx, std::string_view account,
                                          std::string_view name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kGroupColumns) +
                                      " FROM iam_groups WHERE account_id = ? AND name_key = ?"));
  std::string key = NameKey(name);
  q->Bind(1, account).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<GroupRow>();
  return std::optional<GroupRow>(ReadGroupRow(*q));
}

Result<GroupRow> RequireGroup(store::Tx& tx, std::string_view account, std::string_view name) {
  ASSIGN_OR_RETURN(auto g, FindGroup(tx, account, name));
  if (!g) return NoSuchGroup(name);
  return std::move(*g);
}

// Reads the group, then authorizes action on its ARN (the path-less ARN
// when it does not exist). The group, AccessDenied or NoSuchEntity.
Result<GroupRow> AuthorizedGroup(store::Database& db, const server::RequestContext& ctx,
                                 std::string_view action, std::string_view name,
                                 std::span<const server::ConditionKey> keys = {}) {
  const std::string& account = ctx.principal().account_id;
  std::optional<GroupRow> group;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(group, FindGroup(tx, account, name));
    return Status::Ok();
  }));
  std::string arn = group ? group->Arn() : IamArn(account, "group", "/", name);
  RETURN_IF_ERROR(ctx.Authorize(action, arn, keys));
  if (!group) return NoSuchGroup(name);
  return std::move(*group);
}

json::Value GroupJson(const GroupRow& g) {
  json::Value v = json::Value::MakeObject();
  v.set("Path", g.path);
  v.set("GroupName", g.name);
  v.set("GroupId", g.group_id);
  v.set("Arn", g.Arn());
  v.set("CreateDate", g.created_at);
  return v;
}

Status Conflict(std::string message) {
  return Status::Modeled("DeleteConflictException", std::move(message));
}

Holder AsHolder(const GroupRow& g) { return Holder{g.group_id, g.name}; }

Result<Holder> AuthorizedGroupHolder(store::Database& db, const server::RequestContext& ctx,
                                     std::string_view action, std::string_view name,
                                     std::vector<server::ConditionKey> keys) {
  ASSIGN_OR_RETURN(GroupRow group, AuthorizedGroup(db, ctx, action, name, keys));
  return AsHolder(group);
}

Result<Holder> RequireGroupHolder(store::Tx& tx, std::string_view account,
                                  std::string_view name) {
  ASSIGN_OR_RETURN(GroupRow group, RequireGroup(tx, account, name));
  return AsHolder(group);
}

// The users of a group, by name, for one page.
Status ListMembers(store::Tx& tx, const GroupRow& group, const Page& page, json::Value& users,
                   PageCollector& collector) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT u.user_name, u.user_id, u.path, u.created_at, "
                                      "u.permissions_boundary, u.name_key FROM iam_group_members "
                                      "m JOIN iam_users u ON u.user_id = m.user_id "
                                      "WHERE m.group_id = ? AND u.name_key >= ? "
                                      "ORDER BY u.name_key LIMIT ?"));
  q->Bind(1, group.group_id).Bind(2, page.start).Bind(3, page.max_items + 1);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row || !collector.Take(q->Text(5))) return Status::Ok();
    users.push(UserJson(
        UserRow{group.account_id, q->Text(0), q->Text(1), q->Text(2), q->Int(3), q->Text(4)}));
  }
}

// The group's rows in every table, once it has no members or policies.
Status DeleteGroupRows(store::Tx& tx, std::string_view group_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_groups WHERE group_id = ?"));
  q->Bind(1, group_id);
  return q->Run();
}

}  // namespace

const HolderKind kGroupHolder = {"Group",
                                 "group",
                                 "iam_group_policies",
                                 "iam_group_attachments",
                                 "group_id",
                                 PolicySizeKind::kInlineGroup,
                                 AuthorizedGroupHolder,
                                 RequireGroupHolder};

}  // namespace internal

using internal::GroupRow;

Result<json::Value> IamService::CreateGroup(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  GroupRow group{account, std::string(in.get_string("GroupName")), "", internal::PathOr(in),
                 internal::NowSeconds(ctx)};
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateGroup", group.Arn()));
  ASSIGN_OR_RETURN(group.group_id, ids::AccessKeyId("AGPA"));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, internal::FindGroup(tx, account, group.name));
    if (existing) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "Group with name " + group.name + " already exists.");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_groups (account_id, name_key, "
                                        "group_name, group_id, path, created_at) "
                                        "VALUES (?, ?, ?, ?, ?, ?)"));
    std::string key = internal::NameKey(group.name);
    q->Bind(1, account).Bind(2, key).Bind(3, group.name).Bind(4, group.group_id);
    q->Bind(5, group.path).Bind(6, group.created_at);
    return q->Run();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Group", internal::GroupJson(group));
  return out;
}

Result<json::Value> IamService::GetGroup(server::RequestContext& ctx, const json::Value& in) {
  std::string name(in.get_string("GroupName"));
  ASSIGN_OR_RETURN(GroupRow group, internal::AuthorizedGroup(db_, ctx, "iam:GetGroup", name));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  json::Value users = json::Value::MakeArray();
  internal::PageCollector collector(page);
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    return internal::ListMembers(tx, group, page, users, collector);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Group", internal::GroupJson(group));
  out.set("Users", std::move(users));
  collector.Finish(out);
  return out;
}

Result<json::Value> IamService::ListGroups(server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListGroups", "*"));
  const std::string& account = ctx.principal().account_id;
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  std::string prefix(in.get_string("PathPrefix"));
  if (prefix.empty()) prefix = "/";
  json::Value groups = json::Value::MakeArray();
  internal::PageCollector collector(page);
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(internal::kGroupColumns) +
                                        ", name_key FROM iam_groups WHERE account_id = ? AND "
                                        "name_key >= ? AND substr(path, 1, ?) = ? "
                                        "ORDER BY name_key LIMIT ?"));
    q->Bind(1, account).Bind(2, page.start).Bind(3, static_cast<int64_t>(prefix.size()));
    q->Bind(4, prefix).Bind(5, page.max_items + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(5))) return Status::Ok();
      groups.push(internal::GroupJson(internal::ReadGroupRow(*q)));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Groups", std::move(groups));
  collector.Finish(out);
  return out;
}

Result<json::Value> IamService::UpdateGroup(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("GroupName"));
  ASSIGN_OR_RETURN(GroupRow group, internal::AuthorizedGroup(db_, ctx, "iam:UpdateGroup", name));
  GroupRow renamed = group;
  if (std::string_view n = in.get_string("NewGroupName"); !n.empty()) renamed.name = n;
  if (std::string_view p = in.get_string("NewPath"); !p.empty()) renamed.path = p;
  // Renaming also needs permission on the new name (IAM User Guide,
  // "Renaming an IAM group").
  if (renamed.Arn() != group.Arn()) {
    RETURN_IF_ERROR(ctx.Authorize("iam:UpdateGroup", renamed.Arn()));
  }
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRow current, internal::RequireGroup(tx, account, name));
    std::string new_key = internal::NameKey(renamed.name);
    if (new_key != internal::NameKey(current.name)) {
      ASSIGN_OR_RETURN(auto taken, internal::FindGroup(tx, account, renamed.name));
      if (taken) {
        return Status::Modeled("EntityAlreadyExistsException",
                               "Group with name " + renamed.name + " already exists.");
      }
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_groups SET name_key = ?, group_name = ?, "
                                        "path = ? WHERE group_id = ?"));
    q->Bind(1, new_key).Bind(2, renamed.name).Bind(3, renamed.path).Bind(4, current.group_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::DeleteGroup(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("GroupName"));
  RETURN_IF_ERROR(internal::AuthorizedGroup(db_, ctx, "iam:DeleteGroup", name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRow group, internal::RequireGroup(tx, account, name));
    ASSIGN_OR_RETURN(int64_t members,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM iam_group_members WHERE group_id = ?",
                                       {group.group_id}));
    if (members > 0) {
      return internal::Conflict("Cannot delete entity, must remove users from group first.");
    }
    ASSIGN_OR_RETURN(int64_t policies,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM iam_group_policies WHERE group_id = ?",
                                       {group.group_id}));
    if (policies > 0) return internal::Conflict("Cannot delete entity, must delete policies first.");
    ASSIGN_OR_RETURN(
        int64_t attached,
        internal::CountOf(tx, "SELECT COUNT(*) FROM iam_group_attachments WHERE group_id = ?",
                          {group.group_id}));
    if (attached > 0) {
      return internal::Conflict("Cannot delete entity, must detach all policies first.");
    }
    return internal::DeleteGroupRows(tx, group.group_id);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::AddUserToGroup(server::RequestContext& ctx,
                                               const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string group_name(in.get_string("GroupName"));
  std::string user_name(in.get_string("UserName"));
  RETURN_IF_ERROR(
      internal::AuthorizedGroup(db_, ctx, "iam:AddUserToGroup", group_name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRow group, internal::RequireGroup(tx, account, group_name));
    ASSIGN_OR_RETURN(internal::UserRow user, internal::RequireUser(tx, account, user_name));
    ASSIGN_OR_RETURN(int64_t already,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM iam_group_members WHERE "
                                       "group_id = ? AND user_id = ?",
                                       {group.group_id, user.user_id}));
    if (already > 0) return Status::Ok();
    ASSIGN_OR_RETURN(int64_t groups,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM iam_group_members WHERE user_id = ?",
                                       {user.user_id}));
    if (groups >= internal::kGroupsPerUser) {
      return Status::Modeled("LimitExceededException", "Cannot exceed quota for GroupsPerUser: " +
                                                           std::to_string(internal::kGroupsPerUser));
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_group_members (group_id, user_id) "
                                        "VALUES (?, ?)"));
    q->Bind(1, group.group_id).Bind(2, user.user_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::RemoveUserFromGroup(server::RequestContext& ctx,
                                                    const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string group_name(in.get_string("GroupName"));
  std::string user_name(in.get_string("UserName"));
  RETURN_IF_ERROR(
      internal::AuthorizedGroup(db_, ctx, "iam:RemoveUserFromGroup", group_name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(GroupRow group, internal::RequireGroup(tx, account, group_name));
    ASSIGN_OR_RETURN(internal::UserRow user, internal::RequireUser(tx, account, user_name));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_group_members WHERE group_id = ? AND "
                                        "user_id = ?"));
    q->Bind(1, group.group_id).Bind(2, user.user_id);
    RETURN_IF_ERROR(q->Run());
    if (q->Changes() > 0) return Status::Ok();
    return Status::Modeled("NoSuchEntityException", "The user with name " + user.name +
                                                        " is not in group " + group.name + ".");
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::ListGroupsForUser(server::RequestContext& ctx,
                                                  const json::Value& in) {
  std::string name(in.get_string("UserName"));
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:ListGroupsForUser", name));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  json::Value groups = json::Value::MakeArray();
  internal::PageCollector collector(page);
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT g.account_id, g.group_name, g.group_id, g.path, "
                                        "g.created_at, g.name_key FROM iam_group_members m "
                                        "JOIN iam_groups g ON g.group_id = m.group_id "
                                        "WHERE m.user_id = ? AND g.name_key >= ? "
                                        "ORDER BY g.name_key LIMIT ?"));
    q->Bind(1, user.user_id).Bind(2, page.start).Bind(3, page.max_items + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(5))) return Status::Ok();
      groups.push(internal::GroupJson(internal::ReadGroupRow(*q)));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Groups", std::move(groups));
  collector.Finish(out);
  return out;
}

Result<json::Value> IamService::PutGroupPolicy(server::RequestContext& ctx,
                                               const json::Value& in) {
  return internal::PutInlinePolicy(db_, internal::kGroupHolder, ctx, in);
}

Result<json::Value> IamService::GetGroupPolicy(server::RequestContext& ctx,
                                               const json::Value& in) {
  return internal::GetInlinePolicy(db_, internal::kGroupHolder, ctx, in);
}

Result<json::Value> IamService::ListGroupPolicies(server::RequestContext& ctx,
                                                  const json::Value& in) {
  return internal::ListInlinePolicies(db_, internal::kGroupHolder, ctx, in);
}

Result<json::Value> IamService::DeleteGroupPolicy(server::RequestContext& ctx,
                                                  const json::Value& in) {
  return internal::DeleteInlinePolicy(db_, internal::kGroupHolder, ctx, in);
}

Result<json::Value> IamService::AttachGroupPolicy(server::RequestContext& ctx,
                                                  const json::Value& in) {
  return internal::AttachManagedPolicy(db_, internal::kGroupHolder, ctx, in);
}

Result<json::Value> IamService::DetachGroupPolicy(server::RequestContext& ctx,
                                                  const json::Value& in) {
  return internal::DetachManagedPolicy(db_, internal::kGroupHolder, ctx, in);
}

Result<json::Value> IamService::ListAttachedGroupPolicies(server::RequestContext& ctx,
                                                          const json::Value& in) {
  return internal::ListAttachedPolicies(db_, internal::kGroupHolder, ctx, in);
}

}  // namespace rampart::iam
