// JSON Web Tokens in the JWS compact serialization (RFC 7515, RFC 7519),
// the form OpenID Connect ID tokens take, and the public keys of a JSON Web
// Key Set (RFC 7517, RFC 7518) that verify them.
//
// Only asymmetric signatures are accepted: RS256, RS384, RS512 (RSASSA-
// PKCS1-v1_5) and ES256, ES384 (ECDSA over P-256 / P-384, signatures as the
// raw r||s of RFC 7518 section 3.4). "none", the HMAC algorithms and
// anything else are refused when parsing, so a token whose header names
// them never reaches a verifier.
//
// Thread-safety: Token and PublicKey are immutable values after
// construction; their const methods may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/core/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace rampart::crypto::jwt {

enum class Algorithm : uint8_t { kRs256, kRs384, kRs512, kEs256, kEs384 };

// "RS256", ... for an algorithm; nullopt for a name this module refuses.
std::optional<Algorithm> AlgorithmFromName(std::string_view name);
std::string_view AlgorithmName(Algorithm alg);

// Bounds on what Parse accepts (hostile input): the whole token, and the
// JSON nesting of its header and claims.
inline constexpr size_t kMaxTokenBytes = 20000;  // STS's clientTokenType maximum
inline constexpr size_t kMaxJsonDepth = 16;

// A parsed, not yet verified token.
struct Token {
  Algorithm alg = Algorithm::kRs256;
  std::string kid;            // the header's "kid", empty when absent
  json::Value header;         // an object
  json::Value claims;         // an object
  std::string signing_input;  // "<header>.<payload>" as received
  std::string signature;      // raw signature bytes
};

// Splits, decodes and checks the shape of a compact JWS: three base64url
// parts without padding, a header and a payload that are JSON objects, a
// supported "alg", no "crit" header (RFC 7515 section 4.1.11: we understand
// no extensions), a non-empty signature. kValidation with a short reason
// otherwise.
Result<Token> Parse(std::string_view compact);

// base64url without padding (RFC 7515 section 2); nullopt when malformed.
std::optional<std::string> Base64UrlDecode(std::string_view text);
std::string Base64UrlEncode(std::string_view bytes);

// A verification key taken from one JWK.
class PublicKey {
 public:
  // RSA keys ("kty":"RSA", "n", "e", at least 2048 bits) and EC keys
  // ("kty":"EC", "crv" "P-256" or "P-384", "x", "y" on the curve). A "use"
  // other than "sig" is refused. kValidation for anything else.
  static Result<PublicKey> FromJwk(const json::Value& jwk);

  PublicKey(PublicKey&& other) noexcept;
  PublicKey& operator=(PublicKey&& other) noexcept;
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;
  ~PublicKey();

  const std::string& kid() const { return kid_; }
  // Whether this key may verify alg: the right key type and curve, and the
  // JWK's own "alg" (when it names one) equal to alg.
  bool Suits(Algorithm alg) const;
  // Whether token's signature is valid under this key. False (never an
  // error) for a signature that does not verify or is malformed.
  bool Verify(const Token& token) const;

 private:
  PublicKey(evp_pkey_st* pkey, std::string kid, std::string alg, std::string curve);
  evp_pkey_st* pkey_ = nullptr;
  std::string kid_;
  std::string alg_;    // the JWK's "alg", may be empty
  std::string curve_;  // "P-256" / "P-384" for EC keys, empty for RSA
};

// The keys of a JWKS document ({"keys": [...]}), skipping entries this
// module cannot use (other key types, encryption keys). At most max_keys
// are kept. kValidation when the document is not a JWKS.
Result<std::vector<std::shared_ptr<const PublicKey>>> ParseKeySet(std::string_view text,
                                                                  size_t max_keys = 64);

// The "aud" claim as a list: a string, or an array of strings. Empty when
// absent or of another type.
std::vector<std::string> Audiences(const json::Value& claims);

// A NumericDate claim ("exp", "nbf", "iat") in seconds; nullopt when absent.
// kValidation when present but not a number.
Result<std::optional<int64_t>> NumericDate(const json::Value& claims, std::string_view name);

}  // namespace rampart::crypto::jwt
