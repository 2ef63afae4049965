// Organizational units and the tree: CreateOrganizationalUnit,
// UpdateOrganizationalUnit, DescribeOrganizationalUnit,
// DeleteOrganizationalUnit, ListOrganizationalUnitsForParent, ListChildren
// and ListParents.
#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/iam/organizations.h"

namespace rampart::iam {

using org::Node;
using org::NodeType;
using org::OrgRow;

namespace {

// Organizations quota: OUs nest at most five levels below the root.
constexpr int kMaxOuDepth = 5;

std::string ParentArn(const OrgRow& org, std::string_view id) {
  return id.starts_with("ou-") ? org.OuArn(id) : org.RootArn();
}

// The ARN of a child id (OU or account) for authorization.
std::string ChildArn(const OrgRow& org, std::string_view id) {
  return id.starts_with("ou-") ? org.OuArn(id) : org.AccountArn(id);
}

json::Value OuJson(const OrgRow& org, const Node& ou) {
  json::Value v = json::Value::MakeObject();
  v.set("Id", ou.id);
  v.set("Arn", org.OuArn(ou.id));
  v.set("Name", ou.name);
  return v;
}

Status DuplicateOu() {
  return Status::Modeled("DuplicateOrganizationalUnitException",
                         "An OU with the same name already exists under this parent.");
}

// Whether parent_id already has an OU named name (other than except_id).
Result<bool> NameTaken(store::Tx& tx, const OrgRow& org, std::string_view parent_id,
                       std::string_view name, std::string_view except_id) {
  ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx,
                                                "SELECT COUNT(*) FROM org_units WHERE org_id = ? "
                                                "AND parent_id = ? AND name = ? AND ou_id <> ?",
                                                {org.org_id, parent_id, name, except_id}));
  return n > 0;
}

// How many OUs lie between the root and parent_id, parent_id included.
Result<int> OuDepth(store::Tx& tx, const OrgRow& org, std::string parent_id) {
  int depth = 0;
  while (parent_id.starts_with("ou-")) {
    if (++depth > kMaxOuDepth) return depth;
    ASSIGN_OR_RETURN(auto node, org::FindNode(tx, org, parent_id));
    if (!node) return org::ParentNotFound();
    parent_id = node->parent_id;
  }
  return depth;
}

Result<Node> RequireOu(store::Tx& tx, const OrgRow& org, std::string_view ou_id) {
  ASSIGN_OR_RETURN(auto node, org::FindNode(tx, org, ou_id));
  if (!node || node->type != NodeType::kOu) return org::OuNotFound();
  return *node;
}

Result<Node> RequireParent(store::Tx& tx, const OrgRow& org, std::string_view parent_id) {
  ASSIGN_OR_RETURN(auto node, org::FindNode(tx, org, parent_id));
  if (!node || node->type == NodeType::kAccount) return org::ParentNotFound();
  return *node;
}

}  // namespace

Result<json::Value> OrganizationsService::CreateOrganizationalUnit(server::RequestContext& ctx,
                                                                   const json::Value& in) {
  std::string parent_id(in.get_string("ParentId"));
  Node ou{NodeType::kOu, "", std::string(in.get_string("Name")), parent_id};
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:CreateOrganizationalUnit",
                                   [&](const OrgRow& o) { return ParentArn(o, parent_id); }));
  ASSIGN_OR_RETURN(org::TagList tags, org::ReadTags(in));
  ASSIGN_OR_RETURN(std::string suffix, org::RandomLowerAlnum(8));
  ou.id = "ou-" + org.root_id.substr(2) + "-" + suffix;
  RETURN_IF_ERROR(org::AuthorizeTags(ctx, org.OuArn(ou.id), tags));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    RETURN_IF_ERROR(RequireParent(tx, org, parent_id).status());
    ASSIGN_OR_RETURN(int depth, OuDepth(tx, org, parent_id));
    if (depth >= kMaxOuDepth) {
      return org::ConstraintViolation("OU_DEPTH_LIMIT_EXCEEDED",
                                      "OUs can be nested at most five levels deep.");
    }
    ASSIGN_OR_RETURN(bool taken, NameTaken(tx, org, parent_id, ou.name, ""));
    if (taken) return DuplicateOu();
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO org_units (ou_id, org_id, parent_id, name, "
                                        "created_at) VALUES (?, ?, ?, ?, ?)"));
    q->Bind(1, ou.id).Bind(2, org.org_id).Bind(3, parent_id).Bind(4, ou.name);
    q->Bind(5, internal::NowSeconds(ctx));
    RETURN_IF_ERROR(q->Run());
    RETURN_IF_ERROR(org::PutTags(tx, org, ou.id, tags));
    return org::AttachDefaultScp(tx, org, ou.id);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("OrganizationalUnit", OuJson(org, ou));
  return out;
}

Result<json::Value> OrganizationsService::UpdateOrganizationalUnit(server::RequestContext& ctx,
                                                                   const json::Value& in) {
  std::string ou_id(in.get_string("OrganizationalUnitId"));
  std::string name(in.get_string("Name"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:UpdateOrganizationalUnit",
                                   [&](const OrgRow& o) { return o.OuArn(ou_id); }));
  Node ou;
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    ASSIGN_OR_RETURN(ou, RequireOu(tx, org, ou_id));
    if (name.empty() || name == ou.name) return Status::Ok();
    ASSIGN_OR_RETURN(bool taken, NameTaken(tx, org, ou.parent_id, name, ou.id));
    if (taken) return DuplicateOu();
    ASSIGN_OR_RETURN(auto q,
                     tx.Prepare("UPDATE org_units SET name = ? WHERE org_id = ? AND ou_id = ?"));
    q->Bind(1, name).Bind(2, org.org_id).Bind(3, ou.id);
    RETURN_IF_ERROR(q->Run());
    ou.name = name;
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("OrganizationalUnit", OuJson(org, ou));
  return out;
}

Result<json::Value> OrganizationsService::DescribeOrganizationalUnit(server::RequestContext& ctx,
                                                                     const json::Value& in) {
  std::string ou_id(in.get_string("OrganizationalUnitId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:DescribeOrganizationalUnit",
                                   [&](const OrgRow& o) { return o.OuArn(ou_id); }));
  Node ou;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ou, RequireOu(tx, org, ou_id));
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("OrganizationalUnit", OuJson(org, ou));
  return out;
}

Result<json::Value> OrganizationsService::DeleteOrganizationalUnit(server::RequestContext& ctx,
                                                                   const json::Value& in) {
  std::string ou_id(in.get_string("OrganizationalUnitId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:DeleteOrganizationalUnit",
                                   [&](const OrgRow& o) { return o.OuArn(ou_id); }));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    RETURN_IF_ERROR(RequireOu(tx, org, ou_id).status());
    ASSIGN_OR_RETURN(auto child_ous, org::ChildrenOf(tx, org, ou_id, NodeType::kOu));
    ASSIGN_OR_RETURN(auto accounts, org::ChildrenOf(tx, org, ou_id, NodeType::kAccount));
    if (!child_ous.empty() || !accounts.empty()) {
      return Status::Modeled("OrganizationalUnitNotEmptyException",
                             "The OU still contains accounts or child OUs; move or delete them "
                             "first.");
    }
    for (std::string_view sql : {"DELETE FROM org_attachments WHERE org_id = ? AND target_id = ?",
                                 "DELETE FROM org_units WHERE org_id = ? AND ou_id = ?"}) {
      ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
      q->Bind(1, org.org_id).Bind(2, ou_id);
      RETURN_IF_ERROR(q->Run());
    }
    return org::DeleteTags(tx, org, ou_id);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::ListOrganizationalUnitsForParent(
    server::RequestContext& ctx, const json::Value& in) {
  std::string parent_id(in.get_string("ParentId"));
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(
      OrgRow org,
      org::Authorized(db_, engine_, ctx, "organizations:ListOrganizationalUnitsForParent",
                      [&](const OrgRow& o) { return ParentArn(o, parent_id); }));
  std::vector<Node> ous;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(RequireParent(tx, org, parent_id).status());
    ASSIGN_OR_RETURN(ous, org::ChildrenOf(tx, org, parent_id, NodeType::kOu));
    return Status::Ok();
  }));
  std::vector<json::Value> items;
  for (const Node& ou : ous) items.push_back(OuJson(org, ou));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "OrganizationalUnits", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::ListChildren(server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string parent_id(in.get_string("ParentId"));
  std::string_view child_type = in.get_string("ChildType");
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:ListChildren",
                                   [&](const OrgRow& o) { return ParentArn(o, parent_id); }));
  NodeType type = child_type == "ACCOUNT" ? NodeType::kAccount : NodeType::kOu;
  std::vector<Node> children;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(RequireParent(tx, org, parent_id).status());
    ASSIGN_OR_RETURN(children, org::ChildrenOf(tx, org, parent_id, type));
    return Status::Ok();
  }));
  std::vector<json::Value> items;
  for (const Node& c : children) {
    json::Value v = json::Value::MakeObject();
    v.set("Id", c.id);
    v.set("Type", org::NodeTypeName(c.type));
    items.push_back(std::move(v));
  }
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Children", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::ListParents(server::RequestContext& ctx,
                                                      const json::Value& in) {
  std::string child_id(in.get_string("ChildId"));
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:ListParents",
                                   [&](const OrgRow& o) { return ChildArn(o, child_id); }));
  std::optional<Node> child;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(child, org::FindNode(tx, org, child_id));
    return Status::Ok();
  }));
  if (!child || child->type == NodeType::kRoot) return org::ChildNotFound();
  json::Value parent = json::Value::MakeObject();
  parent.set("Id", child->parent_id);
  parent.set("Type", child->parent_id.starts_with("ou-") ? "ORGANIZATIONAL_UNIT" : "ROOT");
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Parents", {std::move(parent)}, page);
  return out;
}

}  // namespace rampart::iam
