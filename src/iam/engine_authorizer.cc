#include "rampart/iam/engine_authorizer.h"

#include "iam/iam_internal.h"

#include "rampart/iam/policy.h"
#include "rampart/iam/policy_context.h"

namespace rampart::iam {
namespace {

PrincipalType TypeOf(const server::Principal& p) {
  if (p.type == "Root") return PrincipalType::kRoot;
  if (p.type == "IAMUser") return PrincipalType::kUser;
  if (p.type == "AssumedRole") return PrincipalType::kAssumedRole;
  return PrincipalType::kAnonymous;
}

PrincipalInfo InfoOf(const server::Principal& p) {
  PrincipalInfo info;
  info.type = TypeOf(p);
  info.arn = p.arn;
  info.account = p.account_id;
  info.id = p.principal_id;
  info.user_name = p.user_name;
  info.role_arn = p.role_arn;
  return info;
}

// A holder's identity policies: its inline ones, then the default versions
// of the managed policies attached to it. The tables come from the same
// HolderKind that the IAM handlers write through.
std::string PoliciesSql(const internal::HolderKind& kind) {
  std::string id(kind.id_column);
  return "SELECT 'inline:' || policy_name, document FROM " + std::string(kind.inline_table) +
         " WHERE " + id + " = ? UNION ALL SELECT p.arn, v.document FROM " +
         std::string(kind.attach_table) +
         " a JOIN iam_policies p ON p.arn = a.policy_arn "
         "JOIN iam_policy_versions v ON v.policy_id = p.policy_id "
         "AND v.version_id = p.default_version WHERE a." + id + " = ?";
}

Result<std::shared_ptr<const PrincipalPolicies>> LoadPolicies(store::Database& db,
                                                              std::string_view sql,
                                                              std::string_view owner_id,
                                                              std::string_view owner_arn) {
  auto policies = std::make_shared<PrincipalPolicies>();
  std::vector<std::pair<std::string, std::string>> docs;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
    q->Bind(1, owner_id).Bind(2, owner_id);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      docs.emplace_back(q->Text(0), q->Text(1));
    }
  }));
  for (auto& [id, doc] : docs) {
    // Documents were validated when stored; one that no longer compiles
    // (an engine upgrade got stricter) grants nothing rather than failing.
    auto compiled = CompilePolicy(doc, PolicyKind::kIdentity, std::string(owner_arn) + "/" + id);
    if (compiled.ok()) policies->identity.push_back(std::move(compiled).value());
  }
  return std::shared_ptr<const PrincipalPolicies>(std::move(policies));
}

AuthzRequest RequestFor(const server::RequestContext& ctx, const PrincipalPolicies& policies,
                        std::string_view action, std::string_view resource_arn,
                        std::span<const server::ConditionKey> keys) {
  PrincipalInfo info = InfoOf(ctx.principal());
  info.org_id = policies.org_id;
  info.org_paths = policies.org_paths;
  AuthzRequest request(std::move(info), action, resource_arn);
  Environment env;
  env.source_ip = std::string(ctx.source_ip());
  env.secure_transport = ctx.secure_transport();
  env.time = ctx.time();
  env.requested_region = std::string(ctx.region());
  request.AddPlatformKeys(env);
  for (const server::ConditionKey& k : keys) request.keys().Set(k.name, k.values);
  return request;
}

}  // namespace

Result<std::shared_ptr<const PrincipalPolicies>> EngineAuthorizer::LoadRolePolicies(
    const server::Principal& p) const {
  // principal_id is "<role id>:<session name>".
  std::string_view role_id = p.principal_id;
  role_id = role_id.substr(0, role_id.find(':'));
  return LoadPolicies(db_, PoliciesSql(internal::kRoleHolder), role_id, p.role_arn);
}

Result<std::shared_ptr<const PrincipalPolicies>> EngineAuthorizer::LoadUserPolicies(
    const server::Principal& p) const {
  return LoadPolicies(db_, PoliciesSql(internal::kUserHolder), p.principal_id, p.arn);
}

Result<std::shared_ptr<const PrincipalPolicies>> EngineAuthorizer::PoliciesOf(
    const server::Principal& p) const {
  // Every session of a role shares the role's policies.
  const bool role_session = p.type == "AssumedRole" && !p.role_arn.empty();
  const std::string& key = role_session ? p.role_arn : p.arn;
  if (auto cached = cache_.Get(key)) return cached;
  uint64_t generation = cache_.generation();
  std::shared_ptr<const PrincipalPolicies> loaded;
  if (p.type == "IAMUser") {
    ASSIGN_OR_RETURN(loaded, LoadUserPolicies(p));
  } else if (role_session) {
    ASSIGN_OR_RETURN(loaded, LoadRolePolicies(p));
  } else {
    loaded = std::make_shared<const PrincipalPolicies>();
  }
  if (org_view_ != nullptr) {
    ASSIGN_OR_RETURN(OrgPlacement placement, org_view_->PlacementOf(p.account_id));
    auto with_org = std::make_shared<PrincipalPolicies>(*loaded);
    with_org->org_id = std::move(placement.org_id);
    with_org->org_paths = std::move(placement.paths);
    with_org->scp_exempt = placement.management;
    with_org->scp_levels = std::move(placement.scp_levels);
    loaded = std::move(with_org);
  }
  cache_.Put(key, loaded, generation);
  return loaded;
}

Status EngineAuthorizer::Authorize(const server::RequestContext& ctx, std::string_view action,
                                   std::string_view resource_arn,
                                   std::span<const server::ConditionKey> keys) const {
  ASSIGN_OR_RETURN(auto policies, PoliciesOf(ctx.principal()));
  AuthzRequest request = RequestFor(ctx, *policies, action, resource_arn, keys);
  PolicySet set;
  set.principal = policies.get();
  return DecisionStatus(Decide(set, request), request);
}

Result<bool> EngineAuthorizer::Allowed(const server::RequestContext& ctx, std::string_view action,
                                       std::string_view resource_arn,
                                       std::span<const server::ConditionKey> keys,
                                       const CompiledPolicy& resource_policy,
                                       bool resource_policy_required) const {
  ASSIGN_OR_RETURN(auto policies, PoliciesOf(ctx.principal()));
  AuthzRequest request = RequestFor(ctx, *policies, action, resource_arn, keys);
  PolicySet set;
  set.principal = policies.get();
  set.resource = &resource_policy;
  set.resource_policy_required = resource_policy_required;
  return Decide(set, request).allowed;
}

}  // namespace rampart::iam
