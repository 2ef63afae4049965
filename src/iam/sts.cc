// STS: GetCallerIdentity, AssumeRole, GetSessionToken and GetAccessKeyInfo
// (AssumeRoleWithWebIdentity: sts_web_identity.cc).
//
// AssumeRole evaluates the role's trust policy as a resource policy that
// must allow on its own: sts:AssumeRole always, sts:TagSession when session
// tags are passed, sts:SetSourceIdentity when a source identity is set.
// The session's context (MFA, source identity, session tags with their
// transitive keys, session policies) is stored with the temporary
// credentials, so every later request of the session carries it to the
// authorizer.
#include "rampart/iam/sts.h"

#include <algorithm>
#include <chrono>

#include "iam/iam_internal.h"
#include "iam/sts_internal.h"
#include "iam/sts_web_identity.h"
#include "rampart/http/https_client.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/random.h"
#include "rampart/iam/mfa.h"
#include "rampart/iam/policy.h"
#include "rampart/server/config.h"

namespace rampart::iam {
namespace sts_internal {

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

constexpr int64_t kMinDuration = 900;
constexpr int64_t kRoleChainingMax = 3600;
constexpr int64_t kSessionTokenDefault = 43200;
constexpr int64_t kSessionTokenMax = 129600;
constexpr int64_t kRootSessionTokenMax = 3600;
constexpr size_t kSessionTokenBytes = 96;
constexpr size_t kMaxSessionTags = 50;
constexpr size_t kMaxPolicyArns = 10;
// What fits in AWS's packed session policy: the Policy text (up to 2,048
// characters) and the session tags are compressed together into one
// token. We charge their plain sizes against this budget instead.
constexpr size_t kPackedBudget = 2048 + 50 * (128 + 256);

Status NotAuthorized(const server::Principal& caller, std::string_view action,
                     std::string_view role_arn) {
  return Status::Error(ErrorCode::kAccessDenied, "User: " + caller.arn +
                                                     " is not authorized to perform: " +
                                                     std::string(action) + " on resource: " +
                                                     std::string(role_arn));
}

Status InvalidParameter(std::string message) {
  return Status::Modeled("InvalidParameterValue", std::move(message));
}

bool SameKey(std::string_view a, std::string_view b) { return AsciiLower(a) == AsciiLower(b); }

bool IsSession(const server::Principal& p) { return p.token_issued_at != 0; }

Result<std::vector<std::pair<std::string, std::string>>> ReadSessionTags(const json::Value& in) {
  std::vector<std::pair<std::string, std::string>> tags;
  const json::Value* list = in.find("Tags");
  if (list == nullptr || !list->is_array()) return tags;
  for (const json::Value& t : list->as_array()) {
    std::string key(t.get_string("Key"));
    for (const auto& [k, v] : tags) {
      if (SameKey(k, key)) {
        return InvalidParameter("Duplicate tag keys found. Please note that Tag keys are case "
                                "insensitive.");
      }
    }
    tags.emplace_back(std::move(key), std::string(t.get_string("Value")));
  }
  return tags;
}

Result<std::vector<std::string>> ReadTransitiveKeys(
    const json::Value& in, const std::vector<std::pair<std::string, std::string>>& tags) {
  std::vector<std::string> keys;
  const json::Value* list = in.find("TransitiveTagKeys");
  if (list == nullptr || !list->is_array()) return keys;
  for (const json::Value& k : list->as_array()) {
    std::string key(k.is_string() ? k.as_string() : "");
    bool tagged = std::any_of(tags.begin(), tags.end(),
                              [&](const auto& t) { return SameKey(t.first, key); });
    if (!tagged) {
      return InvalidParameter("The specified transitive tag key " + key +
                              " must be included in the requested tags.");
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

// The default version of a managed policy by ARN (any account's, or an
// AWS managed one), or nullopt.
Result<std::optional<std::string>> ManagedPolicyDocument(store::Database& db,
                                                         std::string_view arn) {
  std::optional<std::string> doc;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(doc, internal::DefaultPolicyDocument(tx, arn));
    return Status::Ok();
  }));
  return doc;
}

// Policy and PolicyArns: the session policies, compiled once here so that
// a malformed one is refused before credentials exist.
Status ReadSessionPolicies(store::Database& db, const json::Value& in, SessionInputs& s) {
  if (const json::Value* p = in.find("Policy"); p != nullptr && p->is_string()) {
    s.has_policies = true;
    auto compiled = CompilePolicy(p->as_string(), PolicyKind::kSession, "session-policy");
    if (!compiled.ok()) {
      return Status::Modeled("MalformedPolicyDocumentException", compiled.status().message());
    }
    s.policies.push_back(p->as_string());
  }
  const json::Value* arns = in.find("PolicyArns");
  if (arns == nullptr || !arns->is_array()) return Status::Ok();
  if (arns->as_array().size() > kMaxPolicyArns) {
    return Status::Validation("1 validation error detected: Value at 'policyArns' failed to "
                              "satisfy constraint: Member must have length less than or equal "
                              "to 10");
  }
  s.has_policies = true;
  for (const json::Value& d : arns->as_array()) {
    std::string arn(d.get_string("arn"));
    ASSIGN_OR_RETURN(auto doc, ManagedPolicyDocument(db, arn));
    if (!doc) return InvalidParameter("The policy " + arn + " does not exist or is not attachable.");
    s.policies.push_back(std::move(*doc));
  }
  return Status::Ok();
}

Result<SessionInputs> ReadSessionInputs(store::Database& db, const json::Value& in) {
  SessionInputs s;
  ASSIGN_OR_RETURN(s.tags, ReadSessionTags(in));
  if (s.tags.size() > kMaxSessionTags) {
    return InvalidParameter("A maximum of 50 session tags can be passed.");
  }
  ASSIGN_OR_RETURN(s.transitive_keys, ReadTransitiveKeys(in, s.tags));
  RETURN_IF_ERROR(ReadSessionPolicies(db, in, s));
  size_t packed = 0;
  for (const std::string& p : s.policies) packed += PolicyCharacterCount(p);
  for (const auto& [k, v] : s.tags) packed += k.size() + v.size();
  s.packed_size = packed;
  if (in.find("Policy") != nullptr && packed > kPackedBudget) {
    return Status::Modeled("PackedPolicyTooLargeException",
                           "Packed size of session policies and tags exceeds the limit.");
  }
  // The model's pattern already refuses ':', so AWS's reserved "aws:"
  // prefix cannot get through.
  s.source_identity = std::string(in.get_string("SourceIdentity"));
  return s;
}

// Role chaining: the caller session's transitive tags pass to the new
// session, and the new request may not override them.
Status InheritTransitiveTags(const server::Principal& caller, SessionInputs& s) {
  for (const std::string& key : caller.transitive_tag_keys) {
    for (const auto& tag : caller.session_tags) {
      const std::string& k = tag.first;
      const std::string& v = tag.second;
      if (!SameKey(k, key)) continue;
      bool overridden = std::any_of(s.tags.begin(), s.tags.end(),
                                    [&](const auto& t) { return SameKey(t.first, k); });
      if (overridden) {
        return InvalidParameter("The transitive session tag " + k +
                                " set by a previous session cannot be overridden.");
      }
      s.tags.emplace_back(k, v);
      s.transitive_keys.push_back(k);
    }
  }
  if (s.tags.size() > kMaxSessionTags) {
    return InvalidParameter("A maximum of 50 session tags can be passed.");
  }
  return Status::Ok();
}

// A source identity, once set, stays with every chained session.
Status InheritSourceIdentity(const server::Principal& caller, SessionInputs& s) {
  if (caller.source_identity.empty()) return Status::Ok();
  if (!s.source_identity.empty() && s.source_identity != caller.source_identity) {
    return Status::Error(ErrorCode::kAccessDenied,
                         "The source identity of a session cannot be changed: it was set to " +
                             caller.source_identity + ".");
  }
  s.source_identity = caller.source_identity;
  return Status::Ok();
}

// The condition keys of the trust policy evaluation.
std::vector<server::ConditionKey> TrustKeys(const json::Value& in, std::string_view session,
                                            const SessionInputs& s, bool mfa_verified) {
  std::vector<server::ConditionKey> keys;
  keys.push_back({"sts:RoleSessionName", {std::string(session)}});
  if (const json::Value* ext = in.find("ExternalId"); ext != nullptr && ext->is_string()) {
    keys.push_back({"sts:ExternalId", {ext->as_string()}});
  }
  if (!s.tags.empty()) {
    server::ConditionKey tag_keys{"aws:TagKeys", {}};
    for (const auto& [k, v] : s.tags) {
      keys.push_back({"aws:RequestTag/" + k, {v}});
      tag_keys.values.push_back(k);
    }
    keys.push_back(std::move(tag_keys));
    keys.push_back({"sts:TransitiveTagKeys", s.transitive_keys});
  }
  if (!s.source_identity.empty()) keys.push_back({"sts:SourceIdentity", {s.source_identity}});
  if (mfa_verified) {
    keys.push_back({"aws:MultiFactorAuthPresent", {"true"}});
    keys.push_back({"aws:MultiFactorAuthAge", {"0"}});
  }
  return keys;
}

Result<int64_t> ReadDuration(const json::Value& in, int64_t fallback) {
  int64_t duration = fallback;
  if (const json::Value* d = in.find("DurationSeconds"); d != nullptr && d->is_number()) {
    duration = d->as_int();
  }
  if (duration < kMinDuration) {
    return Status::Validation("1 validation error detected: Value '" + std::to_string(duration) +
                              "' at 'durationSeconds' failed to satisfy constraint: Member must "
                              "have value greater than or equal to 900");
  }
  return duration;
}

IssuedCredentials::~IssuedCredentials() { std::fill(token.begin(), token.end(), '\0'); }

int64_t PackedPercent(const SessionInputs& s) {
  return static_cast<int64_t>((s.packed_size * 100 + kPackedBudget - 1) / kPackedBudget);
}

// Mints an ASIA key, secret and session token for p and stores them.
Result<std::unique_ptr<IssuedCredentials>> Issue(server::CredentialStore& creds,
                                                 server::Principal& p, int64_t issued,
                                                 int64_t duration) {
  auto out = std::make_unique<IssuedCredentials>();
  ASSIGN_OR_RETURN(p.access_key_id, ids::AccessKeyId("ASIA"));
  ASSIGN_OR_RETURN(out->secret, ids::SecretAccessKey());
  ASSIGN_OR_RETURN(std::string raw_token, crypto::RandomBytes(kSessionTokenBytes));
  out->token = Base64Encode(raw_token);
  std::fill(raw_token.begin(), raw_token.end(), '\0');
  p.token_issued_at = issued;
  out->expires = issued + duration;
  RETURN_IF_ERROR(creds.AddSessionKey(p, out->secret, crypto::Sha256(out->token), issued,
                                      out->expires));
  return out;
}

json::Value CredentialsJson(const server::Principal& p, const IssuedCredentials& c) {
  json::Value out = json::Value::MakeObject();
  out.set("AccessKeyId", p.access_key_id);
  out.set("SecretAccessKey", c.secret.reveal());
  out.set("SessionToken", c.token);
  out.set("Expiration", c.expires);
  return out;
}

server::Principal RoleSession(const internal::RoleRow& role, std::string_view session,
                              SessionInputs& inputs) {
  server::Principal p;
  p.account_id = role.account_id;
  p.arn = "arn:aws:sts::" + role.account_id + ":assumed-role/" + role.name + "/" +
          std::string(session);
  p.type = "AssumedRole";
  p.principal_id = role.role_id + ":" + std::string(session);
  p.role_arn = role.Arn();
  p.source_identity = std::move(inputs.source_identity);
  p.session_tags = std::move(inputs.tags);
  p.transitive_tag_keys = std::move(inputs.transitive_keys);
  p.has_session_policies = inputs.has_policies;
  p.session_policies = std::move(inputs.policies);
  return p;
}

json::Value AssumedRoleUserJson(const server::Principal& p) {
  json::Value user = json::Value::MakeObject();
  user.set("AssumedRoleId", p.principal_id);
  user.set("Arn", p.arn);
  return user;
}

// Checks SerialNumber and TokenCode when given: whether MFA was verified,
// or AccessDenied.
Result<bool> VerifyMfa(MfaService* mfa, server::RequestContext& ctx, const json::Value& in) {
  std::string_view serial = in.get_string("SerialNumber");
  std::string_view code = in.get_string("TokenCode");
  if (serial.empty() && code.empty()) return false;
  const server::Principal& caller = ctx.principal();
  if (serial.empty() || code.empty() || mfa == nullptr || caller.type != "IAMUser") {
    return Status::Error(ErrorCode::kAccessDenied,
                         "MultiFactorAuthentication failed with invalid MFA one time pass code.");
  }
  RETURN_IF_ERROR(
      mfa->VerifyUserCode(caller.account_id, caller.principal_id, serial, code, ctx.time()));
  return true;
}

// What the trust policy is asked: sts:AssumeRole always, sts:TagSession
// with session tags, sts:SetSourceIdentity with a new source identity.
struct TrustQuestion {
  std::vector<server::ConditionKey> keys;
  bool tagged = false;
  bool sets_source_identity = false;
};

Status CheckTrust(const EngineAuthorizer& authorizer, server::RequestContext& ctx,
                  const internal::RoleRow& role, const TrustQuestion& question) {
  const server::Principal& caller = ctx.principal();
  const std::string role_arn = role.Arn();
  auto trust = CompilePolicy(role.trust_policy, PolicyKind::kTrust, role_arn);
  if (!trust.ok()) return NotAuthorized(caller, "sts:AssumeRole", role_arn);
  std::vector<std::string_view> actions = {"sts:AssumeRole"};
  if (question.tagged) actions.push_back("sts:TagSession");
  if (question.sets_source_identity) actions.push_back("sts:SetSourceIdentity");
  for (std::string_view action : actions) {
    ASSIGN_OR_RETURN(bool allowed, authorizer.Allowed(ctx, action, role_arn, question.keys,
                                                      **trust,
                                                      /*resource_policy_required=*/true));
    if (!allowed) return NotAuthorized(caller, action, role_arn);
  }
  return Status::Ok();
}

}  // namespace sts_internal

using namespace sts_internal;  // NOLINT: this file defines them

// Rampart's denials are plain text: no operation answers with an encoded
// authorization message, so there is nothing this could decode. Every
// message is therefore invalid, after the caller proves the permission.
Result<json::Value> DecodeAuthorizationMessage(server::RequestContext& ctx, const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("sts:DecodeAuthorizationMessage", "*"));
  return Status::Modeled("InvalidAuthorizationMessageException",
                         "The message was not issued by this server: Rampart does not encode "
                         "authorization failure messages.");
}

namespace {

// The account of any access key this server issued: long-term keys in any
// state and STS session keys, ended or not (AWS answers for inactive keys
// too). A key id the server never issued, or whose record is gone, is
// refused; AWS documents that a deleted key may be answered that way.
Result<json::Value> GetAccessKeyInfo(store::Database& db, server::RequestContext& ctx,
                                     const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("sts:GetAccessKeyInfo", "*"));
  std::string key_id(in.get_string("AccessKeyId"));
  std::string account;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT account_id FROM access_keys WHERE "
                                        "access_key_id = ?1 UNION ALL SELECT account_id FROM "
                                        "sts_sessions WHERE access_key_id = ?1"));
    q->Bind(1, key_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) account = q->Text(0);
    return Status::Ok();
  }));
  if (account.empty()) {
    return Status::Validation("The access key ID " + key_id + " does not exist.");
  }
  json::Value out = json::Value::MakeObject();
  out.set("Account", account);
  return out;
}

}  // namespace

void RegisterSts(server::Registry& registry) {
  registry.Add("sts", "GetCallerIdentity", GetCallerIdentity);
  registry.Add("sts", "DecodeAuthorizationMessage", DecodeAuthorizationMessage);
}

StsService::StsService(store::Database& db, server::CredentialStore& creds,
                       const EngineAuthorizer& authorizer)
    : db_(db),
      creds_(creds),
      authorizer_(authorizer),
      web_identity_(std::make_unique<WebIdentityFederation>(db, creds, http::HttpsGet)) {}

StsService::~StsService() = default;

void StsService::Register(server::Registry& registry) {
  registry.Add("sts", "AssumeRoleWithWebIdentity",
               [this](server::RequestContext& ctx, const json::Value& in) {
                 return web_identity_->AssumeRoleWithWebIdentity(ctx, in);
               });
  registry.Add("sts", "AssumeRole", [this](server::RequestContext& ctx, const json::Value& in) {
    return AssumeRole(ctx, in);
  });
  registry.Add("sts", "GetSessionToken",
               [this](server::RequestContext& ctx, const json::Value& in) {
                 return GetSessionToken(ctx, in);
               });
  registry.Add("sts", "GetAccessKeyInfo",
               [this](server::RequestContext& ctx, const json::Value& in) {
                 return GetAccessKeyInfo(db_, ctx, in);
               });
}

Result<json::Value> StsService::AssumeRole(server::RequestContext& ctx, const json::Value& in) {
  const server::Principal& caller = ctx.principal();
  std::string role_arn(in.get_string("RoleArn"));
  std::string session(in.get_string("RoleSessionName"));
  if (in.find("ProvidedContexts") != nullptr) {
    return Status::Error(ErrorCode::kNotImplemented,
                         "AssumeRole with ProvidedContexts is not implemented yet.");
  }
  // As on AWS, the account root may not assume roles; development mode
  // allows it, since its callers are the dev account's root.
  if (caller.type == "Root" && !ctx.config().dev) {
    return Status::Error(ErrorCode::kAccessDenied, "Roles may not be assumed by root accounts.");
  }
  ASSIGN_OR_RETURN(SessionInputs inputs, ReadSessionInputs(db_, in));
  const bool sets_source_identity = !inputs.source_identity.empty();
  RETURN_IF_ERROR(InheritTransitiveTags(caller, inputs));
  RETURN_IF_ERROR(InheritSourceIdentity(caller, inputs));
  // Inherited transitive tags are session tags of the new session too.
  const bool tagged = !inputs.tags.empty();
  ASSIGN_OR_RETURN(bool mfa_verified, VerifyMfa(mfa_, ctx, in));

  std::optional<internal::RoleRow> role;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(role, internal::FindRoleByArn(tx, role_arn));
    return Status::Ok();
  }));
  // A role that does not exist is indistinguishable from one that does not
  // trust the caller.
  if (!role) return NotAuthorized(caller, "sts:AssumeRole", role_arn);
  TrustQuestion question{TrustKeys(in, session, inputs, mfa_verified), tagged,
                         sets_source_identity};
  RETURN_IF_ERROR(CheckTrust(authorizer_, ctx, *role, question));

  ASSIGN_OR_RETURN(int64_t duration, ReadDuration(in, kDefaultDuration));
  if (caller.type == "AssumedRole" && duration > kRoleChainingMax) {
    return Status::Validation(
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining.");
  }
  if (duration > role->max_session_duration) {
    return Status::Validation(
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
  }

  server::Principal p = RoleSession(*role, session, inputs);
  p.mfa_present = mfa_verified;
  ASSIGN_OR_RETURN(auto issued, Issue(creds_, p, internal::NowSeconds(ctx), duration));

  json::Value out = json::Value::MakeObject();
  out.set("Credentials", CredentialsJson(p, *issued));
  out.set("AssumedRoleUser", AssumedRoleUserJson(p));
  if (!p.source_identity.empty()) out.set("SourceIdentity", p.source_identity);
  return out;
}

Result<json::Value> StsService::GetSessionToken(server::RequestContext& ctx,
                                                const json::Value& in) {
  const server::Principal& caller = ctx.principal();
  if (IsSession(caller) || (caller.type != "IAMUser" && caller.type != "Root")) {
    return Status::Error(ErrorCode::kAccessDenied,
                         "Cannot call GetSessionToken with session credentials");
  }
  const bool root = caller.type == "Root";
  ASSIGN_OR_RETURN(int64_t duration,
                   ReadDuration(in, root ? kRootSessionTokenMax : kSessionTokenDefault));
  if (duration > kSessionTokenMax) {
    return Status::Validation("1 validation error detected: Value '" + std::to_string(duration) +
                              "' at 'durationSeconds' failed to satisfy constraint: Member must "
                              "have value less than or equal to 129600");
  }
  // The account root's sessions last at most an hour, whatever is asked.
  if (root) duration = std::min(duration, kRootSessionTokenMax);
  ASSIGN_OR_RETURN(bool mfa_verified, VerifyMfa(mfa_, ctx, in));

  server::Principal p = caller;
  p.mfa_present = mfa_verified;
  ASSIGN_OR_RETURN(auto issued, Issue(creds_, p, internal::NowSeconds(ctx), duration));
  json::Value out = json::Value::MakeObject();
  out.set("Credentials", CredentialsJson(p, *issued));
  return out;
}

}  // namespace rampart::iam
