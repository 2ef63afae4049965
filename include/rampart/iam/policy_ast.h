// Stage 1 of the policy engine: JSON text -> typed AST.
//
// The AST keeps the policy's strings as written (no wildcards compiled, no
// values typed); stage 2 (policy.h, Compile) validates and resolves them.
// Other rooms (e.g. the analysis room) may read the AST directly.
//
// Errors are ParseError values; ToStatus() turns them into the modeled IAM
// error MalformedPolicyDocumentException with AWS's wording.
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::iam {

// A value or a stage-specific error, without exceptions.
template <typename T, typename E>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Expected(E error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  // REQUIRES: ok()
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  // REQUIRES: !ok()
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

// Where a policy is attached decides which elements it may (or must) have.
enum class PolicyKind : uint8_t {
  kIdentity,   // managed or inline policy of a user, group or role
  kBoundary,   // permissions boundary (a managed policy)
  kSession,    // session policy passed to AssumeRole / GetFederationToken
  kScp,        // Organizations service control policy
  kResource,   // resource-based policy (KMS key policy, secret policy, ...)
  kTrust,      // a role's trust policy (a resource policy on the role)
};

// AWS's per-kind size quotas, in characters with whitespace excluded
// (IAM User Guide, "IAM and AWS STS quotas": managed policy 6,144; inline
// user 2,048; group 5,120; role 10,240).
enum class PolicySizeKind : uint8_t { kManaged, kInlineUser, kInlineGroup, kInlineRole };
size_t PolicySizeLimit(PolicySizeKind kind);
// Characters of text that count against the quota: UTF-8 code points that
// are not JSON whitespace.
size_t PolicyCharacterCount(std::string_view text);
// kServiceModeled "LimitExceededException" when text is over the quota.
Status CheckPolicySize(std::string_view text, PolicySizeKind kind);

enum class PolicyVersion : uint8_t {
  k2008_10_17,  // policy variables are literal text
  k2012_10_17,
};

enum class Effect : uint8_t { kAllow, kDeny };

// Principal / NotPrincipal, as written. "*" alone sets any.
struct PrincipalAst {
  bool any = false;
  std::vector<std::string> aws;             // account ids, "*", user/role/session ARNs
  std::vector<std::string> service;         // "ec2.amazonaws.com"
  std::vector<std::string> federated;       // "cognito-identity.amazonaws.com", SAML provider ARN
  std::vector<std::string> canonical_user;  // S3 canonical user ids
};

// One operator -> key -> values triple of a Condition block. Numbers and
// booleans in the JSON become their text ("10", "true") as AWS does.
struct ConditionAst {
  std::string op;
  std::string key;
  std::vector<std::string> values;
};

struct StatementAst {
  std::string sid;
  Effect effect = Effect::kAllow;
  bool has_principal = false;
  bool not_principal = false;
  PrincipalAst principal;
  bool not_action = false;
  std::vector<std::string> actions;
  bool has_resource = false;
  bool not_resource = false;
  std::vector<std::string> resources;
  std::vector<ConditionAst> conditions;
};

struct PolicyAst {
  PolicyVersion version = PolicyVersion::k2008_10_17;
  bool version_present = false;
  std::string id;
  std::vector<StatementAst> statements;
};

enum class ParseErrc : uint8_t {
  kSyntax,            // not JSON, wrong JSON types, unknown or duplicate element
  kVersion,           // Version not one of the two known dates
  kMissingField,      // Statement, Effect, Principal
  kInvalidEffect,     // Effect neither Allow nor Deny
  kPrincipalNotAllowed,
  kMissingActions,
  kMissingResources,
  kConflictingElements,  // Action and NotAction, ...
  kSid,               // duplicate or non-alphanumeric Sid
  kTooLarge,          // over the engine's hard limits (not the IAM quotas)
};

struct ParseError {
  ParseErrc code = ParseErrc::kSyntax;
  std::string message;
  // MalformedPolicyDocumentException with message.
  Status ToStatus() const;
};

// Hard limits that hold whatever the quota of the caller: they bound work
// on hostile input before any quota is checked.
inline constexpr size_t kMaxPolicyBytes = 128 * 1024;
inline constexpr size_t kMaxPolicyDepth = 12;

// Parses a policy document for the given attachment kind.
Expected<PolicyAst, ParseError> ParsePolicy(std::string_view text, PolicyKind kind);

}  // namespace rampart::iam
