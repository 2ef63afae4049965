// Bool (IAM User Guide, "Boolean condition operators"): "true" or "false",
// compared without regard to case.
#include <vector>

#include "rampart/iam/policy_condition.h"

namespace rampart::iam {
namespace {

// 1 for true, 0 for false, -1 for anything else.
int BoolValue(std::string_view s) {
  auto eq = [&](std::string_view word) {
    if (s.size() != word.size()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != word[i]) return false;
    }
    return true;
  };
  if (eq("true")) return 1;
  if (eq("false")) return 0;
  return -1;
}

class BoolMatcher final : public ConditionMatcher {
 public:
  BoolMatcher(bool match_true, bool match_false) : true_(match_true), false_(match_false) {}

  Pattern::Result MatchAny(std::string_view value, const ContextKeys&) const override {
    int b = BoolValue(value);
    bool match = (b == 1 && true_) || (b == 0 && false_);
    return match ? Pattern::Result::kMatch : Pattern::Result::kNoMatch;
  }

 private:
  bool true_;
  bool false_;
};

}  // namespace

MatcherOrError MakeBoolMatcher(std::span<const std::string> values, bool) {
  bool t = false, f = false;
  for (const std::string& v : values) {
    int b = BoolValue(v);
    if (b < 0) return "Invalid boolean value in Condition: " + v;
    (b == 1 ? t : f) = true;
  }
  return std::unique_ptr<const ConditionMatcher>(std::make_unique<BoolMatcher>(t, f));
}

}  // namespace rampart::iam
