// Key rotation: EnableKeyRotation, DisableKeyRotation,
// GetKeyRotationStatus, and the rotation itself.
//
// Automatic rotation of a symmetric key happens every 365 days (the
// rotation period of this KMS API version). A rotation adds a material
// version and makes it current; older versions stay, so ciphertexts that
// name them (the blob header's material version) still decrypt. A due
// rotation is carried out by the scheduler (kms_scheduler.cc) or at the
// key's first use after the due date, whichever comes first (not while the
// key is disabled). Imported material (Origin EXTERNAL) is never rotated.
#include "kms/kms_internal.h"

namespace rampart::kms::internal {
namespace {

constexpr int64_t kRotationPeriod = 365 * 86400;

Status Unsupported(const KeyEntry& key) {
  if (key.row.origin != "AWS_KMS") {
    return Status::Modeled("UnsupportedOperationException",
                           key.arn + " origin is " + key.row.origin +
                               " which is not valid for this operation.");
  }
  return Status::Modeled("UnsupportedOperationException",
                         key.arn + " key spec " + key.row.key_spec +
                             " does not support automatic key rotation.");
}

}  // namespace

bool RotationDue(const KeyRow& row, int64_t now) {
  return row.rotation_enabled && row.state == kEnabled && row.next_rotation <= now;
}

Status RotateKey(Kms& kms, std::string_view key_id, int64_t now) {
  return WriteKey(kms, key_id, [&](store::Tx& tx) -> Status {
    // The regions of a multi-Region key share rotation; the primary's
    // state decides.
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT key_spec, current_version, rotation_enabled, "
                                        "next_rotation, state FROM kms_keys WHERE key_id = ? "
                                        "ORDER BY (region = primary_region) DESC LIMIT 1"));
    q->Bind(1, key_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    KeyRow current;
    current.key_spec = q->Text(0);
    current.current_version = static_cast<uint32_t>(q->Int(1));
    current.rotation_enabled = q->Int(2) != 0;
    current.next_rotation = q->Int(3);
    current.state = q->Text(4);
    if (!RotationDue(current, now)) return Status::Ok();  // another request rotated it
    uint32_t version = current.current_version + 1;
    ASSIGN_OR_RETURN(SecretBytes material, GenerateMaterial(current.key_spec));
    ASSIGN_OR_RETURN(std::string sealed, SealMaterial(kms.root_key, key_id, version, material));
    ASSIGN_OR_RETURN(auto m, tx.Prepare("INSERT INTO kms_key_material (key_id, version, sealed, "
                                        "created_at) VALUES (?, ?, ?, ?)"));
    m->Bind(1, key_id).Bind(2, int64_t{version}).BindBlob(3, sealed).Bind(4, now);
    RETURN_IF_ERROR(m->Run());
    ASSIGN_OR_RETURN(auto u, tx.Prepare("UPDATE kms_keys SET current_version = ?, next_rotation = ? "
                                        "WHERE key_id = ?"));
    u->Bind(1, int64_t{version}).Bind(2, now + kRotationPeriod).Bind(3, key_id);
    return u->Run();
  });
}

namespace {

// The key for a rotation operation: authorized, symmetric, in a state
// that allows rotation settings.
Result<KeyPtr> RotatableKey(Kms& kms, const server::RequestContext& ctx, const json::Value& in,
                            std::string_view action, bool require_enabled) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, action));
  RETURN_IF_ERROR(require_enabled ? RequireEnabled(*key) : RequireNotPendingDeletion(*key));
  // Imported material cannot be rotated automatically.
  if (key->row.key_spec != "SYMMETRIC_DEFAULT" || key->row.origin != "AWS_KMS") {
    return Unsupported(*key);
  }
  // Replicas share the primary's rotation, which is managed on the primary
  // (AWS KMS Developer Guide, "Rotating multi-Region keys").
  if (key->row.IsReplica() && action != "kms:GetKeyRotationStatus") {
    return Status::Modeled("UnsupportedOperationException",
                           key->arn + " is a multi-Region replica key. Manage automatic rotation "
                                      "on its primary key in " + key->row.primary_region + ".");
  }
  return key;
}

Status SetRotation(Kms& kms, const KeyEntry& key, bool enabled, int64_t next) {
  return WriteKey(kms, key.row.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_keys SET rotation_enabled = ?, "
                                        "next_rotation = ? WHERE key_id = ?"));
    q->Bind(1, int64_t{enabled ? 1 : 0}).Bind(2, next).Bind(3, key.row.key_id);
    return q->Run();
  });
}

Result<json::Value> EnableKeyRotation(Kms& kms, server::RequestContext& ctx,
                                      const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, RotatableKey(kms, ctx, in, "kms:EnableKeyRotation", true));
  if (!key->row.rotation_enabled) {
    RETURN_IF_ERROR(SetRotation(kms, *key, true, NowSeconds(ctx) + kRotationPeriod));
  }
  return json::Value::MakeObject();
}

Result<json::Value> DisableKeyRotation(Kms& kms, server::RequestContext& ctx,
                                       const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, RotatableKey(kms, ctx, in, "kms:DisableKeyRotation", true));
  RETURN_IF_ERROR(SetRotation(kms, *key, false, 0));
  return json::Value::MakeObject();
}

Result<json::Value> GetKeyRotationStatus(Kms& kms, server::RequestContext& ctx,
                                         const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, RotatableKey(kms, ctx, in, "kms:GetKeyRotationStatus", false));
  json::Value out = json::Value::MakeObject();
  out.set("KeyRotationEnabled", key->row.rotation_enabled);
  return out;
}

}  // namespace

std::vector<Binding> RotationBindings() {
  return {{"EnableKeyRotation", EnableKeyRotation},
          {"DisableKeyRotation", DisableKeyRotation},
          {"GetKeyRotationStatus", GetKeyRotationStatus}};
}

}  // namespace rampart::kms::internal
