// How one condition entry combines the request's values with the policy's
// (IAM User Guide, "Condition operators" and "Set operators for multivalued
// context keys"): missing keys, negation, ...IfExists, ForAnyValue and
// ForAllValues.
#include "rampart/iam/policy_condition.h"

namespace rampart::iam {

bool Condition::EvaluateNull(const std::vector<std::string>* values) const {
  bool absent = values == nullptr || values->empty();
  return absent ? null_matches_absent_ : null_matches_present_;
}

Pattern::Result Condition::Positive(std::string_view value, const ContextKeys& keys) const {
  return matcher_->MatchAny(value, keys);
}

bool Condition::Evaluate(const ContextKeys& keys) const {
  const std::vector<std::string>* values = keys.Find(key_id_, key_lower_);
  if (op_->family == OperatorFamily::kNull) return EvaluateNull(values);
  const bool absent = values == nullptr || values->empty();
  // Resolution does not depend on the request value: probe once, so that an
  // entry whose variables are all missing is false whatever follows. (A
  // positive operator on present values is false then anyway: no probe.)
  if (matcher_->has_variables() && (absent || op_->negated) &&
      Positive({}, keys) == Pattern::Result::kUnresolved) {
    return false;
  }
  if (absent) {
    if (if_exists_) return true;
    if (set_ == SetModifier::kForAllValues) return true;
    if (set_ == SetModifier::kForAnyValue) return false;
    return op_->negated;
  }
  const bool negated = op_->negated;
  auto pred = [&](const std::string& v) {
    bool match = Positive(v, keys) == Pattern::Result::kMatch;
    return negated ? !match : match;
  };
  switch (set_) {
    case SetModifier::kForAnyValue:
      for (const std::string& v : *values) {
        if (pred(v)) return true;
      }
      return false;
    case SetModifier::kForAllValues:
      for (const std::string& v : *values) {
        if (!pred(v)) return false;
      }
      return true;
    case SetModifier::kNone:
      break;
  }
  // A plain operator on several request values: the positive sense holds
  // when some value matches; a negated operator when none does.
  bool any = false;
  for (const std::string& v : *values) {
    if (Positive(v, keys) == Pattern::Result::kMatch) {
      any = true;
      break;
    }
  }
  return negated ? !any : any;
}

}  // namespace rampart::iam
