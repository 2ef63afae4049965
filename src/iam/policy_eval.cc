// Stage 3: does one policy allow or deny a request? (IAM User Guide,
// "Policy evaluation logic": a statement applies when its principal,
// action, resource and conditions all match.)
#include <algorithm>

#include "rampart/core/arn.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {
namespace {

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return !s.empty() && std::find(v.begin(), v.end(), s) != v.end();
}

// An account's root ARN names the account as a whole.
bool RootAccount(std::string_view arn, std::string& account) {
  std::array<std::string_view, 6> parts{};
  if (!SplitArn(arn, parts) || parts[2] != "iam" || parts[5] != "root") return false;
  if (!IsAccountId(parts[4])) return false;
  account = std::string(parts[4]);
  return true;
}

bool ActionMatches(const CompiledStatement& s, std::string_view action_lower) {
  bool matched = std::any_of(s.actions.begin(), s.actions.end(), [&](const Pattern& p) {
    return p.Match(action_lower, nullptr) == Pattern::Result::kMatch;
  });
  return matched != s.not_action;
}

bool ResourceMatches(const CompiledStatement& s, const AuthzRequest& r) {
  if (!s.has_resource) return true;  // trust policies name no resource
  bool matched = false;
  bool unresolved = false;
  for (const ArnPattern& p : s.resources) {
    Pattern::Result m = p.Match(r.resource_is_arn(), r.resource_parts(), &r.keys());
    if (m == Pattern::Result::kMatch) {
      matched = true;
      if (!s.not_resource) return true;
    }
    unresolved = unresolved || m == Pattern::Result::kUnresolved;
  }
  // NotResource with an unresolvable entry does not apply: the variable's
  // absence must not widen what the statement covers.
  return s.not_resource ? !matched && !unresolved : false;
}

PrincipalMatch MatchPrincipalElement(const CompiledStatement& s, const PrincipalInfo& p) {
  if (!s.has_principal) return PrincipalMatch::kAnyone;  // identity-side policies
  PrincipalMatch m = s.principal.Match(p);
  if (!s.not_principal) return m;
  return m == PrincipalMatch::kNone ? PrincipalMatch::kAnyone : PrincipalMatch::kNone;
}

}  // namespace

PrincipalMatcher PrincipalMatcher::FromAst(const PrincipalAst& ast) {
  PrincipalMatcher m;
  m.any_ = ast.any;
  for (const std::string& a : ast.aws) {
    std::string account;
    if (a == "*") continue;
    if (IsAccountId(a)) {
      m.accounts_.push_back(a);
    } else if (RootAccount(a, account)) {
      m.accounts_.push_back(std::move(account));
    } else {
      m.arns_.push_back(a);
    }
  }
  m.services_ = ast.service;
  m.federated_ = ast.federated;
  m.canonical_ = ast.canonical_user;
  return m;
}

PrincipalMatch PrincipalMatcher::Match(const PrincipalInfo& p) const {
  switch (p.type) {
    case PrincipalType::kService:
      if (Contains(services_, p.service)) return PrincipalMatch::kDirect;
      break;
    case PrincipalType::kWebIdentity:
      if (Contains(federated_, p.federated_provider)) return PrincipalMatch::kDirect;
      break;
    case PrincipalType::kAnonymous:
      break;
    default:
      if (Contains(arns_, p.arn)) return PrincipalMatch::kDirect;
      if (Contains(canonical_, p.canonical_user)) return PrincipalMatch::kDirect;
      if (p.type == PrincipalType::kAssumedRole && Contains(arns_, p.role_arn)) {
        return PrincipalMatch::kRole;
      }
      break;
  }
  if (any_) return PrincipalMatch::kAnyone;
  // An account's principals ("arn:aws:iam::<acct>:root") stand for the
  // account's own identities: never a service, a web identity or an
  // anonymous caller, whatever account field the request gave them.
  const bool of_an_account = p.type != PrincipalType::kService &&
                             p.type != PrincipalType::kWebIdentity &&
                             p.type != PrincipalType::kAnonymous;
  if (of_an_account && Contains(accounts_, p.account)) return PrincipalMatch::kAccount;
  return PrincipalMatch::kNone;
}

bool StatementApplies(const CompiledStatement& s, const AuthzRequest& r, PrincipalMatch* m) {
  if (!ActionMatches(s, r.action_lower())) return false;
  if (!ResourceMatches(s, r)) return false;
  PrincipalMatch pm = MatchPrincipalElement(s, r.principal());
  if (pm == PrincipalMatch::kNone) return false;
  for (const Condition& c : s.conditions) {
    if (!c.Evaluate(r.keys())) return false;
  }
  if (m != nullptr) *m = pm;
  return true;
}

PolicyMatch EvaluatePolicy(const CompiledPolicy& policy, const AuthzRequest& request) {
  PolicyMatch out;
  const bool principal_policy =
      policy.kind() == PolicyKind::kResource || policy.kind() == PolicyKind::kTrust;
  const auto& statements = policy.statements();
  for (uint32_t i = 0; i < statements.size(); ++i) {
    const CompiledStatement& s = statements[i];
    const bool allow = s.effect == Effect::kAllow;
    // Once an Allow is known, further Allows only matter for the strength
    // of a resource policy's principal match.
    if (allow && out.allow && (!principal_policy || out.allow_principal == PrincipalMatch::kDirect)) {
      continue;
    }
    // The statement's actions name only other services: it cannot apply.
    if ((s.service_mask & request.action_service_bit()) == 0) continue;
    PrincipalMatch pm = PrincipalMatch::kNone;
    if (!StatementApplies(s, request, &pm)) continue;
    if (!allow) {
      out.deny = true;
      out.first_deny = StatementRef{&policy, i};
      return out;  // an explicit Deny decides; no need to look further
    }
    if (!out.allow || pm > out.allow_principal) {
      out.first_allow = StatementRef{&policy, i};
      out.allow_principal = std::max(out.allow_principal, pm);
    }
    out.allow = true;
  }
  return out;
}

}  // namespace rampart::iam
