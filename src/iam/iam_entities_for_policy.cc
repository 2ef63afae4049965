// ListEntitiesForPolicy: the users, groups and roles of the caller's
// account that a managed policy (customer or AWS managed) is attached to,
// or is the permissions boundary of.
//
// The three lists are paged as one sequence ordered groups, users, roles,
// each by name; the marker is that sequence's sort key.
#include <algorithm>

#include "iam/iam_internal.h"

namespace rampart::iam::internal {
namespace {

// One entity using the policy.
struct PolicyEntity {
  std::string sort_key;  // "<kind order><name key>"
  std::string_view kind;  // "Group", "User", "Role": forms the output member names
  std::string name;
  std::string id;
};

// How one kind of entity is found: by attachment and, for users and roles,
// by permissions boundary.
struct EntitySource {
  std::string_view kind;
  char order;  // position of this kind in the paged sequence
  std::string_view attached_sql;
  std::string_view boundary_sql;  // empty: this kind has no boundary
};

// Each query takes (account, policy ARN, path prefix length, path prefix)
// and answers (name, id, name key).
constexpr EntitySource kSources[] = {
    {"Group", '0',
     "SELECT g.group_name, g.group_id, g.name_key FROM iam_group_attachments a "
     "JOIN iam_groups g ON g.group_id = a.group_id WHERE g.account_id = ? AND a.policy_arn = ? "
     "AND substr(g.path, 1, ?) = ?",
     ""},
    {"User", '1',
     "SELECT u.user_name, u.user_id, u.name_key FROM iam_user_attachments a "
     "JOIN iam_users u ON u.user_id = a.user_id WHERE u.account_id = ? AND a.policy_arn = ? "
     "AND substr(u.path, 1, ?) = ?",
     "SELECT user_name, user_id, name_key FROM iam_users WHERE account_id = ? AND "
     "permissions_boundary = ? AND substr(path, 1, ?) = ?"},
    {"Role", '2',
     "SELECT r.role_name, r.role_id, r.name_key FROM iam_role_attachments a "
     "JOIN iam_roles r ON r.role_id = a.role_id WHERE r.account_id = ? AND a.policy_arn = ? "
     "AND substr(r.path, 1, ?) = ?",
     "SELECT role_name, role_id, name_key FROM iam_roles WHERE account_id = ? AND "
     "permissions_boundary = ? AND substr(path, 1, ?) = ?"},
};

// What the request asks for.
struct EntityQuery {
  std::string account;
  std::string policy_arn;
  std::string path_prefix;
  std::string_view entity_filter;  // empty: every kind
  bool permissions = true;         // attachments
  bool boundaries = true;          // permissions boundaries
};

Status CollectFrom(store::Tx& tx, const EntityQuery& query, const EntitySource& source,
                   std::string_view sql, std::vector<PolicyEntity>& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  q->Bind(1, query.account).Bind(2, query.policy_arn);
  q->Bind(3, static_cast<int64_t>(query.path_prefix.size())).Bind(4, query.path_prefix);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    out.push_back(PolicyEntity{std::string(1, source.order) + q->Text(2), source.kind,
                               q->Text(0), q->Text(1)});
  }
}

// Every matching entity, sorted and without duplicates (an entity may have
// the policy both attached and as its boundary).
Result<std::vector<PolicyEntity>> FindEntities(store::Tx& tx, const EntityQuery& query) {
  std::vector<PolicyEntity> all;
  for (const EntitySource& source : kSources) {
    if (!query.entity_filter.empty() && query.entity_filter != source.kind) continue;
    if (query.permissions) {
      RETURN_IF_ERROR(CollectFrom(tx, query, source, source.attached_sql, all));
    }
    if (query.boundaries && !source.boundary_sql.empty()) {
      RETURN_IF_ERROR(CollectFrom(tx, query, source, source.boundary_sql, all));
    }
  }
  std::sort(all.begin(), all.end(),
            [](const PolicyEntity& a, const PolicyEntity& b) { return a.sort_key < b.sort_key; });
  all.erase(std::unique(all.begin(), all.end(),
                        [](const PolicyEntity& a, const PolicyEntity& b) {
                          return a.sort_key == b.sort_key;
                        }),
            all.end());
  return all;
}

// Reads EntityFilter and PolicyUsageFilter into query.
void ReadFilters(const json::Value& in, EntityQuery& query) {
  std::string_view filter = in.get_string("EntityFilter");
  // LocalManagedPolicy and AWSManagedPolicy name no principal kind: no
  // user, group or role passes them.
  query.entity_filter = filter;
  std::string_view usage = in.get_string("PolicyUsageFilter");
  if (usage == "PermissionsPolicy") query.boundaries = false;
  if (usage == "PermissionsBoundary") query.permissions = false;
}

json::Value EntitiesJson(const std::vector<PolicyEntity>& shown, const PageCollector& collector) {
  json::Value groups = json::Value::MakeArray();
  json::Value users = json::Value::MakeArray();
  json::Value roles = json::Value::MakeArray();
  for (const PolicyEntity& e : shown) {
    json::Value v = json::Value::MakeObject();
    v.set(std::string(e.kind) + "Name", e.name);
    v.set(std::string(e.kind) + "Id", e.id);
    json::Value& list = e.kind == "Group" ? groups : e.kind == "User" ? users : roles;
    list.push(std::move(v));
  }
  json::Value out = json::Value::MakeObject();
  out.set("PolicyGroups", std::move(groups));
  out.set("PolicyUsers", std::move(users));
  out.set("PolicyRoles", std::move(roles));
  collector.Finish(out);
  return out;
}

}  // namespace

Result<json::Value> ListEntitiesForPolicy(const IamDeps& deps, server::RequestContext& ctx,
                                          const json::Value& in) {
  std::string arn(in.get_string("PolicyArn"));
  ASSIGN_OR_RETURN(PolicyRow policy,
                   AuthorizedPolicy(deps.db, ctx, "iam:ListEntitiesForPolicy", arn));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  EntityQuery query;
  query.account = ctx.principal().account_id;
  query.policy_arn = policy.arn;
  query.path_prefix = std::string(in.get_string("PathPrefix"));
  if (query.path_prefix.empty()) query.path_prefix = "/";
  ReadFilters(in, query);
  std::vector<PolicyEntity> all;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(all, FindEntities(tx, query));
    return Status::Ok();
  }));
  PageCollector collector(page);
  std::vector<PolicyEntity> shown;
  for (PolicyEntity& e : all) {
    if (e.sort_key < page.start) continue;
    if (!collector.Take(e.sort_key)) break;
    shown.push_back(std::move(e));
  }
  return EntitiesJson(shown, collector);
}

}  // namespace rampart::iam::internal
