// Stage 1: policy JSON -> PolicyAst, with IAM's MalformedPolicyDocument
// messages. Element names are case-sensitive, as in IAM.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "rampart/core/json.h"
#include "rampart/iam/policy_ast.h"

namespace rampart::iam {
namespace {

using json::Value;

ParseError Err(ParseErrc code, std::string message) { return ParseError{code, std::move(message)}; }
ParseError Syntax() { return Err(ParseErrc::kSyntax, "Syntax errors in policy."); }

bool IsIdentityLike(PolicyKind k) {
  return k == PolicyKind::kIdentity || k == PolicyKind::kBoundary || k == PolicyKind::kSession ||
         k == PolicyKind::kScp;
}

// Objects may not repeat a member name.
bool HasDuplicateMember(const json::Object& obj) {
  for (size_t i = 0; i < obj.size(); ++i) {
    for (size_t j = i + 1; j < obj.size(); ++j) {
      if (obj[i].first == obj[j].first) return true;
    }
  }
  return false;
}

// A string or an array of strings (the shape of Action, Resource, ...).
bool ReadStringList(const Value& v, std::vector<std::string>& out) {
  if (v.is_string()) {
    out.push_back(v.as_string());
    return true;
  }
  if (!v.is_array() || v.as_array().empty()) return false;
  for (const Value& e : v.as_array()) {
    if (!e.is_string()) return false;
    out.push_back(e.as_string());
  }
  return true;
}

// Condition values: strings, numbers and booleans, alone or in an array.
bool ScalarText(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Value::Kind::kString: out = v.as_string(); return true;
    case Value::Kind::kBool: out = v.as_bool() ? "true" : "false"; return true;
    case Value::Kind::kInt: out = std::to_string(v.as_int()); return true;
    case Value::Kind::kDouble: out = json::Write(v); return true;
    default: return false;
  }
}

bool ReadConditionValues(const Value& v, std::vector<std::string>& out) {
  std::string text;
  if (!v.is_array()) {
    if (!ScalarText(v, text)) return false;
    out.push_back(std::move(text));
    return true;
  }
  if (v.as_array().empty()) return false;
  for (const Value& e : v.as_array()) {
    if (!ScalarText(e, text)) return false;
    out.push_back(std::move(text));
  }
  return true;
}

std::optional<ParseError> ReadPrincipal(const Value& v, PrincipalAst& out) {
  if (v.is_string()) {
    if (v.as_string() != "*") return Err(ParseErrc::kSyntax, "Invalid principal in policy");
    out.any = true;
    return std::nullopt;
  }
  if (!v.is_object() || v.as_object().empty() || HasDuplicateMember(v.as_object())) {
    return Syntax();
  }
  for (const auto& [name, value] : v.as_object()) {
    std::vector<std::string>* list = nullptr;
    if (name == "AWS") list = &out.aws;
    if (name == "Service") list = &out.service;
    if (name == "Federated") list = &out.federated;
    if (name == "CanonicalUser") list = &out.canonical_user;
    if (list == nullptr) return Err(ParseErrc::kSyntax, "Invalid principal in policy");
    if (!ReadStringList(value, *list)) return Syntax();
  }
  for (const std::string& a : out.aws) {
    if (a == "*") out.any = true;
  }
  return std::nullopt;
}

std::optional<ParseError> ReadCondition(const Value& v, std::vector<ConditionAst>& out) {
  if (!v.is_object() || HasDuplicateMember(v.as_object())) return Syntax();
  for (const auto& [op, keys] : v.as_object()) {
    if (!keys.is_object() || keys.as_object().empty() || HasDuplicateMember(keys.as_object())) {
      return Syntax();
    }
    for (const auto& [key, values] : keys.as_object()) {
      ConditionAst c{op, key, {}};
      if (!ReadConditionValues(values, c.values)) return Syntax();
      out.push_back(std::move(c));
    }
  }
  return std::nullopt;
}

bool IsAlphanumeric(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
}

// Reads the members of one statement object into st.
std::optional<ParseError> ReadStatementMembers(const json::Object& obj, StatementAst& st,
                                               bool& has_effect, bool& has_action) {
  for (const auto& [name, value] : obj) {
    if (name == "Sid") {
      if (!value.is_string()) return Syntax();
      st.sid = value.as_string();
    } else if (name == "Effect") {
      if (!value.is_string()) return Syntax();
      if (value.as_string() == "Allow") {
        st.effect = Effect::kAllow;
      } else if (value.as_string() == "Deny") {
        st.effect = Effect::kDeny;
      } else {
        return Err(ParseErrc::kInvalidEffect, "Invalid effect: " + value.as_string());
      }
      has_effect = true;
    } else if (name == "Principal" || name == "NotPrincipal") {
      if (st.has_principal) {
        return Err(ParseErrc::kConflictingElements,
                   "Policy statement cannot contain both Principal and NotPrincipal.");
      }
      st.has_principal = true;
      st.not_principal = name == "NotPrincipal";
      if (auto e = ReadPrincipal(value, st.principal)) return e;
    } else if (name == "Action" || name == "NotAction") {
      if (has_action) {
        return Err(ParseErrc::kConflictingElements,
                   "Policy statement cannot contain both Action and NotAction.");
      }
      has_action = true;
      st.not_action = name == "NotAction";
      if (!ReadStringList(value, st.actions)) return Syntax();
    } else if (name == "Resource" || name == "NotResource") {
      if (st.has_resource) {
        return Err(ParseErrc::kConflictingElements,
                   "Policy statement cannot contain both Resource and NotResource.");
      }
      st.has_resource = true;
      st.not_resource = name == "NotResource";
      if (!ReadStringList(value, st.resources)) return Syntax();
    } else if (name == "Condition") {
      if (auto e = ReadCondition(value, st.conditions)) return e;
    } else {
      return Syntax();
    }
  }
  return std::nullopt;
}

// Checks the elements a statement must or must not have for its kind.
std::optional<ParseError> CheckStatementShape(const StatementAst& st, PolicyKind kind,
                                              bool has_effect, bool has_action) {
  if (!has_effect) return Err(ParseErrc::kMissingField, "Missing required field Effect");
  if (IsIdentityLike(kind) && st.has_principal) {
    return Err(ParseErrc::kPrincipalNotAllowed, "Policy document should not specify a principal.");
  }
  if (!IsIdentityLike(kind) && !st.has_principal) {
    return Err(ParseErrc::kMissingField, "Missing required field Principal");
  }
  if (!has_action) return Err(ParseErrc::kMissingActions, "Policy statement must contain actions.");
  if (kind == PolicyKind::kTrust && st.has_resource) {
    return Err(ParseErrc::kConflictingElements, "Has prohibited field Resource");
  }
  if (kind != PolicyKind::kTrust && !st.has_resource) {
    return Err(ParseErrc::kMissingResources, "Policy statement must contain resources.");
  }
  if (IsIdentityLike(kind) && !IsAlphanumeric(st.sid)) {
    return Err(ParseErrc::kSid,
               "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the "
               "regular expression [0-9A-Za-z]*");
  }
  return std::nullopt;
}

std::optional<ParseError> ReadStatement(const Value& v, PolicyKind kind, StatementAst& st) {
  if (!v.is_object() || HasDuplicateMember(v.as_object())) return Syntax();
  bool has_effect = false;
  bool has_action = false;
  if (auto e = ReadStatementMembers(v.as_object(), st, has_effect, has_action)) return e;
  return CheckStatementShape(st, kind, has_effect, has_action);
}

std::optional<ParseError> ReadStatements(const Value& v, PolicyKind kind, PolicyAst& out) {
  if (v.is_object()) {
    out.statements.emplace_back();
    return ReadStatement(v, kind, out.statements.back());
  }
  if (!v.is_array() || v.as_array().empty()) return Syntax();
  for (const Value& e : v.as_array()) {
    out.statements.emplace_back();
    if (auto err = ReadStatement(e, kind, out.statements.back())) return err;
  }
  for (size_t i = 0; i < out.statements.size(); ++i) {
    for (size_t j = i + 1; j < out.statements.size(); ++j) {
      const std::string& a = out.statements[i].sid;
      if (!a.empty() && a == out.statements[j].sid) {
        return Err(ParseErrc::kSid, "Statement IDs (SID) in a single policy must be unique.");
      }
    }
  }
  return std::nullopt;
}

std::optional<ParseError> ReadVersion(const Value& v, PolicyAst& out) {
  if (!v.is_string()) return Err(ParseErrc::kVersion, "Invalid Version");
  if (v.as_string() == "2012-10-17") {
    out.version = PolicyVersion::k2012_10_17;
  } else if (v.as_string() == "2008-10-17") {
    out.version = PolicyVersion::k2008_10_17;
  } else {
    return Err(ParseErrc::kVersion, "Invalid Version");
  }
  out.version_present = true;
  return std::nullopt;
}

std::optional<ParseError> ReadDocument(const Value& doc, PolicyKind kind, PolicyAst& out) {
  if (!doc.is_object() || HasDuplicateMember(doc.as_object())) return Syntax();
  const Value* statements = nullptr;
  for (const auto& [name, value] : doc.as_object()) {
    if (name == "Version") {
      if (auto e = ReadVersion(value, out)) return e;
    } else if (name == "Id") {
      if (!value.is_string()) return Syntax();
      out.id = value.as_string();
    } else if (name == "Statement") {
      statements = &value;
    } else {
      return Syntax();
    }
  }
  if (statements == nullptr) return Err(ParseErrc::kMissingField, "Missing required field Statement");
  return ReadStatements(*statements, kind, out);
}

}  // namespace

Status ParseError::ToStatus() const {
  return Status::Modeled("MalformedPolicyDocumentException", message);
}

Expected<PolicyAst, ParseError> ParsePolicy(std::string_view text, PolicyKind kind) {
  if (text.size() > kMaxPolicyBytes) {
    return Err(ParseErrc::kTooLarge, "Policy document is too large.");
  }
  auto doc = json::Parse(text, json::ParseLimits{kMaxPolicyDepth, kMaxPolicyBytes});
  if (!doc.ok()) return Syntax();
  PolicyAst out;
  if (auto e = ReadDocument(*doc, kind, out)) return std::move(*e);
  return out;
}

}  // namespace rampart::iam
