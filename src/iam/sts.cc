#include "rampart/iam/sts.h"

#include <algorithm>
#include <chrono>

#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/random.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {
namespace {

// GetCallerIdentity needs no permission: AWS answers it even when every
// action is denied to the caller.
Result<json::Value> GetCallerIdentity(server::RequestContext& ctx, const json::Value&) {
  const server::Principal& p = ctx.principal();
  json::Value out = json::Value::MakeObject();
  out.set("UserId", p.principal_id);
  out.set("Account", p.account_id);
  out.set("Arn", p.arn);
  return out;
}

constexpr int64_t kDefaultDuration = 3600;
constexpr int64_t kMinDuration = 900;
constexpr int64_t kRoleChainingMax = 3600;
constexpr size_t kSessionTokenBytes = 96;

Status NotAuthorized(const server::Principal& caller, std::string_view role_arn) {
  return Status::Error(ErrorCode::kAccessDenied,
                       "User: " + caller.arn +
                           " is not authorized to perform: sts:AssumeRole on resource: " +
                           std::string(role_arn));
}

}  // namespace

void RegisterSts(server::Registry& registry) {
  registry.Add("sts", "GetCallerIdentity", GetCallerIdentity);
}

void StsService::Register(server::Registry& registry) {
  registry.Add("sts", "AssumeRole", [this](server::RequestContext& ctx, const json::Value& in) {
    return AssumeRole(ctx, in);
  });
}

Result<json::Value> StsService::AssumeRole(server::RequestContext& ctx, const json::Value& in) {
  const server::Principal& caller = ctx.principal();
  std::string role_arn(in.get_string("RoleArn"));
  std::string session(in.get_string("RoleSessionName"));
  for (std::string_view member :
       {"Policy", "PolicyArns", "Tags", "TransitiveTagKeys", "SerialNumber", "TokenCode",
        "SourceIdentity", "ProvidedContexts"}) {
    if (in.find(member) != nullptr) {
      return Status::Error(ErrorCode::kNotImplemented,
                           "AssumeRole with " + std::string(member) + " is not implemented yet.");
    }
  }

  std::optional<internal::RoleRow> role;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(role, internal::FindRoleByArn(tx, role_arn));
    return Status::Ok();
  }));
  // A role that does not exist is indistinguishable from one that does not
  // trust the caller.
  if (!role) return NotAuthorized(caller, role_arn);

  auto trust = CompilePolicy(role->trust_policy, PolicyKind::kTrust, role_arn);
  if (!trust.ok()) return NotAuthorized(caller, role_arn);
  std::vector<server::ConditionKey> keys;
  keys.push_back({"sts:RoleSessionName", {session}});
  if (const json::Value* ext = in.find("ExternalId"); ext != nullptr && ext->is_string()) {
    keys.push_back({"sts:ExternalId", {std::string(ext->as_string())}});
  }
  ASSIGN_OR_RETURN(bool allowed, authorizer_.Allowed(ctx, "sts:AssumeRole", role_arn, keys,
                                                     **trust, /*resource_policy_required=*/true));
  if (!allowed) return NotAuthorized(caller, role_arn);

  int64_t duration = kDefaultDuration;
  if (const json::Value* d = in.find("DurationSeconds"); d != nullptr && d->is_number()) {
    duration = d->as_int();
  }
  if (duration < kMinDuration) {
    return Status::Validation("1 validation error detected: Value '" + std::to_string(duration) +
                              "' at 'durationSeconds' failed to satisfy constraint: Member must "
                              "have value greater than or equal to 900");
  }
  if (caller.type == "AssumedRole" && duration > kRoleChainingMax) {
    return Status::Validation(
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining.");
  }
  if (duration > role->max_session_duration) {
    return Status::Validation(
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
  }

  server::Principal p;
  p.account_id = role->account_id;
  p.arn = "arn:aws:sts::" + role->account_id + ":assumed-role/" + role->name + "/" + session;
  p.type = "AssumedRole";
  p.principal_id = role->role_id + ":" + session;
  p.role_arn = role->Arn();
  ASSIGN_OR_RETURN(p.access_key_id, ids::AccessKeyId("ASIA"));
  ASSIGN_OR_RETURN(SecretBytes secret, ids::SecretAccessKey());
  ASSIGN_OR_RETURN(std::string raw_token, crypto::RandomBytes(kSessionTokenBytes));
  std::string token = Base64Encode(raw_token);
  std::fill(raw_token.begin(), raw_token.end(), '\0');
  int64_t issued = internal::NowSeconds(ctx);
  int64_t expires = issued + duration;
  Status stored = creds_.AddSessionKey(p, secret, crypto::Sha256(token), issued, expires);
  if (!stored.ok()) {
    std::fill(token.begin(), token.end(), '\0');
    return stored;
  }

  json::Value c = json::Value::MakeObject();
  c.set("AccessKeyId", p.access_key_id);
  c.set("SecretAccessKey", secret.reveal());
  c.set("SessionToken", token);
  c.set("Expiration", expires);
  std::fill(token.begin(), token.end(), '\0');
  json::Value user = json::Value::MakeObject();
  user.set("AssumedRoleId", p.principal_id);
  user.set("Arn", p.arn);
  json::Value out = json::Value::MakeObject();
  out.set("Credentials", std::move(c));
  out.set("AssumedRoleUser", std::move(user));
  return out;
}

}  // namespace rampart::iam
