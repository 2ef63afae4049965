// Fuzzes the JWT stage of AssumeRoleWithWebIdentity on arbitrary bytes:
// jwt::Parse, then verification with a fixed RSA and EC key, the claim
// checks STS applies, and ParseKeySet on the same bytes as a JWKS. A token
// that parses must carry a supported algorithm and a non-empty signature,
// and no forged token may verify.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "iam/sts_web_identity.h"
#include "rampart/core/check.h"
#include "rampart/crypto/jwt.h"

namespace {

using namespace rampart;

// RFC 7515 appendix A.3's P-256 key (public part).
const crypto::jwt::PublicKey& EcKey() {
  static const auto* key = new crypto::jwt::PublicKey(std::move(
      crypto::jwt::PublicKey::FromJwk(
          *json::Parse(
              R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
              R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})"))
          .value()));
  return *key;
}

std::string Param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  RAMPART_CHECK(EVP_PKEY_get_bn_param(key, name, &bn) == 1);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// A fresh RSA key per run: nothing the fuzzer writes was signed by it.
const crypto::jwt::PublicKey& RsaKey() {
  static const auto* key = [] {
    EVP_PKEY* rsa = EVP_RSA_gen(2048);
    json::Value jwk = json::Value::MakeObject();
    jwk.set("kty", "RSA");
    jwk.set("n", crypto::jwt::Base64UrlEncode(Param(rsa, OSSL_PKEY_PARAM_RSA_N)));
    jwk.set("e", crypto::jwt::Base64UrlEncode(Param(rsa, OSSL_PKEY_PARAM_RSA_E)));
    EVP_PKEY_free(rsa);
    return new crypto::jwt::PublicKey(std::move(crypto::jwt::PublicKey::FromJwk(jwk).value()));
  }();
  return *key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto token = crypto::jwt::Parse(text);
  if (token.ok()) {
    RAMPART_CHECK(!token->signature.empty());
    RAMPART_CHECK(crypto::jwt::AlgorithmFromName(crypto::jwt::AlgorithmName(token->alg)) ==
                  token->alg);
    RAMPART_CHECK(token->claims.is_object() && token->header.is_object());
    // Neither key signed anything the fuzzer can produce.
    RAMPART_CHECK(!EcKey().Verify(*token));
    RAMPART_CHECK(!RsaKey().Verify(*token));
    auto claims = iam::CheckClaims(token->claims, {"ci"}, 1700000000, 120);
    if (!claims.ok()) {
      RAMPART_CHECK(claims.status().modeled() == "InvalidIdentityTokenException" ||
                    claims.status().modeled() == "ExpiredTokenException");
    } else {
      RAMPART_CHECK(!claims->audiences.empty() && !claims->subject.empty());
    }
  }
  auto keys = crypto::jwt::ParseKeySet(text, 8);
  if (keys.ok()) RAMPART_CHECK(keys->size() <= 8);
  return 0;
}
