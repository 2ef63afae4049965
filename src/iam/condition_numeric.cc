// Numeric condition operators (IAM User Guide, "Numeric condition
// operators"). Policy values are parsed once; a request value that is not a
// number matches nothing.
#include <charconv>
#include <cmath>
#include <vector>

#include "rampart/iam/policy_condition.h"

namespace rampart::iam {

bool ParseNumber(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.size() > 64) return false;
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d, std::chars_format::general);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(d)) return false;
  out = d;
  return true;
}

// Shared with the date family: one ordered comparison.
bool CompareOrdered(OperatorTest test, double request, double policy) {
  switch (test) {
    case OperatorTest::kEquals: return request == policy;
    case OperatorTest::kLessThan: return request < policy;
    case OperatorTest::kLessThanEquals: return request <= policy;
    case OperatorTest::kGreaterThan: return request > policy;
    case OperatorTest::kGreaterThanEquals: return request >= policy;
    default: return false;
  }
}

namespace {

class NumericMatcher final : public ConditionMatcher {
 public:
  NumericMatcher(OperatorTest test, std::vector<double> values)
      : test_(test), values_(std::move(values)) {}

  Pattern::Result MatchAny(std::string_view value, const ContextKeys&) const override {
    double d = 0;
    if (!ParseNumber(value, d)) return Pattern::Result::kNoMatch;
    for (double v : values_) {
      if (CompareOrdered(test_, d, v)) return Pattern::Result::kMatch;
    }
    return Pattern::Result::kNoMatch;
  }

 private:
  OperatorTest test_;
  std::vector<double> values_;
};

}  // namespace

MatcherOrError MakeNumericMatcher(OperatorTest test, std::span<const std::string> values) {
  std::vector<double> parsed;
  for (const std::string& v : values) {
    double d = 0;
    if (!ParseNumber(v, d)) return "Invalid numeric value in Condition: " + v;
    parsed.push_back(d);
  }
  return std::unique_ptr<const ConditionMatcher>(
      std::make_unique<NumericMatcher>(test, std::move(parsed)));
}

}  // namespace rampart::iam
