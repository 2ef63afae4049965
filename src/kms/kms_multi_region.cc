// Multi-Region keys: ReplicateKey and UpdatePrimaryRegion.
//
// A multi-Region key ("mrk-" id, CreateKey MultiRegion=true) has one
// kms_keys row per region of this server. The rows share the key id, the
// key material (kms_key_material is keyed by key id), spec, usage, origin
// and rotation; each has its own policy, description, state, tags, aliases
// and grants. Ciphertext made in one region therefore decrypts in every
// other (the blob names the key id and material version, not the region).
// See AWS KMS Developer Guide, "Multi-Region keys in AWS KMS".
#include <algorithm>

#include "kms/kms_internal.h"
#include "rampart/server/config.h"

namespace rampart::kms::internal {
namespace {

Status Unsupported(std::string message) {
  return Status::Modeled("UnsupportedOperationException", std::move(message));
}

Status RequireMultiRegion(const KeyEntry& key) {
  if (key.row.multi_region) return Status::Ok();
  return Unsupported(key.arn + " is not a multi-Region key.");
}

// The primary key of a multi-Region key, as ReplicateKey and
// UpdatePrimaryRegion need it.
Status RequirePrimary(const KeyEntry& key) {
  RETURN_IF_ERROR(RequireMultiRegion(key));
  if (!key.row.IsReplica()) return Status::Ok();
  return Unsupported(key.arn + " is a multi-Region replica key. Only its primary key, in " +
                     key.row.primary_region + ", can do this.");
}

bool HasRegion(const KeyEntry& key, std::string_view region) {
  return std::find(key.regions.begin(), key.regions.end(), region) != key.regions.end();
}

// The replica region must be another region this server serves.
Status CheckReplicaRegion(const server::RequestContext& ctx, const KeyEntry& key,
                          std::string_view region) {
  if (region == key.row.region) {
    return Status::Validation("ReplicaRegion " + std::string(region) +
                              " is the Region of the primary key; a replica must be in another "
                              "Region.");
  }
  if (!ctx.config().ServesRegion(region)) {
    return Unsupported("KMS is not available in Region " + std::string(region) +
                       " on this server.");
  }
  if (HasRegion(key, region)) {
    return Status::Modeled(
        "AlreadyExistsException",
        "Key '" + KeyArn(region, key.row.account_id, key.row.key_id) + "' already exists");
  }
  return Status::Ok();
}

json::Value TagsJson(const TagList& tags) {
  json::Value list = json::Value::MakeArray();
  for (const auto& [k, v] : tags) {
    json::Value t = json::Value::MakeObject();
    t.set("TagKey", k);
    t.set("TagValue", v);
    list.push(std::move(t));
  }
  return list;
}

// The replica's row: the primary's shared properties, its own policy,
// description and state.
KeyRow ReplicaRow(const KeyRow& primary, std::string_view region, const json::Value& in,
                  int64_t now) {
  KeyRow row = primary;
  row.region = std::string(region);
  row.description = std::string(in.get_string("Description"));
  const json::Value* policy = in.find("Policy");
  row.policy = policy != nullptr && policy->is_string() ? policy->as_string()
                                                        : DefaultKeyPolicy(row.account_id);
  row.state = std::string(kEnabled);
  row.created_at = now;
  row.deletion_date = 0;
  row.pending_days = 0;
  return row;
}

// Permission in the replica region (AWS: kms:CreateKey in an IAM policy
// there, and kms:TagResource when tagging).
Status AuthorizeReplicaRegion(const server::RequestContext& ctx, const KeyRow& row,
                              const TagList& tags) {
  std::vector<server::ConditionKey> keys = {{"kms:KeySpec", {row.key_spec}},
                                            {"kms:KeyUsage", {row.key_usage}},
                                            {"kms:KeyOrigin", {row.origin}},
                                            {"kms:CallerAccount", {row.account_id}}};
  AddMultiRegionKeys(row, keys);
  RETURN_IF_ERROR(ctx.Authorize("kms:CreateKey", "*", keys));
  if (!tags.empty()) RETURN_IF_ERROR(ctx.Authorize("kms:TagResource", row.Arn()));
  return Status::Ok();
}

Status InsertReplica(Kms& kms, const KeyRow& row, const TagList& tags) {
  return WriteKey(kms, row.key_id, [&](store::Tx& tx) -> Status {
    // Another request may have replicated the key to this region since
    // the key was read.
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT 1 FROM kms_keys WHERE key_id = ? AND region = ?"));
    q->Bind(1, row.key_id).Bind(2, row.region);
    ASSIGN_OR_RETURN(bool exists, q->Step());
    if (exists) {
      return Status::Modeled("AlreadyExistsException", "Key '" + row.Arn() + "' already exists");
    }
    RETURN_IF_ERROR(InsertKey(tx, row, ""));
    return PutTags(tx, row.region, row.key_id, tags);
  });
}

Result<json::Value> ReplicateKey(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  std::string region(in.get_string("ReplicaRegion"));
  RETURN_IF_ERROR(
      AuthorizeKey(kms, ctx, *key, "kms:ReplicateKey", {{"kms:ReplicaRegion", {region}}}));
  RETURN_IF_ERROR(RequirePrimary(*key));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  RETURN_IF_ERROR(CheckReplicaRegion(ctx, *key, region));
  if (key->row.key_spec == "SM2") RETURN_IF_ERROR(RequireSm2Region(region));
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  KeyRow row = ReplicaRow(key->row, region, in, NowSeconds(ctx));
  RETURN_IF_ERROR(AuthorizeReplicaRegion(ctx, row, tags));
  ASSIGN_OR_RETURN(auto compiled, CompileKeyPolicy(row.policy, row.Arn()));
  const json::Value* bypass = in.find("BypassPolicyLockoutSafetyCheck");
  bool bypassed = bypass != nullptr && bypass->is_bool() && bypass->as_bool();
  if (in.find("Policy") != nullptr && !bypassed) {
    RETURN_IF_ERROR(CheckLockout(kms, ctx, *compiled, row.Arn()));
  }
  RETURN_IF_ERROR(InsertReplica(kms, row, tags));
  std::vector<std::string> regions = key->regions;
  regions.push_back(region);
  std::sort(regions.begin(), regions.end());
  json::Value out = json::Value::MakeObject();
  out.set("ReplicaKeyMetadata", KeyMetadataJson(row, regions));
  out.set("ReplicaPolicy", row.policy);
  out.set("ReplicaTags", TagsJson(tags));
  return out;
}

Result<json::Value> UpdatePrimaryRegion(Kms& kms, server::RequestContext& ctx,
                                        const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  std::string region(in.get_string("PrimaryRegion"));
  std::vector<server::ConditionKey> keys = {{"kms:PrimaryRegion", {region}}};
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:UpdatePrimaryRegion", keys));
  RETURN_IF_ERROR(RequirePrimary(*key));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  if (region == key->row.region) {
    return Status::Validation("PrimaryRegion " + region + " is already the primary Region of " +
                              key->arn + ".");
  }
  // The new primary must be an existing replica; the caller needs the
  // permission on it too (AWS: kms:UpdatePrimaryRegion on both keys).
  std::string replica_arn = KeyArn(region, key->row.account_id, key->row.key_id);
  if (!HasRegion(*key, region)) return KeyNotFound(replica_arn);
  ASSIGN_OR_RETURN(KeyPtr replica, LoadKeyIn(kms, ctx, region, key->row.key_id));
  if (!replica || replica->row.account_id != key->row.account_id) {
    return KeyNotFound(replica_arn);
  }
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *replica, "kms:UpdatePrimaryRegion", keys));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*replica));
  RETURN_IF_ERROR(WriteKey(kms, key->row.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_keys SET primary_region = ? WHERE key_id = ? "
                                        "AND account_id = ?"));
    q->Bind(1, region).Bind(2, key->row.key_id).Bind(3, key->row.account_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

}  // namespace

std::vector<Binding> MultiRegionBindings() {
  return {{"ReplicateKey", ReplicateKey}, {"UpdatePrimaryRegion", UpdatePrimaryRegion}};
}

}  // namespace rampart::kms::internal
