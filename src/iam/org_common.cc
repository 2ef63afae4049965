// Helpers shared by the Organizations handlers: ids, ARNs, the caller's
// organization, tree nodes, pagination and the common errors.
#include <algorithm>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/crypto/random.h"

namespace rampart::iam::org {

std::string_view FullAccessContent() {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";
}

Result<std::string> RandomLowerAlnum(size_t n) {
  static constexpr std::string_view kAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  while (out.size() < n) {
    ASSIGN_OR_RETURN(std::string bytes, crypto::RandomBytes(n * 2));
    for (char c : bytes) {
      auto b = static_cast<unsigned char>(c);
      // 252 = 7 * 36: rejecting the rest keeps every character equally likely.
      if (b < 252 && out.size() < n) out.push_back(kAlphabet[b % kAlphabet.size()]);
    }
  }
  return out;
}

namespace {
std::string OrgArnPrefix(const OrgRow& org) {
  return "arn:aws:organizations::" + org.management_account + ":";
}
}  // namespace

std::string OrgRow::Arn() const { return OrgArnPrefix(*this) + "organization/" + org_id; }
std::string OrgRow::RootArn() const {
  return OrgArnPrefix(*this) + "root/" + org_id + "/" + root_id;
}
std::string OrgRow::OuArn(std::string_view ou_id) const {
  return OrgArnPrefix(*this) + "ou/" + org_id + "/" + std::string(ou_id);
}
std::string OrgRow::AccountArn(std::string_view account_id) const {
  return OrgArnPrefix(*this) + "account/" + org_id + "/" + std::string(account_id);
}
std::string OrgRow::PolicyArn(std::string_view policy_id) const {
  if (policy_id == kFullAccessId) {
    return "arn:aws:organizations::aws:policy/service_control_policy/" + std::string(policy_id);
  }
  return OrgArnPrefix(*this) + "policy/" + org_id + "/service_control_policy/" +
         std::string(policy_id);
}

namespace {

constexpr std::string_view kOrgColumns =
    "o.org_id, o.management_account, o.management_email, o.root_id, o.scp_enabled, o.created_at";

OrgRow ReadOrg(const store::Statement& q) {
  return OrgRow{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4) != 0, q.Int(5)};
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<std::optional<OrgRow>> OrgOfAccount(store::Tx& tx, std::string_view account_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kOrgColumns) +
                                      " FROM org_organizations o JOIN org_accounts a "
                                      "ON a.org_id = o.org_id WHERE a.account_id = ?"));
  q->Bind(1, account_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<OrgRow>();
  return std::optional<OrgRow>(ReadOrg(*q));
}

Result<OrgRow> RequireSameOrg(store::Tx& tx, const OrgRow& org) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kOrgColumns) +
                                      " FROM org_organizations o WHERE o.org_id = ?"));
  q->Bind(1, org.org_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return NotInUse();
  return ReadOrg(*q);
}

std::string_view NodeTypeName(NodeType t) {
  switch (t) {
    case NodeType::kRoot:
      return "ROOT";
    case NodeType::kOu:
      return "ORGANIZATIONAL_UNIT";
    case NodeType::kAccount:
      return "ACCOUNT";
  }
  return "ROOT";
}

std::string NodeArn(const OrgRow& org, const Node& n) {
  switch (n.type) {
    case NodeType::kRoot:
      return org.RootArn();
    case NodeType::kOu:
      return org.OuArn(n.id);
    case NodeType::kAccount:
      return org.AccountArn(n.id);
  }
  return org.RootArn();
}

Result<std::optional<Node>> FindNode(store::Tx& tx, const OrgRow& org, std::string_view id) {
  if (id == org.root_id) return std::optional<Node>(Node{NodeType::kRoot, org.root_id, "Root", ""});
  std::string sql;
  NodeType type = NodeType::kOu;
  if (id.starts_with("ou-")) {
    sql = "SELECT ou_id, name, parent_id FROM org_units WHERE org_id = ? AND ou_id = ?";
  } else if (AllDigits(id)) {
    type = NodeType::kAccount;
    sql =
        "SELECT account_id, name, parent_id FROM org_accounts WHERE org_id = ? AND account_id = ?";
  } else {
    return std::optional<Node>();
  }
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  q->Bind(1, org.org_id).Bind(2, id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<Node>();
  return std::optional<Node>(Node{type, q->Text(0), q->Text(1), q->Text(2)});
}

Result<std::vector<Node>> ChildrenOf(store::Tx& tx, const OrgRow& org, std::string_view parent_id,
                                     NodeType type) {
  std::string sql =
      type == NodeType::kOu
          ? "SELECT ou_id, name FROM org_units WHERE org_id = ? AND parent_id = ? ORDER BY ou_id"
          : "SELECT account_id, name FROM org_accounts WHERE org_id = ? AND parent_id = ? "
            "ORDER BY account_id";
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  q->Bind(1, org.org_id).Bind(2, parent_id);
  std::vector<Node> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return out;
    out.push_back(Node{type, q->Text(0), q->Text(1), std::string(parent_id)});
  }
}

namespace {
constexpr std::string_view kAccountColumns =
    "account_id, parent_id, name, email, joined_method, joined_at, status";
AccountRow ReadAccount(const store::Statement& q) {
  return AccountRow{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4), q.Int(5), q.Text(6)};
}
}  // namespace

Result<std::optional<AccountRow>> FindAccount(store::Tx& tx, const OrgRow& org,
                                              std::string_view account_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kAccountColumns) +
                                      " FROM org_accounts WHERE org_id = ? AND account_id = ?"));
  q->Bind(1, org.org_id).Bind(2, account_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<AccountRow>();
  return std::optional<AccountRow>(ReadAccount(*q));
}

Result<std::vector<AccountRow>> AccountsOf(store::Tx& tx, const OrgRow& org,
                                           std::string_view parent_id) {
  std::string sql =
      "SELECT " + std::string(kAccountColumns) + " FROM org_accounts WHERE org_id = ?";
  if (!parent_id.empty()) sql += " AND parent_id = ?";
  sql += " ORDER BY account_id";
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  q->Bind(1, org.org_id);
  if (!parent_id.empty()) q->Bind(2, parent_id);
  std::vector<AccountRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return out;
    out.push_back(ReadAccount(*q));
  }
}

json::Value AccountJson(const OrgRow& org, const AccountRow& a) {
  json::Value v = json::Value::MakeObject();
  v.set("Id", a.account_id);
  v.set("Arn", org.AccountArn(a.account_id));
  v.set("Email", a.email);
  v.set("Name", a.name);
  v.set("Status", a.status);
  v.set("JoinedMethod", a.joined_method);
  v.set("JoinedTimestamp", a.joined_at);
  return v;
}

Status InsertAccount(store::Tx& tx, const OrgRow& org, const AccountRow& a) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare("INSERT INTO org_accounts (account_id, org_id, parent_id, name, email, email_key, "
                 "joined_method, joined_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  std::string key = a.email;
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  q->Bind(1, a.account_id).Bind(2, org.org_id).Bind(3, a.parent_id).Bind(4, a.name);
  q->Bind(5, a.email).Bind(6, key).Bind(7, a.joined_method).Bind(8, a.joined_at);
  return q->Run();
}

Status AttachDefaultScp(store::Tx& tx, const OrgRow& org, std::string_view target_id) {
  if (!org.scp_enabled) return Status::Ok();
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare("INSERT INTO org_attachments (org_id, policy_id, target_id) VALUES (?, ?, ?)"));
  q->Bind(1, org.org_id).Bind(2, kFullAccessId).Bind(3, target_id);
  return q->Run();
}

ResourceOf AnyResource() {
  return [](const OrgRow&) { return std::string("*"); };
}

std::vector<server::ConditionKey> PolicyTypeKey(std::string_view type) {
  return {server::ConditionKey{"organizations:PolicyType", {std::string(type)}}};
}

namespace {

// aws:ResourceTag/<key> for the tags of the root, OU, account or policy
// that arn names (its last path segment is the id). Resources of AWS
// ("aws" account) and "*" carry none.
Status AddResourceTagKeys(store::Tx& tx, const OrgRow& org, std::string_view arn,
                          std::vector<server::ConditionKey>& keys) {
  if (!arn.starts_with(OrgArnPrefix(org))) return Status::Ok();
  std::string_view id = arn.substr(arn.rfind('/') + 1);
  ASSIGN_OR_RETURN(TagList tags, LoadTags(tx, org, id));
  for (auto& [k, v] : tags) keys.push_back({"aws:ResourceTag/" + k, {std::move(v)}});
  return Status::Ok();
}

}  // namespace

std::string InManagementAccount(const OrgRow& org, std::string_view arn) {
  // arn:partition:organizations::<account>:...; the account is field 4.
  size_t pos = 0;
  for (int field = 0; field < 4 && pos != std::string_view::npos; ++field) {
    pos = arn.find(':', pos);
    if (pos != std::string_view::npos) ++pos;
  }
  if (pos != std::string_view::npos && arn.substr(pos).starts_with(org.management_account + ":")) {
    return std::string(arn);
  }
  return org.Arn();
}

namespace {

// Describe* and List* operations, which AWS lets a delegated
// administrator call as well as the management account.
bool IsReadOnly(std::string_view action) {
  std::string_view op = action.substr(action.find(':') + 1);
  return op.starts_with("Describe") || op.starts_with("List");
}

Result<bool> IsDelegatedAdministrator(store::Tx& tx, const OrgRow& org,
                                      std::string_view account_id) {
  ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx,
                                                "SELECT COUNT(*) FROM org_delegated_admins WHERE "
                                                "org_id = ? AND account_id = ?",
                                                {org.org_id, account_id}));
  return n > 0;
}

// A delegated administrator reads the organization's resources, which
// live in the management account, as AWS lets it: its own policies must
// allow the action, and the organization grants it as if by a resource
// policy. The grant names every principal, since it is only consulted for
// a caller already known to be a delegated administrator asking to read;
// compiled once. Actions on "*" (ListAccounts, ListRoots, ...) are weighed
// against the organization's ARN, in the management account: on "*" the
// engine would take the call as same-account, where a resource policy
// alone grants, and the caller's own policies would not be asked.
Status AuthorizeDelegatedRead(const EngineAuthorizer& engine, const server::RequestContext& ctx,
                              std::string_view action, const OrgRow& org, std::string_view arn,
                              std::span<const server::ConditionKey> keys) {
  const std::string resource = InManagementAccount(org, arn);
  static const Result<PolicyPtr> kGrant =
      CompilePolicy(R"({"Version":"2012-10-17","Statement":[{"Sid":"DelegatedAdministratorReads",)"
                    R"("Effect":"Allow","Principal":"*","Action":["organizations:Describe*",)"
                    R"("organizations:List*"],"Resource":"*"}]})",
                    PolicyKind::kResource, "organizations-delegated-administrator-reads");
  if (!kGrant.ok()) return kGrant.status();
  return engine.AuthorizeWithResourcePolicy(ctx, action, resource, keys, **kGrant, false);
}

}  // namespace

Result<OrgRow> Authorized(store::Database& db, const EngineAuthorizer* engine,
                          const server::RequestContext& ctx, std::string_view action,
                          const ResourceOf& resource, std::span<const server::ConditionKey> keys,
                          bool members_allowed) {
  std::optional<OrgRow> org;
  std::string arn = "*";
  std::vector<server::ConditionKey> all_keys(keys.begin(), keys.end());
  const std::string& caller = ctx.principal().account_id;
  bool delegate_reads = false;
  std::optional<std::string> delegation;  // the delegation policy, when it may grant this
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, OrgOfAccount(tx, caller));
    if (!org) return Status::Ok();
    arn = resource(*org);
    const bool member = engine != nullptr && caller != org->management_account;
    if (member && IsReadOnly(action)) {
      ASSIGN_OR_RETURN(delegate_reads, IsDelegatedAdministrator(tx, *org, caller));
    }
    if (member && !members_allowed && !delegate_reads &&
        IsDelegable(action.substr(action.find(':') + 1))) {
      ASSIGN_OR_RETURN(delegation, DelegationContent(tx, *org));
    }
    return AddResourceTagKeys(tx, *org, arn, all_keys);
  }));
  if (delegate_reads) {
    RETURN_IF_ERROR(AuthorizeDelegatedRead(*engine, ctx, action, *org, arn, all_keys));
  } else if (delegation) {
    RETURN_IF_ERROR(AuthorizeDelegated(*engine, ctx, action, *org, arn, all_keys, *delegation));
  } else {
    RETURN_IF_ERROR(ctx.Authorize(action, arn, all_keys));
  }
  if (!org) return NotInUse();
  if (!members_allowed && !delegate_reads && !delegation && org->management_account != caller) {
    return Status::Modeled("AccessDeniedException",
                           "You don't have permissions to access this resource: only the "
                           "management account of the organization can call this operation.");
  }
  return *org;
}

Status NotInUse() {
  return Status::Modeled("AWSOrganizationsNotInUseException",
                         "Your account is not a member of an organization.");
}
Status ParentNotFound() {
  return Status::Modeled("ParentNotFoundException",
                         "We can't find a root or OU with the ParentId "
                         "that you specified.");
}
Status ChildNotFound() {
  return Status::Modeled("ChildNotFoundException",
                         "We can't find an organizational unit (OU) or AWS account with the "
                         "ChildId that you specified.");
}
Status TargetNotFound() {
  return Status::Modeled("TargetNotFoundException",
                         "We can't find a root, OU, account, or email target with the TargetId "
                         "that you specified.");
}
Status AccountNotFound() {
  return Status::Modeled("AccountNotFoundException",
                         "We can't find an AWS account with the AccountId that you specified, or "
                         "the account whose credentials you used to make this request isn't a "
                         "member of an organization.");
}
Status OuNotFound() {
  return Status::Modeled("OrganizationalUnitNotFoundException",
                         "We can't find an OU with the OrganizationalUnitId that you specified.");
}
Status PolicyNotFound() {
  return Status::Modeled("PolicyNotFoundException",
                         "We can't find a policy with the PolicyId that you specified.");
}
Status InvalidInput(std::string_view reason, std::string message) {
  return Status::Modeled("InvalidInputException",
                         std::move(message) + " (" + std::string(reason) + ")");
}
Status RequireScpType(std::string_view type) {
  if (type == kScpType) return Status::Ok();
  return InvalidInput("INVALID_ENUM_POLICY_TYPE",
                      "The policy type " + std::string(type) +
                          " is not supported; Rampart implements SERVICE_CONTROL_POLICY.");
}
Status ConstraintViolation(std::string_view reason, std::string message) {
  return Status::Modeled("ConstraintViolationException",
                         std::move(message) + " (" + std::string(reason) + ")");
}

Result<PageRequest> ReadPage(const json::Value& in) {
  PageRequest page;
  if (const json::Value* m = in.find("MaxResults"); m != nullptr && m->is_int()) {
    if (m->as_int() < 1 || m->as_int() > 20) {
      return InvalidInput("MAX_VALUE_EXCEEDED", "MaxResults must be between 1 and 20.");
    }
    page.max = static_cast<size_t>(m->as_int());
  }
  std::string_view token = in.get_string("NextToken");
  if (token.empty()) return page;
  std::optional<std::string> raw = Base64Decode(token);
  if (!raw || raw->size() > 12 || !raw->starts_with("o") || !AllDigits(raw->substr(1))) {
    return InvalidInput("INVALID_NEXT_TOKEN", "The specified NextToken is not valid.");
  }
  page.offset = std::stoull(raw->substr(1));
  return page;
}

void SetPage(json::Value& out, std::string_view member, std::vector<json::Value> items,
             const PageRequest& page) {
  json::Value list = json::Value::MakeArray();
  size_t end = std::min(items.size(), page.offset + page.max);
  for (size_t i = page.offset; i < end; ++i) list.push(std::move(items[i]));
  out.set(member, std::move(list));
  if (end < items.size()) out.set("NextToken", Base64Encode("o" + std::to_string(end)));
}

}  // namespace rampart::iam::org
