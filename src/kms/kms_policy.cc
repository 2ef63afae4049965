// Key policies: the default policy, GetKeyPolicy, PutKeyPolicy (with the
// lockout safety check), ListKeyPolicies, and the authorization of every
// operation on a key by its key policy.
//
// A key policy is the key's resource policy and must allow on its own
// (resource_policy_required): a statement naming the account
// ("arn:aws:iam::<acct>:root") delegates to the account's IAM policies, as
// the default policy does (AWS KMS Developer Guide, "Default key policy").
#include "kms/kms_internal.h"
#include "kms/kms_throttle.h"
#include "rampart/iam/policy.h"

#include <algorithm>

namespace rampart::kms::internal {
namespace {

// AWS KMS quota: a key policy is at most 32 KiB.
constexpr size_t kMaxKeyPolicyBytes = 32768;
constexpr std::string_view kPolicyName = "default";

}  // namespace

std::string DefaultKeyPolicy(std::string_view account) {
  return R"({"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User )"
         R"(Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::)" +
         std::string(account) + R"(:root"},"Action":"kms:*","Resource":"*"}]})";
}

Result<std::shared_ptr<const iam::CompiledPolicy>> CompileKeyPolicy(std::string_view doc,
                                                                    std::string_view key_arn) {
  if (doc.size() > kMaxKeyPolicyBytes) {
    return Status::Modeled("LimitExceededException",
                           "The key policy exceeds the 32768-byte size quota.");
  }
  return iam::CompilePolicy(doc, iam::PolicyKind::kResource, std::string(key_arn));
}

Status CheckLockout(Kms& kms, const server::RequestContext& ctx, const iam::CompiledPolicy& policy,
                    std::string_view key_arn) {
  const server::ConditionKey keys[] = {{"kms:CallerAccount", {ctx.principal().account_id}}};
  ASSIGN_OR_RETURN(auto verdict, kms.authorizer.Check(ctx, "kms:PutKeyPolicy", key_arn, keys,
                                                      policy, /*resource_policy_required=*/true));
  if (verdict.allowed) return Status::Ok();
  return Status::Modeled(
      "MalformedPolicyDocumentException",
      "The new key policy will not allow you to update the key policy in the future.");
}

namespace {

thread_local std::string request_alias;

}  // namespace

RequestAliasScope::RequestAliasScope(const json::Value& in) {
  std::string_view id = in.get_string("KeyId");
  if (id.starts_with("alias/")) {
    request_alias = std::string(id);
  } else if (id.starts_with("arn:")) {
    size_t at = id.find(":alias/");
    if (at != std::string_view::npos) request_alias = std::string(id.substr(at + 1));
  }
}

RequestAliasScope::~RequestAliasScope() { request_alias.clear(); }

std::string_view RequestAliasScope::Current() { return request_alias; }

std::vector<iam::PreparedKey> KeyConditionKeys(const KeyEntry& key) {
  std::vector<server::ConditionKey> keys;
  if (!key.aliases.empty()) keys.push_back({"kms:ResourceAliases", key.aliases});
  keys.push_back({"kms:KeySpec", {key.row.key_spec}});
  keys.push_back({"kms:KeyUsage", {key.row.key_usage}});
  keys.push_back({"kms:KeyOrigin", {key.row.origin}});
  AddMultiRegionKeys(key.row, keys);
  const size_t fixed = keys.size();  // names above are constants; tag keys are input
  for (const auto& [k, v] : key.tags) keys.push_back({"aws:ResourceTag/" + k, {v}});
  std::vector<iam::PreparedKey> out;
  out.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    out.push_back(iam::PrepareKey(keys[i].name, std::move(keys[i].values), i < fixed));
  }
  return out;
}

Result<iam::EngineAuthorizer::Verdict> KeyPolicyVerdict(Kms& kms, const server::RequestContext& ctx,
                                                        const KeyEntry& key,
                                                        std::string_view action,
                                                        std::vector<server::ConditionKey>& keys) {
  // kms:RequestAlias only for the key the request's alias names.
  std::string_view alias = RequestAliasScope::Current();
  if (!alias.empty() &&
      std::find(key.aliases.begin(), key.aliases.end(), alias) != key.aliases.end()) {
    keys.push_back({"kms:RequestAlias", {std::string(alias)}});
  }
  keys.push_back({"kms:CallerAccount", {ctx.principal().account_id}});
  return kms.authorizer.Check(ctx, action, key.arn, keys, key.condition_keys, *key.policy,
                              /*resource_policy_required=*/true);
}

namespace {

// The key policy (and IAM where it delegates) or, failing that, a grant
// for the caller (AWS KMS Developer Guide, "Grants in AWS KMS"). A grant
// never overrides an explicit deny; denials are worded by the engine for
// the policy type that decided.
Status KeyAccess(Kms& kms, const server::RequestContext& ctx, const KeyEntry& key,
                 std::string_view action, std::vector<server::ConditionKey>& keys) {
  ASSIGN_OR_RETURN(auto verdict, KeyPolicyVerdict(kms, ctx, key, action, keys));
  if (verdict.allowed) return Status::Ok();
  if (verdict.explicit_deny || key.grants.empty()) return verdict.denial;
  // A grant to an account asks IAM with every key of the request,
  // the key's own included.
  for (const iam::PreparedKey& k : key.condition_keys) keys.push_back({k.lower_name, k.values});
  if (MatchingGrant(ctx, key, action, keys) != nullptr) return Status::Ok();
  return verdict.denial;
}

}  // namespace

// Access, then the quota of the key's custom key store, which only callers
// allowed to use the key spend (kms_throttle.h).
Status AuthorizeKey(Kms& kms, const server::RequestContext& ctx, const KeyEntry& key,
                    std::string_view action, std::vector<server::ConditionKey> keys) {
  RETURN_IF_ERROR(KeyAccess(kms, ctx, key, action, keys));
  return StoreQuotaScope::Charge(kms, ctx, key);
}

namespace {

Status CheckPolicyName(const json::Value& in) {
  std::string_view name = in.get_string("PolicyName");
  if (name.empty() || name == kPolicyName) return Status::Ok();
  return Status::Modeled("NotFoundException", "No such policy exists");
}

Result<json::Value> GetKeyPolicy(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:GetKeyPolicy"));
  RETURN_IF_ERROR(CheckPolicyName(in));
  json::Value out = json::Value::MakeObject();
  out.set("Policy", key->row.policy);
  return out;
}

Result<json::Value> PutKeyPolicy(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:PutKeyPolicy"));
  RETURN_IF_ERROR(CheckPolicyName(in));
  std::string doc(in.get_string("Policy"));
  ASSIGN_OR_RETURN(auto compiled, CompileKeyPolicy(doc, key->arn));
  const json::Value* bypass = in.find("BypassPolicyLockoutSafetyCheck");
  if (bypass == nullptr || !bypass->is_bool() || !bypass->as_bool()) {
    RETURN_IF_ERROR(CheckLockout(kms, ctx, *compiled, key->arn));
  }
  RETURN_IF_ERROR(WriteKey(kms, key->row.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_keys SET policy = ? WHERE key_id = ? AND "
                                        "region = ?"));
    q->Bind(1, doc).Bind(2, key->row.key_id).Bind(3, key->row.region);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListKeyPolicies(Kms& kms, server::RequestContext& ctx,
                                    const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:ListKeyPolicies"));
  json::Value names = json::Value::MakeArray();
  names.push(kPolicyName);
  json::Value out = json::Value::MakeObject();
  out.set("PolicyNames", std::move(names));
  out.set("Truncated", false);
  return out;
}

}  // namespace

std::vector<Binding> PolicyBindings() {
  return {{"GetKeyPolicy", GetKeyPolicy},
          {"PutKeyPolicy", PutKeyPolicy},
          {"ListKeyPolicies", ListKeyPolicies}};
}

}  // namespace rampart::kms::internal
