// Compiled text patterns: literal text, the wildcards * and ?, and policy
// variables (IAM User Guide, "IAM policy elements: Variables and tags").
//
// A Pattern is compiled once from a policy string and matched per request
// without allocating: variables resolve to views of the request's context
// values, wildcards are matched over the pieces in place.
//
//   ${aws:username}              the key's single value
//   ${aws:username, 'anonymous'} the default when the key is absent or
//                                multi-valued ('' inside the quotes is ')
//   ${*} ${?} ${$}               a literal *, ? or $
//
// A variable whose key is absent (and has no default) leaves the pattern
// unresolved: it matches nothing, and callers make the statement not apply.
//
// Thread-safety: immutable after Compile; Match is const and reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::iam {

class ContextKeys;

class Pattern {
 public:
  struct Options {
    bool wildcards = true;   // * and ? are wildcards (else literal text)
    bool variables = false;  // ${...} is a variable (else literal text)
    bool fold_case = false;  // compile lower-cased (match a lower-cased subject)
  };
  // Hard bound on variables per pattern: patterns resolve them into a
  // fixed array on the stack.
  static constexpr size_t kMaxVariables = 16;

  // nullopt with *error set when a ${ is not closed or malformed, or the
  // pattern has too many variables.
  static std::optional<Pattern> Compile(std::string_view text, const Options& options,
                                        std::string* error);

  enum class Result : uint8_t { kNoMatch, kMatch, kUnresolved };
  // Matches subject (which must be lower-cased when fold_case was set).
  Result Match(std::string_view subject, const ContextKeys* keys) const;
  // Exact comparison (wildcards, if any, are compared as text), optionally
  // ignoring ASCII case.
  Result Equals(std::string_view subject, const ContextKeys* keys, bool ignore_case) const;

  bool has_variables() const { return !vars_.empty(); }
  bool has_wildcards() const { return has_wildcards_; }
  // True for a pattern that is a single *.
  bool is_match_all() const;
  // The literal text when the pattern has neither wildcards nor variables.
  std::string_view literal() const { return text_; }
  // The pattern as written (for explanations).
  const std::string& source() const { return source_; }

 private:
  enum class Kind : uint8_t { kLiteral, kStar, kOne, kVar };
  struct Piece {
    Kind kind;
    uint32_t offset;  // kLiteral: into text_; kVar: index into vars_
    uint32_t length;
  };
  struct Var {
    std::string key;  // lower-case
    uint32_t key_id = 0;  // InternKeyName(key) (policy_context.h)
    bool has_default = false;
    std::string default_value;
  };
  // Resolves the variables into views; false when one is unresolvable.
  bool Resolve(const ContextKeys* keys, std::span<std::string_view> out) const;
  std::string_view PieceText(const Piece& p, std::span<const std::string_view> vars) const;
  bool Glob(std::string_view s, std::span<const std::string_view> vars) const;

  std::string source_;
  std::string text_;  // concatenated literal text
  std::vector<Piece> pieces_;
  std::vector<Var> vars_;
  bool has_wildcards_ = false;

  friend class PatternCompiler;
};

// A Resource / NotResource entry or an ARN condition value: "*" or six
// colon-separated parts, each matched on its own, so wildcards never cross
// the first five colons (IAM User Guide, "ARN condition operators": "Each of
// the six colon-delimited components of the ARN is checked separately").
class ArnPattern {
 public:
  static std::optional<ArnPattern> Compile(std::string_view text, bool variables,
                                           std::string* error);
  // parts: the request ARN split by SplitArn; is_arn false when the
  // request resource is not an ARN (then only "*" matches).
  Pattern::Result Match(bool is_arn, const std::array<std::string_view, 6>& parts,
                        const ContextKeys* keys) const;
  Pattern::Result Match(std::string_view arn, const ContextKeys* keys) const;
  bool match_all() const { return match_all_; }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  bool match_all_ = false;
  std::vector<Pattern> parts_;  // six, when !match_all_
};

}  // namespace rampart::iam
