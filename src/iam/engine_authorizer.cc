#include "rampart/iam/engine_authorizer.h"

#include <algorithm>
#include <chrono>
#include <optional>

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

// One identity policy as stored: its id for explanations and its text.
using Document = std::pair<std::string, std::string>;

// Reads every row of sql (two text columns) with owner_id bound to each
// placeholder.
Status ReadPairs(store::Tx& tx, std::string_view sql, std::string_view owner_id, int placeholders,
                 std::vector<Document>& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  for (int i = 1; i <= placeholders; ++i) q->Bind(i, owner_id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    out.emplace_back(q->Text(0), q->IsNull(1) ? std::string() : q->Text(1));
  }
}

// The holder's inline policies ("inline:<name>" ids). For a user, the
// inline policies of its groups follow ("group/<name>/inline:<policy>").
std::string InlineSql(const internal::HolderKind& kind, bool with_groups) {
  std::string id(kind.id_column);
  std::string sql = "SELECT 'inline:' || policy_name, document FROM " +
                    std::string(kind.inline_table) + " WHERE " + id + " = ?";
  if (with_groups) {
    sql += " UNION ALL SELECT 'group/' || g.group_name || '/inline:' || gp.policy_name, "
           "gp.document FROM iam_group_members m JOIN iam_groups g ON g.group_id = m.group_id "
           "JOIN iam_group_policies gp ON gp.group_id = m.group_id WHERE m.user_id = ?";
  }
  return sql;
}

// The ARNs of the managed policies attached to the holder (and, for a
// user, to its groups), each once; the second column is filled in later
// with the default version's document.
std::string AttachedSql(const internal::HolderKind& kind, bool with_groups) {
  std::string id(kind.id_column);
  std::string sql = "SELECT policy_arn, NULL FROM " + std::string(kind.attach_table) + " WHERE " +
                    id + " = ?";
  if (with_groups) {
    sql += " UNION SELECT a.policy_arn, NULL FROM iam_group_members m "
           "JOIN iam_group_attachments a ON a.group_id = m.group_id WHERE m.user_id = ?";
  }
  return sql;
}

// Compiles documents that were validated when stored. One that no longer
// compiles (an engine upgrade got stricter) grants nothing rather than
// failing every request of the principal.
void CompileInto(const std::vector<Document>& docs, PolicyKind kind, std::string_view owner_arn,
                 std::vector<PolicyPtr>& out) {
  for (const auto& [id, doc] : docs) {
    auto compiled = CompilePolicy(doc, kind, std::string(owner_arn) + "/" + id);
    if (compiled.ok()) out.push_back(std::move(compiled).value());
  }
}

// Where a holder keeps its boundary ARN and what its tags are keyed by.
struct HolderTables {
  const internal::HolderKind& kind;
  std::string_view entity_table;  // iam_users / iam_roles
  bool with_groups;               // users inherit their groups' policies
};

// Loads and compiles everything that applies to one user, role or group
// (a group has no boundary or tags: entity_table is empty).
Result<std::shared_ptr<const PrincipalPolicies>> LoadHolder(store::Database& db,
                                                            const HolderTables& t,
                                                            std::string_view owner_id,
                                                            std::string_view owner_arn) {
  std::vector<Document> inline_docs;
  std::vector<Document> attached;  // (arn, default version document)
  std::optional<std::string> boundary_doc;
  std::string boundary_arn;
  auto policies = std::make_shared<PrincipalPolicies>();
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    int n = t.with_groups ? 2 : 1;
    RETURN_IF_ERROR(ReadPairs(tx, InlineSql(t.kind, t.with_groups), owner_id, n, inline_docs));
    RETURN_IF_ERROR(ReadPairs(tx, AttachedSql(t.kind, t.with_groups), owner_id, n, attached));
    for (auto& [arn, doc] : attached) {
      ASSIGN_OR_RETURN(auto d, internal::DefaultPolicyDocument(tx, arn));
      if (d) doc = std::move(*d);
    }
    if (t.entity_table.empty()) return Status::Ok();
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT permissions_boundary FROM " +
                                        std::string(t.entity_table) + " WHERE " +
                                        std::string(t.kind.id_column) + " = ?"));
    q->Bind(1, owner_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) boundary_arn = q->Text(0);
    if (!boundary_arn.empty()) {
      ASSIGN_OR_RETURN(boundary_doc, internal::DefaultPolicyDocument(tx, boundary_arn));
    }
    ASSIGN_OR_RETURN(policies->tags, internal::LoadTags(tx, owner_id));
    return Status::Ok();
  }));
  CompileInto(inline_docs, PolicyKind::kIdentity, owner_arn, policies->identity);
  for (const auto& [arn, doc] : attached) {
    if (doc.empty()) continue;  // the policy went away
    auto compiled = CompilePolicy(doc, PolicyKind::kIdentity, arn);
    if (compiled.ok()) policies->identity.push_back(std::move(compiled).value());
  }
  if (!boundary_arn.empty()) {
    // A boundary that is gone or no longer compiles allows nothing: failing
    // closed keeps the cap in place.
    constexpr std::string_view kAllowNothing =
        R"({"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"*","Resource":"*"}})";
    auto compiled = CompilePolicy(boundary_doc.value_or(std::string(kAllowNothing)),
                                  PolicyKind::kBoundary, boundary_arn);
    if (!compiled.ok()) compiled = CompilePolicy(kAllowNothing, PolicyKind::kBoundary, boundary_arn);
    if (compiled.ok()) policies->boundary = std::move(compiled).value();
  }
  return std::shared_ptr<const PrincipalPolicies>(std::move(policies));
}

// The role's tags overridden by the session's tags of the same key (keys
// compare case-insensitively, IAM User Guide "Passing session tags").
std::vector<std::pair<std::string, std::string>> MergedTags(const PrincipalPolicies& policies,
                                                            const server::Principal& p) {
  std::vector<std::pair<std::string, std::string>> tags = policies.tags;
  for (const auto& [key, value] : p.session_tags) {
    std::string lower = AsciiLower(key);
    std::erase_if(tags, [&](const auto& t) { return AsciiLower(t.first) == lower; });
    tags.emplace_back(key, value);
  }
  return tags;
}

Environment EnvironmentOf(const server::RequestContext& ctx) {
  const server::Principal& p = ctx.principal();
  Environment env;
  env.source_ip = std::string(ctx.source_ip());
  env.secure_transport = ctx.secure_transport();
  env.time = ctx.time();
  env.requested_region = std::string(ctx.region());
  env.mfa_present = p.mfa_present;
  if (p.token_issued_at != 0) {
    env.has_token_issue_time = true;
    env.token_issue_time = TimePoint(std::chrono::seconds(p.token_issued_at));
  }
  env.source_identity = p.source_identity;
  return env;
}

// Whether a policy can read the request's condition keys: through a
// condition, or through a policy variable in Resource / NotResource (only
// 2012-10-17 policies have variables; "*" has none).
bool ReadsConditionKeys(const CompiledPolicy& policy) {
  const bool variables = policy.version() == PolicyVersion::k2012_10_17;
  for (const CompiledStatement& s : policy.statements()) {
    if (!s.conditions.empty()) return true;
    if (!variables) continue;
    for (const ArnPattern& r : s.resources) {
      if (!r.match_all() && r.source().find("${") != std::string::npos) return true;
    }
  }
  return false;
}

bool AnyReadsConditionKeys(std::span<const PolicyPtr> policies) {
  return std::any_of(policies.begin(), policies.end(),
                     [](const PolicyPtr& p) { return p && ReadsConditionKeys(*p); });
}

// Whether deciding set can read the request's condition keys. Most
// decisions cannot (a KMS key's default policy, condition-free identity
// policies), and then the keys are not built: the platform's dozen, the
// caller's and the resource's were most of the cost of a decision.
bool SetReadsConditionKeys(const PolicySet& set) {
  if (set.resource != nullptr && ReadsConditionKeys(*set.resource)) return true;
  if (AnyReadsConditionKeys(set.session)) return true;
  if (set.principal == nullptr) return false;
  const PrincipalPolicies& p = *set.principal;
  if (AnyReadsConditionKeys(p.identity)) return true;
  if (p.boundary && ReadsConditionKeys(*p.boundary)) return true;
  return std::any_of(
      p.scp_levels.begin(), p.scp_levels.end(),
      [](const std::vector<PolicyPtr>& level) { return AnyReadsConditionKeys(level); });
}

// The request to evaluate. It borrows the values of keys and
// resource_keys: it must not outlive them. Without with_keys it carries
// no condition keys (and no principal tags or organization, which only
// feed keys): for policies that read none (SetReadsConditionKeys).
AuthzRequest RequestFor(const server::RequestContext& ctx, const PrincipalPolicies& policies,
                        std::string_view action, std::string_view resource_arn,
                        std::span<const server::ConditionKey> keys,
                        std::span<const PreparedKey> resource_keys, bool with_keys) {
  PrincipalInfo info = InfoOf(ctx.principal());
  if (with_keys) {
    info.org_id = policies.org_id;
    info.org_paths = policies.org_paths;
    info.tags = ctx.principal().session_tags.empty() ? policies.tags
                                                     : MergedTags(policies, ctx.principal());
  }
  AuthzRequest request(std::move(info), action, resource_arn);
  // Resources AWS itself owns (account field "aws": AWS managed IAM
  // policies, the FullAWSAccess SCP) are usable by every account: identity
  // policies decide.
  if (request.resource_is_arn() && request.resource_parts()[4] == "aws") {
    request.set_resource_account(ctx.principal().account_id);
  }
  if (!with_keys) return request;
  // The platform adds about 12 keys; past 1 KiB of entries one allocation
  // of the right size beats growing by doubling.
  const size_t more = keys.size() + resource_keys.size();
  if (more > 2) request.keys().Reserve(12 + request.principal().tags.size() + more);
  request.AddPlatformKeys(EnvironmentOf(ctx));
  for (const server::ConditionKey& k : keys) request.keys().SetBorrowed(k.name, k.values);
  for (const PreparedKey& k : resource_keys) request.keys().SetBorrowed(k);
  return request;
}

// GetSessionToken credentials (a user's or root's own session) may call
// IAM only when MFA-authenticated, and no STS operation but AssumeRole
// (GetCallerIdentity needs no authorization).
Status SessionTokenLimits(const server::Principal& p, std::string_view action) {
  const bool own_session = p.token_issued_at != 0 && (p.type == "IAMUser" || p.type == "Root");
  if (!own_session) return Status::Ok();
  std::string lower = AsciiLower(action);
  if (lower.starts_with("iam:") && !p.mfa_present) {
    return Status::Error(ErrorCode::kAccessDenied,
                         "User: " + p.arn + " is not authorized to perform: " +
                             std::string(action) +
                             " because IAM calls with GetSessionToken credentials need MFA "
                             "authentication");
  }
  if (lower.starts_with("sts:") && lower != "sts:assumerole") {
    return Status::Error(ErrorCode::kAccessDenied,
                         "User: " + p.arn + " is not authorized to perform: " +
                             std::string(action) +
                             " because GetSessionToken credentials may call only AssumeRole "
                             "and GetCallerIdentity in STS");
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const PrincipalPolicies>> LoadEntityPolicies(store::Database& db,
                                                                    EntityKind kind,
                                                                    std::string_view id,
                                                                    std::string_view arn) {
  switch (kind) {
    case EntityKind::kUser:
      return LoadHolder(db, HolderTables{internal::kUserHolder, "iam_users", true}, id, arn);
    case EntityKind::kRole:
      return LoadHolder(db, HolderTables{internal::kRoleHolder, "iam_roles", false}, id, arn);
    case EntityKind::kGroup:
      return LoadHolder(db, HolderTables{internal::kGroupHolder, "", false}, id, arn);
  }
  return Status::Internal("unknown entity kind");
}

Result<std::shared_ptr<const PrincipalPolicies>> EngineAuthorizer::LoadRolePolicies(
    const server::Principal& p) const {
  // principal_id is "<role id>:<session name>".
  std::string_view role_id = p.principal_id;
  role_id = role_id.substr(0, role_id.find(':'));
  return LoadHolder(db_, HolderTables{internal::kRoleHolder, "iam_roles", false}, role_id,
                    p.role_arn);
}

Result<std::shared_ptr<const PrincipalPolicies>> EngineAuthorizer::LoadUserPolicies(
    const server::Principal& p) const {
  return LoadHolder(db_, HolderTables{internal::kUserHolder, "iam_users", true}, p.principal_id,
                    p.arn);
}

EngineAuthorizer::SessionPolicies EngineAuthorizer::SessionPoliciesOf(
    const server::Principal& p) const {
  if (!p.access_key_id.empty()) {
    std::lock_guard lock(session_mu_);
    if (auto it = sessions_.find(p.access_key_id); it != sessions_.end()) return it->second;
  }
  auto compiled = std::make_shared<std::vector<PolicyPtr>>();
  for (size_t i = 0; i < p.session_policies.size(); ++i) {
    // STS validated the documents when it issued the session; one that no
    // longer compiles grants nothing (the session stays capped).
    auto policy = CompilePolicy(p.session_policies[i], PolicyKind::kSession,
                                p.arn + "/session-policy/" + std::to_string(i));
    if (policy.ok()) compiled->push_back(std::move(policy).value());
  }
  SessionPolicies result = std::move(compiled);
  if (!p.access_key_id.empty()) {
    std::lock_guard lock(session_mu_);
    if (sessions_.size() >= kMaxSessions) sessions_.clear();
    sessions_.emplace(p.access_key_id, result);
  }
  return result;
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

namespace {

// The 12-digit account field of an ARN; empty when it has none (AWS-owned
// resources, "*").
std::string_view ArnAccount(std::string_view arn) {
  if (!arn.starts_with("arn:")) return {};
  size_t pos = 0;
  for (int field = 0; field < 4; ++field) {
    pos = arn.find(':', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  size_t end = arn.find(':', pos);
  if (end == std::string_view::npos) return {};
  std::string_view account = arn.substr(pos, end - pos);
  bool digits = account.size() == 12 &&
                std::all_of(account.begin(), account.end(), [](char c) { return c >= '0' && c <= '9'; });
  return digits ? account : std::string_view();
}

}  // namespace

Result<bool> EngineAuthorizer::Evaluate(const server::RequestContext& ctx,
                                        std::string_view action, std::string_view resource_arn,
                                        std::span<const server::ConditionKey> keys,
                                        std::span<const PreparedKey> resource_keys,
                                        PolicySet set, Status* denial,
                                        bool* explicit_deny) const {
  const server::Principal& p = ctx.principal();
  ctx.NoteResourceAccount(ArnAccount(resource_arn));
  if (Status limited = SessionTokenLimits(p, action); !limited.ok()) {
    if (denial != nullptr) *denial = limited;
    if (explicit_deny != nullptr) *explicit_deny = true;
    return false;
  }
  ASSIGN_OR_RETURN(auto policies, PoliciesOf(p));
  set.principal = policies.get();
  SessionPolicies session;
  if (p.has_session_policies) {
    session = SessionPoliciesOf(p);
    set.session = *session;
    set.has_session_policies = true;
  }
  AuthzRequest request = RequestFor(ctx, *policies, action, resource_arn, keys, resource_keys,
                                    SetReadsConditionKeys(set));
  Decision decision = Decide(set, request);
  if (denial != nullptr) *denial = DecisionStatus(decision, request);
  if (explicit_deny != nullptr) *explicit_deny = decision.explicit_deny;
  return decision.allowed;
}

Status EngineAuthorizer::Authorize(const server::RequestContext& ctx, std::string_view action,
                                   std::string_view resource_arn,
                                   std::span<const server::ConditionKey> keys) const {
  Status denial;
  RETURN_IF_ERROR(Evaluate(ctx, action, resource_arn, keys, {}, PolicySet{}, &denial).status());
  return denial;
}

Status EngineAuthorizer::AuthorizeWithResourcePolicy(const server::RequestContext& ctx,
                                                     std::string_view action,
                                                     std::string_view resource_arn,
                                                     std::span<const server::ConditionKey> keys,
                                                     const CompiledPolicy& resource_policy,
                                                     bool resource_policy_required) const {
  ASSIGN_OR_RETURN(Verdict v, Check(ctx, action, resource_arn, keys, resource_policy,
                                    resource_policy_required));
  return v.denial;
}

Result<EngineAuthorizer::Verdict> EngineAuthorizer::Check(
    const server::RequestContext& ctx, std::string_view action, std::string_view resource_arn,
    std::span<const server::ConditionKey> keys, const CompiledPolicy& resource_policy,
    bool resource_policy_required) const {
  return Check(ctx, action, resource_arn, keys, {}, resource_policy, resource_policy_required);
}

Result<EngineAuthorizer::Verdict> EngineAuthorizer::Check(
    const server::RequestContext& ctx, std::string_view action, std::string_view resource_arn,
    std::span<const server::ConditionKey> keys, std::span<const PreparedKey> resource_keys,
    const CompiledPolicy& resource_policy, bool resource_policy_required) const {
  PolicySet set;
  set.resource = &resource_policy;
  set.resource_policy_required = resource_policy_required;
  Verdict v;
  ASSIGN_OR_RETURN(v.allowed, Evaluate(ctx, action, resource_arn, keys, resource_keys, set,
                                       &v.denial, &v.explicit_deny));
  return v;
}

Result<bool> EngineAuthorizer::Allowed(const server::RequestContext& ctx, std::string_view action,
                                       std::string_view resource_arn,
                                       std::span<const server::ConditionKey> keys,
                                       const CompiledPolicy& resource_policy,
                                       bool resource_policy_required) const {
  PolicySet set;
  set.resource = &resource_policy;
  set.resource_policy_required = resource_policy_required;
  return Evaluate(ctx, action, resource_arn, keys, {}, set, nullptr);
}

}  // namespace rampart::iam
