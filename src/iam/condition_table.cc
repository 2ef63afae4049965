// The one table of condition operators (IAM User Guide, "IAM JSON policy
// elements: Condition operators") and the compile step that reads an
// operator name: [ForAnyValue:|ForAllValues:]<Operator>[IfExists].
#include <array>

#include "rampart/iam/policy_condition.h"

namespace rampart::iam {
namespace {

using F = OperatorFamily;
using T = OperatorTest;

constexpr std::array<OperatorInfo, 27> kOperators = {{
    {"StringEquals", F::kString, T::kEquals, false},
    {"StringNotEquals", F::kString, T::kEquals, true},
    {"StringEqualsIgnoreCase", F::kString, T::kEqualsIgnoreCase, false},
    {"StringNotEqualsIgnoreCase", F::kString, T::kEqualsIgnoreCase, true},
    {"StringLike", F::kString, T::kLike, false},
    {"StringNotLike", F::kString, T::kLike, true},
    {"NumericEquals", F::kNumeric, T::kEquals, false},
    {"NumericNotEquals", F::kNumeric, T::kEquals, true},
    {"NumericLessThan", F::kNumeric, T::kLessThan, false},
    {"NumericLessThanEquals", F::kNumeric, T::kLessThanEquals, false},
    {"NumericGreaterThan", F::kNumeric, T::kGreaterThan, false},
    {"NumericGreaterThanEquals", F::kNumeric, T::kGreaterThanEquals, false},
    {"DateEquals", F::kDate, T::kEquals, false},
    {"DateNotEquals", F::kDate, T::kEquals, true},
    {"DateLessThan", F::kDate, T::kLessThan, false},
    {"DateLessThanEquals", F::kDate, T::kLessThanEquals, false},
    {"DateGreaterThan", F::kDate, T::kGreaterThan, false},
    {"DateGreaterThanEquals", F::kDate, T::kGreaterThanEquals, false},
    {"Bool", F::kBool, T::kEquals, false},
    {"BinaryEquals", F::kBinary, T::kEquals, false},
    {"IpAddress", F::kIp, T::kInRange, false},
    {"NotIpAddress", F::kIp, T::kInRange, true},
    {"ArnEquals", F::kArn, T::kLike, false},
    {"ArnNotEquals", F::kArn, T::kLike, true},
    {"ArnLike", F::kArn, T::kLike, false},
    {"ArnNotLike", F::kArn, T::kLike, true},
    {"Null", F::kNull, T::kIsNull, false},
}};

constexpr std::string_view kAny = "ForAnyValue:";
constexpr std::string_view kAll = "ForAllValues:";
constexpr std::string_view kIfExists = "IfExists";

MatcherOrError MakeMatcher(const OperatorInfo& op, const ConditionAst& ast, bool variables) {
  switch (op.family) {
    case F::kString: return MakeStringMatcher(op.test, ast.values, variables);
    case F::kNumeric: return MakeNumericMatcher(op.test, ast.values);
    case F::kDate: return MakeDateMatcher(op.test, ast.values);
    case F::kBool: return MakeBoolMatcher(ast.values, variables);
    case F::kBinary: return MakeBinaryMatcher(ast.values);
    case F::kIp: return MakeIpMatcher(ast.values);
    case F::kArn: return MakeArnMatcher(ast.values, variables);
    case F::kNull: break;
  }
  return std::string("Invalid Condition type : ") + ast.op;
}

}  // namespace

std::span<const OperatorInfo> AllOperators() { return kOperators; }

const OperatorInfo* FindOperator(std::string_view base_name) {
  for (const OperatorInfo& op : kOperators) {
    if (op.name == base_name) return &op;
  }
  return nullptr;
}

Expected<Condition, std::string> Condition::Compile(const ConditionAst& ast, bool variables) {
  Condition c;
  c.op_text_ = ast.op;
  c.key_text_ = ast.key;
  c.key_lower_ = AsciiLower(ast.key);
  c.key_id_ = InternKeyName(c.key_lower_);
  std::string_view name = ast.op;
  if (name.starts_with(kAny)) {
    c.set_ = SetModifier::kForAnyValue;
    name.remove_prefix(kAny.size());
  } else if (name.starts_with(kAll)) {
    c.set_ = SetModifier::kForAllValues;
    name.remove_prefix(kAll.size());
  }
  if (name.ends_with(kIfExists) && name != kIfExists) {
    c.if_exists_ = true;
    name.remove_suffix(kIfExists.size());
  }
  c.op_ = FindOperator(name);
  const std::string unknown = "Invalid Condition type : " + ast.op;
  if (c.op_ == nullptr || ast.key.empty()) return unknown;
  if (c.op_->family == F::kNull) {
    if (c.if_exists_) return unknown;
    for (const std::string& v : ast.values) {
      if (v == "true") c.null_matches_absent_ = true;
      else if (v == "false") c.null_matches_present_ = true;
      else return "Invalid value " + v + " for condition Null";
    }
    return c;
  }
  MatcherOrError m = MakeMatcher(*c.op_, ast, variables);
  if (!m.ok()) return m.error();
  c.matcher_ = std::move(m).value();
  return c;
}

}  // namespace rampart::iam
