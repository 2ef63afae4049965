// Service control policies: CreatePolicy, UpdatePolicy, DeletePolicy,
// DescribePolicy, ListPolicies, AttachPolicy, DetachPolicy,
// ListPoliciesForTarget and ListTargetsForPolicy, plus the AWS-managed
// FullAWSAccess SCP (p-FullAWSAccess), which exists in every organization
// and is attached to every root, OU and account while SCPs are enabled.
//
// A target keeps at least one SCP (orgs_manage_policies_scps_attach.html):
// detaching the last one fails with ConstraintViolationException.
#include <algorithm>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/iam/organizations.h"

namespace rampart::iam {

using org::Node;
using org::NodeType;
using org::OrgRow;

namespace {

// Organizations quota: 1,000 policies of one type per organization.
constexpr int64_t kMaxPolicies = 1000;

struct ScpRow {
  std::string policy_id;
  std::string name;
  std::string description;
  std::string content;
  bool aws_managed = false;
};

ScpRow FullAccessRow() {
  return ScpRow{std::string(org::kFullAccessId), std::string(org::kFullAccessName),
                "Allows access to every operation", std::string(org::FullAccessContent()), true};
}

json::Value SummaryJson(const OrgRow& org, const ScpRow& p) {
  json::Value s = json::Value::MakeObject();
  s.set("Id", p.policy_id);
  s.set("Arn", org.PolicyArn(p.policy_id));
  s.set("Name", p.name);
  s.set("Description", p.description);
  s.set("Type", org::kScpType);
  s.set("AwsManaged", p.aws_managed);
  return s;
}

json::Value PolicyJson(const OrgRow& org, const ScpRow& p) {
  json::Value policy = json::Value::MakeObject();
  policy.set("PolicySummary", SummaryJson(org, p));
  policy.set("Content", p.content);
  json::Value out = json::Value::MakeObject();
  out.set("Policy", std::move(policy));
  return out;
}

constexpr std::string_view kPolicyColumns = "policy_id, name, description, content";

Result<std::optional<ScpRow>> FindScp(store::Tx& tx, const OrgRow& org,
                                      std::string_view policy_id) {
  if (policy_id == org::kFullAccessId) return std::optional<ScpRow>(FullAccessRow());
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kPolicyColumns) +
                                      " FROM org_policies WHERE org_id = ? AND policy_id = ?"));
  q->Bind(1, org.org_id).Bind(2, policy_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<ScpRow>();
  return std::optional<ScpRow>(ScpRow{q->Text(0), q->Text(1), q->Text(2), q->Text(3), false});
}

Result<ScpRow> RequireScp(store::Tx& tx, const OrgRow& org, std::string_view policy_id) {
  ASSIGN_OR_RETURN(auto p, FindScp(tx, org, policy_id));
  if (!p) return org::PolicyNotFound();
  return *p;
}

// FullAWSAccess first, then the organization's own SCPs by name.
Result<std::vector<ScpRow>> AllScps(store::Tx& tx, const OrgRow& org) {
  std::vector<ScpRow> out{FullAccessRow()};
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kPolicyColumns) +
                                      " FROM org_policies WHERE org_id = ? ORDER BY name"));
  q->Bind(1, org.org_id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return out;
    out.push_back(ScpRow{q->Text(0), q->Text(1), q->Text(2), q->Text(3), false});
  }
}

Result<std::vector<std::string>> AttachedIds(store::Tx& tx, const OrgRow& org,
                                             std::string_view column, std::string_view value) {
  std::string other = column == "policy_id" ? "target_id" : "policy_id";
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + other +
                                      " FROM org_attachments WHERE org_id = ? "
                                      "AND " +
                                      std::string(column) + " = ? ORDER BY " + other));
  q->Bind(1, org.org_id).Bind(2, value);
  std::vector<std::string> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return out;
    out.push_back(q->Text(0));
  }
}

Status ScpNotEnabled() {
  return Status::Modeled("PolicyTypeNotEnabledException",
                         "The SERVICE_CONTROL_POLICY policy type isn't enabled in the root.");
}

Status AwsManaged() {
  return Status::Modeled("AccessDeniedException",
                         "You can't change or delete an AWS managed policy.");
}

// The ARN of a target id (root, OU or account) for authorization.
std::string TargetArn(const OrgRow& org, std::string_view id) {
  if (id.starts_with("ou-")) return org.OuArn(id);
  if (id.starts_with("r-")) return org.RootArn();
  return org.AccountArn(id);
}

Result<Node> RequireTarget(store::Tx& tx, const OrgRow& org, std::string_view target_id) {
  ASSIGN_OR_RETURN(auto node, org::FindNode(tx, org, target_id));
  if (!node) return org::TargetNotFound();
  return *node;
}

Status PolicyNameFree(store::Tx& tx, const OrgRow& org, std::string_view name,
                      std::string_view except_id) {
  ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx,
                                                "SELECT COUNT(*) FROM org_policies WHERE org_id = "
                                                "? AND name = ? AND policy_id <> ?",
                                                {org.org_id, name, except_id}));
  if (n == 0 && name != org::kFullAccessName) return Status::Ok();
  return Status::Modeled("DuplicatePolicyException", "A policy with the same name already exists.");
}

// The resource a per-policy action is authorized on: the policy's ARN.
// AWS-managed policies live in the account "aws"
// (arn:aws:organizations::aws:policy/...), which the authorizer treats as
// the caller's own account, so identity policies decide.
std::string AuthzArnOfPolicy(const OrgRow& org, std::string_view policy_id) {
  return org.PolicyArn(policy_id);
}

// The authorization prologue of the per-policy operations.
Result<OrgRow> AuthorizedOnPolicy(store::Database& db, const EngineAuthorizer* engine,
                                  const server::RequestContext& ctx, std::string_view action,
                                  const std::string& policy_id) {
  auto keys = org::PolicyTypeKey(org::kScpType);
  return org::Authorized(
      db, engine, ctx, action, [&](const OrgRow& o) { return AuthzArnOfPolicy(o, policy_id); },
      keys);
}

// The second check of AttachPolicy and DetachPolicy: the action on the
// target's ARN, through the same prologue (so a delegation policy applies
// and the target's tags are aws:ResourceTag keys).
Result<OrgRow> AuthorizedOnTarget(store::Database& db, const EngineAuthorizer* engine,
                                  const server::RequestContext& ctx, std::string_view action,
                                  const std::string& target_id) {
  auto keys = org::PolicyTypeKey(org::kScpType);
  return org::Authorized(
      db, engine, ctx, action, [&](const OrgRow& o) { return TargetArn(o, target_id); }, keys);
}

}  // namespace

Result<json::Value> OrganizationsService::CreatePolicy(server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string type(in.get_string("Type"));
  auto keys = org::PolicyTypeKey(type);
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx, "organizations:CreatePolicy",
                                               org::AnyResource(), keys));
  RETURN_IF_ERROR(org::RequireScpType(type));
  ASSIGN_OR_RETURN(org::TagList tags, org::ReadTags(in));
  ScpRow p{"", std::string(in.get_string("Name")), std::string(in.get_string("Description")),
           std::string(in.get_string("Content")), false};
  ASSIGN_OR_RETURN(std::string suffix, org::RandomLowerAlnum(8));
  p.policy_id = "p-" + suffix;
  if (!tags.empty()) {
    // Through the prologue, so that a delegation policy may grant it too.
    RETURN_IF_ERROR(org::Authorized(
                        db_, engine_, ctx, "organizations:TagResource",
                        [&](const OrgRow& o) { return o.PolicyArn(p.policy_id); },
                        server::RequestTagKeys(tags))
                        .status());
  }
  RETURN_IF_ERROR(org::CompileScp(p.content, org.PolicyArn(p.policy_id)).status());
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    RETURN_IF_ERROR(PolicyNameFree(tx, org, p.name, ""));
    ASSIGN_OR_RETURN(
        int64_t count,
        internal::CountOf(tx, "SELECT COUNT(*) FROM org_policies WHERE org_id = ?", {org.org_id}));
    if (count >= kMaxPolicies) {
      return org::ConstraintViolation("POLICY_NUMBER_LIMIT_EXCEEDED",
                                      "The organization already has the maximum number of "
                                      "policies of this type.");
    }
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare("INSERT INTO org_policies (policy_id, org_id, type, name, description, content, "
                   "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    q->Bind(1, p.policy_id).Bind(2, org.org_id).Bind(3, type).Bind(4, p.name);
    q->Bind(5, p.description).Bind(6, p.content).Bind(7, internal::NowSeconds(ctx));
    RETURN_IF_ERROR(q->Run());
    return org::PutTags(tx, org, p.policy_id, tags);
  }));
  return PolicyJson(org, p);
}

Result<json::Value> OrganizationsService::UpdatePolicy(server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string policy_id(in.get_string("PolicyId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   AuthorizedOnPolicy(db_, engine_, ctx, "organizations:UpdatePolicy", policy_id));
  if (policy_id == org::kFullAccessId) return AwsManaged();
  const json::Value* name = in.find("Name");
  const json::Value* description = in.find("Description");
  const json::Value* content = in.find("Content");
  if (content != nullptr && content->is_string()) {
    RETURN_IF_ERROR(org::CompileScp(content->as_string(), org.PolicyArn(policy_id)).status());
  }
  ScpRow p;
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    ASSIGN_OR_RETURN(p, RequireScp(tx, org, policy_id));
    if (name != nullptr && name->is_string()) {
      RETURN_IF_ERROR(PolicyNameFree(tx, org, name->as_string(), policy_id));
      p.name = name->as_string();
    }
    if (description != nullptr && description->is_string())
      p.description = description->as_string();
    if (content != nullptr && content->is_string()) p.content = content->as_string();
    ASSIGN_OR_RETURN(auto q,
                     tx.Prepare("UPDATE org_policies SET name = ?, description = ?, content = ? "
                                "WHERE org_id = ? AND policy_id = ?"));
    q->Bind(1, p.name).Bind(2, p.description).Bind(3, p.content).Bind(4, org.org_id);
    q->Bind(5, policy_id);
    return q->Run();
  }));
  return PolicyJson(org, p);
}

Result<json::Value> OrganizationsService::DeletePolicy(server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string policy_id(in.get_string("PolicyId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   AuthorizedOnPolicy(db_, engine_, ctx, "organizations:DeletePolicy", policy_id));
  if (policy_id == org::kFullAccessId) return AwsManaged();
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    RETURN_IF_ERROR(RequireScp(tx, org, policy_id).status());
    ASSIGN_OR_RETURN(auto targets, AttachedIds(tx, org, "policy_id", policy_id));
    if (!targets.empty()) {
      return Status::Modeled("PolicyInUseException",
                             "The policy is attached to one or more entities; detach it from "
                             "every root, OU and account before deleting it.");
    }
    ASSIGN_OR_RETURN(auto q,
                     tx.Prepare("DELETE FROM org_policies WHERE org_id = ? AND policy_id = ?"));
    q->Bind(1, org.org_id).Bind(2, policy_id);
    RETURN_IF_ERROR(q->Run());
    return org::DeleteTags(tx, org, policy_id);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::DescribePolicy(server::RequestContext& ctx,
                                                         const json::Value& in) {
  std::string policy_id(in.get_string("PolicyId"));
  ASSIGN_OR_RETURN(
      OrgRow org, AuthorizedOnPolicy(db_, engine_, ctx, "organizations:DescribePolicy", policy_id));
  ScpRow p;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(p, RequireScp(tx, org, policy_id));
    return Status::Ok();
  }));
  return PolicyJson(org, p);
}

Result<json::Value> OrganizationsService::ListPolicies(server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string filter(in.get_string("Filter"));
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  auto keys = org::PolicyTypeKey(filter);
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx, "organizations:ListPolicies",
                                               org::AnyResource(), keys));
  RETURN_IF_ERROR(org::RequireScpType(filter));
  std::vector<ScpRow> all;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(all, AllScps(tx, org));
    return Status::Ok();
  }));
  std::vector<json::Value> items;
  for (const ScpRow& p : all) items.push_back(SummaryJson(org, p));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Policies", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::AttachPolicy(server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string policy_id(in.get_string("PolicyId"));
  std::string target_id(in.get_string("TargetId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   AuthorizedOnPolicy(db_, engine_, ctx, "organizations:AttachPolicy", policy_id));
  RETURN_IF_ERROR(
      AuthorizedOnTarget(db_, engine_, ctx, "organizations:AttachPolicy", target_id).status());
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    RETURN_IF_ERROR(RequireScp(tx, org, policy_id).status());
    RETURN_IF_ERROR(RequireTarget(tx, org, target_id).status());
    if (!org.scp_enabled) return ScpNotEnabled();
    ASSIGN_OR_RETURN(auto attached, AttachedIds(tx, org, "target_id", target_id));
    if (std::find(attached.begin(), attached.end(), policy_id) != attached.end()) {
      return Status::Modeled("DuplicatePolicyAttachmentException",
                             "The selected policy is already attached to the specified target.");
    }
    if (attached.size() >= org::kMaxScpsPerTarget) {
      return org::ConstraintViolation("MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
                                      "A target can have at most five SCPs attached.");
    }
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare("INSERT INTO org_attachments (org_id, policy_id, target_id) VALUES (?, ?, ?)"));
    q->Bind(1, org.org_id).Bind(2, policy_id).Bind(3, target_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::DetachPolicy(server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string policy_id(in.get_string("PolicyId"));
  std::string target_id(in.get_string("TargetId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   AuthorizedOnPolicy(db_, engine_, ctx, "organizations:DetachPolicy", policy_id));
  RETURN_IF_ERROR(
      AuthorizedOnTarget(db_, engine_, ctx, "organizations:DetachPolicy", target_id).status());
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    RETURN_IF_ERROR(RequireScp(tx, org, policy_id).status());
    RETURN_IF_ERROR(RequireTarget(tx, org, target_id).status());
    if (!org.scp_enabled) return ScpNotEnabled();
    ASSIGN_OR_RETURN(auto attached, AttachedIds(tx, org, "target_id", target_id));
    if (std::find(attached.begin(), attached.end(), policy_id) == attached.end()) {
      return Status::Modeled("PolicyNotAttachedException",
                             "The policy isn't attached to the specified target.");
    }
    if (attached.size() == 1) {
      return org::ConstraintViolation("MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
                                      "A target must keep at least one SCP attached; attach "
                                      "another SCP before detaching this one.");
    }
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare(
            "DELETE FROM org_attachments WHERE org_id = ? AND policy_id = ? AND target_id = ?"));
    q->Bind(1, org.org_id).Bind(2, policy_id).Bind(3, target_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::ListPoliciesForTarget(server::RequestContext& ctx,
                                                                const json::Value& in) {
  std::string target_id(in.get_string("TargetId"));
  std::string filter(in.get_string("Filter"));
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  auto keys = org::PolicyTypeKey(filter);
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(
                                   db_, engine_, ctx, "organizations:ListPoliciesForTarget",
                                   [&](const OrgRow& o) { return TargetArn(o, target_id); }, keys));
  RETURN_IF_ERROR(org::RequireScpType(filter));
  std::vector<json::Value> items;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(RequireTarget(tx, org, target_id).status());
    ASSIGN_OR_RETURN(auto ids, AttachedIds(tx, org, "target_id", target_id));
    for (const std::string& id : ids) {
      ASSIGN_OR_RETURN(ScpRow p, RequireScp(tx, org, id));
      items.push_back(SummaryJson(org, p));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Policies", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::ListTargetsForPolicy(server::RequestContext& ctx,
                                                               const json::Value& in) {
  std::string policy_id(in.get_string("PolicyId"));
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org, AuthorizedOnPolicy(db_, engine_, ctx,
                                                  "organizations:ListTargetsForPolicy", policy_id));
  std::vector<json::Value> items;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(RequireScp(tx, org, policy_id).status());
    ASSIGN_OR_RETURN(auto ids, AttachedIds(tx, org, "policy_id", policy_id));
    for (const std::string& id : ids) {
      ASSIGN_OR_RETURN(Node n, RequireTarget(tx, org, id));
      json::Value t = json::Value::MakeObject();
      t.set("TargetId", n.id);
      t.set("Arn", org::NodeArn(org, n));
      t.set("Name", n.name);
      t.set("Type", org::NodeTypeName(n.type));
      items.push_back(std::move(t));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Targets", std::move(items), page);
  return out;
}

}  // namespace rampart::iam
