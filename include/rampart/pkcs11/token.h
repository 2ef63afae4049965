// Token: the small abstract interface every HSM backend offers to the rest
// of Rampart (KMS custom key stores, the root-key holder, the network HSM
// service). Keys live inside the backend and are used by reference. The
// only method that returns key material is WrapKey, and only encrypted
// under another key of the token.
//
// A KeyRef names a key by its CKA_ID (and kind), not by a PKCS#11 object
// handle: object handles may change when a session is lost or the user
// logs in again, so implementations resolve and cache handles themselves.
//
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"

namespace rampart::pkcs11 {

enum class KeyKind : uint8_t {
  kAes,            // AES secret key (CKK_AES)
  kGenericSecret,  // HMAC secret key (CKK_GENERIC_SECRET)
  kEcPrivate,      // EC key pair; the reference names the private half
  kRsaPrivate,     // RSA key pair; the reference names the private half
};

enum class KeyAlgorithm : uint8_t {
  kAes256,
  kHmacSha256,  // 32-byte generic secret for CKM_SHA256_HMAC
  kEcP256,
  kEcP384,
  kRsa2048,
  kRsa3072,
};

// The kind of key (or key pair) an algorithm makes.
KeyKind KindOfAlgorithm(KeyAlgorithm a);

// What a key may do; mirrored into CKA_ENCRYPT/DECRYPT/SIGN/VERIFY/WRAP/UNWRAP.
struct KeyUsage {
  bool encrypt = false;  // encrypt + decrypt
  bool sign = false;     // sign + verify (HMAC or asymmetric)
  // wrap + unwrap other keys: AES keys (RFC 5649 key wrap), or an RSA
  // transport key pair (the public half wraps, the private half unwraps,
  // RSA-OAEP) used to bring a cluster wrapping key into a new member.
  bool wrap = false;
};

struct KeySpec {
  KeyAlgorithm algorithm = KeyAlgorithm::kAes256;
  std::string label;  // CKA_LABEL, 1..128 bytes
  std::string id;     // CKA_ID, 1..64 bytes; empty: 16 random bytes
  KeyUsage usage;
  // CKA_EXTRACTABLE: false except for keys that must be wrapped for
  // replication to other cluster members. Keys stay CKA_SENSITIVE always.
  bool extractable = false;
};

struct KeyRef {
  std::string id;  // CKA_ID bytes
  KeyKind kind = KeyKind::kAes;
  friend bool operator==(const KeyRef&, const KeyRef&) = default;
};

enum class SignScheme : uint8_t {
  kEcdsa,     // CKM_ECDSA over the digest; DER-encoded signature
  kRsaPkcs1,  // CKM_RSA_PKCS over DigestInfo(digest)
  kRsaPss,    // CKM_RSA_PKCS_PSS, MGF1 with the same digest, salt = digest size
};

inline constexpr size_t kGcmIvSize = 12;
inline constexpr size_t kGcmTagSize = 16;

// One secret or private key of a token, as ListKeys reports it: enough to
// rebuild the KeySpec of a replica (algorithm, label, usage).
struct KeyListing {
  KeyRef ref;
  std::string label;
  KeyAlgorithm algorithm = KeyAlgorithm::kAes256;
  KeyUsage usage;
  bool extractable = false;
  bool sensitive = false;
};

struct GcmCiphertext {
  std::string iv;          // 12 bytes
  std::string ciphertext;  // ciphertext followed by the 16-byte tag
};

class Token {
 public:
  virtual ~Token() = default;

  // Creates a key (or key pair) inside the token: CKA_TOKEN, CKA_PRIVATE,
  // CKA_SENSITIVE true; CKA_EXTRACTABLE as spec says. kValidation for a bad
  // spec; kValidation "already exists" when a key with that CKA_ID exists.
  virtual Result<KeyRef> GenerateKey(const KeySpec& spec) = 0;
  // The key with CKA_LABEL label (kNotFound if none, kValidation if several).
  virtual Result<KeyRef> FindKeyByLabel(std::string_view label) = 0;
  // Whether a key with this reference exists (kNotFound otherwise).
  virtual Status CheckKey(const KeyRef& key) = 0;
  // Destroys the key (both halves of a pair).
  virtual Status DestroyKey(const KeyRef& key) = 0;

  // AES-256-GCM with a fresh 12-byte IV and a 128-bit tag.
  virtual Result<GcmCiphertext> EncryptGcm(const KeyRef& key, std::string_view plaintext,
                                           std::string_view aad) = 0;
  // kValidation when the tag does not verify (wrong key, IV, AAD or data).
  virtual Result<SecretBytes> DecryptGcm(const KeyRef& key, std::string_view iv,
                                         std::string_view ciphertext, std::string_view aad) = 0;

  // Signs a digest made with md_name ("SHA256", "SHA384", "SHA512").
  virtual Result<std::string> SignDigest(const KeyRef& key, std::string_view digest,
                                         std::string_view md_name, SignScheme scheme) = 0;
  // DER SubjectPublicKeyInfo of an EC or RSA key pair.
  virtual Result<std::string> PublicKeyDer(const KeyRef& key) = 0;

  // HMAC-SHA-256 of data (32 bytes) and its constant-time check in-token.
  virtual Result<std::string> HmacSha256(const KeyRef& key, std::string_view data) = 0;
  virtual Result<bool> VerifyHmacSha256(const KeyRef& key, std::string_view data,
                                        std::string_view mac) = 0;

  // AES key wrap with padding (RFC 5649) of an extractable key under a
  // wrapping key, and its inverse, which creates a new key with spec's
  // label, id and usage (the algorithm must match the wrapped key).
  virtual Result<std::string> WrapKey(const KeyRef& wrapping_key, const KeyRef& key) = 0;
  virtual Result<KeyRef> UnwrapKey(const KeyRef& wrapping_key, std::string_view wrapped,
                                   const KeySpec& spec) = 0;

  // n bytes from the token's RNG, 1 <= n <= 65536.
  virtual Result<std::string> GenerateRandom(size_t n) = 0;

  // --- Replication support (used by hsm::Cluster). Backends that cannot
  // replicate keep the defaults, which answer kNotImplemented.

  // RSA-OAEP (SHA-1, MGF1-SHA-1: the one OAEP variant every module offers
  // for C_WrapKey) of an extractable AES or HMAC key under a public key
  // given as DER SubjectPublicKeyInfo. The public key is a session object
  // that is destroyed right after. UnwrapKey with the matching RSA private
  // key (KeyKind::kRsaPrivate, usage.wrap) is its inverse.
  virtual Result<std::string> WrapKeyWithPublicKey(std::string_view public_key_der,
                                                   const KeyRef& key) {
    return Status::Error(ErrorCode::kNotImplemented, "this backend cannot wrap under a public key");
  }
  // Clears CKA_EXTRACTABLE (a one-way change in PKCS#11): once every
  // replica of a key exists, no copy of it can be wrapped out again. A key
  // that is not extractable already is left as it is (OK).
  virtual Status MakeNonExtractable(const KeyRef& key) {
    return Status::Error(ErrorCode::kNotImplemented, "this backend cannot change key attributes");
  }
  // Every AES, HMAC, EC and RSA private key of the token (at most 10,000):
  // a returning cluster member is compared against the others with it.
  virtual Result<std::vector<KeyListing>> ListKeys() {
    return Status::Error(ErrorCode::kNotImplemented, "this backend cannot list its keys");
  }
  // The inverse of WrapKey (CKM_AES_KEY_WRAP_PAD) for an EC or RSA private
  // key: creates the private key from the wrapped PKCS#8 blob and, beside
  // it, the public key object from public_key_der (SubjectPublicKeyInfo),
  // both with spec's label and id. The public key must be of spec's
  // algorithm (kValidation otherwise).
  virtual Result<KeyRef> UnwrapKeyPair(const KeyRef& wrapping_key, std::string_view wrapped,
                                       std::string_view public_key_der, const KeySpec& spec) {
    return Status::Error(ErrorCode::kNotImplemented, "this backend cannot unwrap key pairs");
  }
};

}  // namespace rampart::pkcs11
