// Compiled Condition entries (IAM User Guide, "IAM JSON policy elements:
// Condition operators").
//
// One operator family per source file (src/iam/condition_<family>.cc), each
// implementing ConditionMatcher; one table (condition_table.cc) maps operator
// names to families, and unknown operators are rejected at compile time.
// Policy values are typed once (numbers, dates, CIDRs, booleans, ARNs,
// wildcard patterns, base64 blobs); request values are parsed as compared.
//
// Semantics of one entry "Operator": {"key": [v1, v2]} (condition_set.cc):
//  - values of one key are OR'ed; entries (operators and keys) are AND'ed;
//  - a negated operator (StringNotEquals, NotIpAddress, ArnNotLike, ...) is
//    the negation of its positive twin: true when no request value matches
//    any policy value, hence true when the key is absent;
//  - ...IfExists: true when the key is absent, else as without the suffix;
//  - ForAnyValue: true when some request value matches (false when the key
//    is absent or empty); ForAllValues: true when every request value
//    matches (true when the key is absent or empty) (IAM User Guide,
//    "Set operators for multivalued context keys");
//  - Null: "true" matches an absent key, "false" a present one;
//  - a policy value whose variable cannot be resolved matches nothing, and
//    an entry none of whose values resolves is false whatever the operator.
//
// Thread-safety: immutable after Compile.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/iam/policy_ast.h"
#include "rampart/iam/policy_context.h"
#include "rampart/iam/policy_pattern.h"

namespace rampart::iam {

enum class OperatorFamily : uint8_t { kString, kNumeric, kDate, kBool, kBinary, kIp, kArn, kNull };

enum class OperatorTest : uint8_t {
  kEquals,
  kEqualsIgnoreCase,
  kLike,
  kLessThan,
  kLessThanEquals,
  kGreaterThan,
  kGreaterThanEquals,
  kInRange,  // IpAddress
  kIsNull,
};

struct OperatorInfo {
  std::string_view name;  // base name, e.g. "StringNotEquals"
  OperatorFamily family;
  OperatorTest test;
  bool negated;
};

// The operator named base_name (no set modifier, no IfExists), or nullptr.
const OperatorInfo* FindOperator(std::string_view base_name);
// Every operator of the table (for tests and docs).
std::span<const OperatorInfo> AllOperators();

// One family's compiled values for one key.
class ConditionMatcher {
 public:
  virtual ~ConditionMatcher() = default;
  // Whether the request value matches at least one policy value in the
  // operator's positive sense. kUnresolved when no policy value could be
  // resolved (every one names a missing variable).
  virtual Pattern::Result MatchAny(std::string_view value, const ContextKeys& keys) const = 0;
  // Whether some policy value uses a policy variable.
  virtual bool has_variables() const { return false; }
};

using MatcherOrError = Expected<std::unique_ptr<const ConditionMatcher>, std::string>;

// Family constructors; values as written in the policy. variables: the
// policy's version enables ${...} (only String and Arn families use them).
MatcherOrError MakeStringMatcher(OperatorTest test, std::span<const std::string> values,
                                 bool variables);
MatcherOrError MakeNumericMatcher(OperatorTest test, std::span<const std::string> values);
MatcherOrError MakeDateMatcher(OperatorTest test, std::span<const std::string> values);
MatcherOrError MakeBoolMatcher(std::span<const std::string> values, bool variables);
MatcherOrError MakeBinaryMatcher(std::span<const std::string> values);
MatcherOrError MakeIpMatcher(std::span<const std::string> values);
MatcherOrError MakeArnMatcher(std::span<const std::string> values, bool variables);

// Typed parsers the families share (also used by tests and the fuzzer).
// Decimal number (optionally signed, fraction, exponent).
bool ParseNumber(std::string_view s, double& out);
// ISO 8601 date or date-time (Z or +hh:mm offsets, optional fraction), or
// epoch seconds; milliseconds since the epoch.
bool ParseDate(std::string_view s, int64_t& epoch_ms);
// IPv4 or IPv6 address with optional /prefix.
struct Cidr {
  bool v6 = false;
  uint8_t bytes[16] = {};
  int prefix = 0;
};
bool ParseCidr(std::string_view s, Cidr& out);
bool CidrContains(const Cidr& net, const Cidr& addr);
// request <test> policy, for the ordered tests (kEquals, kLessThan, ...).
bool CompareOrdered(OperatorTest test, double request, double policy);
// RFC 4648 base64 (with padding); false on invalid input.
bool DecodeBase64(std::string_view s, std::string& out);

enum class SetModifier : uint8_t { kNone, kForAnyValue, kForAllValues };

// A compiled condition entry: operator, key and values.
class Condition {
 public:
  // REQUIRES nothing of ast: unknown operators and badly typed values are
  // errors with an AWS-like message.
  static Expected<Condition, std::string> Compile(const ConditionAst& ast, bool variables);

  bool Evaluate(const ContextKeys& keys) const;

  const std::string& op_text() const { return op_text_; }
  const std::string& key_text() const { return key_text_; }
  const std::string& key_lower() const { return key_lower_; }
  const OperatorInfo& op() const { return *op_; }
  SetModifier set_modifier() const { return set_; }
  bool if_exists() const { return if_exists_; }

 private:
  bool EvaluateNull(const std::vector<std::string>* values) const;
  // The operator's positive sense for one request value.
  Pattern::Result Positive(std::string_view value, const ContextKeys& keys) const;

  const OperatorInfo* op_ = nullptr;
  SetModifier set_ = SetModifier::kNone;
  bool if_exists_ = false;
  bool null_matches_absent_ = false;   // Null: a value "true" present
  bool null_matches_present_ = false;  // Null: a value "false" present
  std::string op_text_;
  std::string key_text_;
  std::string key_lower_;
  uint32_t key_id_ = kNoKeyId;  // InternKeyName(key_lower_)
  std::shared_ptr<const ConditionMatcher> matcher_;
};

}  // namespace rampart::iam
