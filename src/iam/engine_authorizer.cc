#include "rampart/iam/engine_authorizer.h"

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
  return info;
}

// Inline policies, then the default versions of attached managed policies.
constexpr std::string_view kUserPoliciesSql = R"sql(
SELECT 'inline:' || policy_name, document FROM iam_user_policies WHERE user_id = ?
UNION ALL
SELECT p.arn, v.document
  FROM iam_user_attachments a
  JOIN iam_policies p ON p.arn = a.policy_arn
  JOIN iam_policy_versions v ON v.policy_id = p.policy_id AND v.version_id = p.default_version
 WHERE a.user_id = ?
)sql";

}  // namespace

Result<std::shared_ptr<const PrincipalPolicies>> EngineAuthorizer::LoadUserPolicies(
    const server::Principal& p) const {
  auto policies = std::make_shared<PrincipalPolicies>();
  std::vector<std::pair<std::string, std::string>> docs;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(kUserPoliciesSql));
    q->Bind(1, p.principal_id).Bind(2, p.principal_id);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      docs.emplace_back(q->Text(0), q->Text(1));
    }
  }));
  for (auto& [id, doc] : docs) {
    // Documents were validated when stored; one that no longer compiles
    // (an engine upgrade got stricter) grants nothing rather than failing.
    auto compiled = CompilePolicy(doc, PolicyKind::kIdentity, p.arn + "/" + id);
    if (compiled.ok()) policies->identity.push_back(std::move(compiled).value());
  }
  return std::shared_ptr<const PrincipalPolicies>(std::move(policies));
}

Result<std::shared_ptr<const PrincipalPolicies>> EngineAuthorizer::PoliciesOf(
    const server::Principal& p) const {
  if (auto cached = cache_.Get(p.arn)) return cached;
  uint64_t generation = cache_.generation();
  std::shared_ptr<const PrincipalPolicies> loaded;
  if (p.type == "IAMUser") {
    ASSIGN_OR_RETURN(loaded, LoadUserPolicies(p));
  } else {
    loaded = std::make_shared<const PrincipalPolicies>();
  }
  cache_.Put(p.arn, loaded, generation);
  return loaded;
}

Status EngineAuthorizer::Authorize(const server::RequestContext& ctx, std::string_view action,
                                   std::string_view resource_arn,
                                   std::span<const server::ConditionKey> keys) const {
  ASSIGN_OR_RETURN(auto policies, PoliciesOf(ctx.principal()));
  AuthzRequest request(InfoOf(ctx.principal()), action, resource_arn);
  Environment env;
  env.source_ip = std::string(ctx.source_ip());
  env.secure_transport = ctx.secure_transport();
  env.time = ctx.time();
  env.requested_region = std::string(ctx.region());
  request.AddPlatformKeys(env);
  for (const server::ConditionKey& k : keys) request.keys().Set(k.name, k.values);
  PolicySet set;
  set.principal = policies.get();
  return DecisionStatus(Decide(set, request), request);
}

}  // namespace rampart::iam
