// ARN condition operators (IAM User Guide, "Amazon Resource Name (ARN)
// condition operators"): ArnEquals and ArnLike behave alike, each of the six
// colon-delimited parts matched on its own with * and ?.
#include <vector>

#include "rampart/iam/policy_condition.h"

namespace rampart::iam {
namespace {

class ArnMatcher final : public ConditionMatcher {
 public:
  ArnMatcher(std::vector<ArnPattern> values, bool has_variables)
      : values_(std::move(values)), has_variables_(has_variables) {}

  Pattern::Result MatchAny(std::string_view value, const ContextKeys& keys) const override {
    std::array<std::string_view, 6> parts{};
    bool is_arn = SplitArn(value, parts);
    bool resolved = false;
    for (const ArnPattern& p : values_) {
      Pattern::Result r = p.Match(is_arn, parts, &keys);
      if (r == Pattern::Result::kMatch) return r;
      if (r == Pattern::Result::kNoMatch) resolved = true;
    }
    return resolved ? Pattern::Result::kNoMatch : Pattern::Result::kUnresolved;
  }
  bool has_variables() const override { return has_variables_; }

 private:
  std::vector<ArnPattern> values_;
  bool has_variables_;
};

}  // namespace

MatcherOrError MakeArnMatcher(std::span<const std::string> values, bool variables) {
  std::vector<ArnPattern> compiled;
  bool has_variables = false;
  std::string error;
  for (const std::string& v : values) {
    auto p = ArnPattern::Compile(v, variables, &error);
    if (!p) return "Invalid ARN in Condition: " + v;
    has_variables = has_variables || (variables && v.find("${") != std::string::npos);
    compiled.push_back(std::move(*p));
  }
  return std::unique_ptr<const ConditionMatcher>(
      std::make_unique<ArnMatcher>(std::move(compiled), has_variables));
}

}  // namespace rampart::iam
