// Organizations' resource-based delegation policy (PutResourcePolicy,
// DescribeResourcePolicy, DeleteResourcePolicy): the management account
// writes one policy for its organization, and member accounts it names may
// then call the read-only operations and manage Organizations policies
// (create, update, delete, attach, detach, tag) as far as the policy and
// their own IAM policies both allow. org::Authorized consults it.
#include <optional>
#include <string>
#include <utility>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/iam/organizations.h"
#include "rampart/iam/policy.h"
#include "rampart/iam/policy_pattern.h"
#include "rampart/protocol/model.h"
#include "rampart/protocol/protocol.h"

namespace rampart::iam {

using org::OrgRow;

namespace org {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The policy-management operations a delegation policy may grant besides
// Describe* and List*.
constexpr std::string_view kDelegableWrites[] = {
    "AttachPolicy", "CreatePolicy", "DeletePolicy", "DetachPolicy",
    "TagResource",  "UntagResource", "UpdatePolicy",
};

Status UnsupportedAction(std::string_view action) {
  return InvalidInput("UNSUPPORTED_ACTION_IN_RESOURCE_POLICY",
                      "The action " + std::string(action) +
                          " cannot be delegated by a resource policy: only Describe*, List* "
                          "and policy management actions of AWS Organizations can.");
}

// An Action entry: organizations:<op>, where every operation it matches
// (wildcards included) can be delegated, and it matches at least one.
Status CheckAction(std::string_view action) {
  const std::string lowered = Lower(action);
  if (!lowered.starts_with("organizations:")) return UnsupportedAction(action);
  std::string error;
  auto pattern = Pattern::Compile(std::string_view(lowered).substr(14),
                                  Pattern::Options{.fold_case = true}, &error);
  const protocol::ServiceModel* model = protocol::FindService("organizations");
  if (!pattern || model == nullptr) return UnsupportedAction(action);
  bool any = false;
  for (const protocol::OperationModel& op : model->operations) {
    if (pattern->Match(Lower(op.name), nullptr) != Pattern::Result::kMatch) continue;
    if (!IsDelegable(op.name)) return UnsupportedAction(action);
    any = true;
  }
  return any ? Status::Ok() : UnsupportedAction(action);
}

// A Resource entry: "*" or an ARN of this organization's resources.
Status CheckResource(const OrgRow& org, std::string_view resource) {
  if (resource == "*") return Status::Ok();
  const std::string prefix = "arn:aws:organizations::" + org.management_account + ":";
  if (resource.starts_with(prefix)) return Status::Ok();
  return InvalidInput("UNSUPPORTED_RESOURCE_IN_RESOURCE_POLICY",
                      "The resource " + std::string(resource) +
                          " is not a resource of this organization.");
}

Status InvalidPolicy(std::string detail) {
  return InvalidInput("INVALID_RESOURCE_POLICY_JSON",
                      "The resource policy is not valid: " + std::move(detail));
}

// Parses, checks and compiles a delegation policy for org.
Result<PolicyPtr> CompileDelegation(const OrgRow& org, std::string_view content,
                                    const std::string& arn) {
  auto ast = ParsePolicy(content, PolicyKind::kResource);
  if (!ast.ok()) return InvalidPolicy(ast.error().message);
  for (const StatementAst& st : ast->statements) {
    if (st.not_action) return InvalidPolicy("NotAction is not supported in a delegation policy.");
    if (st.not_resource) {
      return InvalidPolicy("NotResource is not supported in a delegation policy.");
    }
    for (const std::string& action : st.actions) RETURN_IF_ERROR(CheckAction(action));
    for (const std::string& resource : st.resources) RETURN_IF_ERROR(CheckResource(org, resource));
  }
  auto compiled = ValidatePolicy(*ast, PolicyKind::kResource, arn);
  if (!compiled.ok()) return InvalidPolicy(compiled.error().message);
  return std::move(compiled).value();
}

struct DelegationRow {
  std::string policy_id;
  std::string content;
};

Result<std::optional<DelegationRow>> LoadDelegation(store::Tx& tx, const OrgRow& org) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT policy_id, content FROM org_resource_policies "
                                      "WHERE org_id = ?"));
  q->Bind(1, org.org_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<DelegationRow>();
  return std::optional<DelegationRow>(DelegationRow{q->Text(0), q->Text(1)});
}

Status NoDelegation() {
  return Status::Modeled("ResourcePolicyNotFoundException",
                         "We can't find a resource policy request with the parameter that you "
                         "specified.");
}

json::Value DelegationJson(const OrgRow& org, const DelegationRow& row) {
  json::Value summary = json::Value::MakeObject();
  summary.set("Id", row.policy_id);
  summary.set("Arn", ResourcePolicyArn(org, row.policy_id));
  json::Value policy = json::Value::MakeObject();
  policy.set("ResourcePolicySummary", std::move(summary));
  policy.set("Content", row.content);
  json::Value out = json::Value::MakeObject();
  out.set("ResourcePolicy", std::move(policy));
  return out;
}

}  // namespace

bool IsDelegable(std::string_view op) {
  if (op.starts_with("Describe") || op.starts_with("List")) return true;
  for (std::string_view w : kDelegableWrites) {
    if (op == w) return true;
  }
  return false;
}

std::string ResourcePolicyArn(const OrgRow& org, std::string_view policy_id) {
  return "arn:aws:organizations::" + org.management_account + ":resourcepolicy/" + org.org_id +
         "/" + std::string(policy_id);
}

Result<std::optional<std::string>> DelegationContent(store::Tx& tx, const OrgRow& org) {
  ASSIGN_OR_RETURN(std::optional<DelegationRow> row, LoadDelegation(tx, org));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(std::move(row->content));
}

Status AuthorizeDelegated(const EngineAuthorizer& engine, const server::RequestContext& ctx,
                          std::string_view action, const OrgRow& org, std::string_view arn,
                          std::span<const server::ConditionKey> keys, std::string_view content) {
  // Stored policies were checked when written; a failure here means the
  // rules tightened since, and the policy then grants nothing.
  auto policy = CompileDelegation(org, content, ResourcePolicyArn(org, "stored"));
  if (!policy.ok()) {
    return Status::Error(ErrorCode::kAccessDenied,
                         "The organization's delegation policy no longer validates and grants "
                         "nothing.");
  }
  return engine.AuthorizeWithResourcePolicy(ctx, action, InManagementAccount(org, arn), keys,
                                            **policy, false);
}

}  // namespace org

Result<json::Value> OrganizationsService::PutResourcePolicy(server::RequestContext& ctx,
                                                            const json::Value& in) {
  const std::string content(in.get_string("Content"));
  ASSIGN_OR_RETURN(org::TagList tags, org::ReadTags(in));
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx,
                                               "organizations:PutResourcePolicy",
                                               org::AnyResource(), server::RequestTagKeys(tags)));
  RETURN_IF_ERROR(
      org::CompileDelegation(org, content, org::ResourcePolicyArn(org, "new")).status());
  RETURN_IF_ERROR(org::AuthorizeTags(ctx, org::ResourcePolicyArn(org, "*"), tags));
  org::DelegationRow row;
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    ASSIGN_OR_RETURN(std::optional<org::DelegationRow> existing, org::LoadDelegation(tx, org));
    if (existing) {
      if (!tags.empty()) {
        return org::InvalidInput("INVALID_SYSTEM_TAGS_PARAMETER",
                                 "Tags can be given only when the resource policy is created.");
      }
      row.policy_id = existing->policy_id;
    } else {
      ASSIGN_OR_RETURN(std::string suffix, org::RandomLowerAlnum(8));
      row.policy_id = "rp-" + suffix;
    }
    row.content = content;
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO org_resource_policies (org_id, policy_id, "
                                        "content, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT "
                                        "(org_id) DO UPDATE SET content = excluded.content, "
                                        "updated_at = excluded.updated_at"));
    q->Bind(1, org.org_id).Bind(2, row.policy_id).Bind(3, row.content);
    q->Bind(4, internal::NowSeconds(ctx));
    RETURN_IF_ERROR(q->Run());
    return org::PutTags(tx, org, row.policy_id, tags);
  }));
  return org::DelegationJson(org, row);
}

Result<json::Value> OrganizationsService::DescribeResourcePolicy(server::RequestContext& ctx,
                                                                 const json::Value&) {
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx,
                                               "organizations:DescribeResourcePolicy",
                                               org::AnyResource()));
  std::optional<org::DelegationRow> row;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(row, org::LoadDelegation(tx, org));
    return Status::Ok();
  }));
  if (!row) return org::NoDelegation();
  return org::DelegationJson(org, *row);
}

Result<json::Value> OrganizationsService::DeleteResourcePolicy(server::RequestContext& ctx,
                                                               const json::Value&) {
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx,
                                               "organizations:DeleteResourcePolicy",
                                               org::AnyResource()));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    ASSIGN_OR_RETURN(std::optional<org::DelegationRow> existing, org::LoadDelegation(tx, org));
    if (!existing) return org::NoDelegation();
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM org_resource_policies WHERE org_id = ?"));
    q->Bind(1, org.org_id);
    RETURN_IF_ERROR(q->Run());
    return org::DeleteTags(tx, org, existing->policy_id);
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam
