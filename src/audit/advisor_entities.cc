// The IAM entity a service last accessed report is about: its permissions
// policies and the entities (users, roles) whose access the report counts.
#include "audit/advisor_entities.h"

#include <algorithm>

#include "iam/iam_internal.h"

namespace rampart::audit::advisor {

namespace internal = iam::internal;

namespace {

Status NoSuchEntity(std::string_view arn) {
  return Status::Modeled("NoSuchEntityException",
                         "The entity " + std::string(arn) + " cannot be found.");
}

Status AppendColumn(store::Tx& tx, std::string_view sql, std::string_view param,
                    std::vector<std::string>& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  q->Bind(1, param);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    out.push_back(q->Text(0));
  }
}

// The inline documents and the default versions of the attached managed
// policies of one holder (user_id, role_id or group_id).
Status HolderDocuments(store::Tx& tx, std::string_view inline_table, std::string_view attach_table,
                       std::string_view id_column, std::string_view id,
                       std::vector<std::string>& docs) {
  std::string where = " WHERE " + std::string(id_column) + " = ?";
  RETURN_IF_ERROR(
      AppendColumn(tx, "SELECT document FROM " + std::string(inline_table) + where, id, docs));
  std::vector<std::string> arns;
  RETURN_IF_ERROR(AppendColumn(
      tx, "SELECT policy_arn FROM " + std::string(attach_table) + where + " ORDER BY policy_arn",
      id, arns));
  for (const std::string& arn : arns) {
    ASSIGN_OR_RETURN(std::optional<std::string> doc, internal::DefaultPolicyDocument(tx, arn));
    if (doc) docs.push_back(std::move(*doc));
  }
  return Status::Ok();
}

Status GroupDocuments(store::Tx& tx, std::string_view group_id, std::vector<std::string>& docs) {
  return HolderDocuments(tx, "iam_group_policies", "iam_group_attachments", "group_id", group_id,
                         docs);
}

// Users (USER entities) returned by a query of (user_name, user_id, path).
Status AppendUsers(store::Tx& tx, std::string_view account, std::string_view sql,
                   std::string_view param, std::vector<EntityInfo>& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  q->Bind(1, param).Bind(2, account);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    std::string name = q->Text(0), id = q->Text(1), path = q->Text(2);
    out.push_back({internal::IamArn(account, "user", path, name), name, "USER", id, path});
  }
}

Result<EntityScope> UserScope(store::Tx& tx, std::string_view account, std::string_view name,
                              std::string_view arn) {
  ASSIGN_OR_RETURN(std::optional<internal::UserRow> user, internal::FindUser(tx, account, name));
  if (!user || user->Arn() != arn) return NoSuchEntity(arn);
  EntityScope scope;
  scope.entities.push_back({user->Arn(), user->name, "USER", user->user_id, user->path});
  RETURN_IF_ERROR(HolderDocuments(tx, "iam_user_policies", "iam_user_attachments", "user_id",
                                  user->user_id, scope.documents));
  std::vector<std::string> groups;
  RETURN_IF_ERROR(
      AppendColumn(tx, "SELECT group_id FROM iam_group_members WHERE user_id = ? ORDER BY group_id",
                   user->user_id, groups));
  for (const std::string& g : groups) RETURN_IF_ERROR(GroupDocuments(tx, g, scope.documents));
  return scope;
}

Result<EntityScope> RoleScope(store::Tx& tx, std::string_view account, std::string_view name,
                              std::string_view arn) {
  ASSIGN_OR_RETURN(std::optional<internal::RoleRow> role, internal::FindRole(tx, account, name));
  if (!role || role->Arn() != arn) return NoSuchEntity(arn);
  EntityScope scope;
  scope.entities.push_back({role->Arn(), role->name, "ROLE", role->role_id, role->path});
  RETURN_IF_ERROR(HolderDocuments(tx, "iam_role_policies", "iam_role_attachments", "role_id",
                                  role->role_id, scope.documents));
  return scope;
}

Result<EntityScope> GroupScope(store::Tx& tx, std::string_view account, std::string_view name,
                               std::string_view arn) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT group_name, group_id, path FROM iam_groups "
                                      "WHERE account_id = ? AND name_key = ?"));
  std::string key = internal::NameKey(name);
  q->Bind(1, account).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return NoSuchEntity(arn);
  std::string group_name = q->Text(0), group_id = q->Text(1), path = q->Text(2);
  if (internal::IamArn(account, "group", path, group_name) != arn) return NoSuchEntity(arn);
  EntityScope scope;
  RETURN_IF_ERROR(GroupDocuments(tx, group_id, scope.documents));
  RETURN_IF_ERROR(AppendUsers(tx, account,
                              "SELECT u.user_name, u.user_id, u.path FROM iam_group_members m "
                              "JOIN iam_users u ON u.user_id = m.user_id "
                              "WHERE m.group_id = ? AND u.account_id = ? ORDER BY u.user_name",
                              group_id, scope.entities));
  return scope;
}

Result<EntityScope> PolicyScope(store::Tx& tx, std::string_view account, std::string_view arn) {
  ASSIGN_OR_RETURN(std::optional<internal::PolicyRow> policy,
                   internal::FindPolicy(tx, account, arn));
  if (!policy) return NoSuchEntity(arn);
  EntityScope scope;
  ASSIGN_OR_RETURN(std::optional<std::string> doc, internal::DefaultPolicyDocument(tx, arn));
  if (doc) scope.documents.push_back(std::move(*doc));
  RETURN_IF_ERROR(AppendUsers(tx, account,
                              "SELECT u.user_name, u.user_id, u.path FROM iam_user_attachments a "
                              "JOIN iam_users u ON u.user_id = a.user_id "
                              "WHERE a.policy_arn = ? AND u.account_id = ? "
                              "UNION SELECT u.user_name, u.user_id, u.path "
                              "FROM iam_group_attachments a "
                              "JOIN iam_group_members m ON m.group_id = a.group_id "
                              "JOIN iam_users u ON u.user_id = m.user_id "
                              "WHERE a.policy_arn = ?1 AND u.account_id = ?2",
                              arn, scope.entities));
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT r.role_name, r.role_id, r.path FROM "
                                      "iam_role_attachments a JOIN iam_roles r ON "
                                      "r.role_id = a.role_id WHERE a.policy_arn = ? "
                                      "AND r.account_id = ? ORDER BY r.role_name"));
  q->Bind(1, arn).Bind(2, account);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    std::string name = q->Text(0), id = q->Text(1), path = q->Text(2);
    scope.entities.push_back(
        {internal::IamArn(account, "role", path, name), name, "ROLE", id, path});
  }
  return scope;
}

}  // namespace

std::optional<EntityArn> ParseEntityArn(std::string_view arn) {
  constexpr std::string_view kPrefix = "arn:aws:iam::";
  if (!arn.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = arn.substr(kPrefix.size());
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  EntityArn out;
  out.account = std::string(rest.substr(0, colon));
  std::string_view resource = rest.substr(colon + 1);
  size_t slash = resource.find('/');
  size_t last = resource.rfind('/');
  if (slash == std::string_view::npos || last + 1 == resource.size()) return std::nullopt;
  out.kind = std::string(resource.substr(0, slash));
  out.name = std::string(resource.substr(last + 1));
  bool known =
      out.kind == "user" || out.kind == "role" || out.kind == "group" || out.kind == "policy";
  if (!known) return std::nullopt;
  return out;
}

Result<EntityScope> ResolveEntity(store::Tx& tx, std::string_view caller_account,
                                  std::string_view arn) {
  std::optional<EntityArn> parsed = ParseEntityArn(arn);
  if (!parsed) {
    return Status::Modeled(
        "InvalidInputException",
        "ARN " + std::string(arn) + " is not the ARN of an IAM user, group, role or policy.");
  }
  bool aws_policy = parsed->kind == "policy" && parsed->account == "aws";
  if (parsed->account != caller_account && !aws_policy) return NoSuchEntity(arn);
  if (parsed->kind == "user") return UserScope(tx, caller_account, parsed->name, arn);
  if (parsed->kind == "role") return RoleScope(tx, caller_account, parsed->name, arn);
  if (parsed->kind == "group") return GroupScope(tx, caller_account, parsed->name, arn);
  return PolicyScope(tx, caller_account, arn);
}

}  // namespace rampart::audit::advisor
