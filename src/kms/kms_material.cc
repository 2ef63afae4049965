// Key material: generation and sealing under the root key.
#include <openssl/crypto.h>

#include "kms/kms_internal.h"
#include "rampart/crypto/aead.h"
#include "rampart/crypto/random.h"

namespace rampart::kms::internal {
namespace {

// Bytes of material per key spec: AES-256 for SYMMETRIC_DEFAULT; for HMAC
// keys the digest size (AWS KMS key spec table).
size_t MaterialSize(std::string_view spec) {
  if (spec == "SYMMETRIC_DEFAULT") return 32;
  if (spec == "HMAC_224") return 28;
  if (spec == "HMAC_256") return 32;
  if (spec == "HMAC_384") return 48;
  if (spec == "HMAC_512") return 64;
  return 0;
}

std::string MaterialAad(std::string_view key_id, uint32_t version) {
  return "rampart-kms-material:" + std::string(key_id) + ":" + std::to_string(version);
}

}  // namespace

bool IsAsymmetric(std::string_view key_spec) {
  return key_spec.starts_with("RSA_") || key_spec.starts_with("ECC_") || key_spec == "SM2";
}

namespace {

// OpenSSL group names of the KMS ECC key specs.
std::string_view CurveOf(std::string_view spec) {
  if (spec == "ECC_NIST_P256") return "P-256";
  if (spec == "ECC_NIST_P384") return "P-384";
  if (spec == "ECC_NIST_P521") return "P-521";
  if (spec == "ECC_SECG_P256K1") return "secp256k1";
  return {};
}

Result<SecretBytes> GenerateAsymmetric(std::string_view spec) {
  if (spec == "SM2") return GenerateSm2Pkcs8();
  if (spec.starts_with("RSA_")) {
    int bits = spec == "RSA_2048" ? 2048 : spec == "RSA_3072" ? 3072 : 4096;
    ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::GenerateRsa(bits));
    return key.ToPkcs8();
  }
  std::string_view curve = CurveOf(spec);
  if (curve.empty()) return Status::Internal("no curve for key spec");
  ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::GenerateEc(curve));
  return key.ToPkcs8();
}

}  // namespace

Result<SecretBytes> GenerateMaterial(std::string_view key_spec) {
  if (IsAsymmetric(key_spec)) return GenerateAsymmetric(key_spec);
  size_t n = MaterialSize(key_spec);
  if (n == 0) return Status::Internal("no symmetric material for key spec");
  ASSIGN_OR_RETURN(std::string bytes, crypto::RandomBytes(n));
  SecretBytes material(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return material;
}

Result<std::string> SealMaterial(const SecretBytes& root_key, std::string_view key_id,
                                 uint32_t version, const SecretBytes& material) {
  return crypto::AeadSeal(root_key, material.reveal(), MaterialAad(key_id, version));
}

Result<SecretBytes> UnsealMaterial(const SecretBytes& root_key, std::string_view key_id,
                                   uint32_t version, std::string_view sealed) {
  auto opened = crypto::AeadOpen(root_key, sealed, MaterialAad(key_id, version));
  if (!opened.ok()) return Status::Internal("key material of a KMS key does not unseal");
  return opened;
}

}  // namespace rampart::kms::internal
