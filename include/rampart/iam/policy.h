// Stages 2 and 3 of the policy engine: validate a parsed policy into an
// immutable CompiledPolicy, and evaluate one CompiledPolicy for a request.
//
//   auto p = CompilePolicy(json, PolicyKind::kIdentity, "arn:...:policy/x");
//   if (!p.ok()) return p.status();   // MalformedPolicyDocumentException
//   PolicyMatch m = EvaluatePolicy(**p, request);
//
// Combining several policies into a decision is stage 4 (engine.h).
//
// Thread-safety: a CompiledPolicy is immutable; share it freely as
// std::shared_ptr<const CompiledPolicy> between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/iam/policy_ast.h"
#include "rampart/iam/policy_condition.h"
#include "rampart/iam/policy_context.h"
#include "rampart/iam/policy_pattern.h"

namespace rampart::iam {

// How a resource policy's Principal element named the caller. The order
// is by strength; the engine's same-account rules depend on it (see
// engine.h).
enum class PrincipalMatch : uint8_t {
  kNone,
  kAccount,   // the caller's account ("123456789012" or ...:root): delegates to IAM
  kAnyone,    // "*" or {"AWS": "*"}, or a NotPrincipal that does not list the caller
  kRole,      // the ARN of the role whose session is calling
  kDirect,    // the caller's own ARN: IAM user, role session, federated user,
              // service, federated provider, canonical user
};

class PrincipalMatcher {
 public:
  static PrincipalMatcher FromAst(const PrincipalAst& ast);
  PrincipalMatch Match(const PrincipalInfo& p) const;

 private:
  bool any_ = false;
  std::vector<std::string> accounts_;  // twelve-digit ids (from ids and root ARNs)
  std::vector<std::string> arns_;      // other AWS principal ARNs
  std::vector<std::string> services_;
  std::vector<std::string> federated_;
  std::vector<std::string> canonical_;
};

struct CompiledStatement {
  uint32_t index = 0;  // position in the policy's Statement list
  std::string sid;
  Effect effect = Effect::kAllow;
  bool has_principal = false;
  bool not_principal = false;
  PrincipalMatcher principal;
  bool not_action = false;
  std::vector<Pattern> actions;  // lower-cased "service:action" globs
  // OR of ActionServiceBit over the services the actions name; all bits
  // when any service part has a wildcard, for NotAction, or when unset. A
  // request whose bit is not in the mask cannot match the actions.
  uint64_t service_mask = ~uint64_t{0};
  bool has_resource = false;
  bool not_resource = false;
  std::vector<ArnPattern> resources;
  std::vector<Condition> conditions;
};

class CompiledPolicy {
 public:
  const std::string& id() const { return id_; }  // the caller's name for it, e.g. its ARN
  PolicyKind kind() const { return kind_; }
  PolicyVersion version() const { return version_; }
  const std::vector<CompiledStatement>& statements() const { return statements_; }

 private:
  friend class PolicyCompiler;
  std::string id_;
  PolicyKind kind_ = PolicyKind::kIdentity;
  PolicyVersion version_ = PolicyVersion::k2012_10_17;
  std::vector<CompiledStatement> statements_;
};

enum class ValidateErrc : uint8_t {
  kUnknownOperator,
  kBadConditionValue,
  kBadAction,
  kBadResource,
  kBadPrincipal,
};

struct ValidateError {
  ValidateErrc code = ValidateErrc::kUnknownOperator;
  std::string message;
  // MalformedPolicyDocumentException with message.
  Status ToStatus() const;
};

// Stage 2: validates an AST. id names the policy in decisions.
Expected<std::shared_ptr<const CompiledPolicy>, ValidateError> ValidatePolicy(
    const PolicyAst& ast, PolicyKind kind, std::string id);

// Stages 1 + 2, errors as MalformedPolicyDocumentException.
Result<std::shared_ptr<const CompiledPolicy>> CompilePolicy(std::string_view text,
                                                            PolicyKind kind, std::string id);

// A statement of a policy, for explanations.
struct StatementRef {
  const CompiledPolicy* policy = nullptr;
  uint32_t index = 0;
  const CompiledStatement& statement() const { return policy->statements()[index]; }
};

// Stage 3: what one policy says about a request.
struct PolicyMatch {
  bool allow = false;  // some Allow statement applies
  bool deny = false;   // some Deny statement applies
  StatementRef first_allow;
  StatementRef first_deny;
  // Resource and trust policies: the strongest principal match among the
  // applying Allow statements.
  PrincipalMatch allow_principal = PrincipalMatch::kNone;
};

// Whether one statement applies to the request (its principal, action,
// resource and conditions all match); m receives the principal match.
bool StatementApplies(const CompiledStatement& s, const AuthzRequest& r, PrincipalMatch* m);

PolicyMatch EvaluatePolicy(const CompiledPolicy& policy, const AuthzRequest& request);

}  // namespace rampart::iam
