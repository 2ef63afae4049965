// Symmetric cryptography: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext, GenerateDataKeyPair,
// GenerateDataKeyPairWithoutPlaintext, GenerateRandom; HMAC: GenerateMac and
// VerifyMac.
//
// SYMMETRIC_DEFAULT is AES-256-GCM under the key's current material
// version, in the ciphertext format of include/rampart/kms/ciphertext.h;
// the header and the canonical encryption context are the associated data.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "kms/kms_custom_key_store.h"
#include "kms/kms_internal.h"
#include "rampart/crypto/aead.h"
#include "rampart/crypto/random.h"
#include "rampart/kms/ciphertext.h"

namespace rampart::kms::internal {
namespace {

constexpr std::string_view kSymmetric = "SYMMETRIC_DEFAULT";
constexpr size_t kMaxPlaintext = 4096;

Status InvalidCiphertext() { return Status::Modeled("InvalidCiphertextException", ""); }

// The encryption-context condition keys: kms:EncryptionContext:<key> for
// each pair and kms:EncryptionContextKeys (AWS KMS Developer Guide,
// "Condition keys for AWS KMS").
std::vector<server::ConditionKey> ContextKeys(const EncryptionContext& context,
                                              std::string_view algorithm) {
  std::vector<server::ConditionKey> keys;
  server::ConditionKey names{"kms:EncryptionContextKeys", {}};
  for (const auto& [k, v] : context) {
    keys.push_back({"kms:EncryptionContext:" + k, {v}});
    names.values.push_back(k);
  }
  if (!names.values.empty()) keys.push_back(std::move(names));
  if (!algorithm.empty()) keys.push_back({"kms:EncryptionAlgorithm", {std::string(algorithm)}});
  return keys;
}

std::string_view AlgorithmOr(const json::Value& in, std::string_view member) {
  std::string_view a = in.get_string(member);
  return a.empty() ? kSymmetric : a;
}

// Checks that key can encrypt with algorithm (symmetric keys only so far).
Status RequireSymmetric(const KeyEntry& key, std::string_view algorithm,
                        std::string_view operation) {
  RETURN_IF_ERROR(RequireUsage(key, "ENCRYPT_DECRYPT", operation));
  if (algorithm != kSymmetric) {
    return Status::Modeled("InvalidKeyUsageException",
                           "The encryption algorithm " + std::string(algorithm) +
                               " is not supported by " + key.arn + ".");
  }
  return Status::Ok();
}

// Encrypts plaintext under key's current material. REQUIRES: key is a
// symmetric ENCRYPT_DECRYPT key (checked by the caller).
Result<std::string> SealBlob(Kms& kms, const KeyEntry& key, std::string_view plaintext,
                             const EncryptionContext& context) {
  if (key.row.origin == kCloudHsmOrigin) return SealBlobInHsm(kms, key, plaintext, context);
  auto m = key.material.find(key.row.current_version);
  if (m == key.material.end()) return Status::Internal("current key material missing");
  std::string header = EncodeBlobHeader({key.row.key_id, key.row.current_version});
  ASSIGN_OR_RETURN(std::string sealed,
                   crypto::AeadSeal(m->second, plaintext, header + CanonicalContext(context)));
  return header + sealed;
}

struct Opened {
  KeyPtr key;
  SecretBytes plaintext;
};

// Parses and authenticates a blob for action (kms:Decrypt,
// kms:ReEncryptFrom). key_input, when not empty, must identify the key the
// blob names (IncorrectKeyException otherwise).
Result<Opened> OpenBlob(Kms& kms, const server::RequestContext& ctx, std::string_view blob,
                        const EncryptionContext& context, std::string_view key_input,
                        std::string_view algorithm, std::string_view action,
                        std::vector<server::ConditionKey> extra_keys = {}) {
  ASSIGN_OR_RETURN(ParsedBlob parsed, ParseBlob(blob));
  KeyPtr key;
  if (!key_input.empty()) {
    ASSIGN_OR_RETURN(key, ResolveKey(kms, ctx, key_input));
    if (key->row.key_id != parsed.header.key_id) {
      return Status::Modeled("IncorrectKeyException",
                             "The key ID in the request does not identify a CMK that can "
                             "perform this operation.");
    }
  } else {
    ASSIGN_OR_RETURN(key, LoadKey(kms, ctx, parsed.header.key_id));
    if (!key || key->row.region != ctx.region()) return InvalidCiphertext();
  }
  std::vector<server::ConditionKey> keys = ContextKeys(context, algorithm);
  for (auto& k : extra_keys) keys.push_back(std::move(k));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, action, std::move(keys)));
  RETURN_IF_ERROR(RequireEnabled(*key));
  RETURN_IF_ERROR(RequireSymmetric(*key, algorithm, action.substr(4)));
  if (key->row.origin == kCloudHsmOrigin) {
    ASSIGN_OR_RETURN(SecretBytes plaintext, OpenBlobInHsm(kms, *key, parsed, context));
    return Opened{std::move(key), std::move(plaintext)};
  }
  auto m = key->material.find(parsed.header.material_version);
  if (m == key->material.end()) return InvalidCiphertext();
  auto opened = crypto::AeadOpen(m->second, parsed.sealed,
                                 std::string(parsed.header_bytes) + CanonicalContext(context));
  if (!opened.ok()) return InvalidCiphertext();
  return Opened{std::move(key), std::move(opened).value()};
}

Result<json::Value> Encrypt(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId")));
  if (IsAsymmetric(key->row.key_spec)) return AsymmetricEncrypt(kms, ctx, *key, in);
  ASSIGN_OR_RETURN(EncryptionContext context, ReadEncryptionContext(in.find("EncryptionContext")));
  std::string_view algorithm = AlgorithmOr(in, "EncryptionAlgorithm");
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:Encrypt", ContextKeys(context, algorithm)));
  RETURN_IF_ERROR(RequireEnabled(*key));
  RETURN_IF_ERROR(RequireSymmetric(*key, algorithm, "Encrypt"));
  std::string_view plaintext = in.get_string("Plaintext");
  if (plaintext.empty() || plaintext.size() > kMaxPlaintext) {
    return Status::Validation(
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member "
        "must have length between 1 and 4096");
  }
  ASSIGN_OR_RETURN(std::string blob, SealBlob(kms, *key, plaintext, context));
  json::Value out = json::Value::MakeObject();
  out.set("CiphertextBlob", std::move(blob));
  out.set("KeyId", key->arn);
  out.set("EncryptionAlgorithm", algorithm);
  return out;
}

Result<json::Value> Decrypt(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(EncryptionContext context, ReadEncryptionContext(in.find("EncryptionContext")));
  std::string_view algorithm = AlgorithmOr(in, "EncryptionAlgorithm");
  if (in.find("Recipient") != nullptr) {
    return Status::Error(ErrorCode::kNotImplemented,
                         "Decrypt with Recipient is not implemented yet.");
  }
  // Asymmetric ciphertexts carry no header: they need the KeyId.
  if (std::string_view key_input = in.get_string("KeyId"); !key_input.empty()) {
    ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, key_input));
    if (IsAsymmetric(key->row.key_spec)) return AsymmetricDecrypt(kms, ctx, *key, in);
  }
  ASSIGN_OR_RETURN(Opened opened, OpenBlob(kms, ctx, in.get_string("CiphertextBlob"), context,
                                           in.get_string("KeyId"), algorithm, "kms:Decrypt"));
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", opened.key->arn);
  out.set("Plaintext", opened.plaintext.reveal());
  out.set("EncryptionAlgorithm", algorithm);
  return out;
}

Result<json::Value> ReEncrypt(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(EncryptionContext source_context,
                   ReadEncryptionContext(in.find("SourceEncryptionContext")));
  ASSIGN_OR_RETURN(EncryptionContext dest_context,
                   ReadEncryptionContext(in.find("DestinationEncryptionContext")));
  std::string_view source_alg = AlgorithmOr(in, "SourceEncryptionAlgorithm");
  std::string_view dest_alg = AlgorithmOr(in, "DestinationEncryptionAlgorithm");
  ASSIGN_OR_RETURN(KeyPtr dest, ResolveKey(kms, ctx, in.get_string("DestinationKeyId")));
  ASSIGN_OR_RETURN(ParsedBlob parsed, ParseBlob(in.get_string("CiphertextBlob")));
  std::string same = parsed.header.key_id == dest->row.key_id ? "true" : "false";
  ASSIGN_OR_RETURN(Opened opened,
                   OpenBlob(kms, ctx, in.get_string("CiphertextBlob"), source_context,
                            in.get_string("SourceKeyId"), source_alg, "kms:ReEncryptFrom",
                            {{"kms:ReEncryptOnSameKey", {same}}}));
  std::vector<server::ConditionKey> keys = ContextKeys(dest_context, dest_alg);
  keys.push_back({"kms:ReEncryptOnSameKey", {same}});
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *dest, "kms:ReEncryptTo", std::move(keys)));
  RETURN_IF_ERROR(RequireEnabled(*dest));
  RETURN_IF_ERROR(RequireSymmetric(*dest, dest_alg, "ReEncrypt"));
  ASSIGN_OR_RETURN(std::string blob, SealBlob(kms, *dest, opened.plaintext.reveal(), dest_context));
  json::Value out = json::Value::MakeObject();
  out.set("CiphertextBlob", std::move(blob));
  out.set("SourceKeyId", opened.key->arn);
  out.set("KeyId", dest->arn);
  out.set("SourceEncryptionAlgorithm", source_alg);
  out.set("DestinationEncryptionAlgorithm", dest_alg);
  return out;
}

// The data key length: KeySpec AES_128/AES_256 or NumberOfBytes, exactly
// one of them.
Result<size_t> DataKeyLength(const json::Value& in) {
  std::string_view spec = in.get_string("KeySpec");
  const json::Value* n = in.find("NumberOfBytes");
  bool has_n = n != nullptr && n->is_int();
  if (!spec.empty() && has_n) {
    return Status::Validation("Please specify either number of bytes or key spec, not both.");
  }
  if (spec == "AES_256") return size_t{32};
  if (spec == "AES_128") return size_t{16};
  if (!has_n) return Status::Validation("Please specify either number of bytes or key spec.");
  int64_t bytes = n->as_int();
  if (bytes < 1 || bytes > 1024) {
    return Status::Validation("1 validation error detected: Value '" + std::to_string(bytes) +
                              "' at 'numberOfBytes' failed to satisfy constraint: Member must "
                              "have value between 1 and 1024");
  }
  return static_cast<size_t>(bytes);
}

Result<json::Value> DataKey(Kms& kms, server::RequestContext& ctx, const json::Value& in,
                            bool with_plaintext) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId")));
  ASSIGN_OR_RETURN(EncryptionContext context, ReadEncryptionContext(in.find("EncryptionContext")));
  std::string_view action =
      with_plaintext ? "kms:GenerateDataKey" : "kms:GenerateDataKeyWithoutPlaintext";
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, action, ContextKeys(context, kSymmetric)));
  RETURN_IF_ERROR(RequireEnabled(*key));
  RETURN_IF_ERROR(RequireSymmetric(*key, kSymmetric, action.substr(4)));
  ASSIGN_OR_RETURN(size_t length, DataKeyLength(in));
  ASSIGN_OR_RETURN(SecretBytes data_key, crypto::RandomSecret(length));
  ASSIGN_OR_RETURN(std::string blob, SealBlob(kms, *key, data_key.reveal(), context));
  json::Value out = json::Value::MakeObject();
  out.set("CiphertextBlob", std::move(blob));
  if (with_plaintext) out.set("Plaintext", data_key.reveal());
  out.set("KeyId", key->arn);
  return out;
}

Result<json::Value> GenerateDataKey(Kms& kms, server::RequestContext& ctx,
                                    const json::Value& in) {
  if (in.find("Recipient") != nullptr) {
    return Status::Error(ErrorCode::kNotImplemented,
                         "GenerateDataKey with Recipient is not implemented yet.");
  }
  return DataKey(kms, ctx, in, true);
}

Result<json::Value> GenerateDataKeyWithoutPlaintext(Kms& kms, server::RequestContext& ctx,
                                                    const json::Value& in) {
  return DataKey(kms, ctx, in, false);
}

// GenerateDataKeyPair(WithoutPlaintext): a fresh RSA or ECC key pair whose
// private key (PKCS#8 DER) is returned encrypted under a symmetric KMS key.
Result<json::Value> DataKeyPair(Kms& kms, server::RequestContext& ctx, const json::Value& in,
                                bool with_plaintext) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId")));
  ASSIGN_OR_RETURN(EncryptionContext context, ReadEncryptionContext(in.find("EncryptionContext")));
  std::string spec(in.get_string("KeyPairSpec"));
  std::string_view action =
      with_plaintext ? "kms:GenerateDataKeyPair" : "kms:GenerateDataKeyPairWithoutPlaintext";
  std::vector<server::ConditionKey> keys = ContextKeys(context, kSymmetric);
  keys.push_back({"kms:DataKeyPairSpec", {spec}});
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, action, std::move(keys)));
  RETURN_IF_ERROR(RequireEnabled(*key));
  RETURN_IF_ERROR(RequireSymmetric(*key, kSymmetric, action.substr(4)));
  if (!IsAsymmetric(spec)) {
    // The model's enum admits only asymmetric specs; this guards callers
    // that bypass the protocol layer's validation.
    return Status::Validation("KeyPairSpec " + spec + " is not a key pair spec.");
  }
  if (spec == "SM2") RETURN_IF_ERROR(RequireSm2Region(ctx.region()));
  ASSIGN_OR_RETURN(SecretBytes private_der, GenerateMaterial(spec));
  ASSIGN_OR_RETURN(crypto::PrivateKey pair, crypto::PrivateKey::FromPkcs8(private_der));
  ASSIGN_OR_RETURN(std::string public_der, pair.PublicKeyDer());
  ASSIGN_OR_RETURN(std::string blob, SealBlob(kms, *key, private_der.reveal(), context));
  json::Value out = json::Value::MakeObject();
  out.set("PrivateKeyCiphertextBlob", std::move(blob));
  if (with_plaintext) out.set("PrivateKeyPlaintext", private_der.reveal());
  out.set("PublicKey", std::move(public_der));
  out.set("KeyId", key->arn);
  out.set("KeyPairSpec", spec);
  return out;
}

Result<json::Value> GenerateDataKeyPair(Kms& kms, server::RequestContext& ctx,
                                        const json::Value& in) {
  if (in.find("Recipient") != nullptr) {
    return Status::Error(ErrorCode::kNotImplemented,
                         "GenerateDataKeyPair with Recipient is not implemented yet.");
  }
  return DataKeyPair(kms, ctx, in, true);
}

Result<json::Value> GenerateDataKeyPairWithoutPlaintext(Kms& kms, server::RequestContext& ctx,
                                                        const json::Value& in) {
  return DataKeyPair(kms, ctx, in, false);
}

Result<json::Value> GenerateRandom(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("kms:GenerateRandom", "*"));
  if (in.find("Recipient") != nullptr) {
    return Status::Error(ErrorCode::kNotImplemented,
                         "GenerateRandom with Recipient is not implemented yet.");
  }
  const json::Value* n = in.find("NumberOfBytes");
  if (n == nullptr || !n->is_int() || n->as_int() < 1 || n->as_int() > 1024) {
    return Status::Validation("NumberOfBytes must be between 1 and 1024.");
  }
  size_t length = static_cast<size_t>(n->as_int());
  std::string_view store_id = in.get_string("CustomKeyStoreId");
  ASSIGN_OR_RETURN(std::string random, store_id.empty()
                                           ? crypto::RandomBytes(length)
                                           : RandomFromCustomKeyStore(kms, ctx, store_id, length));
  json::Value out = json::Value::MakeObject();
  out.set("Plaintext", std::move(random));
  return out;
}

// HMAC_SHA_<n> for a key spec HMAC_<n>; nullptr for other algorithms.
const EVP_MD* MacDigest(std::string_view algorithm) {
  if (algorithm == "HMAC_SHA_224") return EVP_sha224();
  if (algorithm == "HMAC_SHA_256") return EVP_sha256();
  if (algorithm == "HMAC_SHA_384") return EVP_sha384();
  if (algorithm == "HMAC_SHA_512") return EVP_sha512();
  return nullptr;
}

Result<KeyPtr> MacKey(Kms& kms, server::RequestContext& ctx, const json::Value& in,
                      std::string_view action) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId")));
  std::string algorithm(in.get_string("MacAlgorithm"));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, action, {{"kms:MacAlgorithm", {algorithm}}}));
  RETURN_IF_ERROR(RequireEnabled(*key));
  RETURN_IF_ERROR(RequireUsage(*key, "GENERATE_VERIFY_MAC", action.substr(4)));
  if (MacDigest(algorithm) == nullptr || "HMAC_SHA_" + key->row.key_spec.substr(5) != algorithm) {
    return Status::Modeled("InvalidKeyUsageException",
                           "The MAC algorithm " + algorithm + " is not supported by " + key->arn +
                               ".");
  }
  return key;
}

Result<std::string> ComputeMac(const KeyEntry& key, std::string_view algorithm,
                               std::string_view message) {
  const SecretBytes& material = key.material.at(key.row.current_version);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(MacDigest(algorithm), material.reveal().data(), static_cast<int>(material.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out,
           &len) == nullptr) {
    return Status::Internal("HMAC failed");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

Result<json::Value> GenerateMac(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, MacKey(kms, ctx, in, "kms:GenerateMac"));
  std::string_view algorithm = in.get_string("MacAlgorithm");
  ASSIGN_OR_RETURN(std::string mac, ComputeMac(*key, algorithm, in.get_string("Message")));
  json::Value out = json::Value::MakeObject();
  out.set("Mac", std::move(mac));
  out.set("MacAlgorithm", algorithm);
  out.set("KeyId", key->arn);
  return out;
}

Result<json::Value> VerifyMac(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, MacKey(kms, ctx, in, "kms:VerifyMac"));
  std::string_view algorithm = in.get_string("MacAlgorithm");
  ASSIGN_OR_RETURN(std::string mac, ComputeMac(*key, algorithm, in.get_string("Message")));
  if (!ConstantTimeEquals(mac, in.get_string("Mac"))) {
    return Status::Modeled("KMSInvalidMacException", "");
  }
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", key->arn);
  out.set("MacValid", true);
  out.set("MacAlgorithm", algorithm);
  return out;
}

}  // namespace

std::vector<Binding> CryptoBindings() {
  return {{"Encrypt", Encrypt},
          {"Decrypt", Decrypt},
          {"ReEncrypt", ReEncrypt},
          {"GenerateDataKey", GenerateDataKey},
          {"GenerateDataKeyWithoutPlaintext", GenerateDataKeyWithoutPlaintext},
          {"GenerateDataKeyPair", GenerateDataKeyPair},
          {"GenerateDataKeyPairWithoutPlaintext", GenerateDataKeyPairWithoutPlaintext},
          {"GenerateRandom", GenerateRandom},
          {"GenerateMac", GenerateMac},
          {"VerifyMac", VerifyMac}};
}

}  // namespace rampart::kms::internal
