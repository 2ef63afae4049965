// Organizations access reports and SCP proposals: resolving an entity path
// (o-.../r-...[/ou-...][/account]), the services the SCPs on it allow, and
// the last access by the accounts under it.
#include <algorithm>

#include "audit/advisor_internal.h"

namespace rampart::audit::advisor {

namespace org = iam::org;

namespace {

// AWS allows five levels of OUs; anything deeper is not a real path.
constexpr size_t kMaxPathLevels = 8;

Status BadPath(std::string_view path, std::string_view why) {
  return Status::Modeled("InvalidInputException",
                         "Invalid entity path " + std::string(path) + ": " + std::string(why));
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  if (path.ends_with('/')) path.remove_suffix(1);
  while (!path.empty()) {
    size_t slash = path.find('/');
    parts.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
    if (path.empty()) parts.emplace_back();  // "a//" keeps an empty part
  }
  return parts;
}

bool IsAccountId(std::string_view s) {
  return s.size() == 12 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Every account under parent (an OU or the root), depth first, with its
// entity path.
Status CollectAccounts(store::Tx& tx, const org::OrgRow& org, const std::string& parent_id,
                       const std::string& parent_path, size_t depth, OrgScope& scope) {
  if (depth > kMaxPathLevels) return Status::Internal("organization tree too deep");
  ASSIGN_OR_RETURN(std::vector<org::AccountRow> accounts, org::AccountsOf(tx, org, parent_id));
  for (const org::AccountRow& a : accounts) {
    scope.accounts.emplace_back(a.account_id, parent_path + "/" + a.account_id);
  }
  ASSIGN_OR_RETURN(std::vector<org::Node> ous,
                   org::ChildrenOf(tx, org, parent_id, org::NodeType::kOu));
  for (const org::Node& ou : ous) {
    RETURN_IF_ERROR(CollectAccounts(tx, org, ou.id, parent_path + "/" + ou.id, depth + 1, scope));
  }
  return Status::Ok();
}

// The SCP documents attached to one target.
Result<std::vector<std::string>> AttachedScps(store::Tx& tx, const org::OrgRow& org,
                                              std::string_view target_id) {
  ASSIGN_OR_RETURN(auto q,
                   tx.Prepare("SELECT a.policy_id, p.content FROM org_attachments a "
                              "LEFT JOIN org_policies p ON p.policy_id = a.policy_id "
                              "WHERE a.org_id = ? AND a.target_id = ? ORDER BY a.policy_id"));
  q->Bind(1, org.org_id).Bind(2, target_id);
  std::vector<std::string> docs;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return docs;
    docs.push_back(q->Text(0) == org::kFullAccessId ? std::string(org::FullAccessContent())
                                                    : q->Text(1));
  }
}

// Verifies that each level is the child of the one before; fills levels.
Status WalkLevels(store::Tx& tx, const org::OrgRow& org, std::string_view path,
                  const std::vector<std::string>& parts, OrgScope& scope) {
  std::string parent = org.root_id;
  scope.levels.push_back(org.root_id);
  for (size_t i = 2; i < parts.size(); ++i) {
    const std::string& id = parts[i];
    bool last = i + 1 == parts.size();
    if (IsAccountId(id) && last) {
      ASSIGN_OR_RETURN(std::optional<org::AccountRow> account, org::FindAccount(tx, org, id));
      if (!account || account->parent_id != parent) {
        return BadPath(path, "account " + id + " is not a child of " + parent + ".");
      }
      scope.levels.push_back(id);
      scope.accounts.emplace_back(id, scope.path);
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::optional<org::Node> node, org::FindNode(tx, org, id));
    if (!node || node->type != org::NodeType::kOu || node->parent_id != parent) {
      return BadPath(path, id + " is not an organizational unit under " + parent + ".");
    }
    scope.levels.push_back(id);
    parent = id;
  }
  return CollectAccounts(tx, org, parent, scope.path, 0, scope);
}

}  // namespace

Result<OrgScope> ResolveOrgScope(store::Tx& tx, std::string_view management_account,
                                 std::string_view entity_path) {
  ASSIGN_OR_RETURN(std::optional<org::OrgRow> found, org::OrgOfAccount(tx, management_account));
  if (!found) {
    return Status::Modeled("InvalidInputException",
                           "Your account is not a member of an organization.");
  }
  if (found->management_account != management_account) {
    return Status::Error(ErrorCode::kAccessDenied,
                         "Organizations access reports can be generated only by the "
                         "organization's management account.");
  }
  if (!found->scp_enabled) {
    return Status::Modeled("InvalidInputException",
                           "Service control policies must be enabled for the organization root.");
  }
  std::vector<std::string> parts = SplitPath(entity_path);
  if (parts.size() < 2 || parts.size() > kMaxPathLevels) {
    return BadPath(entity_path, "expected o-.../r-...[/ou-...][/account-id].");
  }
  if (parts[0] != found->org_id || parts[1] != found->root_id) {
    return BadPath(entity_path, "it does not start with your organization and its root.");
  }
  OrgScope scope;
  scope.org = *found;
  for (const std::string& p : parts) scope.path += (scope.path.empty() ? "" : "/") + p;
  RETURN_IF_ERROR(WalkLevels(tx, *found, entity_path, parts, scope));
  return scope;
}

Result<NamespaceSet> ScpAllowedNamespaces(store::Tx& tx, const OrgScope& scope,
                                          std::string_view policy_id) {
  if (!policy_id.empty()) {
    std::string content;
    if (policy_id == org::kFullAccessId) {
      content = std::string(org::FullAccessContent());
    } else {
      ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT content FROM org_policies WHERE policy_id = ? "
                                          "AND org_id = ? AND type = ?"));
      q->Bind(1, policy_id).Bind(2, scope.org.org_id).Bind(3, org::kScpType);
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) {
        return Status::Modeled("NoSuchEntityException",
                               "The service control policy " + std::string(policy_id) +
                                   " does not exist in your organization.");
      }
      content = q->Text(0);
    }
    std::string docs[] = {std::move(content)};
    return AllowedNamespaces(docs, iam::PolicyKind::kScp);
  }
  std::vector<NamespaceSet> levels;
  for (const std::string& target : scope.levels) {
    ASSIGN_OR_RETURN(std::vector<std::string> docs, AttachedScps(tx, scope.org, target));
    levels.push_back(AllowedNamespaces(docs, iam::PolicyKind::kScp));
  }
  return IntersectLevels(levels);
}

Result<std::map<std::string, OrgServiceAccess>> OrgAccess(store::Tx& tx, const OrgScope& scope,
                                                          int64_t since_ms) {
  std::map<std::string, OrgServiceAccess> out;
  for (const auto& [account, path] : scope.accounts) {
    ASSIGN_OR_RETURN(std::vector<AccessRecord> rows, AccessOfEntities(tx, account, {}, since_ms));
    for (const AccessRecord& r : rows) {
      OrgServiceAccess& s = out[r.service];
      s.accounts.insert(account);
      if (r.time_ms > s.time_ms) {
        s.time_ms = r.time_ms;
        s.region = r.region;
        s.entity_path = path;
      }
    }
  }
  return out;
}

json::Value OrgReportJson(const NamespaceSet& allowed,
                          const std::map<std::string, OrgServiceAccess>& access) {
  json::Value services = json::Value::MakeArray();
  for (const std::string& ns : allowed) {
    const ServiceName* name = FindServiceName(ns);
    json::Value d = json::Value::MakeObject();
    d.set("ServiceName", name != nullptr ? name->name : std::string_view(ns));
    d.set("ServiceNamespace", ns);
    auto it = access.find(ns);
    if (it != access.end()) {
      d.set("Region", it->second.region);
      d.set("EntityPath", it->second.entity_path);
      d.set("LastAuthenticatedTime", TimeValue(it->second.time_ms));
      d.set("TotalAuthenticatedEntities", static_cast<int64_t>(it->second.accounts.size()));
    } else {
      d.set("TotalAuthenticatedEntities", 0);
    }
    services.push(std::move(d));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Services", std::move(services));
  return out;
}

}  // namespace rampart::audit::advisor
