// SM2 (GB/T 32918, ISO/IEC 14888-3) for KMS keys of KeySpec SM2, over
// OpenSSL 3's SM2 key type: SM2DSA signatures with SM3 and the
// distinguishing ID AWS KMS uses ("1234567812345678"), and SM2PKE
// encryption (the ASN.1 ciphertext OpenSSL reads and writes, so
// `openssl pkeyutl -encrypt` output decrypts here). AWS offers SM2 only in
// its China Regions, and so does Rampart: regions named cn-*.
//
// Not a public interface: used by the kms_*.cc handler files.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace rampart::kms::internal {

// The SM2DSA distinguishing ID (AWS KMS Developer Guide, "Offline
// verification with SM2 key pairs").
inline constexpr std::string_view kSm2DistinguishingId = "1234567812345678";
// SM2PKE plaintext limit (AWS KMS Encrypt).
inline constexpr size_t kSm2MaxPlaintext = 1024;
// An SM3 digest, what SM2DSA signs.
inline constexpr size_t kSm3DigestSize = 32;

// UnsupportedOperationException outside China regions (cn-*).
Status RequireSm2Region(std::string_view region);

// A fresh SM2 private key as PKCS#8 DER.
Result<SecretBytes> GenerateSm2Pkcs8();

// An SM2 private key. Immutable after construction; methods may run
// concurrently (each call uses its own OpenSSL context).
class Sm2Key {
 public:
  static Result<std::shared_ptr<const Sm2Key>> FromPkcs8(const SecretBytes& der);
  ~Sm2Key();
  Sm2Key(const Sm2Key&) = delete;
  Sm2Key& operator=(const Sm2Key&) = delete;

  // SM2DSA over message: with is_digest, message is e = SM3(Z || M)
  // already computed by the caller and must be 32 bytes; otherwise the
  // message itself, hashed here with Z from kSm2DistinguishingId. DER
  // signature (r, s).
  Result<std::string> Sign(std::string_view message, bool is_digest) const;
  // Whether signature is a valid SM2DSA signature, with the same
  // conventions as Sign. A malformed signature is simply invalid.
  Result<bool> Verify(std::string_view message, std::string_view signature, bool is_digest) const;
  // SM2PKE. Decrypt fails (kInternal) on any malformed or foreign
  // ciphertext; callers answer InvalidCiphertextException.
  Result<std::string> Encrypt(std::string_view plaintext) const;
  Result<SecretBytes> Decrypt(std::string_view ciphertext) const;

 private:
  explicit Sm2Key(evp_pkey_st* pkey) : pkey_(pkey) {}
  evp_pkey_st* const pkey_;  // owned
};

}  // namespace rampart::kms::internal
