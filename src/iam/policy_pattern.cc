// Wildcard and policy-variable patterns (IAM User Guide, "IAM policy
// elements: Variables and tags"; "Resource": "You can use wildcard
// characters (* and ?) within any ARN segment").
#include "rampart/iam/policy_pattern.h"

#include <array>

#include "rampart/iam/policy_context.h"

namespace rampart::iam {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == ':' || c == '/' || c == '-' || c == '_' || c == '.' || c == '@' || c == '+' ||
         c == '=';
}

// Parses "'text'" with '' standing for one quote.
bool ParseQuoted(std::string_view s, std::string& out) {
  if (s.size() < 2 || s.front() != '\'' || s.back() != '\'') return false;
  s = s.substr(1, s.size() - 2);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\'') {
      if (i + 1 >= s.size() || s[i + 1] != '\'') return false;
      ++i;
    }
    out += s[i];
  }
  return true;
}

// The closing brace of a "${" at start (start points at '$'), or npos. A
// quoted default may contain braces.
size_t FindVariableEnd(std::string_view s, size_t start) {
  bool quoted = false;
  for (size_t i = start + 2; i < s.size(); ++i) {
    if (s[i] == '\'') quoted = !quoted;
    if (s[i] == '}' && !quoted) return i;
  }
  return std::string_view::npos;
}

}  // namespace

// Builds a Pattern piece by piece.
class PatternCompiler {
 public:
  explicit PatternCompiler(const Pattern::Options& o) : o_(o) {}

  std::optional<Pattern> Run(std::string_view text, std::string* error) {
    p_.source_ = std::string(text);
    for (size_t i = 0; i < text.size();) {
      if (o_.variables && text.compare(i, 2, "${") == 0) {
        size_t end = FindVariableEnd(text, i);
        if (end == std::string_view::npos || !Variable(text.substr(i + 2, end - i - 2))) {
          *error = "Invalid policy variable in " + std::string(text);
          return std::nullopt;
        }
        i = end + 1;
        continue;
      }
      Char(text[i]);
      ++i;
    }
    if (p_.vars_.size() > Pattern::kMaxVariables) {
      *error = "Too many policy variables in " + std::string(text);
      return std::nullopt;
    }
    return std::move(p_);
  }

 private:
  void Literal(char c) {
    if (o_.fold_case) c = Lower(c);
    bool extend = !p_.pieces_.empty() && p_.pieces_.back().kind == Pattern::Kind::kLiteral;
    p_.text_ += c;
    if (extend) {
      ++p_.pieces_.back().length;
    } else {
      p_.pieces_.push_back({Pattern::Kind::kLiteral, static_cast<uint32_t>(p_.text_.size() - 1), 1});
    }
  }

  void Char(char c) {
    if (o_.wildcards && c == '*') {
      p_.has_wildcards_ = true;
      if (p_.pieces_.empty() || p_.pieces_.back().kind != Pattern::Kind::kStar) {
        p_.pieces_.push_back({Pattern::Kind::kStar, 0, 0});
      }
      return;
    }
    if (o_.wildcards && c == '?') {
      p_.has_wildcards_ = true;
      p_.pieces_.push_back({Pattern::Kind::kOne, 0, 0});
      return;
    }
    Literal(c);
  }

  // body: the text between "${" and "}".
  bool Variable(std::string_view body) {
    if (body == "*" || body == "?" || body == "$") {
      Literal(body[0]);
      return true;
    }
    Pattern::Var var;
    size_t comma = body.find(',');
    std::string_view key = Trim(body.substr(0, comma));
    if (key.empty()) return false;
    for (char c : key) {
      if (!IsKeyChar(c)) return false;
      var.key += Lower(c);
    }
    var.key_id = InternKeyName(var.key);
    if (comma != std::string_view::npos) {
      if (!ParseQuoted(Trim(body.substr(comma + 1)), var.default_value)) return false;
      var.has_default = true;
    }
    p_.pieces_.push_back({Pattern::Kind::kVar, static_cast<uint32_t>(p_.vars_.size()), 0});
    p_.vars_.push_back(std::move(var));
    return true;
  }

  Pattern::Options o_;
  Pattern p_;
};

std::optional<Pattern> Pattern::Compile(std::string_view text, const Options& options,
                                        std::string* error) {
  return PatternCompiler(options).Run(text, error);
}

bool Pattern::is_match_all() const {
  return pieces_.size() == 1 && pieces_[0].kind == Kind::kStar;
}

bool Pattern::Resolve(const ContextKeys* keys, std::span<std::string_view> out) const {
  for (size_t i = 0; i < vars_.size(); ++i) {
    const Var& v = vars_[i];
    const std::vector<std::string>* values = keys ? keys->Find(v.key_id, v.key) : nullptr;
    if (values != nullptr && values->size() == 1) {
      out[i] = (*values)[0];
    } else if (v.has_default) {
      out[i] = v.default_value;
    } else {
      return false;
    }
  }
  return true;
}

std::string_view Pattern::PieceText(const Piece& p, std::span<const std::string_view> vars) const {
  switch (p.kind) {
    case Kind::kLiteral: return std::string_view(text_).substr(p.offset, p.length);
    case Kind::kVar: return vars[p.offset];
    case Kind::kStar: return "*";
    case Kind::kOne: return "?";
  }
  return {};
}

// Greedy glob with backtracking to the last star, over the pieces as one
// virtual character sequence. O(|s| * |pattern|) at worst, no allocation.
bool Pattern::Glob(std::string_view s, std::span<const std::string_view> vars) const {
  const size_t n = pieces_.size();
  size_t pi = 0, po = 0, si = 0;
  size_t star_pi = SIZE_MAX, star_si = 0;
  auto is_text = [](Kind k) { return k == Kind::kLiteral || k == Kind::kVar; };
  while (si < s.size()) {
    while (pi < n && is_text(pieces_[pi].kind) && po == PieceText(pieces_[pi], vars).size()) {
      ++pi;
      po = 0;
    }
    if (pi < n) {
      const Piece& p = pieces_[pi];
      if (p.kind == Kind::kStar) {
        star_pi = ++pi;
        po = 0;
        star_si = si;
        continue;
      }
      if (p.kind == Kind::kOne) {
        ++pi;
        ++si;
        continue;
      }
      if (PieceText(p, vars)[po] == s[si]) {
        ++po;
        ++si;
        continue;
      }
    }
    if (star_pi == SIZE_MAX) return false;
    pi = star_pi;
    po = 0;
    si = ++star_si;
  }
  for (; pi < n; ++pi, po = 0) {
    const Piece& p = pieces_[pi];
    if (p.kind == Kind::kOne) return false;
    if (p.kind != Kind::kStar && po != PieceText(p, vars).size()) return false;
  }
  return true;
}

Pattern::Result Pattern::Match(std::string_view subject, const ContextKeys* keys) const {
  if (vars_.empty()) {
    // Hot path (actions, most resources): no variables to resolve.
    if (!has_wildcards_) return subject == text_ ? Result::kMatch : Result::kNoMatch;
    if (!pieces_.empty() && pieces_[0].kind == Kind::kLiteral &&
        !subject.starts_with(std::string_view(text_).substr(0, pieces_[0].length))) {
      return Result::kNoMatch;
    }
    // "prefix*" (e.g. "kms:*", "s3:get*"): the prefix test above decided.
    if (pieces_.size() == 2 && pieces_[1].kind == Kind::kStar &&
        pieces_[0].kind == Kind::kLiteral) {
      return Result::kMatch;
    }
    if (is_match_all()) return Result::kMatch;
    return Glob(subject, {}) ? Result::kMatch : Result::kNoMatch;
  }
  std::array<std::string_view, kMaxVariables> vars;
  if (!Resolve(keys, vars)) return Result::kUnresolved;
  return Glob(subject, vars) ? Result::kMatch : Result::kNoMatch;
}

Pattern::Result Pattern::Equals(std::string_view subject, const ContextKeys* keys,
                                bool ignore_case) const {
  std::array<std::string_view, kMaxVariables> vars;
  if (!Resolve(keys, vars)) return Result::kUnresolved;
  size_t pos = 0;
  for (const Piece& p : pieces_) {
    std::string_view t = PieceText(p, vars);
    if (t.size() > subject.size() - pos) return Result::kNoMatch;
    for (size_t i = 0; i < t.size(); ++i) {
      char a = t[i], b = subject[pos + i];
      if (ignore_case ? Lower(a) != Lower(b) : a != b) return Result::kNoMatch;
    }
    pos += t.size();
  }
  return pos == subject.size() ? Result::kMatch : Result::kNoMatch;
}

std::optional<ArnPattern> ArnPattern::Compile(std::string_view text, bool variables,
                                              std::string* error) {
  ArnPattern out;
  out.source_ = std::string(text);
  if (text == "*") {
    out.match_all_ = true;
    return out;
  }
  // Split on the first five colons outside ${...}.
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i < text.size() && parts.size() < 5; ++i) {
    if (variables && text.compare(i, 2, "${") == 0) {
      size_t end = FindVariableEnd(text, i);
      if (end == std::string_view::npos) break;
      i = end;
      continue;
    }
    if (text[i] == ':') {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(text.substr(start));
  if (parts.size() != 6 || parts[0] != "arn") {
    *error = "Resource " + std::string(text) + " must be in ARN format or \"*\".";
    return std::nullopt;
  }
  Pattern::Options o{.wildcards = true, .variables = variables, .fold_case = false};
  for (std::string_view part : parts) {
    auto p = Pattern::Compile(part, o, error);
    if (!p) return std::nullopt;
    out.parts_.push_back(std::move(*p));
  }
  return out;
}

Pattern::Result ArnPattern::Match(bool is_arn, const std::array<std::string_view, 6>& parts,
                                  const ContextKeys* keys) const {
  if (match_all_) return Pattern::Result::kMatch;
  if (!is_arn) return Pattern::Result::kNoMatch;
  Pattern::Result result = Pattern::Result::kMatch;
  for (size_t i = 0; i < 6; ++i) {
    Pattern::Result r = parts_[i].Match(parts[i], keys);
    if (r == Pattern::Result::kUnresolved) return r;
    if (r == Pattern::Result::kNoMatch) result = r;
  }
  return result;
}

Pattern::Result ArnPattern::Match(std::string_view arn, const ContextKeys* keys) const {
  std::array<std::string_view, 6> parts{};
  bool is_arn = SplitArn(arn, parts);
  return Match(is_arn, parts, keys);
}

}  // namespace rampart::iam
