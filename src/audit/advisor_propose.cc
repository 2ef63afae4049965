// propose-scp: an SCP that denies the services an organization path does
// not use ("services not used in 365 days in ProductionOU").
#include "audit/advisor_internal.h"

namespace rampart::audit {
namespace advisor {
namespace {

constexpr std::string_view kScpHead =
    R"({"Version":"2012-10-17","Statement":[{"Sid":"DenyUnusedServices","Effect":"Deny","Action":[)";
constexpr std::string_view kScpTail = R"(],"Resource":"*"}]})";

}  // namespace

std::vector<std::string> DenyServicesScps(std::span<const std::string> namespaces) {
  std::vector<std::string> out;
  std::string actions;
  const size_t room = iam::org::kMaxScpCharacters - kScpHead.size() - kScpTail.size();
  for (const std::string& ns : namespaces) {
    std::string item;
    json::WriteString(ns + ":*", item);
    if (!actions.empty() && actions.size() + 1 + item.size() > room) {
      out.push_back(std::string(kScpHead) + actions + std::string(kScpTail));
      actions.clear();
    }
    if (!actions.empty()) actions += ',';
    actions += item;
  }
  if (!actions.empty()) out.push_back(std::string(kScpHead) + actions + std::string(kScpTail));
  return out;
}

}  // namespace advisor

Result<ScpProposal> ProposeScp(store::Database& db, std::string_view entity_path, int64_t now_ms,
                               int unused_days) {
  if (unused_days < 1 || unused_days > 400) {
    return Status::Validation("--unused-days must be between 1 and 400 (the tracking period).");
  }
  ScpProposal out;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT management_account FROM org_organizations "
                                        "WHERE org_id = ?"));
    std::string_view org_id = entity_path.substr(0, entity_path.find('/'));
    q->Bind(1, org_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) {
      return Status::Modeled("InvalidInputException",
                             "No organization " + std::string(org_id) + " in this data directory.");
    }
    std::string management = q->Text(0);
    ASSIGN_OR_RETURN(advisor::OrgScope scope,
                     advisor::ResolveOrgScope(tx, management, entity_path));
    out.target_id = scope.levels.back();
    ASSIGN_OR_RETURN(NamespaceSet allowed, advisor::ScpAllowedNamespaces(tx, scope, ""));
    int64_t since = now_ms - int64_t{unused_days} * 24 * 3600 * 1000;
    ASSIGN_OR_RETURN(auto access, advisor::OrgAccess(tx, scope, since));
    for (const std::string& ns : allowed) {
      (access.contains(ns) ? out.used : out.unused).push_back(ns);
    }
    return Status::Ok();
  }));
  out.policies = advisor::DenyServicesScps(out.unused);
  return out;
}

}  // namespace rampart::audit
