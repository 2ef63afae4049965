// String condition operators: StringEquals, StringEqualsIgnoreCase,
// StringLike and their negations (IAM User Guide, "String condition
// operators"). Values may hold policy variables; StringLike values hold
// the wildcards * and ?.
#include <vector>

#include "rampart/iam/policy_condition.h"

namespace rampart::iam {
namespace {

class StringMatcher final : public ConditionMatcher {
 public:
  StringMatcher(OperatorTest test, std::vector<Pattern> values, bool has_variables)
      : test_(test), values_(std::move(values)), has_variables_(has_variables) {}

  Pattern::Result MatchAny(std::string_view value, const ContextKeys& keys) const override {
    bool resolved = false;
    for (const Pattern& p : values_) {
      Pattern::Result r = test_ == OperatorTest::kLike
                              ? p.Match(value, &keys)
                              : p.Equals(value, &keys, test_ == OperatorTest::kEqualsIgnoreCase);
      if (r == Pattern::Result::kMatch) return r;
      if (r == Pattern::Result::kNoMatch) resolved = true;
    }
    return resolved ? Pattern::Result::kNoMatch : Pattern::Result::kUnresolved;
  }
  bool has_variables() const override { return has_variables_; }

 private:
  OperatorTest test_;
  std::vector<Pattern> values_;
  bool has_variables_;
};

}  // namespace

MatcherOrError MakeStringMatcher(OperatorTest test, std::span<const std::string> values,
                                 bool variables) {
  Pattern::Options o{.wildcards = test == OperatorTest::kLike, .variables = variables,
                     .fold_case = false};
  std::vector<Pattern> compiled;
  bool has_variables = false;
  std::string error;
  for (const std::string& v : values) {
    auto p = Pattern::Compile(v, o, &error);
    if (!p) return error;
    has_variables = has_variables || p->has_variables();
    compiled.push_back(std::move(*p));
  }
  return std::unique_ptr<const ConditionMatcher>(
      std::make_unique<StringMatcher>(test, std::move(compiled), has_variables));
}

}  // namespace rampart::iam
