// Asymmetric keys: GetPublicKey, Sign, Verify, and RSAES-OAEP Encrypt /
// Decrypt. Signatures and public keys use the standard encodings (DER
// SubjectPublicKeyInfo, DER ECDSA signatures), so OpenSSL verifies them.
//
// RSASSA-PSS uses MGF1 with the message digest and a salt as long as the
// digest; RSAES-OAEP uses the same digest for OAEP and MGF1 (AWS KMS
// Developer Guide, "Key spec reference"). SM2 keys sign with SM2DSA and
// encrypt with SM2PKE (kms_sm2.h).
#include <algorithm>
#include <span>

#include "kms/kms_internal.h"
#include "rampart/crypto/pkey.h"

namespace rampart::kms::internal {

namespace {

constexpr std::string_view kRsaSigning[] = {
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",        "RSASSA_PSS_SHA_384",        "RSASSA_PSS_SHA_512"};
constexpr std::string_view kSm2Signing[] = {"SM2DSA"};
constexpr std::string_view kP384Signing[] = {"ECDSA_SHA_384"};
constexpr std::string_view kP521Signing[] = {"ECDSA_SHA_512"};
constexpr std::string_view kP256Signing[] = {"ECDSA_SHA_256"};

// The signing algorithms of row, from static storage: Sign and Verify
// check against it without building strings on every call.
std::span<const std::string_view> SigningAlgorithmList(const KeyRow& row) {
  if (row.key_usage != "SIGN_VERIFY") return {};
  if (row.key_spec.starts_with("RSA_")) return kRsaSigning;
  if (row.key_spec == "SM2") return kSm2Signing;
  if (row.key_spec == "ECC_NIST_P384") return kP384Signing;
  if (row.key_spec == "ECC_NIST_P521") return kP521Signing;
  return kP256Signing;  // ECC_NIST_P256, ECC_SECG_P256K1
}

}  // namespace

std::vector<std::string> SigningAlgorithms(const KeyRow& row) {
  std::span<const std::string_view> list = SigningAlgorithmList(row);
  return {list.begin(), list.end()};
}

std::vector<std::string> EncryptionAlgorithms(const KeyRow& row) {
  if (row.key_usage != "ENCRYPT_DECRYPT") return {};
  if (row.key_spec.starts_with("RSA_")) return {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"};
  if (row.key_spec == "SM2") return {"SM2PKE"};
  return {"SYMMETRIC_DEFAULT"};
}

namespace {

json::Value StringArray(const std::vector<std::string>& values) {
  json::Value a = json::Value::MakeArray();
  for (const std::string& v : values) a.push(v);
  return a;
}

template <typename List>
bool Offers(const List& algorithms, std::string_view a) {
  return std::find(algorithms.begin(), algorithms.end(), a) != algorithms.end();
}

// "..._SHA_256" -> "SHA256"; "RSAES_OAEP_SHA_1" -> "SHA1".
std::string DigestName(std::string_view algorithm) {
  size_t at = algorithm.rfind("SHA_");
  return at == std::string_view::npos ? std::string() : "SHA" + std::string(algorithm.substr(at + 4));
}

crypto::SignPadding PaddingOf(std::string_view algorithm) {
  if (algorithm.starts_with("RSASSA_PSS")) return crypto::SignPadding::kPss;
  if (algorithm.starts_with("RSASSA_PKCS1")) return crypto::SignPadding::kPkcs1;
  return crypto::SignPadding::kEcdsa;
}

Status Incompatible(const KeyEntry& key, std::string_view algorithm) {
  return Status::Modeled("InvalidKeyUsageException",
                         "Algorithm " + std::string(algorithm) + " is incompatible with key spec " +
                             key.row.key_spec + ".");
}

Result<KeyPtr> AsymmetricKey(Kms& kms, const server::RequestContext& ctx, const json::Value& in,
                             std::string_view action, std::vector<server::ConditionKey> keys) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId")));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, action, std::move(keys)));
  RETURN_IF_ERROR(RequireEnabled(*key));
  return key;
}

// The digest to sign or verify: the message hashed with the algorithm's
// digest (RAW), or the message itself, which must have the digest's length
// (DIGEST).
Result<std::string> MessageDigest(const json::Value& in, std::string_view algorithm) {
  std::string md = DigestName(algorithm);
  std::string_view message = in.get_string("Message");
  std::string_view type = in.get_string("MessageType");
  if (type == "DIGEST") {
    if (message.size() != crypto::DigestSize(md)) {
      return Status::Validation("Digest is invalid length for algorithm " +
                                std::string(algorithm) + ".");
    }
    return std::string(message);
  }
  return crypto::Digest(md, message);
}

Result<KeyPtr> SigningKey(Kms& kms, const server::RequestContext& ctx, const json::Value& in,
                          std::string_view action) {
  std::string_view algorithm = in.get_string("SigningAlgorithm");
  std::string_view type = in.get_string("MessageType");
  ASSIGN_OR_RETURN(KeyPtr key, AsymmetricKey(kms, ctx, in, action,
                                             {{"kms:SigningAlgorithm", {std::string(algorithm)}},
                                              {"kms:MessageType",
                                               {std::string(type.empty() ? "RAW" : type)}}}));
  RETURN_IF_ERROR(RequireUsage(*key, "SIGN_VERIFY", action.substr(4)));
  if (!Offers(SigningAlgorithmList(key->row), algorithm)) return Incompatible(*key, algorithm);
  return key;
}

// SM2DSA with MessageType DIGEST takes e = SM3(Z || M), which the caller
// computed with the same distinguishing ID.
Result<bool> Sm2IsDigest(const json::Value& in) {
  if (in.get_string("MessageType") != "DIGEST") return false;
  if (in.get_string("Message").size() != kSm3DigestSize) {
    return Status::Validation("Digest is invalid length for algorithm SM2DSA.");
  }
  return true;
}

Result<std::string> SignWith(const KeyEntry& key, const json::Value& in,
                             std::string_view algorithm) {
  if (algorithm == "SM2DSA") {
    ASSIGN_OR_RETURN(bool is_digest, Sm2IsDigest(in));
    return key.sm2->Sign(in.get_string("Message"), is_digest);
  }
  ASSIGN_OR_RETURN(std::string digest, MessageDigest(in, algorithm));
  return key.private_key->SignDigest(digest, DigestName(algorithm), PaddingOf(algorithm));
}

Result<bool> VerifyWith(const KeyEntry& key, const json::Value& in, std::string_view algorithm) {
  std::string_view signature = in.get_string("Signature");
  if (algorithm == "SM2DSA") {
    ASSIGN_OR_RETURN(bool is_digest, Sm2IsDigest(in));
    return key.sm2->Verify(in.get_string("Message"), signature, is_digest);
  }
  ASSIGN_OR_RETURN(std::string digest, MessageDigest(in, algorithm));
  return key.private_key->VerifyDigest(digest, signature, DigestName(algorithm),
                                       PaddingOf(algorithm));
}

Result<json::Value> Sign(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, SigningKey(kms, ctx, in, "kms:Sign"));
  std::string_view algorithm = in.get_string("SigningAlgorithm");
  ASSIGN_OR_RETURN(std::string signature, SignWith(*key, in, algorithm));
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", key->arn);
  out.set("Signature", std::move(signature));
  out.set("SigningAlgorithm", algorithm);
  return out;
}

Result<json::Value> Verify(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, SigningKey(kms, ctx, in, "kms:Verify"));
  std::string_view algorithm = in.get_string("SigningAlgorithm");
  ASSIGN_OR_RETURN(bool valid, VerifyWith(*key, in, algorithm));
  if (!valid) return Status::Modeled("KMSInvalidSignatureException", "");
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", key->arn);
  out.set("SignatureValid", true);
  out.set("SigningAlgorithm", algorithm);
  return out;
}

Result<json::Value> GetPublicKey(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, AsymmetricKey(kms, ctx, in, "kms:GetPublicKey", {}));
  if (!key->private_key) {
    return Status::Modeled("UnsupportedOperationException",
                           key->arn + " key usage is " + key->row.key_usage +
                               " which is not valid for GetPublicKey.");
  }
  ASSIGN_OR_RETURN(std::string der, key->private_key->PublicKeyDer());
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", key->arn);
  out.set("PublicKey", std::move(der));
  out.set("CustomerMasterKeySpec", key->row.key_spec);
  out.set("KeySpec", key->row.key_spec);
  out.set("KeyUsage", key->row.key_usage);
  if (key->row.key_usage == "SIGN_VERIFY") {
    out.set("SigningAlgorithms", StringArray(SigningAlgorithms(key->row)));
  } else {
    out.set("EncryptionAlgorithms", StringArray(EncryptionAlgorithms(key->row)));
  }
  return out;
}

Status CheckOaepKey(const KeyEntry& key, std::string_view algorithm, std::string_view operation) {
  RETURN_IF_ERROR(RequireEnabled(key));
  RETURN_IF_ERROR(RequireUsage(key, "ENCRYPT_DECRYPT", operation));
  if (!Offers(EncryptionAlgorithms(key.row), algorithm)) return Incompatible(key, algorithm);
  return Status::Ok();
}

}  // namespace

Result<json::Value> AsymmetricEncrypt(Kms& kms, const server::RequestContext& ctx,
                                      const KeyEntry& key, const json::Value& in) {
  std::string algorithm(in.get_string("EncryptionAlgorithm"));
  if (algorithm.empty()) algorithm = "SYMMETRIC_DEFAULT";
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, key, "kms:Encrypt",
                               {{"kms:EncryptionAlgorithm", {algorithm}}}));
  RETURN_IF_ERROR(CheckOaepKey(key, algorithm, "Encrypt"));
  if (in.find("EncryptionContext") != nullptr) {
    return Status::Validation("EncryptionContext is not supported with asymmetric keys.");
  }
  std::string_view plaintext = in.get_string("Plaintext");
  if (algorithm == "SM2PKE" && plaintext.size() > kSm2MaxPlaintext) {
    return Status::Validation("The plaintext is too long for SM2PKE: at most 1024 bytes.");
  }
  auto ct = algorithm == "SM2PKE" ? key.sm2->Encrypt(plaintext)
                                  : key.private_key->EncryptOaep(plaintext, DigestName(algorithm));
  if (!ct.ok()) {
    return Status::Validation("The plaintext is too long for " + key.row.key_spec + " with " +
                              algorithm + ".");
  }
  json::Value out = json::Value::MakeObject();
  out.set("CiphertextBlob", std::move(ct).value());
  out.set("KeyId", key.arn);
  out.set("EncryptionAlgorithm", algorithm);
  return out;
}

Result<json::Value> AsymmetricDecrypt(Kms& kms, const server::RequestContext& ctx,
                                      const KeyEntry& key, const json::Value& in) {
  std::string algorithm(in.get_string("EncryptionAlgorithm"));
  if (algorithm.empty()) algorithm = "SYMMETRIC_DEFAULT";
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, key, "kms:Decrypt",
                               {{"kms:EncryptionAlgorithm", {algorithm}}}));
  RETURN_IF_ERROR(CheckOaepKey(key, algorithm, "Decrypt"));
  std::string_view blob = in.get_string("CiphertextBlob");
  auto pt = algorithm == "SM2PKE" ? key.sm2->Decrypt(blob)
                                  : key.private_key->DecryptOaep(blob, DigestName(algorithm));
  if (!pt.ok()) return Status::Modeled("InvalidCiphertextException", "");
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", key.arn);
  out.set("Plaintext", pt->reveal());
  out.set("EncryptionAlgorithm", algorithm);
  return out;
}

std::vector<Binding> AsymmetricBindings() {
  return {{"Sign", Sign}, {"Verify", Verify}, {"GetPublicKey", GetPublicKey}};
}

}  // namespace rampart::kms::internal
