// Accounts leaving an organization: RemoveAccountFromOrganization (the
// management account removes a member) and LeaveOrganization (a member
// leaves). The account becomes standalone: its OU placement, the SCPs
// attached to it and its tags go with it (a delegated administrator must
// be deregistered first, as in AWS), and the authorizer's cached policies are dropped, so SCPs
// stop applying on its very next request. Its roles, including
// OrganizationAccountAccessRole, stay, as in AWS. Its name and e-mail
// address are remembered for a later invitation. CloseAccount closes a
// member for good.
#include <algorithm>
#include <string>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/iam/organizations.h"

namespace rampart::iam {

using org::OrgRow;

namespace {

Status ManagementCannotLeave() {
  return Status::Modeled("MasterCannotLeaveOrganizationException",
                         "The management account cannot leave its organization; remove the "
                         "member accounts and delete the organization instead.");
}

// Deletes every row that ties account_id to org, in one transaction.
Status DetachAccount(store::Tx& tx, const OrgRow& org, std::string_view account_id) {
  ASSIGN_OR_RETURN(auto account, org::FindAccount(tx, org, account_id));
  if (!account) return org::AccountNotFound();
  ASSIGN_OR_RETURN(int64_t delegations,
                   internal::CountOf(tx,
                                     "SELECT COUNT(*) FROM org_delegated_admins WHERE org_id = ? "
                                     "AND account_id = ?",
                                     {org.org_id, account_id}));
  if (delegations > 0) {
    return org::ConstraintViolation("CANNOT_REMOVE_DELEGATED_ADMINISTRATOR_FROM_ORG",
                                    "The account is a delegated administrator; deregister it "
                                    "before it leaves the organization.");
  }
  // Remembered for a later invitation (org_handshakes.cc).
  ASSIGN_OR_RETURN(auto remember,
                   tx.Prepare("INSERT INTO org_former_accounts (account_id, name, email) VALUES "
                              "(?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET name = "
                              "excluded.name, email = excluded.email"));
  remember->Bind(1, account_id).Bind(2, account->name).Bind(3, account->email);
  RETURN_IF_ERROR(remember->Run());
  for (std::string_view sql : {
           "DELETE FROM org_attachments WHERE org_id = ? AND target_id = ?",
           "DELETE FROM org_tags WHERE org_id = ? AND resource_id = ?",
           "DELETE FROM org_accounts WHERE org_id = ? AND account_id = ?",
       }) {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
    q->Bind(1, org.org_id).Bind(2, account_id);
    RETURN_IF_ERROR(q->Run());
  }
  return Status::Ok();
}

}  // namespace

Result<json::Value> OrganizationsService::RemoveAccountFromOrganization(server::RequestContext& ctx,
                                                                        const json::Value& in) {
  std::string account_id(in.get_string("AccountId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:RemoveAccountFromOrganization",
                                   [&](const OrgRow& o) { return o.AccountArn(account_id); }));
  if (account_id == org.management_account) return ManagementCannotLeave();
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    return DetachAccount(tx, org, account_id);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::LeaveOrganization(server::RequestContext& ctx,
                                                            const json::Value& in) {
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx, "organizations:LeaveOrganization",
                                               org::AnyResource(), {}, /*members_allowed=*/true));
  const std::string& caller = ctx.principal().account_id;
  if (caller == org.management_account) return ManagementCannotLeave();
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    return DetachAccount(tx, org, caller);
  }));
  return json::Value::MakeObject();
}

namespace {

// "You can close only 10% of member accounts, between 10 and 1000, within
// a rolling 30 day period" (CloseAccount, AWS API reference).
constexpr int64_t kCloseWindowSeconds = 30 * 24 * 3600;

// 10% of the active member accounts, at least 10 and at most 1,000.
Result<int64_t> CloseQuota(store::Tx& tx, const OrgRow& org) {
  ASSIGN_OR_RETURN(int64_t members,
                   internal::CountOf(tx,
                                     "SELECT COUNT(*) FROM org_accounts WHERE org_id = ? AND "
                                     "account_id != ? AND status = 'ACTIVE'",
                                     {org.org_id, org.management_account}));
  return std::clamp<int64_t>(members / 10, 10, 1000);
}

Status CloseAccountRow(store::Tx& tx, const OrgRow& org, std::string_view account_id,
                       int64_t now) {
  ASSIGN_OR_RETURN(auto account, org::FindAccount(tx, org, account_id));
  if (!account) return org::AccountNotFound();
  if (account->status != "ACTIVE") {
    return Status::Modeled("AccountAlreadyClosedException",
                           "You attempted to close an account that is already closed.");
  }
  ASSIGN_OR_RETURN(int64_t quota, CloseQuota(tx, org));
  ASSIGN_OR_RETURN(auto recent, tx.Prepare("SELECT COUNT(*) FROM org_account_closures WHERE "
                                           "org_id = ? AND closed_at > ?"));
  recent->Bind(1, org.org_id).Bind(2, now - kCloseWindowSeconds);
  ASSIGN_OR_RETURN(bool row, recent->Step());
  if (row && recent->Int(0) >= quota) {
    return org::ConstraintViolation("CLOSE_ACCOUNT_QUOTA_EXCEEDED",
                                    "This organization has closed " + std::to_string(quota) +
                                        " accounts in the last 30 days, its quota.");
  }
  ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE org_accounts SET status = 'SUSPENDED', closed_at = ? "
                                      "WHERE org_id = ? AND account_id = ?"));
  q->Bind(1, now).Bind(2, org.org_id).Bind(3, account_id);
  RETURN_IF_ERROR(q->Run());
  ASSIGN_OR_RETURN(auto log, tx.Prepare("INSERT OR REPLACE INTO org_account_closures (org_id, "
                                        "account_id, closed_at) VALUES (?, ?, ?)"));
  log->Bind(1, org.org_id).Bind(2, account_id).Bind(3, now);
  RETURN_IF_ERROR(log->Run());
  return server::CredentialStore::MarkAccountClosed(tx, account_id, now);
}

}  // namespace

// Closing completes at once (AWS passes through PENDING_CLOSURE): the
// account stays in the organization as SUSPENDED, and none of its access
// keys or sessions authenticates from the next request on.
Result<json::Value> OrganizationsService::CloseAccount(server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string account_id(in.get_string("AccountId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:CloseAccount",
                                   [&](const OrgRow& o) { return o.AccountArn(account_id); }));
  if (account_id == org.management_account) {
    return org::ConstraintViolation("CANNOT_CLOSE_MANAGEMENT_ACCOUNT",
                                    "The management account cannot be closed with CloseAccount.");
  }
  const int64_t now = internal::NowSeconds(ctx);
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    return CloseAccountRow(tx, org, account_id, now);
  }));
  if (creds_ != nullptr) creds_->InvalidateCache();
  return json::Value::MakeObject();
}

}  // namespace rampart::iam
