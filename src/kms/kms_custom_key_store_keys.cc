// KMS keys in custom key stores (Origin AWS_CLOUDHSM): CreateKey in a
// store, their metadata, the symmetric operations run inside the HSM
// cluster, and GenerateRandom from the cluster's RNG.
//
// The ciphertext blob is the one of include/rampart/kms/ciphertext.h with
// kHsmMaterialBit set in the material version: the nonce is the IV the
// HSM operation used, the body is the token's AES-GCM output, and the
// associated data is, as for every key, the header followed by the
// canonical encryption context.
#include "kms/kms_custom_key_store.h"

#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"

namespace rampart::kms::internal {
namespace {

constexpr uint32_t kHsmVersion = kHsmMaterialBit | 1u;

Status Unavailable(const KeyEntry& key) {
  return Status::Modeled("KMSInvalidStateException",
                         key.arn + " is unavailable because its custom key store is not connected.");
}

Status StoreNotConnected(const StoreRow& row) {
  return Status::Modeled("CustomKeyStoreInvalidStateException",
                         "Custom key store " + row.store_id + " is " + row.state +
                             ": it must be CONNECTED for this operation.");
}

Result<StoreRow> ReadStoreForCaller(Kms& kms, const server::RequestContext& ctx, std::string_view id) {
  StoreRow row;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(row, ReadStore(tx, ctx, id));
    return Status::Ok();
  }));
  return row;
}

Result<StoreRow> ReadStoreOfKey(Kms& kms, const std::string& store_id) {
  StoreRow row;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    // The account too: reconnecting checks that the cluster is still its.
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT store_id, cluster_id, sealed_password, state, account_id "
                                        "FROM kms_custom_key_stores WHERE store_id = ?"));
    q->Bind(1, store_id);
    ASSIGN_OR_RETURN(bool found, q->Step());
    if (!found) return Status::Internal("custom key store of a key is missing");
    row.store_id = q->Text(0);
    row.cluster_id = q->Text(1);
    row.sealed_password = q->Text(2);
    row.state = q->Text(3);
    row.account_id = q->Text(4);
    return Status::Ok();
  }));
  return row;
}

// The connected cluster of the store holding key, or KMSInvalidStateException.
Result<std::shared_ptr<hsm::Cluster>> ClusterOfKey(Kms& kms, const KeyEntry& key, HsmKeyRef* where) {
  ASSIGN_OR_RETURN(*where, kms.cks->KeyLocation(key.row.key_id));
  ASSIGN_OR_RETURN(StoreRow row, ReadStoreOfKey(kms, where->store_id));
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Cluster> cluster, kms.cks->Connected(row));
  if (cluster == nullptr) return Unavailable(key);
  return cluster;
}

// The KMS error for an HSM failure during an operation on key.
Status HsmFailure(const KeyEntry& key, const Status& st) {
  if (st.code() == ErrorCode::kUnavailable || st.code() == ErrorCode::kNotFound) {
    return Status::Modeled("KMSInvalidStateException",
                           key.arn + " is unavailable: its HSM cluster cannot use the key now.");
  }
  return Status::Modeled("KMSInternalException", "The HSM cluster refused the operation.");
}

Result<KeyRow> ReadNewHsmKey(const server::RequestContext& ctx, const json::Value& in) {
  if (in.get_string("Origin") != kCloudHsmOrigin || in.get_string("CustomKeyStoreId").empty()) {
    return Status::Validation("Keys in a custom key store need Origin AWS_CLOUDHSM and a CustomKeyStoreId.");
  }
  std::string_view spec = in.get_string("KeySpec");
  if (spec.empty()) spec = in.get_string("CustomerMasterKeySpec");
  std::string_view usage = in.get_string("KeyUsage");
  if ((!spec.empty() && spec != "SYMMETRIC_DEFAULT") || (!usage.empty() && usage != "ENCRYPT_DECRYPT")) {
    return Status::Modeled("UnsupportedOperationException",
                           "Keys in an AWS CloudHSM key store are SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys only.");
  }
  if (const json::Value* mr = in.find("MultiRegion"); mr && mr->is_bool() && mr->as_bool()) {
    return Status::Modeled("UnsupportedOperationException",
                           "Multi-Region keys cannot be created in a custom key store.");
  }
  if (in.find("XksKeyId") != nullptr) {
    return Status::Validation("XksKeyId applies to external key stores only.");
  }
  KeyRow row;
  row.account_id = ctx.principal().account_id;
  row.region = std::string(ctx.region());
  row.description = std::string(in.get_string("Description"));
  row.key_spec = "SYMMETRIC_DEFAULT";
  row.key_usage = "ENCRYPT_DECRYPT";
  row.origin = std::string(kCloudHsmOrigin);
  row.state = std::string(kEnabled);
  row.created_at = NowSeconds(ctx);
  row.current_version = 1;
  return row;
}

// A non-extractable AES-256 key in the cluster, labelled with the KMS key id.
Result<std::string> GenerateInCluster(hsm::Cluster& cluster, const std::string& key_id) {
  pkcs11::KeySpec spec;
  spec.algorithm = pkcs11::KeyAlgorithm::kAes256;
  spec.label = key_id;
  spec.usage.encrypt = true;
  Result<pkcs11::KeyRef> ref = cluster.GenerateKey(spec);
  if (ref.ok()) return ref->id;
  if (ref.status().code() == ErrorCode::kUnavailable) {
    return Status::Modeled("CloudHsmClusterInvalidConfigurationException",
                           "The HSM cluster cannot hold the key on enough members: " +
                               ref.status().message());
  }
  return Status::Modeled("KMSInternalException", "The HSM cluster could not generate the key.");
}

}  // namespace

Result<json::Value> CreateKeyInCustomKeyStore(Kms& kms, server::RequestContext& ctx,
                                              const json::Value& in) {
  ASSIGN_OR_RETURN(KeyRow row, ReadNewHsmKey(ctx, in));
  std::vector<server::ConditionKey> keys = {{"kms:KeySpec", {row.key_spec}},
                                            {"kms:KeyUsage", {row.key_usage}},
                                            {"kms:KeyOrigin", {row.origin}},
                                            {"kms:CallerAccount", {row.account_id}}};
  AddMultiRegionKeys(row, keys);
  RETURN_IF_ERROR(ctx.Authorize("kms:CreateKey", "*", keys));
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  ASSIGN_OR_RETURN(StoreRow store, ReadStoreForCaller(kms, ctx, in.get_string("CustomKeyStoreId")));
  ASSIGN_OR_RETURN(row.key_id, ids::SecureUuid());
  const json::Value* policy = in.find("Policy");
  row.policy = policy != nullptr && policy->is_string() ? policy->as_string()
                                                          : DefaultKeyPolicy(row.account_id);
  ASSIGN_OR_RETURN(auto compiled, CompileKeyPolicy(row.policy, row.Arn()));
  const json::Value* bypass = in.find("BypassPolicyLockoutSafetyCheck");
  if (policy != nullptr && !(bypass != nullptr && bypass->is_bool() && bypass->as_bool())) {
    RETURN_IF_ERROR(CheckLockout(kms, ctx, *compiled, row.Arn()));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Cluster> cluster, kms.cks->Connected(store));
  if (cluster == nullptr) return StoreNotConnected(store);
  ASSIGN_OR_RETURN(std::string hsm_key_id, GenerateInCluster(*cluster, row.key_id));
  Status written = WriteKey(kms, row.key_id, [&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(InsertKey(tx, row, ""));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO kms_cks_keys (key_id, store_id, hsm_key_id) "
                                        "VALUES (?, ?, ?)"));
    q->Bind(1, row.key_id).Bind(2, store.store_id).BindBlob(3, hsm_key_id);
    RETURN_IF_ERROR(q->Run());
    return PutTags(tx, row.region, row.key_id, tags);
  });
  if (!written.ok()) {
    (void)cluster->DestroyKey({hsm_key_id, pkcs11::KeyKind::kAes});
    return written;
  }
  json::Value metadata = KeyMetadataJson(row);
  RETURN_IF_ERROR(AddCustomKeyStoreMetadata(kms, row, metadata));
  json::Value out = json::Value::MakeObject();
  out.set("KeyMetadata", std::move(metadata));
  return out;
}

Status AddCustomKeyStoreMetadata(Kms& kms, const KeyRow& row, json::Value& metadata) {
  if (row.origin != kCloudHsmOrigin || kms.cks == nullptr) return Status::Ok();
  ASSIGN_OR_RETURN(HsmKeyRef where, kms.cks->KeyLocation(row.key_id));
  ASSIGN_OR_RETURN(StoreRow store, ReadStoreOfKey(kms, where.store_id));
  metadata.set("CustomKeyStoreId", store.store_id);
  metadata.set("CloudHsmClusterId", store.cluster_id);
  // AWS shows keys of a disconnected store as Unavailable.
  if (row.state == kEnabled && store.state != "CONNECTED") metadata.set("KeyState", "Unavailable");
  return Status::Ok();
}

Result<std::string> SealBlobInHsm(Kms& kms, const KeyEntry& key, std::string_view plaintext,
                                  const EncryptionContext& context) {
  HsmKeyRef where;
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Cluster> cluster, ClusterOfKey(kms, key, &where));
  std::string header = EncodeBlobHeader({key.row.key_id, kHsmVersion});
  Result<pkcs11::GcmCiphertext> ct = cluster->EncryptGcm({where.hsm_key_id, pkcs11::KeyKind::kAes},
                                                         plaintext, header + CanonicalContext(context));
  if (!ct.ok()) return HsmFailure(key, ct.status());
  return header + ct->iv + ct->ciphertext;
}

Result<SecretBytes> OpenBlobInHsm(Kms& kms, const KeyEntry& key, const ParsedBlob& blob,
                                  const EncryptionContext& context) {
  if (blob.header.material_version != kHsmVersion) {
    return Status::Modeled("InvalidCiphertextException", "");
  }
  HsmKeyRef where;
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Cluster> cluster, ClusterOfKey(kms, key, &where));
  std::string_view iv = blob.sealed.substr(0, pkcs11::kGcmIvSize);
  std::string_view body = blob.sealed.substr(pkcs11::kGcmIvSize);
  Result<SecretBytes> plain = cluster->DecryptGcm({where.hsm_key_id, pkcs11::KeyKind::kAes}, iv, body,
                                                  std::string(blob.header_bytes) + CanonicalContext(context));
  if (plain.ok()) return plain;
  if (plain.status().code() == ErrorCode::kValidation) {
    return Status::Modeled("InvalidCiphertextException", "");
  }
  return HsmFailure(key, plain.status());
}

Result<std::string> RandomFromCustomKeyStore(Kms& kms, const server::RequestContext& ctx,
                                             std::string_view store_id, size_t n) {
  ASSIGN_OR_RETURN(StoreRow store, ReadStoreForCaller(kms, ctx, store_id));
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Cluster> cluster, kms.cks->Connected(store));
  if (cluster == nullptr) return StoreNotConnected(store);
  Result<std::string> random = cluster->GenerateRandom(n);
  if (!random.ok()) {
    return Status::Modeled("KMSInternalException", "The HSM cluster could not produce random bytes.");
  }
  return random;
}

}  // namespace rampart::kms::internal
