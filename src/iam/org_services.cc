// Organizations and other services: trusted access
// (EnableAWSServiceAccess, DisableAWSServiceAccess,
// ListAWSServiceAccessForOrganization) and delegated administrators
// (RegisterDelegatedAdministrator, DeregisterDelegatedAdministrator,
// ListDelegatedAdministrators, ListDelegatedServicesForAccount).
//
// A delegated administrator of any service may also call Organizations'
// read-only operations (org::Authorized).
#include <algorithm>
#include <cctype>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/iam/organizations.h"

namespace rampart::iam {

using org::OrgRow;

namespace {

constexpr std::string_view kServiceSuffix = ".amazonaws.com";

// A service principal such as cloudtrail.amazonaws.com: the model's
// characters, and the AWS service form (InvalidInputException otherwise).
Result<std::string> ReadServicePrincipal(const json::Value& in) {
  std::string_view sp = in.get_string("ServicePrincipal");
  bool chars_ok = std::all_of(sp.begin(), sp.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("_+=,.@-").find(c) != std::string_view::npos;
  });
  if (!chars_ok || sp.size() <= kServiceSuffix.size() || !sp.ends_with(kServiceSuffix)) {
    return org::InvalidInput("UNRECOGNIZED_SERVICE_PRINCIPAL",
                             "The service principal " + std::string(sp) +
                                 " is not a service principal of the form "
                                 "<service>.amazonaws.com.");
  }
  return std::string(sp);
}

std::vector<server::ConditionKey> ServicePrincipalKey(std::string_view sp) {
  return {{"organizations:ServicePrincipal", {std::string(sp)}}};
}

Result<std::vector<std::pair<std::string, int64_t>>> EnabledServices(store::Tx& tx,
                                                                     const OrgRow& org) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT service_principal, enabled_at FROM "
                                      "org_service_access WHERE org_id = ? ORDER BY "
                                      "service_principal"));
  q->Bind(1, org.org_id);
  std::vector<std::pair<std::string, int64_t>> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    out.emplace_back(q->Text(0), q->Int(1));
  }
  return out;
}

struct Delegation {
  std::string account_id;
  std::string service_principal;
  int64_t enabled_at = 0;
};

// Delegations of org, optionally only those of one account or service.
Result<std::vector<Delegation>> Delegations(store::Tx& tx, const OrgRow& org,
                                            std::string_view account_id,
                                            std::string_view service_principal) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT account_id, service_principal, enabled_at FROM "
                                      "org_delegated_admins WHERE org_id = ? AND (? = '' OR "
                                      "account_id = ?) AND (? = '' OR service_principal = ?) "
                                      "ORDER BY account_id, service_principal"));
  q->Bind(1, org.org_id).Bind(2, account_id).Bind(3, account_id);
  q->Bind(4, service_principal).Bind(5, service_principal);
  std::vector<Delegation> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    out.push_back({q->Text(0), q->Text(1), q->Int(2)});
  }
  return out;
}

Status NotRegistered() {
  return Status::Modeled("AccountNotRegisteredException",
                         "The specified account is not a delegated administrator for this "
                         "service.");
}

// The member account a delegation request names (AccountNotFoundException
// for accounts outside the organization; the management account cannot be
// its own delegated administrator).
Result<org::AccountRow> RequireMember(store::Tx& tx, const OrgRow& org,
                                      std::string_view account_id) {
  ASSIGN_OR_RETURN(auto account, org::FindAccount(tx, org, account_id));
  if (!account) return org::AccountNotFound();
  if (account_id == org.management_account) {
    return org::ConstraintViolation("CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR",
                                    "The management account cannot be a delegated "
                                    "administrator of its own organization.");
  }
  return *account;
}

// What Register/DeregisterDelegatedAdministrator act on, once authorized
// (on the account's ARN, with organizations:ServicePrincipal).
struct DelegationRequest {
  OrgRow org;
  std::string account_id;
  std::string service_principal;
};

Result<DelegationRequest> AuthorizedDelegation(store::Database& db, const EngineAuthorizer* engine,
                                               const server::RequestContext& ctx,
                                               const json::Value& in, std::string_view action) {
  DelegationRequest d;
  d.account_id = std::string(in.get_string("AccountId"));
  ASSIGN_OR_RETURN(d.service_principal, ReadServicePrincipal(in));
  ASSIGN_OR_RETURN(d.org, org::Authorized(
                              db, engine, ctx, action,
                              [&](const OrgRow& o) { return o.AccountArn(d.account_id); },
                              ServicePrincipalKey(d.service_principal)));
  return d;
}

}  // namespace

Result<json::Value> OrganizationsService::EnableAWSServiceAccess(server::RequestContext& ctx,
                                                                 const json::Value& in) {
  ASSIGN_OR_RETURN(std::string sp, ReadServicePrincipal(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:EnableAWSServiceAccess",
                                   org::AnyResource(), ServicePrincipalKey(sp)));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(org::RequireSameOrg(tx, org).status());
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO org_service_access (org_id, "
                                        "service_principal, enabled_at) VALUES (?, ?, ?) ON "
                                        "CONFLICT (org_id, service_principal) DO NOTHING"));
    q->Bind(1, org.org_id).Bind(2, sp).Bind(3, internal::NowSeconds(ctx));
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::DisableAWSServiceAccess(server::RequestContext& ctx,
                                                                  const json::Value& in) {
  ASSIGN_OR_RETURN(std::string sp, ReadServicePrincipal(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:DisableAWSServiceAccess",
                                   org::AnyResource(), ServicePrincipalKey(sp)));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(org::RequireSameOrg(tx, org).status());
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM org_service_access WHERE org_id = ? AND "
                                        "service_principal = ?"));
    q->Bind(1, org.org_id).Bind(2, sp);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::ListAWSServiceAccessForOrganization(
    server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx,
                                               "organizations:ListAWSServiceAccessForOrganization",
                                               org::AnyResource()));
  std::vector<std::pair<std::string, int64_t>> services;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(services, EnabledServices(tx, org));
    return Status::Ok();
  }));
  std::vector<json::Value> items;
  for (const auto& [sp, at] : services) {
    json::Value v = json::Value::MakeObject();
    v.set("ServicePrincipal", sp);
    v.set("DateEnabled", at);
    items.push_back(std::move(v));
  }
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "EnabledServicePrincipals", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::RegisterDelegatedAdministrator(
    server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(
      DelegationRequest d,
      AuthorizedDelegation(db_, engine_, ctx, in, "organizations:RegisterDelegatedAdministrator"));
  const OrgRow& org = d.org;
  const std::string& account_id = d.account_id;
  const std::string& sp = d.service_principal;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(org::RequireSameOrg(tx, org).status());
    RETURN_IF_ERROR(RequireMember(tx, org, account_id).status());
    ASSIGN_OR_RETURN(int64_t trusted,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM org_service_access "
                                       "WHERE org_id = ? AND service_principal = ?",
                                       {org.org_id, sp}));
    if (trusted == 0) {
      return org::ConstraintViolation("SERVICE_ACCESS_NOT_ENABLED",
                                      "Enable trusted access for " + sp +
                                          " (EnableAWSServiceAccess) before registering a "
                                          "delegated administrator for it.");
    }
    ASSIGN_OR_RETURN(auto existing, Delegations(tx, org, account_id, sp));
    if (!existing.empty()) {
      return Status::Modeled(
          "AccountAlreadyRegisteredException",
          "The account " + account_id + " is already a delegated administrator for " + sp + ".");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO org_delegated_admins (org_id, account_id, "
                                        "service_principal, enabled_at) VALUES (?, ?, ?, ?)"));
    q->Bind(1, org.org_id).Bind(2, account_id).Bind(3, sp).Bind(4, internal::NowSeconds(ctx));
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::DeregisterDelegatedAdministrator(
    server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(DelegationRequest d,
                   AuthorizedDelegation(db_, engine_, ctx, in,
                                        "organizations:DeregisterDelegatedAdministrator"));
  const OrgRow& org = d.org;
  const std::string& account_id = d.account_id;
  const std::string& sp = d.service_principal;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(org::RequireSameOrg(tx, org).status());
    ASSIGN_OR_RETURN(auto account, org::FindAccount(tx, org, account_id));
    if (!account) return org::AccountNotFound();
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM org_delegated_admins WHERE org_id = ? AND "
                                        "account_id = ? AND service_principal = ?"));
    q->Bind(1, org.org_id).Bind(2, account_id).Bind(3, sp);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NotRegistered() : Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::ListDelegatedAdministrators(server::RequestContext& ctx,
                                                                      const json::Value& in) {
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  std::string sp;
  if (!in.get_string("ServicePrincipal").empty()) {
    ASSIGN_OR_RETURN(sp, ReadServicePrincipal(in));
  }
  std::vector<server::ConditionKey> keys;
  if (!sp.empty()) keys = ServicePrincipalKey(sp);
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:ListDelegatedAdministrators",
                                   org::AnyResource(), keys));
  std::vector<json::Value> items;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto delegations, Delegations(tx, org, "", sp));
    std::string last;
    for (const Delegation& d : delegations) {
      if (d.account_id == last) continue;  // once per account, with its first delegation
      last = d.account_id;
      ASSIGN_OR_RETURN(auto account, org::FindAccount(tx, org, d.account_id));
      if (!account) continue;
      json::Value v = org::AccountJson(org, *account);
      v.set("DelegationEnabledDate", d.enabled_at);
      items.push_back(std::move(v));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "DelegatedAdministrators", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::ListDelegatedServicesForAccount(
    server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  std::string account_id(in.get_string("AccountId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(
                       db_, engine_, ctx, "organizations:ListDelegatedServicesForAccount",
                       [&](const OrgRow& o) { return o.AccountArn(account_id); }));
  std::vector<json::Value> items;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto account, org::FindAccount(tx, org, account_id));
    if (!account) return org::AccountNotFound();
    ASSIGN_OR_RETURN(auto delegations, Delegations(tx, org, account_id, ""));
    if (delegations.empty()) return NotRegistered();
    for (const Delegation& d : delegations) {
      json::Value v = json::Value::MakeObject();
      v.set("ServicePrincipal", d.service_principal);
      v.set("DelegationEnabledDate", d.enabled_at);
      items.push_back(std::move(v));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "DelegatedServices", std::move(items), page);
  return out;
}

}  // namespace rampart::iam
