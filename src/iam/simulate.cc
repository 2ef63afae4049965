#include "rampart/iam/simulate.h"

#include <algorithm>
#include <set>

#include "iam/iam_internal.h"
#include "rampart/core/arn.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/iam/policy.h"
#include "rampart/iam/policy_context.h"

namespace rampart::iam {
namespace {

Status InvalidInput(std::string message) {
  return Status::Modeled("InvalidInputException", std::move(message));
}

// Everything one simulation weighs, independent of action and resource.
struct Simulation {
  SimulationSubject subject;
  PolicyPtr resource_policy;
  std::string resource_owner;
  std::vector<std::pair<std::string, std::vector<std::string>>> context;
  std::vector<std::string> actions;
  std::vector<std::string> resources;
};

std::vector<std::string> StringList(const json::Value& in, std::string_view member) {
  std::vector<std::string> out;
  const json::Value* list = in.find(member);
  if (list == nullptr || !list->is_array()) return out;
  for (const json::Value& v : list->as_array()) {
    if (v.is_string()) out.push_back(v.as_string());
  }
  return out;
}

// Compiles the documents of a list member; each policy is named
// "<member>.<n>" (1-based), the name the simulator reports.
Result<std::vector<PolicyPtr>> CompileList(const json::Value& in, std::string_view member,
                                           PolicyKind kind) {
  std::vector<PolicyPtr> out;
  std::vector<std::string> docs = StringList(in, member);
  for (size_t i = 0; i < docs.size(); ++i) {
    std::string id = std::string(member) + "." + std::to_string(i + 1);
    auto compiled = CompilePolicy(docs[i], kind, id);
    if (!compiled.ok()) {
      return InvalidInput("The policy " + id + " is not valid: " + compiled.status().message());
    }
    out.push_back(std::move(compiled).value());
  }
  return out;
}

// The simulated IAM user named by an ARN.
Result<PrincipalInfo> CallerFromArn(std::string_view arn) {
  std::array<std::string_view, 6> parts;
  if (!SplitArn(arn, parts) || parts[2] != "iam" || !parts[5].starts_with("user/")) {
    return InvalidInput("CallerArn must be the ARN of an IAM user: " + std::string(arn));
  }
  PrincipalInfo p;
  p.type = PrincipalType::kUser;
  p.arn = std::string(arn);
  p.account = std::string(parts[4]);
  std::string_view name = parts[5];
  p.user_name = std::string(name.substr(name.rfind('/') + 1));
  p.id = p.user_name;
  return p;
}

Status ReadContext(const json::Value& in, Simulation& sim) {
  const json::Value* list = in.find("ContextEntries");
  if (list == nullptr || !list->is_array()) return Status::Ok();
  for (const json::Value& e : list->as_array()) {
    std::string name(e.get_string("ContextKeyName"));
    if (name.empty()) return InvalidInput("A context entry has no ContextKeyName.");
    sim.context.emplace_back(std::move(name), StringList(e, "ContextKeyValues"));
  }
  return Status::Ok();
}

// The inputs every simulation shares: actions, resources, the resource
// policy and its owner, the caller and the context entries.
Status ReadCommon(const json::Value& in, Simulation& sim) {
  sim.actions = StringList(in, "ActionNames");
  for (const std::string& a : sim.actions) {
    if (a.find(':') == std::string::npos) {
      return InvalidInput("Action name " + a + " is not of the form service:action.");
    }
  }
  sim.resources = StringList(in, "ResourceArns");
  if (sim.resources.empty()) sim.resources.push_back("*");
  for (const std::string& r : sim.resources) {
    std::array<std::string_view, 6> parts;
    if (r != "*" && !SplitArn(r, parts)) return InvalidInput("Invalid resource ARN: " + r);
  }
  std::string_view resource_policy = in.get_string("ResourcePolicy");
  if (!resource_policy.empty()) {
    auto compiled = CompilePolicy(resource_policy, PolicyKind::kResource, "ResourcePolicy");
    if (!compiled.ok()) {
      return InvalidInput("The resource policy is not valid: " + compiled.status().message());
    }
    sim.resource_policy = std::move(compiled).value();
  }
  std::string_view owner = in.get_string("ResourceOwner");
  if (!owner.empty()) {
    std::array<std::string_view, 6> parts;
    if (!SplitArn(owner, parts)) return InvalidInput("Invalid ResourceOwner: " + std::string(owner));
    sim.resource_owner = std::string(parts[4]);
  }
  std::string_view caller = in.get_string("CallerArn");
  if (!caller.empty()) {
    ASSIGN_OR_RETURN(sim.subject.principal, CallerFromArn(caller));
  }
  return ReadContext(in, sim);
}

bool ActionApplies(const CompiledStatement& s, const AuthzRequest& r) {
  bool any = std::any_of(s.actions.begin(), s.actions.end(), [&](const Pattern& p) {
    return p.Match(r.action_lower(), &r.keys()) == Pattern::Result::kMatch;
  });
  return any != s.not_action;
}

struct Explained {
  json::Value matched = json::Value::MakeArray();
  std::set<std::string> missing;
};

void Explain(const CompiledPolicy& policy, std::string_view id, std::string_view type,
             const AuthzRequest& r, std::optional<Effect> wanted, Explained& out) {
  for (const CompiledStatement& s : policy.statements()) {
    if (!ActionApplies(s, r)) continue;
    for (const Condition& c : s.conditions) {
      if (r.keys().Find(c.key_lower()) == nullptr) out.missing.insert(c.key_text());
    }
    PrincipalMatch m = PrincipalMatch::kNone;
    if (wanted && s.effect == *wanted && StatementApplies(s, r, &m)) {
      json::Value st = json::Value::MakeObject();
      st.set("SourcePolicyId", std::string(id));
      st.set("SourcePolicyType", std::string(type));
      out.matched.push(std::move(st));
    }
  }
}

AuthzRequest BuildRequest(const server::RequestContext& ctx, const Simulation& sim,
                          std::string_view action, std::string_view resource) {
  AuthzRequest r(sim.subject.principal, action, resource);
  if (!sim.resource_owner.empty()) r.set_resource_account(sim.resource_owner);
  Environment env;
  env.time = ctx.time();
  env.secure_transport = true;
  r.AddPlatformKeys(env);
  for (const auto& [name, values] : sim.context) r.keys().Set(name, values);
  return r;
}

json::Value Evaluate(const server::RequestContext& ctx, const Simulation& sim,
                     std::string_view action, std::string_view resource) {
  AuthzRequest r = BuildRequest(ctx, sim, action, resource);
  PrincipalPolicies pp;
  pp.identity = sim.subject.identity;
  pp.boundary = sim.subject.boundary;
  PolicySet set;
  set.principal = &pp;
  set.resource = sim.resource_policy.get();
  Decision d = Decide(set, r);

  std::optional<Effect> wanted;
  if (d.allowed) wanted = Effect::kAllow;
  if (d.explicit_deny) wanted = Effect::kDeny;
  Explained ex;
  const SimulationSubject& sub = sim.subject;
  for (size_t i = 0; i < sub.identity.size(); ++i) {
    Explain(*sub.identity[i], sub.identity_ids[i], sub.identity_types[i], r, wanted, ex);
  }
  if (sim.resource_policy) {
    Explain(*sim.resource_policy, "ResourcePolicy", "resource", r, wanted, ex);
  }
  if (sub.boundary) Explain(*sub.boundary, sub.boundary->id(), "none", r, std::nullopt, ex);

  json::Value out = json::Value::MakeObject();
  out.set("EvalActionName", std::string(action));
  out.set("EvalResourceName", std::string(resource));
  out.set("EvalDecision", d.allowed ? "allowed" : d.explicit_deny ? "explicitDeny" : "implicitDeny");
  out.set("MatchedStatements", std::move(ex.matched));
  json::Value missing = json::Value::MakeArray();
  for (const std::string& k : ex.missing) missing.push(k);
  out.set("MissingContextValues", std::move(missing));
  if (sim.subject.boundary) {
    PolicyMatch m = EvaluatePolicy(*sim.subject.boundary, r);
    json::Value detail = json::Value::MakeObject();
    detail.set("AllowedByPermissionsBoundary", m.allow && !m.deny);
    out.set("PermissionsBoundaryDecisionDetail", std::move(detail));
  }
  return out;
}

// Every (action, resource) pair, paged by MaxItems/Marker (the marker is
// the index of the next pair).
Result<json::Value> Run(const server::RequestContext& ctx, const Simulation& sim,
                        const json::Value& in) {
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  size_t start = 0;
  if (!page.start.empty()) {
    start = static_cast<size_t>(std::strtoull(page.start.c_str(), nullptr, 10));
  }
  const size_t total = sim.actions.size() * sim.resources.size();
  if (start > total) return InvalidInput("Invalid value for parameter Marker.");
  const size_t end = std::min(total, start + static_cast<size_t>(page.max_items));
  json::Value results = json::Value::MakeArray();
  for (size_t i = start; i < end; ++i) {
    results.push(Evaluate(ctx, sim, sim.actions[i / sim.resources.size()],
                          sim.resources[i % sim.resources.size()]));
  }
  json::Value out = json::Value::MakeObject();
  out.set("EvaluationResults", std::move(results));
  internal::SetPage(out, end < total, std::to_string(end));
  return out;
}

// Policies given as input are reported by their input position.
void AddInputPolicies(std::vector<PolicyPtr> policies, SimulationSubject& subject) {
  for (PolicyPtr& p : policies) {
    subject.identity_ids.push_back(p->id());
    subject.identity_types.push_back("user");
    subject.identity.push_back(std::move(p));
  }
}

// How the simulator names a stored policy: inline ones by name (typed by
// their holder), managed ones by ARN (typed aws-managed or user-managed).
std::pair<std::string, std::string> DescribeStored(std::string_view id,
                                                   std::string_view holder_type) {
  if (size_t at = id.find("/inline:"); at != std::string_view::npos) {
    std::string name(id.substr(at + 8));
    bool from_group = id.substr(0, at).find("/group/") != std::string_view::npos &&
                      holder_type == "user";
    return {name, from_group ? "group" : std::string(holder_type)};
  }
  return {std::string(id), id.starts_with("arn:aws:iam::aws:") ? "aws-managed" : "user-managed"};
}

// The subject of a PolicySourceArn: an IAM user, role or group of account.
Result<SimulationSubject> LoadSubject(store::Database& db, std::string_view account,
                                      std::string_view source_arn) {
  std::array<std::string_view, 6> parts;
  if (!SplitArn(source_arn, parts) || parts[2] != "iam") {
    return InvalidInput("PolicySourceArn must be the ARN of an IAM user, group or role.");
  }
  std::string_view resource = parts[5];
  std::string_view name = resource.substr(resource.rfind('/') + 1);
  const internal::HolderKind* holder_kind = nullptr;
  EntityKind kind = EntityKind::kUser;
  std::string_view type;
  if (resource.starts_with("user/")) {
    holder_kind = &internal::kUserHolder, kind = EntityKind::kUser, type = "user";
  } else if (resource.starts_with("role/")) {
    holder_kind = &internal::kRoleHolder, kind = EntityKind::kRole, type = "role";
  } else if (resource.starts_with("group/")) {
    holder_kind = &internal::kGroupHolder, kind = EntityKind::kGroup, type = "group";
  } else {
    return InvalidInput("PolicySourceArn must be the ARN of an IAM user, group or role.");
  }
  if (parts[4] != account) {
    return Status::Modeled("NoSuchEntityException",
                           "The entity " + std::string(source_arn) + " cannot be found.");
  }
  internal::Holder holder;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(holder, holder_kind->require(tx, account, name));
    return Status::Ok();
  }));
  ASSIGN_OR_RETURN(auto policies, LoadEntityPolicies(db, kind, holder.id, source_arn));
  SimulationSubject subject;
  PrincipalInfo& p = subject.principal;
  p.account = std::string(account);
  p.tags = policies->tags;
  if (kind == EntityKind::kRole) {
    p.type = PrincipalType::kAssumedRole;
    p.role_arn = std::string(source_arn);
    p.arn = "arn:aws:sts::" + std::string(account) + ":assumed-role/" + holder.name + "/simulation";
    p.id = holder.id + ":simulation";
  } else {
    p.type = PrincipalType::kUser;
    p.arn = std::string(source_arn);
    p.id = holder.id;
    if (kind == EntityKind::kUser) p.user_name = holder.name;
  }
  for (const PolicyPtr& policy : policies->identity) {
    auto [id, policy_type] = DescribeStored(policy->id(), type);
    subject.identity.push_back(policy);
    subject.identity_ids.push_back(std::move(id));
    subject.identity_types.push_back(std::move(policy_type));
  }
  subject.boundary = policies->boundary;
  return subject;
}

Result<PolicyPtr> SingleBoundary(const json::Value& in) {
  ASSIGN_OR_RETURN(auto boundaries,
                   CompileList(in, "PermissionsBoundaryPolicyInputList", PolicyKind::kIdentity));
  if (boundaries.size() > 1) {
    return InvalidInput("PermissionsBoundaryPolicyInputList can hold only one policy.");
  }
  return boundaries.empty() ? PolicyPtr() : boundaries.front();
}

json::Value ContextKeysOf(const std::vector<PolicyPtr>& policies) {
  std::set<std::string> seen;
  json::Value names = json::Value::MakeArray();
  for (const PolicyPtr& p : policies) {
    for (const CompiledStatement& s : p->statements()) {
      for (const Condition& c : s.conditions) {
        if (seen.insert(c.key_lower()).second) names.push(c.key_text());
      }
    }
  }
  json::Value out = json::Value::MakeObject();
  out.set("ContextKeyNames", std::move(names));
  return out;
}

}  // namespace

void SimulationService::Register(server::Registry& registry) {
  using Method =
      Result<json::Value> (SimulationService::*)(server::RequestContext&, const json::Value&);
  const std::pair<std::string_view, Method> handlers[] = {
      {"SimulateCustomPolicy", &SimulationService::SimulateCustomPolicy},
      {"SimulatePrincipalPolicy", &SimulationService::SimulatePrincipalPolicy},
      {"GetContextKeysForCustomPolicy", &SimulationService::GetContextKeysForCustomPolicy},
      {"GetContextKeysForPrincipalPolicy", &SimulationService::GetContextKeysForPrincipalPolicy},
  };
  for (const auto& handler : handlers) {
    // A copy: clang 14 cannot capture structured bindings.
    const Method method = handler.second;
    registry.Add("iam", handler.first,
                 [this, method](server::RequestContext& ctx, const json::Value& in) {
                   return (this->*method)(ctx, in);
                 });
  }
}

Result<json::Value> SimulationService::SimulateCustomPolicy(server::RequestContext& ctx,
                                                            const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:SimulateCustomPolicy", "*"));
  Simulation sim;
  sim.subject.principal.type = PrincipalType::kUser;
  sim.subject.principal.account = ctx.principal().account_id;
  RETURN_IF_ERROR(ReadCommon(in, sim));
  if (sim.resource_policy && in.get_string("CallerArn").empty()) {
    return InvalidInput("CallerArn is required when a ResourcePolicy is given.");
  }
  ASSIGN_OR_RETURN(auto policies, CompileList(in, "PolicyInputList", PolicyKind::kIdentity));
  AddInputPolicies(std::move(policies), sim.subject);
  ASSIGN_OR_RETURN(sim.subject.boundary, SingleBoundary(in));
  return Run(ctx, sim, in);
}

Result<json::Value> SimulationService::SimulatePrincipalPolicy(server::RequestContext& ctx,
                                                               const json::Value& in) {
  std::string source(in.get_string("PolicySourceArn"));
  RETURN_IF_ERROR(ctx.Authorize("iam:SimulatePrincipalPolicy", source));
  Simulation sim;
  ASSIGN_OR_RETURN(sim.subject, LoadSubject(db_, ctx.principal().account_id, source));
  PrincipalInfo subject_principal = sim.subject.principal;
  RETURN_IF_ERROR(ReadCommon(in, sim));
  if (in.get_string("CallerArn").empty()) sim.subject.principal = subject_principal;
  ASSIGN_OR_RETURN(auto extra, CompileList(in, "PolicyInputList", PolicyKind::kIdentity));
  AddInputPolicies(std::move(extra), sim.subject);
  ASSIGN_OR_RETURN(PolicyPtr boundary, SingleBoundary(in));
  if (boundary) sim.subject.boundary = std::move(boundary);
  return Run(ctx, sim, in);
}

Result<json::Value> SimulationService::GetContextKeysForCustomPolicy(server::RequestContext& ctx,
                                                                     const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GetContextKeysForCustomPolicy", "*"));
  ASSIGN_OR_RETURN(auto policies, CompileList(in, "PolicyInputList", PolicyKind::kIdentity));
  return ContextKeysOf(policies);
}

Result<json::Value> SimulationService::GetContextKeysForPrincipalPolicy(
    server::RequestContext& ctx, const json::Value& in) {
  std::string source(in.get_string("PolicySourceArn"));
  RETURN_IF_ERROR(ctx.Authorize("iam:GetContextKeysForPrincipalPolicy", source));
  ASSIGN_OR_RETURN(SimulationSubject subject, LoadSubject(db_, ctx.principal().account_id, source));
  ASSIGN_OR_RETURN(auto extra, CompileList(in, "PolicyInputList", PolicyKind::kIdentity));
  for (PolicyPtr& p : extra) subject.identity.push_back(std::move(p));
  return ContextKeysOf(subject.identity);
}

}  // namespace rampart::iam
