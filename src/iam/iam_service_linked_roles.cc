// Service-linked roles: CreateServiceLinkedRole, DeleteServiceLinkedRole,
// GetServiceLinkedRoleDeletionStatus; and the rule that plain DeleteRole
// (iam_roles.cc) refuses them.
//
// A service-linked role lives under /aws-service-role/<service>/, is named
// AWSServiceRoleFor<Name>[_<suffix>] and trusts only its service. On AWS
// its deletion is a task the service runs; here the task runs at once, in
// the same transaction that records it, and fails (leaving the role) when
// an instance profile still holds the role.
#include "iam/iam_internal.h"
#include "rampart/core/ids.h"

namespace rampart::iam::internal {
namespace {

constexpr std::string_view kServiceRolePath = "/aws-service-role/";
constexpr std::string_view kRolePrefix = "AWSServiceRoleFor";
constexpr std::string_view kServiceDomain = ".amazonaws.com";
constexpr std::string_view kTaskPrefix = "task/aws-service-role/";
constexpr size_t kMaxRoleName = 64;

// The names AWS gives the roles of some common services, and whether the
// service lets a caller add a suffix (most let only services with several
// roles per account do so).
struct KnownService {
  std::string_view principal;
  std::string_view name;
  bool suffix_allowed;
};
constexpr KnownService kKnownServices[] = {
    {"autoscaling.amazonaws.com", "AutoScaling", true},
    {"elasticbeanstalk.amazonaws.com", "ElasticBeanstalk", true},
    {"lex.amazonaws.com", "LexBots", true},
    {"ecs.amazonaws.com", "ECS", false},
    {"elasticloadbalancing.amazonaws.com", "ElasticLoadBalancing", false},
    {"rds.amazonaws.com", "RDS", false},
    {"organizations.amazonaws.com", "Organizations", false},
    {"cloudtrail.amazonaws.com", "CloudTrail", false},
    {"config.amazonaws.com", "Config", false},
    {"guardduty.amazonaws.com", "AmazonGuardDuty", false},
    {"securityhub.amazonaws.com", "SecurityHub", false},
    {"access-analyzer.amazonaws.com", "AccessAnalyzer", false},
    {"sso.amazonaws.com", "SSO", false},
};

Status InvalidInput(std::string message) {
  return Status::Modeled("InvalidInputException", std::move(message));
}

// For a service we do not know: its first label with the first letter of
// each dash-separated word capitalised ("my-svc" -> "MySvc").
std::string DerivedName(std::string_view label) {
  std::string out;
  bool upper = true;
  for (char c : label) {
    if (c == '-' || c == '.') {
      upper = true;
      continue;
    }
    out.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c);
    upper = false;
  }
  return out;
}

std::string TrustPolicy(std::string_view service) {
  json::Value principal = json::Value::MakeObject();
  json::Value services = json::Value::MakeArray();
  services.push(service);
  principal.set("Service", std::move(services));
  json::Value statement = json::Value::MakeObject();
  statement.set("Effect", "Allow");
  statement.set("Principal", std::move(principal));
  json::Value actions = json::Value::MakeArray();
  actions.push("sts:AssumeRole");
  statement.set("Action", std::move(actions));
  json::Value statements = json::Value::MakeArray();
  statements.push(std::move(statement));
  json::Value doc = json::Value::MakeObject();
  doc.set("Version", "2012-10-17");
  doc.set("Statement", std::move(statements));
  return json::Write(doc);
}

// The service a service-linked role's path names: /aws-service-role/<s>/.
std::string_view ServiceOfPath(std::string_view path) {
  std::string_view rest = path.substr(kServiceRolePath.size());
  return rest.substr(0, rest.find('/'));
}

Status DeleteRoleRows(store::Tx& tx, const RoleRow& role) {
  for (std::string_view sql : {"DELETE FROM iam_role_policies WHERE role_id = ?",
                               "DELETE FROM iam_role_attachments WHERE role_id = ?",
                               "DELETE FROM iam_roles WHERE role_id = ?"}) {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
    q->Bind(1, role.role_id);
    RETURN_IF_ERROR(q->Run());
  }
  return DeleteTags(tx, role.role_id);
}

Status RecordTask(store::Tx& tx, std::string_view task_id, std::string_view account,
                  std::string_view status, std::string_view reason, int64_t now) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_slr_deletion_tasks (task_id, account_id, "
                                      "status, reason, created_at) VALUES (?, ?, ?, ?, ?)"));
  q->Bind(1, task_id).Bind(2, account).Bind(3, status).Bind(4, reason).Bind(5, now);
  return q->Run();
}

}  // namespace

bool IsServiceLinkedPath(std::string_view path) { return path.starts_with(kServiceRolePath); }

Status ProtectedRole(std::string_view role_name) {
  return Status::Modeled("UnmodifiableEntityException",
                         "Cannot perform the operation on the protected role '" +
                             std::string(role_name) + "' - this role is only modifiable by AWS");
}

Result<std::string> ServiceLinkedRoleName(std::string_view service, std::string_view suffix) {
  if (!service.ends_with(kServiceDomain) || service.size() == kServiceDomain.size()) {
    return InvalidInput("Unrecognized service principal " + std::string(service) +
                        ": a service-linked role needs an AWS service (<name>.amazonaws.com).");
  }
  std::string base;
  bool suffix_allowed = true;
  for (const KnownService& k : kKnownServices) {
    if (k.principal == service) {
      base = std::string(k.name);
      suffix_allowed = k.suffix_allowed;
    }
  }
  if (base.empty()) base = DerivedName(service.substr(0, service.size() - kServiceDomain.size()));
  std::string name = std::string(kRolePrefix) + base;
  if (!suffix.empty()) {
    if (!suffix_allowed) {
      return InvalidInput("Custom suffix is not allowed for " + std::string(service) + ".");
    }
    name += "_" + std::string(suffix);
  }
  if (name.size() > kMaxRoleName) {
    return InvalidInput("The role name " + name + " is longer than " +
                        std::to_string(kMaxRoleName) + " characters; use a shorter suffix.");
  }
  return name;
}

Result<json::Value> CreateServiceLinkedRole(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in) {
  std::string service(in.get_string("AWSServiceName"));
  ASSIGN_OR_RETURN(std::string name, ServiceLinkedRoleName(service, in.get_string("CustomSuffix")));
  RoleRow role;
  role.account_id = ctx.principal().account_id;
  role.name = name;
  role.path = std::string(kServiceRolePath) + service + "/";
  role.description = std::string(in.get_string("Description"));
  role.trust_policy = TrustPolicy(service);
  role.created_at = NowSeconds(ctx);
  std::vector<server::ConditionKey> keys = {{"iam:AWSServiceName", {service}}};
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateServiceLinkedRole", role.Arn(), keys));
  ASSIGN_OR_RETURN(role.role_id, ids::AccessKeyId("AROA"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, FindRole(tx, role.account_id, role.name));
    if (existing) {
      return InvalidInput("Service role name " + role.name +
                          " has been taken in this account, please try a different suffix.");
    }
    return InsertRole(tx, role);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Role", RoleToJson(role));
  return out;
}

Result<json::Value> DeleteServiceLinkedRole(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in) {
  std::string name(in.get_string("RoleName"));
  RETURN_IF_ERROR(
      kRoleHolder.authorized(deps.db, ctx, "iam:DeleteServiceLinkedRole", name, {}).status());
  const std::string& account = ctx.principal().account_id;
  std::string task_id;
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto role, FindRole(tx, account, name));
    if (!role) return NoSuchRole(name);
    if (!IsServiceLinkedPath(role->path)) {
      return InvalidInput("Role " + role->name + " is not a service-linked role; use DeleteRole.");
    }
    ASSIGN_OR_RETURN(std::string uuid, ids::SecureUuid());
    task_id = std::string(kTaskPrefix) + std::string(ServiceOfPath(role->path)) + "/" + role->name +
              "/" + uuid;
    ASSIGN_OR_RETURN(int64_t profiles, InstanceProfileCountOfRole(tx, role->role_id));
    if (profiles > 0) {
      return RecordTask(tx, task_id, account, "FAILED",
                        "The role is still in use by an instance profile.", NowSeconds(ctx));
    }
    RETURN_IF_ERROR(DeleteRoleRows(tx, *role));
    return RecordTask(tx, task_id, account, "SUCCEEDED", "", NowSeconds(ctx));
  }));
  json::Value out = json::Value::MakeObject();
  out.set("DeletionTaskId", task_id);
  return out;
}

Result<json::Value> GetServiceLinkedRoleDeletionStatus(const IamDeps& deps,
                                                       server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string task_id(in.get_string("DeletionTaskId"));
  // task/aws-service-role/<service>/<role name>/<uuid>
  std::string_view rest = std::string_view(task_id);
  size_t last = rest.rfind('/');
  if (!rest.starts_with(kTaskPrefix) || last == std::string_view::npos ||
      last <= kTaskPrefix.size()) {
    return InvalidInput("Invalid deletion task id " + task_id + ".");
  }
  std::string_view role_part = rest.substr(kTaskPrefix.size(), last - kTaskPrefix.size());
  size_t slash = role_part.find('/');
  if (slash == std::string_view::npos)
    return InvalidInput("Invalid deletion task id " + task_id + ".");
  const std::string& account = ctx.principal().account_id;
  std::string role_arn =
      IamArn(account, "role",
             std::string(kServiceRolePath) + std::string(role_part.substr(0, slash)) + "/",
             role_part.substr(slash + 1));
  RETURN_IF_ERROR(ctx.Authorize("iam:GetServiceLinkedRoleDeletionStatus", role_arn));
  std::string status;
  std::string reason;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT status, reason FROM iam_slr_deletion_tasks "
                                        "WHERE task_id = ? AND account_id = ?"));
    q->Bind(1, task_id).Bind(2, account);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) {
      return Status::Modeled("NoSuchEntityException",
                             "Deletion task " + task_id + " cannot be found.");
    }
    status = q->Text(0);
    reason = q->Text(1);
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Status", status);
  if (!reason.empty()) {
    json::Value r = json::Value::MakeObject();
    r.set("Reason", reason);
    out.set("Reason", std::move(r));
  }
  return out;
}

}  // namespace rampart::iam::internal
