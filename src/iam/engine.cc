// Stage 4: combining policies into a decision. The order and the rules are
// AWS's, cited per step; engine.h summarises them.
#include "rampart/iam/engine.h"

#include <optional>

namespace rampart::iam {
namespace {

// What each policy said, gathered once.
struct Gathered {
  std::optional<Decision> explicit_deny;
  bool scp_ok = true;
  PolicyMatch resource;
  bool identity_allow = false;
  StatementRef identity_statement;
  bool boundary_ok = true;
  StatementRef boundary_statement;
  bool session_ok = true;
  StatementRef session_statement;
};

Decision Deny(PolicyType type, bool explicit_deny, StatementRef s = {}) {
  Decision d;
  d.allowed = false;
  d.explicit_deny = explicit_deny;
  d.type = type;
  d.AddStatement(s);
  return d;
}

// Evaluates policies and returns the first explicit Deny, if any, setting
// *any_allow when some policy allows.
std::optional<Decision> EvaluateAll(std::span<const PolicyPtr> policies, PolicyType type,
                                    const AuthzRequest& r, bool* any_allow, StatementRef* first) {
  for (const PolicyPtr& p : policies) {
    if (!p) continue;
    PolicyMatch m = EvaluatePolicy(*p, r);
    if (m.deny) return Deny(type, true, m.first_deny);
    if (m.allow && !*any_allow) {
      *any_allow = true;
      *first = m.first_allow;
    }
  }
  return std::nullopt;
}

// reference_policies_evaluation-logic_policy-eval-denyallow.html, "Deny
// evaluation" and "AWS Organizations SCPs": an explicit Deny in any policy
// decides; SCPs must allow at every level of the OU path (SCP evaluation,
// orgs_manage_policies_scps_evaluation.html: "every level ... must allow").
std::optional<Decision> GatherScps(const PrincipalPolicies& pp, const AuthzRequest& r,
                                   Gathered& g) {
  if (pp.scp_exempt) return std::nullopt;  // the management account: no SCP applies
  for (const auto& level : pp.scp_levels) {
    bool allow = false;
    StatementRef first;
    if (auto d = EvaluateAll(level, PolicyType::kScp, r, &allow, &first)) return d;
    if (!allow) g.scp_ok = false;
  }
  return std::nullopt;
}

std::optional<Decision> Gather(const PolicySet& set, const AuthzRequest& r, Gathered& g) {
  const PrincipalPolicies* pp = set.principal;
  if (pp != nullptr) {
    if (auto d = GatherScps(*pp, r, g)) return d;
  }
  if (set.resource != nullptr) {
    g.resource = EvaluatePolicy(*set.resource, r);
    if (g.resource.deny) return Deny(PolicyType::kResource, true, g.resource.first_deny);
  }
  if (pp != nullptr) {
    if (auto d = EvaluateAll(pp->identity, PolicyType::kIdentity, r, &g.identity_allow,
                             &g.identity_statement)) {
      return d;
    }
    if (pp->boundary) {
      g.boundary_ok = false;
      std::span<const PolicyPtr> one(&pp->boundary, 1);
      if (auto d = EvaluateAll(one, PolicyType::kBoundary, r, &g.boundary_ok,
                               &g.boundary_statement)) {
        return d;
      }
    }
  }
  if (set.has_session_policies) {
    g.session_ok = false;
    if (auto d = EvaluateAll(set.session, PolicyType::kSession, r, &g.session_ok,
                             &g.session_statement)) {
      return d;
    }
  } else if (r.principal().type == PrincipalType::kFederatedUser) {
    // id_credentials_temp_control-access_getfederationtoken.html: without
    // session policies a federated user session has no permissions of its
    // own (a resource policy naming the session can still grant).
    g.session_ok = false;
  }
  return std::nullopt;
}

Decision Allow(PolicyType type, const Gathered& g, bool via_resource) {
  Decision d;
  d.allowed = true;
  d.type = type;
  if (via_resource) d.AddStatement(g.resource.first_allow);
  if (type == PolicyType::kIdentity) d.AddStatement(g.identity_statement);
  d.AddStatement(g.boundary_statement);
  d.AddStatement(g.session_statement);
  return d;
}

// The first policy type on the identity side that has no Allow.
Decision IdentitySideDenial(const Gathered& g, bool identity_allow) {
  if (!identity_allow) return Deny(PolicyType::kIdentity, false);
  if (!g.boundary_ok) return Deny(PolicyType::kBoundary, false);
  return Deny(PolicyType::kSession, false);
}

// Principals without identity policies (services, web identities, the
// anonymous caller) get exactly what the resource policy grants.
bool ResourceOnlyPrincipal(PrincipalType t) {
  return t == PrincipalType::kService || t == PrincipalType::kWebIdentity ||
         t == PrincipalType::kAnonymous;
}

}  // namespace

void Decision::AddStatement(StatementRef s) {
  if (s.policy == nullptr || statement_count >= statements.size()) return;
  statements[statement_count++] = s;
}

Decision Decide(const PolicySet& set, const AuthzRequest& r) {
  Gathered g;
  if (auto d = Gather(set, r, g)) return *d;
  if (!g.scp_ok) return Deny(PolicyType::kScp, false);

  const PrincipalInfo& p = r.principal();
  const PrincipalMatch rm = g.resource.allow ? g.resource.allow_principal : PrincipalMatch::kNone;
  if (ResourceOnlyPrincipal(p.type)) {
    return rm != PrincipalMatch::kNone ? Allow(PolicyType::kResource, g, true)
                                       : Deny(PolicyType::kResource, false);
  }
  // The root user has every identity permission (denyallow page: "with the
  // exception of the AWS account root user, which has full access").
  const bool identity_allow = p.type == PrincipalType::kRoot || g.identity_allow;
  const bool identity_side = identity_allow && g.boundary_ok && g.session_ok;
  if (set.resource_policy_required && rm == PrincipalMatch::kNone) {
    return Deny(PolicyType::kResource, false);
  }

  if (r.cross_account()) {
    // reference_policies_evaluation-logic-cross-account.html: the request
    // needs an Allow in the trusting account's resource policy and in the
    // trusted account's identity side.
    if (rm == PrincipalMatch::kNone) return Deny(PolicyType::kResource, false);
    if (!identity_side) return IdentitySideDenial(g, identity_allow);
    return Allow(PolicyType::kIdentity, g, true);
  }

  // Same account (access_policies_boundaries.html, "Resource-based
  // policies"): an Allow naming the caller's own ARN (IAM user, role
  // session, federated user session) is not limited by an implicit deny in
  // identity policies, the boundary or session policies.
  if (rm == PrincipalMatch::kDirect) return Allow(PolicyType::kResource, g, true);
  // An Allow naming the role (or anyone) replaces the identity-policy Allow
  // but stays limited by the boundary and session policies.
  if ((rm == PrincipalMatch::kRole || rm == PrincipalMatch::kAnyone) && g.boundary_ok &&
      g.session_ok) {
    return Allow(PolicyType::kResource, g, true);
  }
  // An Allow naming only the account delegates to IAM: identity decides.
  if (identity_side) return Allow(PolicyType::kIdentity, g, rm != PrincipalMatch::kNone);
  if (rm == PrincipalMatch::kRole || rm == PrincipalMatch::kAnyone) {
    return IdentitySideDenial(g, true);
  }
  return IdentitySideDenial(g, identity_allow);
}

std::string_view PolicyTypePhrase(PolicyType t) {
  switch (t) {
    case PolicyType::kScp: return "service control policy";
    case PolicyType::kResource: return "resource-based policy";
    case PolicyType::kIdentity: return "identity-based policy";
    case PolicyType::kBoundary: return "permissions boundary";
    case PolicyType::kSession: return "session policy";
    case PolicyType::kNone: break;
  }
  return "policy";
}

std::string DenialMessage(const Decision& d, const AuthzRequest& r) {
  std::string msg = "User: " + r.principal().arn + " is not authorized to perform: " +
                    std::string(r.action()) + " on resource: " + std::string(r.resource());
  std::string_view phrase = PolicyTypePhrase(d.type);
  if (d.explicit_deny) {
    bool vowel = phrase.front() == 'i';
    msg += std::string(" with an explicit deny in ") + (vowel ? "an " : "a ") + std::string(phrase);
  } else {
    msg += " because no " + std::string(phrase) + " allows the " + std::string(r.action()) +
           " action";
  }
  return msg;
}

Status DecisionStatus(const Decision& d, const AuthzRequest& r) {
  if (d.allowed) return Status::Ok();
  return Status::Error(ErrorCode::kAccessDenied, DenialMessage(d, r));
}

}  // namespace rampart::iam
