// Stage 2: PolicyAst -> CompiledPolicy. Actions, resources and conditions
// are validated and compiled once; evaluation never re-parses them.
#include <algorithm>
#include <string>
#include <utility>

#include "rampart/core/arn.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {
namespace {

ValidateError Err(ValidateErrc code, std::string message) {
  return ValidateError{code, std::move(message)};
}

bool IsVendorChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '*' || c == '?';
}

// "*" or "vendor:action", where either part may use wildcards (IAM User
// Guide, "IAM JSON policy elements: Action").
std::optional<ValidateError> CompileAction(std::string_view a, std::vector<Pattern>& out) {
  Pattern::Options o{.wildcards = true, .variables = false, .fold_case = true};
  std::string error;
  if (a != "*") {
    size_t colon = a.find(':');
    bool ok = colon != std::string_view::npos && colon > 0 && colon + 1 < a.size() &&
              std::all_of(a.begin(), a.begin() + static_cast<ptrdiff_t>(colon), IsVendorChar);
    for (char c : a) ok = ok && c > ' ' && c != 0x7F;
    if (!ok) {
      return Err(ValidateErrc::kBadAction,
                 "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.");
    }
  }
  auto p = Pattern::Compile(a, o, &error);
  if (!p) return Err(ValidateErrc::kBadAction, error);
  out.push_back(std::move(*p));
  return std::nullopt;
}

// CompiledStatement::service_mask for the statement's actions.
uint64_t ServiceMask(const StatementAst& ast) {
  constexpr uint64_t kAll = ~uint64_t{0};
  if (ast.not_action || ast.actions.empty()) return kAll;
  uint64_t mask = 0;
  for (const std::string& a : ast.actions) {
    std::string_view service = std::string_view(a).substr(0, a.find(':'));
    if (service.size() == a.size() || service.find_first_of("*?") != std::string_view::npos) {
      return kAll;  // "*" or a wildcard in the service part
    }
    mask |= ActionServiceBit(service);
  }
  return mask;
}

std::optional<ValidateError> CheckPrincipal(const PrincipalAst& p) {
  for (const std::string& a : p.aws) {
    std::array<std::string_view, 6> parts{};
    if (a == "*" || IsAccountId(a) || SplitArn(a, parts)) continue;
    return Err(ValidateErrc::kBadPrincipal, "Invalid principal in policy: \"AWS\":\"" + a + "\"");
  }
  auto nonempty = [](const std::vector<std::string>& v) {
    return std::none_of(v.begin(), v.end(), [](const std::string& s) { return s.empty(); });
  };
  if (!nonempty(p.service) || !nonempty(p.federated) || !nonempty(p.canonical_user)) {
    return Err(ValidateErrc::kBadPrincipal, "Invalid principal in policy");
  }
  return std::nullopt;
}

std::optional<ValidateError> CompileStatement(const StatementAst& ast, uint32_t index,
                                              bool variables, CompiledStatement& s) {
  s.index = index;
  s.sid = ast.sid;
  s.effect = ast.effect;
  s.has_principal = ast.has_principal;
  s.not_principal = ast.not_principal;
  if (ast.has_principal) {
    if (auto e = CheckPrincipal(ast.principal)) return e;
    s.principal = PrincipalMatcher::FromAst(ast.principal);
  }
  s.not_action = ast.not_action;
  for (const std::string& a : ast.actions) {
    if (auto e = CompileAction(a, s.actions)) return e;
  }
  s.service_mask = ServiceMask(ast);
  s.has_resource = ast.has_resource;
  s.not_resource = ast.not_resource;
  std::string error;
  for (const std::string& r : ast.resources) {
    auto p = ArnPattern::Compile(r, variables, &error);
    if (!p) return Err(ValidateErrc::kBadResource, error);
    s.resources.push_back(std::move(*p));
  }
  for (const ConditionAst& c : ast.conditions) {
    auto compiled = Condition::Compile(c, variables);
    if (!compiled.ok()) {
      bool unknown = compiled.error().starts_with("Invalid Condition type");
      return Err(unknown ? ValidateErrc::kUnknownOperator : ValidateErrc::kBadConditionValue,
                 compiled.error());
    }
    s.conditions.push_back(std::move(compiled).value());
  }
  return std::nullopt;
}

}  // namespace

// Fills a CompiledPolicy (the only writer of its private members).
class PolicyCompiler {
 public:
  static Expected<std::shared_ptr<const CompiledPolicy>, ValidateError> Run(const PolicyAst& ast,
                                                                             PolicyKind kind,
                                                                             std::string id) {
    auto policy = std::make_shared<CompiledPolicy>();
    policy->id_ = std::move(id);
    policy->kind_ = kind;
    policy->version_ = ast.version;
    const bool variables = ast.version == PolicyVersion::k2012_10_17;
    policy->statements_.resize(ast.statements.size());
    for (size_t i = 0; i < ast.statements.size(); ++i) {
      if (auto e = CompileStatement(ast.statements[i], static_cast<uint32_t>(i), variables,
                                    policy->statements_[i])) {
        return std::move(*e);
      }
    }
    return std::shared_ptr<const CompiledPolicy>(std::move(policy));
  }
};

Status ValidateError::ToStatus() const {
  return Status::Modeled("MalformedPolicyDocumentException", message);
}

Expected<std::shared_ptr<const CompiledPolicy>, ValidateError> ValidatePolicy(const PolicyAst& ast,
                                                                               PolicyKind kind,
                                                                               std::string id) {
  return PolicyCompiler::Run(ast, kind, std::move(id));
}

Result<std::shared_ptr<const CompiledPolicy>> CompilePolicy(std::string_view text,
                                                            PolicyKind kind, std::string id) {
  auto ast = ParsePolicy(text, kind);
  if (!ast.ok()) return ast.error().ToStatus();
  auto compiled = ValidatePolicy(*ast, kind, std::move(id));
  if (!compiled.ok()) return compiled.error().ToStatus();
  return std::move(compiled).value();
}

}  // namespace rampart::iam
