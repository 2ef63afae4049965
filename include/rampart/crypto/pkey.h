// Asymmetric keys over OpenSSL 3's EVP_PKEY: RSA and EC (NIST P-256/384/521,
// secp256k1) generation, PKCS#8 DER import/export of the private key,
// SubjectPublicKeyInfo DER export, signatures over a precomputed digest
// (RSASSA-PKCS1-v1_5, RSASSA-PSS with salt length = digest length, ECDSA
// with DER-encoded signatures) and RSAES-OAEP (MGF1 with the same digest).
//
// Thread-safety: a PrivateKey is immutable after construction; its const
// methods may run concurrently. Each call uses an EVP_PKEY_CTX of its own,
// taken from a small mutex-guarded pool of contexts already set up for the
// same operation, digest and padding (and returned to it afterwards), so
// that repeated use of one key skips OpenSSL's per-context setup. The
// pooled contexts go with the key: destroying it frees them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace rampart::crypto {

enum class SignPadding : uint8_t { kPkcs1, kPss, kEcdsa };

// The digest named "SHA1", "SHA224", "SHA256", "SHA384" or "SHA512" of data;
// kValidation for other names.
Result<std::string> Digest(std::string_view md_name, std::string_view data);
// Output size of a digest name above; 0 when unknown.
size_t DigestSize(std::string_view md_name);

class PrivateKey {
 public:
  // REQUIRES: bits in {2048, 3072, 4096}.
  static Result<PrivateKey> GenerateRsa(int bits);
  // curve: an OpenSSL group name, e.g. "P-256", "P-384", "P-521", "secp256k1".
  static Result<PrivateKey> GenerateEc(std::string_view curve);
  // Parses PKCS#8 PrivateKeyInfo DER.
  static Result<PrivateKey> FromPkcs8(const SecretBytes& der);

  PrivateKey(PrivateKey&& other) noexcept;
  PrivateKey& operator=(PrivateKey&& other) noexcept;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  ~PrivateKey();

  Result<SecretBytes> ToPkcs8() const;
  // DER SubjectPublicKeyInfo.
  Result<std::string> PublicKeyDer() const;

  // Signs digest (already computed with md_name).
  Result<std::string> SignDigest(std::string_view digest, std::string_view md_name,
                                 SignPadding padding) const;
  // Whether signature is valid for digest. Malformed signatures are false.
  Result<bool> VerifyDigest(std::string_view digest, std::string_view signature,
                            std::string_view md_name, SignPadding padding) const;
  // RSAES-OAEP with md_name for both the label hash and MGF1.
  Result<std::string> EncryptOaep(std::string_view plaintext, std::string_view md_name) const;
  // kValidation when ciphertext does not decrypt.
  Result<SecretBytes> DecryptOaep(std::string_view ciphertext, std::string_view md_name) const;

 private:
  struct CtxPool;
  explicit PrivateKey(evp_pkey_st* pkey);
  evp_pkey_st* pkey_ = nullptr;
  std::unique_ptr<CtxPool> pool_;  // never null, except in a moved-from key
};

}  // namespace rampart::crypto
