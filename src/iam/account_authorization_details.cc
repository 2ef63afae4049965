// GetAccountAuthorizationDetails: every user, group, role and managed
// policy of the account with their policies, in one paged answer.
//
// Pages run over the four lists in order (users, groups, roles, policies);
// the marker is the index of the next entry. Policy documents are
// URL-encoded, as IAM returns them.
#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/iam/account.h"

namespace rampart::iam {
namespace {

struct Lists {
  json::Value users = json::Value::MakeArray();
  json::Value groups = json::Value::MakeArray();
  json::Value roles = json::Value::MakeArray();
  json::Value policies = json::Value::MakeArray();
};

bool Wanted(const std::vector<std::string>& filter, std::string_view type) {
  if (filter.empty()) return true;
  return std::find(filter.begin(), filter.end(), type) != filter.end();
}

std::string NameOfArn(std::string_view arn) { return std::string(arn.substr(arn.rfind('/') + 1)); }

// [{PolicyName, PolicyDocument}] of one holder's inline policies.
Result<json::Value> InlinePolicies(store::Tx& tx, std::string_view table, std::string_view column,
                                   std::string_view id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT policy_name, document FROM " + std::string(table) +
                                      " WHERE " + std::string(column) +
                                      " = ? ORDER BY policy_name"));
  q->Bind(1, id);
  json::Value list = json::Value::MakeArray();
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return list;
    json::Value p = json::Value::MakeObject();
    p.set("PolicyName", q->Text(0));
    p.set("PolicyDocument", UriEncode(q->Text(1)));
    list.push(std::move(p));
  }
}

// [{PolicyName, PolicyArn}] of one holder's attached managed policies.
Result<json::Value> AttachedPolicies(store::Tx& tx, std::string_view table,
                                     std::string_view column, std::string_view id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT policy_arn FROM " + std::string(table) + " WHERE " +
                                      std::string(column) + " = ? ORDER BY policy_arn"));
  q->Bind(1, id);
  json::Value list = json::Value::MakeArray();
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return list;
    json::Value p = json::Value::MakeObject();
    p.set("PolicyName", NameOfArn(q->Text(0)));
    p.set("PolicyArn", q->Text(0));
    list.push(std::move(p));
  }
}

Status AddTags(store::Tx& tx, std::string_view id, json::Value& entity) {
  ASSIGN_OR_RETURN(internal::TagList tags, internal::LoadTags(tx, id));
  if (!tags.empty()) entity.set("Tags", internal::TagsJson(tags));
  return Status::Ok();
}

Status ListUsers(store::Tx& tx, std::string_view account, json::Value& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT user_name, user_id, path, created_at, "
                                      "permissions_boundary FROM iam_users WHERE account_id = ? "
                                      "ORDER BY name_key"));
  q->Bind(1, account);
  std::vector<internal::UserRow> users;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    users.push_back({std::string(account), q->Text(0), q->Text(1), q->Text(2), q->Int(3),
                     q->Text(4)});
  }
  for (const internal::UserRow& u : users) {
    json::Value v = internal::UserJson(u);
    ASSIGN_OR_RETURN(json::Value inline_list,
                     InlinePolicies(tx, "iam_user_policies", "user_id", u.user_id));
    v.set("UserPolicyList", std::move(inline_list));
    ASSIGN_OR_RETURN(auto g, tx.Prepare("SELECT g.group_name FROM iam_group_members m JOIN "
                                        "iam_groups g ON g.group_id = m.group_id WHERE "
                                        "m.user_id = ? ORDER BY g.name_key"));
    g->Bind(1, u.user_id);
    json::Value groups = json::Value::MakeArray();
    while (true) {
      ASSIGN_OR_RETURN(bool row, g->Step());
      if (!row) break;
      groups.push(g->Text(0));
    }
    v.set("GroupList", std::move(groups));
    ASSIGN_OR_RETURN(json::Value attached,
                     AttachedPolicies(tx, "iam_user_attachments", "user_id", u.user_id));
    v.set("AttachedManagedPolicies", std::move(attached));
    RETURN_IF_ERROR(AddTags(tx, u.user_id, v));
    out.push(std::move(v));
  }
  return Status::Ok();
}

Status ListGroups(store::Tx& tx, std::string_view account, json::Value& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT group_name, group_id, path, created_at FROM "
                                      "iam_groups WHERE account_id = ? ORDER BY name_key"));
  q->Bind(1, account);
  std::vector<json::Value> groups;
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    json::Value v = json::Value::MakeObject();
    v.set("Path", q->Text(2));
    v.set("GroupName", q->Text(0));
    v.set("GroupId", q->Text(1));
    v.set("Arn", internal::IamArn(account, "group", q->Text(2), q->Text(0)));
    v.set("CreateDate", q->Int(3));
    groups.push_back(std::move(v));
    ids.push_back(q->Text(1));
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    ASSIGN_OR_RETURN(json::Value inline_list,
                     InlinePolicies(tx, "iam_group_policies", "group_id", ids[i]));
    groups[i].set("GroupPolicyList", std::move(inline_list));
    ASSIGN_OR_RETURN(json::Value attached,
                     AttachedPolicies(tx, "iam_group_attachments", "group_id", ids[i]));
    groups[i].set("AttachedManagedPolicies", std::move(attached));
    out.push(std::move(groups[i]));
  }
  return Status::Ok();
}

Status ListRoles(store::Tx& tx, std::string_view account, json::Value& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT role_name, role_id, path, created_at, trust_policy, "
                                      "permissions_boundary, description FROM iam_roles WHERE "
                                      "account_id = ? ORDER BY name_key"));
  q->Bind(1, account);
  std::vector<json::Value> roles;
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    json::Value v = json::Value::MakeObject();
    v.set("Path", q->Text(2));
    v.set("RoleName", q->Text(0));
    v.set("RoleId", q->Text(1));
    v.set("Arn", internal::IamArn(account, "role", q->Text(2), q->Text(0)));
    v.set("CreateDate", q->Int(3));
    v.set("AssumeRolePolicyDocument", UriEncode(q->Text(4)));
    if (!q->Text(5).empty()) v.set("PermissionsBoundary", internal::BoundaryJson(q->Text(5)));
    roles.push_back(std::move(v));
    ids.push_back(q->Text(1));
  }
  for (size_t i = 0; i < roles.size(); ++i) {
    ASSIGN_OR_RETURN(json::Value inline_list,
                     InlinePolicies(tx, "iam_role_policies", "role_id", ids[i]));
    roles[i].set("RolePolicyList", std::move(inline_list));
    ASSIGN_OR_RETURN(json::Value attached,
                     AttachedPolicies(tx, "iam_role_attachments", "role_id", ids[i]));
    roles[i].set("AttachedManagedPolicies", std::move(attached));
    RETURN_IF_ERROR(AddTags(tx, ids[i], roles[i]));
    ASSIGN_OR_RETURN(json::Value profiles, internal::InstanceProfilesOfRole(tx, ids[i]));
    roles[i].set("InstanceProfileList", std::move(profiles));
    out.push(std::move(roles[i]));
  }
  return Status::Ok();
}

// How often arn is attached in account, and used as a boundary.
Result<std::pair<int64_t, int64_t>> Usage(store::Tx& tx, std::string_view account,
                                          std::string_view arn) {
  ASSIGN_OR_RETURN(
      int64_t attached,
      internal::CountOf(
          tx,
          "SELECT (SELECT COUNT(*) FROM iam_user_attachments a JOIN iam_users u ON u.user_id = "
          "a.user_id WHERE u.account_id = ?1 AND a.policy_arn = ?2) + (SELECT COUNT(*) FROM "
          "iam_group_attachments a JOIN iam_groups g ON g.group_id = a.group_id WHERE "
          "g.account_id = ?1 AND a.policy_arn = ?2) + (SELECT COUNT(*) FROM "
          "iam_role_attachments a JOIN iam_roles r ON r.role_id = a.role_id WHERE "
          "r.account_id = ?1 AND a.policy_arn = ?2)",
          {account, arn}));
  ASSIGN_OR_RETURN(int64_t boundary,
                   internal::CountOf(tx,
                                     "SELECT (SELECT COUNT(*) FROM iam_users WHERE account_id = "
                                     "?1 AND permissions_boundary = ?2) + (SELECT COUNT(*) FROM "
                                     "iam_roles WHERE account_id = ?1 AND permissions_boundary "
                                     "= ?2)",
                                     {account, arn}));
  return std::make_pair(attached, boundary);
}

json::Value PolicyDetail(const internal::PolicyRow& p, std::pair<int64_t, int64_t> usage,
                         json::Value versions) {
  json::Value v = json::Value::MakeObject();
  v.set("PolicyName", p.name);
  v.set("PolicyId", p.policy_id);
  v.set("Arn", p.arn);
  v.set("Path", p.path);
  v.set("DefaultVersionId", p.default_version);
  v.set("AttachmentCount", usage.first);
  v.set("PermissionsBoundaryUsageCount", usage.second);
  v.set("IsAttachable", true);
  if (!p.description.empty()) v.set("Description", p.description);
  v.set("CreateDate", p.created_at);
  v.set("UpdateDate", p.updated_at);
  v.set("PolicyVersionList", std::move(versions));
  return v;
}

json::Value VersionDetail(std::string_view document, std::string_view version_id, bool is_default,
                          int64_t created_at) {
  json::Value v = json::Value::MakeObject();
  v.set("Document", UriEncode(document));
  v.set("VersionId", std::string(version_id));
  v.set("IsDefaultVersion", is_default);
  v.set("CreateDate", created_at);
  return v;
}

Status ListLocalPolicies(store::Tx& tx, std::string_view account, json::Value& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT arn FROM iam_policies WHERE account_id = ? "
                                      "ORDER BY name_key"));
  q->Bind(1, account);
  std::vector<std::string> arns;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    arns.push_back(q->Text(0));
  }
  for (const std::string& arn : arns) {
    ASSIGN_OR_RETURN(auto policy, internal::FindPolicy(tx, account, arn));
    if (!policy) continue;
    ASSIGN_OR_RETURN(auto v, tx.Prepare("SELECT version_id, document, created_at FROM "
                                        "iam_policy_versions WHERE policy_id = ? "
                                        "ORDER BY created_at, version_id"));
    v->Bind(1, policy->policy_id);
    json::Value versions = json::Value::MakeArray();
    while (true) {
      ASSIGN_OR_RETURN(bool row, v->Step());
      if (!row) break;
      versions.push(VersionDetail(v->Text(1), v->Text(0), v->Text(0) == policy->default_version,
                                  v->Int(2)));
    }
    ASSIGN_OR_RETURN(auto usage, Usage(tx, account, arn));
    out.push(PolicyDetail(*policy, usage, std::move(versions)));
  }
  return Status::Ok();
}

// AWS lists only the AWS managed policies the account actually uses.
Status ListAwsPolicies(store::Tx& tx, std::string_view account, json::Value& out) {
  for (const internal::AwsPolicy& aws : internal::AwsPolicies()) {
    internal::PolicyRow row = internal::AwsPolicyRow(aws);
    ASSIGN_OR_RETURN(auto usage, Usage(tx, account, row.arn));
    if (usage.first == 0 && usage.second == 0) continue;
    json::Value versions = json::Value::MakeArray();
    versions.push(VersionDetail(aws.document, row.default_version, true, row.created_at));
    out.push(PolicyDetail(row, usage, std::move(versions)));
  }
  return Status::Ok();
}

}  // namespace

Result<json::Value> AccountService::GetAccountAuthorizationDetails(server::RequestContext& ctx,
                                                                   const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GetAccountAuthorizationDetails", "*"));
  const std::string& account = ctx.principal().account_id;
  std::vector<std::string> filter;
  if (const json::Value* f = in.find("Filter"); f != nullptr && f->is_array()) {
    for (const json::Value& v : f->as_array()) {
      if (v.is_string()) filter.push_back(v.as_string());
    }
  }
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  Lists all;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    if (Wanted(filter, "User")) RETURN_IF_ERROR(ListUsers(tx, account, all.users));
    if (Wanted(filter, "Group")) RETURN_IF_ERROR(ListGroups(tx, account, all.groups));
    if (Wanted(filter, "Role")) RETURN_IF_ERROR(ListRoles(tx, account, all.roles));
    if (Wanted(filter, "LocalManagedPolicy")) {
      RETURN_IF_ERROR(ListLocalPolicies(tx, account, all.policies));
    }
    if (Wanted(filter, "AWSManagedPolicy")) {
      RETURN_IF_ERROR(ListAwsPolicies(tx, account, all.policies));
    }
    return Status::Ok();
  }));

  size_t start = 0;
  if (!page.start.empty()) start = static_cast<size_t>(std::strtoull(page.start.c_str(), nullptr, 10));
  const size_t end = start + static_cast<size_t>(page.max_items);
  json::Value out = json::Value::MakeObject();
  size_t index = 0;
  // Copies the slice of one list that falls inside [start, end).
  auto take = [&](json::Value& list, std::string_view member) {
    json::Value part = json::Value::MakeArray();
    for (json::Value& item : list.as_array()) {
      if (index >= start && index < end) part.push(std::move(item));
      ++index;
    }
    out.set(member, std::move(part));
  };
  take(all.users, "UserDetailList");
  take(all.groups, "GroupDetailList");
  take(all.roles, "RoleDetailList");
  take(all.policies, "Policies");
  internal::SetPage(out, index > end, std::to_string(end));
  return out;
}

}  // namespace rampart::iam
