// Service namespaces and the namespaces policies allow (access advisor).
#include "rampart/audit/advisor_services.h"

#include <algorithm>
#include <vector>

namespace rampart::audit {
namespace {

constexpr std::string_view kEventSourceSuffix = ".amazonaws.com";

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Glob match of an IAM service prefix pattern ("s3", "s3*", "*", "ec?")
// against a namespace, ASCII case-insensitive. Iterative, with one
// backtrack point, so it is linear-ish in the input sizes.
bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || Lower(pattern[p]) == Lower(text[t]))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// An action pattern split at its first ':'; "*" alone covers everything.
struct ActionPattern {
  std::string_view service;
  std::string_view action;
};
ActionPattern Split(std::string_view pattern) {
  if (pattern == "*") return {"*", "*"};
  size_t colon = pattern.find(':');
  if (colon == std::string_view::npos) return {"", ""};  // matches nothing
  return {pattern.substr(0, colon), pattern.substr(colon + 1)};
}

// Whether the pattern names some action of ns.
bool Touches(std::string_view pattern, std::string_view ns) {
  ActionPattern a = Split(pattern);
  return !a.service.empty() && !a.action.empty() && GlobMatch(a.service, ns);
}

// Whether the pattern names every action of ns.
bool Covers(std::string_view pattern, std::string_view ns) {
  ActionPattern a = Split(pattern);
  bool all_actions = !a.action.empty() && a.action.find_first_not_of('*') == std::string_view::npos;
  return all_actions && GlobMatch(a.service, ns);
}

bool AnyCovers(const std::vector<std::string>& patterns, std::string_view ns) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [ns](const std::string& p) { return Covers(p, ns); });
}
bool AnyTouches(const std::vector<std::string>& patterns, std::string_view ns) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [ns](const std::string& p) { return Touches(p, ns); });
}

bool AllResources(const iam::StatementAst& st) {
  if (st.not_resource) return false;
  if (!st.has_resource) return true;  // SCPs may omit Resource
  return std::find(st.resources.begin(), st.resources.end(), "*") != st.resources.end();
}

// Whether an Allow statement grants some action of ns.
bool Grants(const iam::StatementAst& st, std::string_view ns) {
  if (st.not_action) return !AnyCovers(st.actions, ns);
  return AnyTouches(st.actions, ns);
}

// Whether a Deny statement refuses every action of ns, always.
bool Blocks(const iam::StatementAst& st, std::string_view ns) {
  if (!st.conditions.empty() || !AllResources(st)) return false;
  if (st.not_action) return !AnyTouches(st.actions, ns);
  return AnyCovers(st.actions, ns);
}

}  // namespace

const ServiceName* FindServiceName(std::string_view ns) {
  std::span<const ServiceName> names = ServiceNames();
  auto it = std::lower_bound(names.begin(), names.end(), ns,
                             [](const ServiceName& s, std::string_view key) { return s.ns < key; });
  return it != names.end() && it->ns == ns ? &*it : nullptr;
}

std::string NamespaceOfEventSource(std::string_view event_source) {
  if (event_source.size() <= kEventSourceSuffix.size() ||
      !event_source.ends_with(kEventSourceSuffix)) {
    return "";
  }
  std::string prefix(event_source.substr(0, event_source.size() - kEventSourceSuffix.size()));
  std::transform(prefix.begin(), prefix.end(), prefix.begin(), Lower);
  if (FindServiceName(prefix) != nullptr) return prefix;
  std::span<const EventSourceAlias> aliases = EventSourceAliases();
  auto it = std::lower_bound(
      aliases.begin(), aliases.end(), prefix,
      [](const EventSourceAlias& a, std::string_view key) { return a.prefix < key; });
  if (it != aliases.end() && it->prefix == prefix) return std::string(it->ns);
  return "";
}

NamespaceSet AllowedNamespaces(std::span<const std::string> documents, iam::PolicyKind kind) {
  std::vector<iam::StatementAst> statements;
  for (const std::string& doc : documents) {
    auto ast = iam::ParsePolicy(doc, kind);
    if (!ast.ok()) continue;
    for (const iam::StatementAst& st : ast->statements) statements.push_back(st);
  }
  NamespaceSet out;
  for (const ServiceName& s : ServiceNames()) {
    bool allowed = false, blocked = false;
    for (const iam::StatementAst& st : statements) {
      if (st.effect == iam::Effect::kAllow) allowed = allowed || Grants(st, s.ns);
      if (st.effect == iam::Effect::kDeny) blocked = blocked || Blocks(st, s.ns);
    }
    if (allowed && !blocked) out.emplace(s.ns);
  }
  return out;
}

NamespaceSet IntersectLevels(std::span<const NamespaceSet> levels) {
  if (levels.empty()) return {};
  NamespaceSet out = levels.front();
  for (const NamespaceSet& level : levels.subspan(1)) {
    std::erase_if(out, [&level](const std::string& ns) { return !level.contains(ns); });
  }
  return out;
}

}  // namespace rampart::audit
