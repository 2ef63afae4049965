#include "rampart/server/context.h"

#include "rampart/core/arn.h"
#include "rampart/core/check.h"
#include "rampart/server/authorizer.h"

namespace rampart::server {

Status RequestContext::Authorize(std::string_view action, std::string_view resource_arn,
                                 std::span<const ConditionKey> keys) const {
  return in_.authorizer->Authorize(*this, action, resource_arn, keys);
}

void RequestContext::NoteResourceAccount(std::string_view account) const {
  if (account.empty() || account == principal().account_id) return;
  for (const std::string& known : resource_accounts_) {
    if (known == account) return;
  }
  resource_accounts_.emplace_back(account);
}

void Registry::Add(std::string_view service, std::string_view operation, OperationHandler handler) {
  std::string key = std::string(service) + ":" + std::string(operation);
  bool inserted = handlers_.emplace(std::move(key), std::move(handler)).second;
  RAMPART_CHECK(inserted && "operation registered twice");
}

const OperationHandler* Registry::Find(std::string_view service, std::string_view operation) const {
  std::string key = std::string(service) + ":" + std::string(operation);
  auto it = handlers_.find(key);
  return it == handlers_.end() ? nullptr : &it->second;
}

Status AccessDenied(std::string_view principal_arn, std::string_view action,
                    std::string_view resource_arn) {
  std::string msg = "User: " + std::string(principal_arn) +
                    " is not authorized to perform: " + std::string(action);
  if (!resource_arn.empty()) msg += " on resource: " + std::string(resource_arn);
  return Status::Error(ErrorCode::kAccessDenied, std::move(msg));
}

Status RootOnlyAuthorizer::Authorize(const RequestContext& ctx, std::string_view action,
                                     std::string_view resource_arn,
                                     std::span<const ConditionKey>) const {
  const Principal& p = ctx.principal();
  if (p.type != "Root") return AccessDenied(p.arn, action, resource_arn);
  if (resource_arn == "*") return Status::Ok();
  auto arn = Arn::Parse(resource_arn);
  // Resources AWS owns (account "aws", e.g. managed policies) are usable by
  // every account, as in the engine.
  if (arn && (arn->account == p.account_id || arn->account == "aws")) return Status::Ok();
  return AccessDenied(p.arn, action, resource_arn);
}

}  // namespace rampart::server
