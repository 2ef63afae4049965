// Imported key material (Origin EXTERNAL): GetParametersForImport,
// ImportKeyMaterial, DeleteImportedKeyMaterial, and the expiration of
// imported material at its ValidTo.
//
// The KMS model Debian's botocore ships imports into symmetric encryption
// keys only, wrapped with an RSA-2048 public key under RSAES_OAEP_SHA_1 or
// RSAES_OAEP_SHA_256 (RSAES_PKCS1_V1_5 is refused, as AWS now does).
// GetParametersForImport makes a fresh wrapping key pair per call, keeps
// the private key sealed under the root key for 24 hours and returns an
// import token bound to the key: "rkit1" || token id (32 hex) ||
// HMAC-SHA256("rkit1" || token id || key id) under a key derived from the
// root key. A key's first import fixes its material: a later import (after
// DeleteImportedKeyMaterial or expiry) must bring the same bytes, checked
// against a keyed digest, so old ciphertexts stay valid.
//
// Multi-Region keys with imported material: the regions of a key share
// one material (kms_key_material is keyed by key id) and one digest, but
// each region imports it for itself, with its own expiration model and
// ValidTo, and loses it on its own (DeleteImportedKeyMaterial, expiry)
// without affecting the others (AWS KMS Developer Guide, "Importing key
// material into multi-Region keys"). The first import into any region
// fixes the material of every region; a region's import state is its
// expiration_model column (empty: no material in that region). The stored
// material is deleted once no region holds it.
#include <openssl/crypto.h>

#include "kms/kms_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/random.h"

namespace rampart::kms::internal {
namespace {

constexpr std::string_view kExternal = "EXTERNAL";
constexpr std::string_view kExpires = "KEY_MATERIAL_EXPIRES";
constexpr std::string_view kDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE";
constexpr std::string_view kTokenMagic = "rkit1";
constexpr size_t kTokenIdLen = 32;
constexpr int64_t kTokenLifetime = 24 * 3600;
constexpr int64_t kMaxValidTo = 365 * 86400;
constexpr size_t kSymmetricMaterial = 32;

std::string TokenMac(const SecretBytes& root_key, std::string_view token_id,
                     std::string_view key_id) {
  std::string mac_key = crypto::HmacSha256(root_key.reveal(), "rampart-kms-import-token-v1");
  return crypto::HmacSha256(mac_key, std::string(kTokenMagic) + std::string(token_id) +
                                         std::string(key_id));
}

std::string MaterialDigest(const SecretBytes& root_key, std::string_view key_id,
                           const SecretBytes& material) {
  std::string mac_key = crypto::HmacSha256(root_key.reveal(), "rampart-kms-import-digest-v1");
  return HexEncode(crypto::HmacSha256(mac_key, std::string(key_id) + ":" +
                                                   std::string(material.reveal())));
}

// The wrapping private key is sealed like material, under a name no key id
// can take.
std::string SealName(std::string_view token_id) { return "import-" + std::string(token_id); }

Status NotExternal(const KeyEntry& key) {
  return Status::Modeled("UnsupportedOperationException",
                         key.arn + " origin is " + key.row.origin +
                             " which is not valid for this operation.");
}

std::string_view OaepDigest(std::string_view algorithm) {
  if (algorithm == "RSAES_OAEP_SHA_1") return "SHA1";
  if (algorithm == "RSAES_OAEP_SHA_256") return "SHA256";
  return {};
}

Result<json::Value> GetParametersForImport(Kms& kms, server::RequestContext& ctx,
                                           const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  std::string algorithm(in.get_string("WrappingAlgorithm"));
  std::string spec(in.get_string("WrappingKeySpec"));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:GetParametersForImport",
                               {{"kms:WrappingAlgorithm", {algorithm}},
                                {"kms:WrappingKeySpec", {spec}}}));
  if (key->row.origin != kExternal) return NotExternal(*key);
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  if (OaepDigest(algorithm).empty()) {
    return Status::Modeled("UnsupportedOperationException",
                           "The wrapping algorithm " + algorithm +
                               " is not supported; use RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.");
  }
  if (spec != "RSA_2048") {
    return Status::Validation("WrappingKeySpec must be RSA_2048.");
  }
  ASSIGN_OR_RETURN(crypto::PrivateKey wrapping, crypto::PrivateKey::GenerateRsa(2048));
  ASSIGN_OR_RETURN(SecretBytes pkcs8, wrapping.ToPkcs8());
  ASSIGN_OR_RETURN(std::string public_der, wrapping.PublicKeyDer());
  ASSIGN_OR_RETURN(std::string random, crypto::RandomBytes(kTokenIdLen / 2));
  std::string token_id = HexEncode(random);
  ASSIGN_OR_RETURN(std::string sealed, SealMaterial(kms.root_key, SealName(token_id), 0, pkcs8));
  const int64_t expires = NowSeconds(ctx) + kTokenLifetime;
  RETURN_IF_ERROR(kms.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO kms_import_tokens (token_id, key_id, "
                                        "wrapping_algorithm, sealed_private_key, expires_at, "
                                        "region) VALUES (?, ?, ?, ?, ?, ?)"));
    q->Bind(1, token_id).Bind(2, key->row.key_id).Bind(3, algorithm).BindBlob(4, sealed);
    q->Bind(5, expires).Bind(6, key->row.region);
    return q->Run();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", key->arn);
  out.set("ImportToken", std::string(kTokenMagic) + token_id +
                             TokenMac(kms.root_key, token_id, key->row.key_id));
  out.set("PublicKey", std::move(public_der));
  out.set("ParametersValidTo", expires);
  return out;
}

struct ImportToken {
  std::string algorithm;
  SecretBytes private_key;  // PKCS#8
};

Status InvalidImportToken() {
  return Status::Modeled("InvalidImportTokenException",
                         "The import token is not valid for this KMS key.");
}

// Checks the token's MAC and its binding to key, and loads its wrapping key.
Result<ImportToken> LoadImportToken(Kms& kms, const KeyEntry& key, std::string_view token,
                                    int64_t now) {
  constexpr size_t kSize = 5 + kTokenIdLen + 32;
  if (token.size() != kSize || !token.starts_with(kTokenMagic)) return InvalidImportToken();
  std::string token_id(token.substr(5, kTokenIdLen));
  std::string mac = TokenMac(kms.root_key, token_id, key.row.key_id);
  if (CRYPTO_memcmp(mac.data(), token.data() + 5 + kTokenIdLen, 32) != 0) {
    return InvalidImportToken();
  }
  std::string algorithm;
  std::string sealed;
  std::string region;
  int64_t expires = 0;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT wrapping_algorithm, sealed_private_key, "
                                        "expires_at, region FROM kms_import_tokens WHERE "
                                        "token_id = ? AND key_id = ?"));
    q->Bind(1, token_id).Bind(2, key.row.key_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    algorithm = q->Text(0);
    sealed = q->Text(1);
    expires = q->Int(2);
    region = q->Text(3);
    return Status::Ok();
  }));
  // A token is for the key of one region: the regions of a multi-Region
  // key share its id, not its tokens.
  if (!algorithm.empty() && region != key.row.region) return InvalidImportToken();
  if (algorithm.empty() || expires <= now) {
    // A token this server issued for this key that is gone or past its
    // 24 hours has expired (expired tokens are swept).
    return Status::Modeled("ExpiredImportTokenException",
                           "The import token has expired; call GetParametersForImport again.");
  }
  ASSIGN_OR_RETURN(SecretBytes pkcs8, UnsealMaterial(kms.root_key, SealName(token_id), 0, sealed));
  return ImportToken{std::move(algorithm), std::move(pkcs8)};
}

struct Expiration {
  std::string model;
  int64_t valid_to = 0;
};

Result<Expiration> ReadExpiration(const json::Value& in, int64_t now) {
  Expiration e;
  std::string_view model = in.get_string("ExpirationModel");
  e.model = std::string(model.empty() ? kExpires : model);
  const json::Value* valid_to = in.find("ValidTo");
  bool has_valid_to = valid_to != nullptr && valid_to->is_number();
  if (e.model == kDoesNotExpire) {
    if (has_valid_to) {
      return Status::Validation(
          "ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.");
    }
    return e;
  }
  if (!has_valid_to) {
    return Status::Validation("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.");
  }
  e.valid_to = static_cast<int64_t>(valid_to->as_double());
  if (e.valid_to <= now) return Status::Validation("ValidTo must be in the future.");
  if (e.valid_to > now + kMaxValidTo) {
    return Status::Validation("ValidTo must be at most 365 days after the request.");
  }
  return e;
}

Status DifferentMaterial(const KeyEntry& key) {
  return Status::Modeled("IncorrectKeyMaterialException",
                         key.row.multi_region
                             ? "The key material differs from the material imported into " +
                                   key.arn + " and its related multi-Region keys."
                             : "The key material differs from the material previously "
                               "imported into " + key.arn + ".");
}

Status StoreImport(store::Tx& tx, const KeyEntry& key, std::string_view sealed,
                   const Expiration& e, std::string_view digest, std::string_view token_id,
                   int64_t now) {
  // Checked again here: another region of a multi-Region key may have
  // fixed its material since the key was read.
  ASSIGN_OR_RETURN(auto fixed, tx.Prepare("SELECT material_digest FROM kms_keys WHERE key_id = ? "
                                          "AND account_id = ? AND material_digest != '' LIMIT 1"));
  fixed->Bind(1, key.row.key_id).Bind(2, key.row.account_id);
  ASSIGN_OR_RETURN(bool has_digest, fixed->Step());
  if (has_digest && fixed->Text(0) != digest) return DifferentMaterial(key);
  ASSIGN_OR_RETURN(auto m, tx.Prepare("INSERT OR REPLACE INTO kms_key_material (key_id, version, "
                                      "sealed, created_at) VALUES (?, 1, ?, ?)"));
  m->Bind(1, key.row.key_id).BindBlob(2, sealed).Bind(3, now);
  RETURN_IF_ERROR(m->Run());
  ASSIGN_OR_RETURN(auto k, tx.Prepare("UPDATE kms_keys SET state = CASE WHEN state = ? THEN ? "
                                      "ELSE state END, current_version = 1, expiration_model = ?, "
                                      "valid_to = ? WHERE key_id = ? AND region = ?"));
  k->Bind(1, kPendingImport).Bind(2, kEnabled).Bind(3, e.model).Bind(4, e.valid_to);
  k->Bind(5, key.row.key_id).Bind(6, key.row.region);
  RETURN_IF_ERROR(k->Run());
  // The material of every region of a multi-Region key.
  ASSIGN_OR_RETURN(auto d, tx.Prepare("UPDATE kms_keys SET material_digest = ? WHERE key_id = ? "
                                      "AND account_id = ?"));
  d->Bind(1, digest).Bind(2, key.row.key_id).Bind(3, key.row.account_id);
  RETURN_IF_ERROR(d->Run());
  ASSIGN_OR_RETURN(auto t, tx.Prepare("DELETE FROM kms_import_tokens WHERE token_id = ?"));
  t->Bind(1, token_id);
  return t->Run();
}

Result<json::Value> ImportKeyMaterial(Kms& kms, server::RequestContext& ctx,
                                      const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  const int64_t now = NowSeconds(ctx);
  std::vector<server::ConditionKey> keys;
  std::string_view model = in.get_string("ExpirationModel");
  keys.push_back({"kms:ExpirationModel", {std::string(model.empty() ? kExpires : model)}});
  if (const json::Value* v = in.find("ValidTo"); v != nullptr && v->is_number()) {
    keys.push_back({"kms:ValidTo", {std::to_string(static_cast<int64_t>(v->as_double()))}});
  }
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:ImportKeyMaterial", std::move(keys)));
  if (key->row.origin != kExternal) return NotExternal(*key);
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  ASSIGN_OR_RETURN(Expiration expiration, ReadExpiration(in, now));
  std::string_view token = in.get_string("ImportToken");
  ASSIGN_OR_RETURN(ImportToken wrapping, LoadImportToken(kms, *key, token, now));
  ASSIGN_OR_RETURN(crypto::PrivateKey rsa, crypto::PrivateKey::FromPkcs8(wrapping.private_key));
  auto material = rsa.DecryptOaep(in.get_string("EncryptedKeyMaterial"),
                                  OaepDigest(wrapping.algorithm));
  if (!material.ok()) return Status::Modeled("InvalidCiphertextException", "");
  if (material->reveal().size() != kSymmetricMaterial) {
    return Status::Modeled("IncorrectKeyMaterialException",
                           "Key material for a SYMMETRIC_DEFAULT key must be 256 bits (32 bytes).");
  }
  std::string digest = MaterialDigest(kms.root_key, key->row.key_id, *material);
  if (!key->row.material_digest.empty() && key->row.material_digest != digest) {
    return DifferentMaterial(*key);
  }
  ASSIGN_OR_RETURN(std::string sealed, SealMaterial(kms.root_key, key->row.key_id, 1, *material));
  std::string token_id(token.substr(5, kTokenIdLen));
  RETURN_IF_ERROR(WriteKey(kms, key->row.key_id, [&](store::Tx& tx) {
    return StoreImport(tx, *key, sealed, expiration, digest, token_id, now);
  }));
  return json::Value::MakeObject();
}

// Removes the material from the key in region; it waits for a new import.
// PendingDeletion keys keep their state. The stored material goes once no
// other region of a multi-Region key still holds it.
Status DropMaterial(store::Tx& tx, std::string_view region, std::string_view key_id) {
  ASSIGN_OR_RETURN(auto k, tx.Prepare("UPDATE kms_keys SET state = CASE WHEN state = ? THEN state "
                                      "ELSE ? END, expiration_model = '', valid_to = 0 "
                                      "WHERE key_id = ? AND region = ?"));
  k->Bind(1, kPendingDeletion).Bind(2, kPendingImport).Bind(3, key_id).Bind(4, region);
  RETURN_IF_ERROR(k->Run());
  return DeleteUnheldMaterial(tx, key_id);
}

Result<json::Value> DeleteImportedKeyMaterial(Kms& kms, server::RequestContext& ctx,
                                              const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:DeleteImportedKeyMaterial"));
  if (key->row.origin != kExternal) return NotExternal(*key);
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  RETURN_IF_ERROR(WriteKey(kms, key->row.key_id, [&](store::Tx& tx) {
    return DropMaterial(tx, key->row.region, key->row.key_id);
  }));
  return json::Value::MakeObject();
}

}  // namespace

bool ImportExpired(const KeyRow& row, int64_t now) {
  return row.origin == kExternal && row.expiration_model == kExpires && row.valid_to != 0 &&
         row.valid_to <= now && row.state != kPendingImport;
}

Status DeleteUnheldMaterial(store::Tx& tx, std::string_view key_id) {
  ASSIGN_OR_RETURN(auto m, tx.Prepare("DELETE FROM kms_key_material WHERE key_id = ? AND NOT "
                                      "EXISTS (SELECT 1 FROM kms_keys WHERE key_id = ? AND "
                                      "(origin != 'EXTERNAL' OR expiration_model != ''))"));
  m->Bind(1, key_id).Bind(2, key_id);
  return m->Run();
}

bool HasKeyMaterial(const KeyEntry& key) {
  if (key.row.origin == kExternal) return !key.row.expiration_model.empty();
  return !key.material.empty();
}

Result<bool> ExpireImportedMaterial(Kms& kms, std::string_view region, std::string_view key_id,
                                    int64_t now) {
  bool expired = false;
  RETURN_IF_ERROR(WriteKey(kms, key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT origin, expiration_model, valid_to, state "
                                        "FROM kms_keys WHERE key_id = ? AND region = ?"));
    q->Bind(1, key_id).Bind(2, region);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    KeyRow r;
    r.origin = q->Text(0);
    r.expiration_model = q->Text(1);
    r.valid_to = q->Int(2);
    r.state = q->Text(3);
    if (!ImportExpired(r, now)) return Status::Ok();
    expired = true;
    return DropMaterial(tx, region, key_id);
  }));
  return expired;
}

Status DeleteExpiredImportTokens(Kms& kms, int64_t now) {
  return kms.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM kms_import_tokens WHERE expires_at <= ?"));
    q->Bind(1, now);
    return q->Run();
  });
}

std::vector<Binding> ImportBindings() {
  return {{"GetParametersForImport", GetParametersForImport},
          {"ImportKeyMaterial", ImportKeyMaterial},
          {"DeleteImportedKeyMaterial", DeleteImportedKeyMaterial}};
}

}  // namespace rampart::kms::internal
