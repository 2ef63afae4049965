// What the policy engine needs from Organizations: SCP validation and
// compilation, and an account's placement (org id, OU path, SCPs by level).
//
// SCP evaluation (orgs_manage_policies_scps_evaluation.html): every level
// from the root down to the account must allow an action, and a Deny at any
// level wins; the management account is never restricted by SCPs.
#include "iam/org_internal.h"
#include "rampart/iam/organizations.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {
namespace org {
namespace {

Status Malformed(std::string detail) {
  return Status::Modeled("MalformedPolicyDocumentException",
                         "The provided policy document does not meet the requirements of the "
                         "specified policy type: " +
                             std::move(detail));
}

// Code points, whitespace included: "All characters in your SCP count
// against its maximum size" (orgs_manage_policies_scps_syntax.html).
size_t CodePoints(std::string_view text) {
  size_t n = 0;
  for (char ch : text) {
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;
  }
  return n;
}

// In an SCP a wildcard in Action/NotAction may stand only alone or at the
// end of the action name ("s3:*", "ec2:Describe*"; not "s3:*Object").
bool WildcardPlacementOk(std::string_view action) {
  size_t pos = action.find_first_of("*?");
  return pos == std::string_view::npos || pos + 1 == action.size();
}

}  // namespace

Result<PolicyPtr> CompileScp(std::string_view content, std::string id) {
  if (CodePoints(content) > kMaxScpCharacters) {
    return ConstraintViolation("POLICY_CONTENT_LIMIT_EXCEEDED",
                               "The policy is larger than the maximum size of " +
                                   std::to_string(kMaxScpCharacters) + " characters.");
  }
  auto ast = ParsePolicy(content, PolicyKind::kScp);
  if (!ast.ok()) return Malformed(ast.error().message);
  for (const StatementAst& st : ast->statements) {
    for (const std::string& action : st.actions) {
      if (!WildcardPlacementOk(action)) {
        return Malformed("a wildcard in the action '" + action +
                         "' may appear only alone or at the end.");
      }
    }
  }
  auto compiled = ValidatePolicy(*ast, PolicyKind::kScp, std::move(id));
  if (!compiled.ok()) return Malformed(compiled.error().message);
  return std::move(compiled).value();
}

OrgPlacement ComputePlacement(const PlacementInput& in) {
  OrgPlacement out;
  if (in.org_id.empty()) return out;
  out.org_id = in.org_id;
  out.management = in.management;
  // aws:PrincipalOrgPaths: the path to the account's parent, each entity
  // followed by a slash, e.g. "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/".
  std::string path = in.org_id + "/" + in.root_id + "/";
  for (const std::string& ou : in.ou_chain) path += ou + "/";
  out.paths.push_back(std::move(path));
  if (!in.scp_enabled) return out;
  std::vector<std::string_view> levels;
  levels.push_back(in.root_id);
  for (const std::string& ou : in.ou_chain) levels.push_back(ou);
  levels.push_back(in.account_id);
  for (std::string_view target : levels) {
    auto it = in.attached.find(target);
    out.scp_levels.push_back(it == in.attached.end() ? std::vector<PolicyPtr>{} : it->second);
  }
  return out;
}

namespace {

// Depth guard for the OU walk (AWS allows five levels of OUs).
constexpr int kMaxDepth = 16;

// The account's OUs, outermost first.
Result<std::vector<std::string>> OuChain(store::Tx& tx, std::string parent_id) {
  std::vector<std::string> chain;
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT parent_id FROM org_units WHERE ou_id = ?"));
  for (int depth = 0; parent_id.starts_with("ou-"); ++depth) {
    if (depth == kMaxDepth) return Status::Internal("organization tree too deep");
    chain.insert(chain.begin(), parent_id);
    RETURN_IF_ERROR(q->Reset());
    q->Bind(1, parent_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Internal("organization tree names a missing OU");
    parent_id = q->Text(0);
  }
  return chain;
}

// Every SCP attachment of the organization, compiled. A stored SCP that no
// longer compiles fails the load (closed), since skipping a Deny would
// widen access.
Status LoadAttached(store::Tx& tx, const OrgRow& org, PlacementInput& in) {
  ASSIGN_OR_RETURN(
      auto q, tx.Prepare("SELECT a.target_id, a.policy_id, p.content FROM org_attachments a "
                         "LEFT JOIN org_policies p ON p.policy_id = a.policy_id WHERE a.org_id = ? "
                         "ORDER BY a.target_id, a.policy_id"));
  q->Bind(1, org.org_id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    std::string policy_id = q->Text(1);
    std::string content =
        policy_id == kFullAccessId ? std::string(FullAccessContent()) : q->Text(2);
    auto compiled = CompileScp(content, org.PolicyArn(policy_id));
    if (!compiled.ok()) return Status::Internal("stored SCP " + policy_id + " does not compile");
    in.attached[q->Text(0)].push_back(std::move(compiled).value());
  }
}

}  // namespace
}  // namespace org

Result<OrgPlacement> OrganizationsView::PlacementOf(std::string_view account_id) const {
  org::PlacementInput in;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(std::optional<org::OrgRow> found, org::OrgOfAccount(tx, account_id));
    if (!found) return Status::Ok();
    ASSIGN_OR_RETURN(std::optional<org::AccountRow> account,
                     org::FindAccount(tx, *found, account_id));
    if (!account) return Status::Ok();
    in.org_id = found->org_id;
    in.root_id = found->root_id;
    in.account_id = std::string(account_id);
    in.management = found->management_account == account_id;
    in.scp_enabled = found->scp_enabled;
    ASSIGN_OR_RETURN(in.ou_chain, org::OuChain(tx, account->parent_id));
    if (!in.scp_enabled) return Status::Ok();
    return org::LoadAttached(tx, *found, in);
  }));
  return org::ComputePlacement(in);
}

}  // namespace rampart::iam
