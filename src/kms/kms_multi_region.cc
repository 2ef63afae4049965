// Multi-Region keys: ReplicateKey and UpdatePrimaryRegion.
//
// A multi-Region key ("mrk-" id, CreateKey MultiRegion=true) has one
// kms_keys row per region of this server. The rows share the key id, the
// key material (kms_key_material is keyed by key id), spec, usage, origin
// and rotation; each has its own policy, description, state, tags, aliases
// and grants. Ciphertext made in one region therefore decrypts in every
// other (the blob names the key id and material version, not the region).
// See AWS KMS Developer Guide, "Multi-Region keys in AWS KMS".
//
// Keys with imported material (Origin EXTERNAL) replicate too: a new
// replica has no material (PendingImport) until the caller imports into it
// the same material as into its related keys (kms_import.cc). Import state,
// expiration and ValidTo are per region.
//
// ReplicateKey is authorized in two regions, as AWS does: kms:ReplicateKey
// on the primary key in the request's region, and kms:CreateKey (with
// kms:TagResource when tagging) in the replica's region, where
// aws:RequestedRegion is the replica region. Its audit trail has the
// ReplicateKey record in the request's region (the dispatcher's) and a
// CreateKey record in the replica's region (written here); an
// UpdatePrimaryRegion record goes to both the old and the new primary's
// regions.
#include <algorithm>

#include "kms/kms_internal.h"
#include "rampart/audit/event.h"
#include "rampart/audit/event_store.h"
#include "rampart/server/audit.h"
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
  // A replica of a key with imported material starts without material
  // (it is never copied between regions): the caller imports it.
  const bool external = row.origin == "EXTERNAL";
  row.state = std::string(external ? kPendingImport : kEnabled);
  if (external) {
    row.expiration_model.clear();
    row.valid_to = 0;
  }
  row.created_at = now;
  row.deletion_date = 0;
  row.pending_days = 0;
  return row;
}

// The request as the replica's region sees it: the same caller, client
// and time, with the replica region as aws:RequestedRegion.
server::RequestContext InRegion(const Kms& kms, const server::RequestContext& ctx,
                                std::string_view region) {
  return server::RequestContext({&ctx.principal(), ctx.service(), ctx.operation(), region,
                                 ctx.request_id(), ctx.source_ip(), ctx.user_agent(),
                                 ctx.secure_transport(), ctx.time(), &ctx.config(), &ctx.db(),
                                 &kms.authorizer, &ctx.clock()});
}

// Permission in the replica region (AWS: kms:CreateKey in an IAM policy
// there, and kms:TagResource when tagging). replica_ctx is InRegion(...).
Status AuthorizeReplicaRegion(const server::RequestContext& replica_ctx, const KeyRow& row,
                              const TagList& tags) {
  std::vector<server::ConditionKey> keys = {{"kms:KeySpec", {row.key_spec}},
                                            {"kms:KeyUsage", {row.key_usage}},
                                            {"kms:KeyOrigin", {row.origin}},
                                            {"kms:CallerAccount", {row.account_id}}};
  AddMultiRegionKeys(row, keys);
  RETURN_IF_ERROR(replica_ctx.Authorize("kms:CreateKey", "*", keys));
  if (!tags.empty()) RETURN_IF_ERROR(replica_ctx.Authorize("kms:TagResource", row.Arn()));
  return Status::Ok();
}

// The CreateKey request CloudTrail shows in the replica's region: the
// replica's properties, and the policy and lockout flag when the caller
// gave them.
json::Value ReplicaCreateKeyInput(const KeyRow& row, const json::Value& in, const TagList& tags) {
  json::Value input = json::Value::MakeObject();
  input.set("Description", row.description);
  input.set("KeySpec", row.key_spec);
  input.set("KeyUsage", row.key_usage);
  input.set("Origin", row.origin);
  input.set("MultiRegion", true);
  if (in.find("Policy") != nullptr) input.set("Policy", row.policy);
  if (const json::Value* b = in.find("BypassPolicyLockoutSafetyCheck"); b && b->is_bool()) {
    input.set("BypassPolicyLockoutSafetyCheck", b->as_bool());
  }
  if (!tags.empty()) input.set("Tags", TagsJson(tags));
  return input;
}

// Writes a record of this request's effect in another region into tx, as
// CloudTrail logs multi-Region operations in each region they change
// (ReplicateKey: CreateKey in the replica's region; UpdatePrimaryRegion:
// the same event in the new primary's region). Only when the audit trail
// records this request: its sink then has a write hook installed on this
// thread (audit::StoreAuditSink). Without one (no trail, as in unit tests
// or with the benchmark switch that turns auditing off) there is no trail
// to add to.
Status RecordInRegion(store::Tx& tx, const server::RequestContext& ctx, std::string_view region,
                      std::string_view operation, const json::Value& input,
                      const json::Value& output) {
  if (store::CurrentWriteHook() == nullptr) return Status::Ok();
  server::AuditRecord rec{};
  rec.time = ctx.time();
  rec.request_id = ctx.request_id();
  rec.service = ctx.service();
  rec.operation = operation;
  rec.region = region;
  rec.principal = &ctx.principal();
  rec.access_key_id = ctx.principal().access_key_id;
  rec.source_ip = ctx.source_ip();
  rec.user_agent = ctx.user_agent();
  rec.secure_transport = ctx.secure_transport();
  rec.input = &input;
  rec.output = &output;
  rec.http_status = 200;
  const std::string event_id = audit::NewEventId(ctx.time());
  audit::Event event = audit::BuildEvent(rec, {event_id, region, ctx.principal().account_id});
  return audit::InsertEvents(tx, std::span<const audit::Event>(&event, 1), /*replace=*/false);
}

// The replica region's CreateKey record.
Status RecordReplicaCreation(store::Tx& tx, const server::RequestContext& ctx, const KeyRow& row,
                             const json::Value& in, const TagList& tags,
                             std::span<const std::string> regions) {
  json::Value output = json::Value::MakeObject();
  output.set("KeyMetadata", KeyMetadataJson(row, regions));
  return RecordInRegion(tx, ctx, row.region, "CreateKey", ReplicaCreateKeyInput(row, in, tags),
                        output);
}

Status InsertReplica(Kms& kms, const server::RequestContext& ctx, const KeyRow& row,
                     const json::Value& in, const TagList& tags,
                     std::span<const std::string> regions) {
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
    RETURN_IF_ERROR(PutTags(tx, row.region, row.key_id, tags));
    return RecordReplicaCreation(tx, ctx, row, in, tags, regions);
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
  const server::RequestContext replica_ctx = InRegion(kms, ctx, region);
  RETURN_IF_ERROR(AuthorizeReplicaRegion(replica_ctx, row, tags));
  ASSIGN_OR_RETURN(auto compiled, CompileKeyPolicy(row.policy, row.Arn()));
  const json::Value* bypass = in.find("BypassPolicyLockoutSafetyCheck");
  bool bypassed = bypass != nullptr && bypass->is_bool() && bypass->as_bool();
  if (in.find("Policy") != nullptr && !bypassed) {
    // Later PutKeyPolicy calls on the replica are made in its region.
    RETURN_IF_ERROR(CheckLockout(kms, replica_ctx, *compiled, row.Arn()));
  }
  std::vector<std::string> regions = key->regions;
  regions.push_back(region);
  std::sort(regions.begin(), regions.end());
  RETURN_IF_ERROR(InsertReplica(kms, ctx, row, in, tags, regions));
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
  const json::Value out = json::Value::MakeObject();
  RETURN_IF_ERROR(WriteKey(kms, key->row.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_keys SET primary_region = ? WHERE key_id = ? "
                                        "AND account_id = ?"));
    q->Bind(1, region).Bind(2, key->row.key_id).Bind(3, key->row.account_id);
    RETURN_IF_ERROR(q->Run());
    // CloudTrail logs the change in the new primary's region too.
    return RecordInRegion(tx, ctx, region, ctx.operation(), in, out);
  }));
  return out;
}

}  // namespace

std::vector<Binding> MultiRegionBindings() {
  return {{"ReplicateKey", ReplicateKey}, {"UpdatePrimaryRegion", UpdatePrimaryRegion}};
}

}  // namespace rampart::kms::internal
