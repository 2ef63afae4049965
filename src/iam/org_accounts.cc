// Organizations accounts: CreateAccount (a real Rampart account with the
// OrganizationAccountAccessRole), DescribeCreateAccountStatus,
// ListCreateAccountStatus, DescribeAccount, ListAccounts,
// ListAccountsForParent and MoveAccount.
//
// CreateAccount completes synchronously: the returned status is SUCCEEDED
// (or FAILED with AWS's FailureReason, e.g. EMAIL_ALREADY_EXISTS), and the
// same status is kept for DescribeCreateAccountStatus.
#include <algorithm>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/core/ids.h"
#include "rampart/iam/organizations.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {

using org::OrgRow;

namespace {

constexpr std::string_view kDefaultRoleName = "OrganizationAccountAccessRole";
constexpr std::string_view kAdminPolicyName = "AdministratorAccess";
constexpr std::string_view kAdminPolicy =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";
constexpr int kAccountIdAttempts = 5;

struct CreateStatus {
  std::string request_id;
  std::string account_name;
  std::string state;
  std::string failure_reason;
  std::string account_id;
  int64_t requested_at = 0;
  int64_t completed_at = 0;
};

json::Value StatusJson(const CreateStatus& s) {
  json::Value v = json::Value::MakeObject();
  v.set("Id", s.request_id);
  v.set("AccountName", s.account_name);
  v.set("State", s.state);
  v.set("RequestedTimestamp", s.requested_at);
  v.set("CompletedTimestamp", s.completed_at);
  if (!s.account_id.empty()) v.set("AccountId", s.account_id);
  if (!s.failure_reason.empty()) v.set("FailureReason", s.failure_reason);
  return v;
}

Status InsertStatus(store::Tx& tx, const OrgRow& org, const CreateStatus& s) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare("INSERT INTO org_create_account_status (request_id, org_id, account_name, state, "
                 "failure_reason, account_id, requested_at, completed_at) VALUES (?, ?, ?, ?, ?, "
                 "?, ?, ?)"));
  q->Bind(1, s.request_id).Bind(2, org.org_id).Bind(3, s.account_name).Bind(4, s.state);
  q->Bind(5, s.failure_reason).Bind(6, s.account_id).Bind(7, s.requested_at);
  q->Bind(8, s.completed_at);
  return q->Run();
}

Result<std::vector<CreateStatus>> LoadStatuses(store::Tx& tx, const OrgRow& org,
                                               std::string_view request_id) {
  std::string sql =
      "SELECT request_id, account_name, state, failure_reason, account_id, requested_at, "
      "completed_at FROM org_create_account_status WHERE org_id = ?";
  if (!request_id.empty()) sql += " AND request_id = ?";
  sql += " ORDER BY requested_at, request_id";
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  q->Bind(1, org.org_id);
  if (!request_id.empty()) q->Bind(2, request_id);
  std::vector<CreateStatus> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return out;
    out.push_back(CreateStatus{q->Text(0), q->Text(1), q->Text(2), q->Text(3), q->Text(4),
                               q->Int(5), q->Int(6)});
  }
}

std::string LowerCase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A fresh 12-digit id that no Rampart account has yet.
Result<std::string> FreshAccountId(store::Database& db) {
  for (int i = 0; i < kAccountIdAttempts; ++i) {
    ASSIGN_OR_RETURN(std::string id, ids::AccountId());
    int64_t taken = 0;
    RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(
          taken, internal::CountOf(tx, "SELECT COUNT(*) FROM accounts WHERE account_id = ?", {id}));
      return Status::Ok();
    }));
    if (taken == 0) return id;
  }
  return Status::Internal("could not pick an unused account id");
}

// The role the management account assumes to administer the new account:
// trusts the management account, grants everything.
Status CreateAccessRole(store::Tx& tx, const OrgRow& org, std::string_view account_id,
                        std::string_view role_name, int64_t now) {
  internal::RoleRow role;
  role.account_id = std::string(account_id);
  role.name = std::string(role_name);
  role.path = "/";
  role.description = "Administrator access for the organization's management account.";
  role.trust_policy = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":)"
                      R"({"AWS":"arn:aws:iam::)" +
                      org.management_account + R"(:root"},"Action":"sts:AssumeRole"}]})";
  role.created_at = now;
  ASSIGN_OR_RETURN(role.role_id, ids::AccessKeyId("AROA"));
  RETURN_IF_ERROR(internal::InsertRole(tx, role));
  return internal::InsertInlinePolicy(tx, internal::kRoleHolder, role.role_id, kAdminPolicyName,
                                      kAdminPolicy);
}

Result<int64_t> AccountsWithEmail(store::Tx& tx, std::string_view email) {
  return internal::CountOf(tx, "SELECT COUNT(*) FROM org_accounts WHERE email_key = ?",
                           {LowerCase(email)});
}

// The ARN of a parent id (root or OU) for authorization, before it is
// known to exist.
std::string ParentArn(const OrgRow& org, std::string_view id) {
  return id.starts_with("ou-") ? org.OuArn(id) : org.RootArn();
}

bool IsParent(const std::optional<org::Node>& n) { return n && n->type != org::NodeType::kAccount; }

}  // namespace

Result<json::Value> OrganizationsService::CreateAccount(server::RequestContext& ctx,
                                                        const json::Value& in) {
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx, "organizations:CreateAccount",
                                               org::AnyResource()));
  ASSIGN_OR_RETURN(org::TagList tags, org::ReadTags(in));
  std::string email(in.get_string("Email"));
  std::string role_name(in.get_string("RoleName"));
  if (role_name.empty()) role_name = kDefaultRoleName;
  CreateStatus status;
  status.account_name = std::string(in.get_string("AccountName"));
  status.requested_at = internal::NowSeconds(ctx);
  status.completed_at = status.requested_at;
  ASSIGN_OR_RETURN(std::string suffix, org::RandomLowerAlnum(32));
  status.request_id = "car-" + suffix;
  int64_t same_email = 0;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(same_email, AccountsWithEmail(tx, email));
    return Status::Ok();
  }));
  std::string account_id;
  if (same_email == 0) {
    ASSIGN_OR_RETURN(account_id, FreshAccountId(db_));
    RETURN_IF_ERROR(org::AuthorizeTags(ctx, org.AccountArn(account_id), tags));
  }
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    ASSIGN_OR_RETURN(same_email, AccountsWithEmail(tx, email));
    if (same_email > 0 || account_id.empty()) {
      status.state = "FAILED";
      status.failure_reason = "EMAIL_ALREADY_EXISTS";
      return InsertStatus(tx, org, status);
    }
    status.state = "SUCCEEDED";
    status.account_id = account_id;
    // The identity row commits together with the organization's rows.
    RETURN_IF_ERROR(server::CredentialStore::InsertAccount(tx, account_id, status.account_name,
                                                           /*management=*/false));
    org::AccountRow account{account_id, org.root_id, status.account_name,
                            email,      "CREATED",   status.requested_at};
    RETURN_IF_ERROR(org::InsertAccount(tx, org, account));
    RETURN_IF_ERROR(org::AttachDefaultScp(tx, org, account_id));
    RETURN_IF_ERROR(CreateAccessRole(tx, org, account_id, role_name, status.requested_at));
    RETURN_IF_ERROR(org::PutTags(tx, org, account_id, tags));
    return InsertStatus(tx, org, status);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("CreateAccountStatus", StatusJson(status));
  return out;
}

Result<json::Value> OrganizationsService::DescribeCreateAccountStatus(server::RequestContext& ctx,
                                                                      const json::Value& in) {
  std::string request_id(in.get_string("CreateAccountRequestId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:DescribeCreateAccountStatus",
                                   org::AnyResource()));
  std::vector<CreateStatus> found;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(found, LoadStatuses(tx, org, request_id));
    return Status::Ok();
  }));
  if (request_id.empty() || found.empty()) {
    return Status::Modeled("CreateAccountStatusNotFoundException",
                           "We can't find a create account request with the "
                           "CreateAccountRequestId that you specified.");
  }
  json::Value out = json::Value::MakeObject();
  out.set("CreateAccountStatus", StatusJson(found.front()));
  return out;
}

Result<json::Value> OrganizationsService::ListCreateAccountStatus(server::RequestContext& ctx,
                                                                  const json::Value& in) {
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:ListCreateAccountStatus",
                                   org::AnyResource()));
  std::vector<std::string> states;
  if (const json::Value* s = in.find("States"); s != nullptr && s->is_array()) {
    for (const json::Value& v : s->as_array()) {
      if (v.is_string()) states.push_back(v.as_string());
    }
  }
  std::vector<CreateStatus> all;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(all, LoadStatuses(tx, org, ""));
    return Status::Ok();
  }));
  std::vector<json::Value> items;
  for (const CreateStatus& s : all) {
    if (states.empty() || std::find(states.begin(), states.end(), s.state) != states.end()) {
      items.push_back(StatusJson(s));
    }
  }
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "CreateAccountStatuses", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::DescribeAccount(server::RequestContext& ctx,
                                                          const json::Value& in) {
  std::string account_id(in.get_string("AccountId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:DescribeAccount",
                                   [&](const OrgRow& o) { return o.AccountArn(account_id); }));
  std::optional<org::AccountRow> account;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(account, org::FindAccount(tx, org, account_id));
    return Status::Ok();
  }));
  if (!account) return org::AccountNotFound();
  json::Value out = json::Value::MakeObject();
  out.set("Account", org::AccountJson(org, *account));
  return out;
}

Result<json::Value> OrganizationsService::ListAccounts(server::RequestContext& ctx,
                                                       const json::Value& in) {
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(db_, engine_, ctx, "organizations:ListAccounts",
                                               org::AnyResource()));
  std::vector<org::AccountRow> accounts;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(accounts, org::AccountsOf(tx, org, ""));
    return Status::Ok();
  }));
  std::vector<json::Value> items;
  for (const org::AccountRow& a : accounts) items.push_back(org::AccountJson(org, a));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Accounts", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::ListAccountsForParent(server::RequestContext& ctx,
                                                                const json::Value& in) {
  std::string parent_id(in.get_string("ParentId"));
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:ListAccountsForParent",
                                   [&](const OrgRow& o) { return ParentArn(o, parent_id); }));
  std::vector<org::AccountRow> accounts;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto parent, org::FindNode(tx, org, parent_id));
    if (!IsParent(parent)) return org::ParentNotFound();
    ASSIGN_OR_RETURN(accounts, org::AccountsOf(tx, org, parent_id));
    return Status::Ok();
  }));
  std::vector<json::Value> items;
  for (const org::AccountRow& a : accounts) items.push_back(org::AccountJson(org, a));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Accounts", std::move(items), page);
  return out;
}

Result<json::Value> OrganizationsService::MoveAccount(server::RequestContext& ctx,
                                                      const json::Value& in) {
  std::string account_id(in.get_string("AccountId"));
  std::string source_id(in.get_string("SourceParentId"));
  std::string dest_id(in.get_string("DestinationParentId"));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:MoveAccount",
                                   [&](const OrgRow& o) { return o.AccountArn(account_id); }));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    ASSIGN_OR_RETURN(auto source, org::FindNode(tx, org, source_id));
    if (!IsParent(source)) {
      return Status::Modeled("SourceParentNotFoundException",
                             "We can't find a source root or OU with the ParentId that you "
                             "specified.");
    }
    ASSIGN_OR_RETURN(auto dest, org::FindNode(tx, org, dest_id));
    if (!IsParent(dest)) {
      return Status::Modeled("DestinationParentNotFoundException",
                             "We can't find the destination container (a root or OU) with the "
                             "ParentId that you specified.");
    }
    ASSIGN_OR_RETURN(auto account, org::FindAccount(tx, org, account_id));
    if (!account || account->parent_id != source_id) return org::AccountNotFound();
    if (source_id == dest_id) {
      return Status::Modeled("DuplicateAccountException",
                             "That account is already present in the specified destination.");
    }
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare("UPDATE org_accounts SET parent_id = ? WHERE org_id = ? AND account_id = ?"));
    q->Bind(1, dest_id).Bind(2, org.org_id).Bind(3, account_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam
