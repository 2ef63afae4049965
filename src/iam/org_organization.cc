// Organizations: the tables, handler registration, and the organization
// itself (CreateOrganization, DescribeOrganization, DeleteOrganization,
// ListRoots, EnablePolicyType, DisablePolicyType).
#include <array>
#include <utility>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/iam/organizations.h"

namespace rampart::iam {

using org::OrgRow;

namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE org_organizations (
  org_id TEXT PRIMARY KEY,
  management_account TEXT NOT NULL UNIQUE,
  management_email TEXT NOT NULL,
  root_id TEXT NOT NULL UNIQUE,
  scp_enabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE org_accounts (
  account_id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  name TEXT NOT NULL,
  email TEXT NOT NULL,
  email_key TEXT NOT NULL UNIQUE,
  joined_method TEXT NOT NULL,
  joined_at INTEGER NOT NULL
);
CREATE INDEX org_accounts_parent ON org_accounts (org_id, parent_id);
CREATE TABLE org_units (
  ou_id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX org_units_parent ON org_units (org_id, parent_id);
CREATE TABLE org_policies (
  policy_id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  content TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX org_policies_org ON org_policies (org_id, type);
CREATE TABLE org_attachments (
  org_id TEXT NOT NULL,
  policy_id TEXT NOT NULL,
  target_id TEXT NOT NULL,
  PRIMARY KEY (org_id, policy_id, target_id)
);
CREATE INDEX org_attachments_target ON org_attachments (org_id, target_id);
CREATE TABLE org_create_account_status (
  request_id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  account_name TEXT NOT NULL,
  state TEXT NOT NULL,
  failure_reason TEXT NOT NULL,
  account_id TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  completed_at INTEGER NOT NULL
);
CREATE INDEX org_create_account_status_org ON org_create_account_status (org_id, request_id);
)sql";

constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE org_tags (
  org_id TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (org_id, resource_id, tag_key)
);
)sql";

// Trusted access and delegated administrators (org_services.cc).
constexpr std::string_view kSchemaV3 = R"sql(
CREATE TABLE org_service_access (
  org_id TEXT NOT NULL,
  service_principal TEXT NOT NULL,
  enabled_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, service_principal)
);
CREATE TABLE org_delegated_admins (
  org_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  service_principal TEXT NOT NULL,
  enabled_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, account_id, service_principal)
);
)sql";

// Invitations (org_handshakes.cc), and what accounts that left were
// called, for when they are invited back.
constexpr std::string_view kSchemaV4 = R"sql(
CREATE TABLE org_handshakes (
  handshake_id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  management_account TEXT NOT NULL,
  management_email TEXT NOT NULL,
  target_account TEXT NOT NULL,
  state TEXT NOT NULL,
  notes TEXT NOT NULL,
  tags TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX org_handshakes_target ON org_handshakes (target_account);
CREATE INDEX org_handshakes_org ON org_handshakes (org_id);
CREATE TABLE org_former_accounts (
  account_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL
);
)sql";

// The delegation policy (org_resource_policy.cc): at most one per
// organization.
constexpr std::string_view kSchemaV5 = R"sql(
CREATE TABLE org_resource_policies (
  org_id TEXT PRIMARY KEY,
  policy_id TEXT NOT NULL UNIQUE,
  content TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
)sql";

// CloseAccount (org_membership.cc): a closed account stays in the
// organization as SUSPENDED; the closures are kept apart for the 30-day
// quota, so that removing a closed account does not reset it.
constexpr std::string_view kSchemaV6 = R"sql(
ALTER TABLE org_accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'ACTIVE';
ALTER TABLE org_accounts ADD COLUMN closed_at INTEGER;
CREATE TABLE org_account_closures (
  org_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  closed_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, account_id)
);
)sql";

constexpr std::array<store::Migration, 6> kMigrations = {{{1, kSchemaV1},
                                                          {2, kSchemaV2},
                                                          {3, kSchemaV3},
                                                          {4, kSchemaV4},
                                                          {5, kSchemaV5},
                                                          {6, kSchemaV6}}};

json::Value PolicyTypesJson(const OrgRow& org) {
  json::Value types = json::Value::MakeArray();
  if (org.scp_enabled) {
    json::Value t = json::Value::MakeObject();
    t.set("Type", org::kScpType);
    t.set("Status", "ENABLED");
    types.push(std::move(t));
  }
  return types;
}

json::Value OrganizationJson(const OrgRow& org) {
  json::Value o = json::Value::MakeObject();
  o.set("Id", org.org_id);
  o.set("Arn", org.Arn());
  o.set("FeatureSet", "ALL");
  o.set("MasterAccountArn", org.AccountArn(org.management_account));
  o.set("MasterAccountId", org.management_account);
  o.set("MasterAccountEmail", org.management_email);
  o.set("AvailablePolicyTypes", PolicyTypesJson(org));
  json::Value out = json::Value::MakeObject();
  out.set("Organization", std::move(o));
  return out;
}

json::Value RootJson(const OrgRow& org) {
  json::Value r = json::Value::MakeObject();
  r.set("Id", org.root_id);
  r.set("Arn", org.RootArn());
  r.set("Name", "Root");
  r.set("PolicyTypes", PolicyTypesJson(org));
  return r;
}

Status InsertOrganization(store::Tx& tx, const OrgRow& org) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare(
          "INSERT INTO org_organizations (org_id, management_account, management_email, root_id, "
          "scp_enabled, created_at) VALUES (?, ?, ?, ?, 0, ?)"));
  q->Bind(1, org.org_id).Bind(2, org.management_account).Bind(3, org.management_email);
  q->Bind(4, org.root_id).Bind(5, org.created_at);
  return q->Run();
}

Status RequireRoot(const OrgRow& org, std::string_view root_id) {
  if (root_id == org.root_id) return Status::Ok();
  return Status::Modeled("RootNotFoundException",
                         "We can't find a root with the RootId that you specified.");
}

// Attaches FullAWSAccess to the root, every OU and every account.
Status AttachFullAccessEverywhere(store::Tx& tx, const OrgRow& org) {
  for (std::string_view sql :
       {"INSERT INTO org_attachments (org_id, policy_id, target_id) VALUES (?, ?, ?)",
        "INSERT INTO org_attachments (org_id, policy_id, target_id) "
        "SELECT org_id, ?, ou_id FROM org_units WHERE org_id = ?",
        "INSERT INTO org_attachments (org_id, policy_id, target_id) "
        "SELECT org_id, ?, account_id FROM org_accounts WHERE org_id = ?"}) {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
    if (sql.find("VALUES") != std::string_view::npos) {
      q->Bind(1, org.org_id).Bind(2, org::kFullAccessId).Bind(3, org.root_id);
    } else {
      q->Bind(1, org::kFullAccessId).Bind(2, org.org_id);
    }
    RETURN_IF_ERROR(q->Run());
  }
  return Status::Ok();
}

Status SetScpEnabled(store::Tx& tx, const OrgRow& org, bool enabled) {
  ASSIGN_OR_RETURN(auto q,
                   tx.Prepare("UPDATE org_organizations SET scp_enabled = ? WHERE org_id = ?"));
  q->Bind(1, int64_t{enabled ? 1 : 0}).Bind(2, org.org_id);
  return q->Run();
}

Status DeleteOrgRows(store::Tx& tx, const OrgRow& org) {
  for (std::string_view table : {"org_tags", "org_attachments", "org_policies", "org_units",
                                 "org_accounts", "org_create_account_status", "org_service_access",
                                 "org_delegated_admins", "org_handshakes", "org_resource_policies",
                                 "org_account_closures", "org_organizations"}) {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM " + std::string(table) + " WHERE org_id = ?"));
    q->Bind(1, org.org_id);
    RETURN_IF_ERROR(q->Run());
  }
  return Status::Ok();
}

}  // namespace

Status OrganizationsService::Migrate(store::Database& db) {
  return db.Migrate("organizations", kMigrations);
}

void OrganizationsService::Register(server::Registry& registry) {
  static constexpr std::pair<std::string_view, Handler> kHandlers[] = {
      {"CreateOrganization", &OrganizationsService::CreateOrganization},
      {"DescribeOrganization", &OrganizationsService::DescribeOrganization},
      {"DeleteOrganization", &OrganizationsService::DeleteOrganization},
      {"ListRoots", &OrganizationsService::ListRoots},
      {"EnablePolicyType", &OrganizationsService::EnablePolicyType},
      {"DisablePolicyType", &OrganizationsService::DisablePolicyType},
      {"CreateAccount", &OrganizationsService::CreateAccount},
      {"DescribeCreateAccountStatus", &OrganizationsService::DescribeCreateAccountStatus},
      {"ListCreateAccountStatus", &OrganizationsService::ListCreateAccountStatus},
      {"DescribeAccount", &OrganizationsService::DescribeAccount},
      {"ListAccounts", &OrganizationsService::ListAccounts},
      {"ListAccountsForParent", &OrganizationsService::ListAccountsForParent},
      {"MoveAccount", &OrganizationsService::MoveAccount},
      {"CreateOrganizationalUnit", &OrganizationsService::CreateOrganizationalUnit},
      {"UpdateOrganizationalUnit", &OrganizationsService::UpdateOrganizationalUnit},
      {"DescribeOrganizationalUnit", &OrganizationsService::DescribeOrganizationalUnit},
      {"DeleteOrganizationalUnit", &OrganizationsService::DeleteOrganizationalUnit},
      {"ListOrganizationalUnitsForParent", &OrganizationsService::ListOrganizationalUnitsForParent},
      {"ListChildren", &OrganizationsService::ListChildren},
      {"ListParents", &OrganizationsService::ListParents},
      {"CreatePolicy", &OrganizationsService::CreatePolicy},
      {"UpdatePolicy", &OrganizationsService::UpdatePolicy},
      {"DeletePolicy", &OrganizationsService::DeletePolicy},
      {"DescribePolicy", &OrganizationsService::DescribePolicy},
      {"ListPolicies", &OrganizationsService::ListPolicies},
      {"AttachPolicy", &OrganizationsService::AttachPolicy},
      {"DetachPolicy", &OrganizationsService::DetachPolicy},
      {"ListPoliciesForTarget", &OrganizationsService::ListPoliciesForTarget},
      {"ListTargetsForPolicy", &OrganizationsService::ListTargetsForPolicy},
      {"TagResource", &OrganizationsService::TagResource},
      {"UntagResource", &OrganizationsService::UntagResource},
      {"ListTagsForResource", &OrganizationsService::ListTagsForResource},
      {"RemoveAccountFromOrganization", &OrganizationsService::RemoveAccountFromOrganization},
      {"CloseAccount", &OrganizationsService::CloseAccount},
      {"InviteAccountToOrganization", &OrganizationsService::InviteAccountToOrganization},
      {"AcceptHandshake", &OrganizationsService::AcceptHandshake},
      {"DeclineHandshake", &OrganizationsService::DeclineHandshake},
      {"CancelHandshake", &OrganizationsService::CancelHandshake},
      {"DescribeHandshake", &OrganizationsService::DescribeHandshake},
      {"ListHandshakesForAccount", &OrganizationsService::ListHandshakesForAccount},
      {"ListHandshakesForOrganization", &OrganizationsService::ListHandshakesForOrganization},
      {"EnableAllFeatures", &OrganizationsService::EnableAllFeatures},
      {"LeaveOrganization", &OrganizationsService::LeaveOrganization},
      {"EnableAWSServiceAccess", &OrganizationsService::EnableAWSServiceAccess},
      {"DisableAWSServiceAccess", &OrganizationsService::DisableAWSServiceAccess},
      {"ListAWSServiceAccessForOrganization",
       &OrganizationsService::ListAWSServiceAccessForOrganization},
      {"RegisterDelegatedAdministrator", &OrganizationsService::RegisterDelegatedAdministrator},
      {"DeregisterDelegatedAdministrator", &OrganizationsService::DeregisterDelegatedAdministrator},
      {"ListDelegatedAdministrators", &OrganizationsService::ListDelegatedAdministrators},
      {"ListDelegatedServicesForAccount", &OrganizationsService::ListDelegatedServicesForAccount},
      {"PutResourcePolicy", &OrganizationsService::PutResourcePolicy},
      {"DescribeResourcePolicy", &OrganizationsService::DescribeResourcePolicy},
      {"DeleteResourcePolicy", &OrganizationsService::DeleteResourcePolicy},
  };
  for (const auto& [name, fn] : kHandlers) {
    registry.Add("organizations", name,
                 [this, fn = fn](server::RequestContext& ctx, const json::Value& in) {
                   return (this->*fn)(ctx, in);
                 });
  }
}

Status OrganizationsService::WriteAndInvalidate(const std::function<Status(store::Tx&)>& fn) {
  Status st = db_.Write(fn);
  if (st.ok() && policy_cache_ != nullptr) policy_cache_->InvalidateAll();
  return st;
}

Result<json::Value> OrganizationsService::CreateOrganization(server::RequestContext& ctx,
                                                             const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("organizations:CreateOrganization", "*"));
  std::string_view feature_set = in.get_string("FeatureSet");
  if (!feature_set.empty() && feature_set != "ALL") {
    return org::InvalidInput("INVALID_ENUM",
                             "Rampart supports only organizations with the ALL feature set.");
  }
  OrgRow org;
  org.management_account = ctx.principal().account_id;
  // Rampart accounts carry no e-mail address of their own; the management
  // account gets a reserved (RFC 2606 .invalid) one.
  org.management_email = "root@" + org.management_account + ".rampart.invalid";
  org.created_at = internal::NowSeconds(ctx);
  ASSIGN_OR_RETURN(std::string org_suffix, org::RandomLowerAlnum(10));
  ASSIGN_OR_RETURN(std::string root_suffix, org::RandomLowerAlnum(4));
  org.org_id = "o-" + org_suffix;
  org.root_id = "r-" + root_suffix;
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, org::OrgOfAccount(tx, org.management_account));
    if (existing) {
      return Status::Modeled("AlreadyInOrganizationException",
                             "This account is already a member of an organization.");
    }
    RETURN_IF_ERROR(InsertOrganization(tx, org));
    org::AccountRow mgmt{org.management_account, org.root_id, "management",
                         org.management_email,   "INVITED",   org.created_at};
    return org::InsertAccount(tx, org, mgmt);
  }));
  return OrganizationJson(org);
}

Result<json::Value> OrganizationsService::DescribeOrganization(server::RequestContext& ctx,
                                                               const json::Value&) {
  // Member accounts may describe their organization too.
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:DescribeOrganization",
                                   org::AnyResource(), {}, /*members_allowed=*/true));
  return OrganizationJson(org);
}

Result<json::Value> OrganizationsService::DeleteOrganization(server::RequestContext& ctx,
                                                             const json::Value&) {
  ASSIGN_OR_RETURN(
      OrgRow org,
      org::Authorized(db_, engine_, ctx, "organizations:DeleteOrganization", org::AnyResource()));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    ASSIGN_OR_RETURN(int64_t members,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM org_accounts WHERE org_id = ? AND "
                                       "account_id <> ?",
                                       {org.org_id, org.management_account}));
    if (members > 0) {
      return Status::Modeled("OrganizationNotEmptyException",
                             "The organization still has member accounts; remove them before "
                             "deleting it.");
    }
    return DeleteOrgRows(tx, org);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::ListRoots(server::RequestContext& ctx,
                                                    const json::Value& in) {
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx, "organizations:ListRoots",
                                               org::AnyResource()));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Roots", {RootJson(org)}, page);
  return out;
}

Result<json::Value> OrganizationsService::EnablePolicyType(server::RequestContext& ctx,
                                                           const json::Value& in) {
  std::string root_id(in.get_string("RootId"));
  std::string type(in.get_string("PolicyType"));
  auto keys = org::PolicyTypeKey(type);
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(
                                   db_, engine_, ctx, "organizations:EnablePolicyType",
                                   [](const OrgRow& o) { return o.RootArn(); }, keys));
  RETURN_IF_ERROR(RequireRoot(org, root_id));
  RETURN_IF_ERROR(org::RequireScpType(type));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    if (org.scp_enabled) {
      return Status::Modeled("PolicyTypeAlreadyEnabledException",
                             "The specified policy type is already enabled in this root.");
    }
    RETURN_IF_ERROR(SetScpEnabled(tx, org, true));
    org.scp_enabled = true;
    return AttachFullAccessEverywhere(tx, org);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Root", RootJson(org));
  return out;
}

Result<json::Value> OrganizationsService::DisablePolicyType(server::RequestContext& ctx,
                                                            const json::Value& in) {
  std::string root_id(in.get_string("RootId"));
  std::string type(in.get_string("PolicyType"));
  auto keys = org::PolicyTypeKey(type);
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(
                                   db_, engine_, ctx, "organizations:DisablePolicyType",
                                   [](const OrgRow& o) { return o.RootArn(); }, keys));
  RETURN_IF_ERROR(RequireRoot(org, root_id));
  RETURN_IF_ERROR(org::RequireScpType(type));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    if (!org.scp_enabled) {
      return Status::Modeled("PolicyTypeNotEnabledException",
                             "The specified policy type isn't enabled in this root.");
    }
    // Disabling the type detaches every SCP from every target.
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM org_attachments WHERE org_id = ?"));
    q->Bind(1, org.org_id);
    RETURN_IF_ERROR(q->Run());
    org.scp_enabled = false;
    return SetScpEnabled(tx, org, false);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Root", RootJson(org));
  return out;
}

}  // namespace rampart::iam
