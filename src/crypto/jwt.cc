#include "rampart/crypto/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <cmath>
#include <utility>

#include "rampart/core/encoding.h"

namespace rampart::crypto::jwt {
namespace {

struct AlgorithmInfo {
  Algorithm alg;
  std::string_view name;
  const char* digest;
  bool ec;
  std::string_view curve;   // EC only
  size_t coordinate_bytes;  // EC only: the size of r and of s
};

constexpr std::array<AlgorithmInfo, 5> kAlgorithms = {{
    {Algorithm::kRs256, "RS256", "SHA256", false, "", 0},
    {Algorithm::kRs384, "RS384", "SHA384", false, "", 0},
    {Algorithm::kRs512, "RS512", "SHA512", false, "", 0},
    {Algorithm::kEs256, "ES256", "SHA256", true, "P-256", 32},
    {Algorithm::kEs384, "ES384", "SHA384", true, "P-384", 48},
}};

const AlgorithmInfo& InfoOf(Algorithm alg) {
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (info.alg == alg) return info;
  }
  return kAlgorithms[0];
}

Status Malformed(std::string reason) { return Status::Validation(std::move(reason)); }

constexpr int kMinRsaBits = 2048;
constexpr size_t kMaxRsaModulusBytes = 1024;  // 8192 bits

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Builds an EVP_PKEY of type from the parameters in bld.
Result<PkeyPtr> FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  bool ok = params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok) {
    EVP_PKEY_free(pkey);
    return Malformed("the key parameters do not form a valid key");
  }
  return PkeyPtr(pkey);
}

Result<std::string> KeyMember(const json::Value& jwk, std::string_view name) {
  const json::Value* v = jwk.find(name);
  if (v == nullptr || !v->is_string())
    return Malformed("the JWK has no \"" + std::string(name) + "\"");
  auto bytes = Base64UrlDecode(v->as_string());
  if (!bytes || bytes->empty()) {
    return Malformed("the JWK's \"" + std::string(name) + "\" is not base64url");
  }
  return std::move(*bytes);
}

Result<PkeyPtr> RsaKey(const json::Value& jwk) {
  ASSIGN_OR_RETURN(std::string n, KeyMember(jwk, "n"));
  ASSIGN_OR_RETURN(std::string e, KeyMember(jwk, "e"));
  if (n.size() > kMaxRsaModulusBytes || e.size() > 8) return Malformed("the RSA key is too large");
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  Result<PkeyPtr> key = Malformed("cannot build the RSA key");
  if (bn_n != nullptr && bn_e != nullptr && bld != nullptr &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
    key = FromParams("RSA", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  if (key.ok() && EVP_PKEY_get_bits(key->get()) < kMinRsaBits) {
    return Malformed("the RSA key is shorter than 2048 bits");
  }
  return key;
}

Result<PkeyPtr> EcKey(const json::Value& jwk, std::string_view curve) {
  size_t size = curve == "P-256" ? 32 : 48;
  ASSIGN_OR_RETURN(std::string x, KeyMember(jwk, "x"));
  ASSIGN_OR_RETURN(std::string y, KeyMember(jwk, "y"));
  if (x.size() != size || y.size() != size)
    return Malformed("the EC key's coordinates have the wrong size");
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  const char* group = curve == "P-256" ? "P-256" : "P-384";
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  Result<PkeyPtr> key = Malformed("cannot build the EC key");
  if (bld != nullptr &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ==
          1) {
    key = FromParams("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  if (!key.ok()) return key;
  // fromdata does not insist that the point lies on the curve.
  EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr);
  bool on_curve = check != nullptr && EVP_PKEY_public_check(check) == 1;
  EVP_PKEY_CTX_free(check);
  if (!on_curve) return Malformed("the EC key's point is not on the curve");
  return key;
}

// ECDSA's raw r||s (RFC 7518 section 3.4) as the DER SEQUENCE OpenSSL verifies.
std::optional<std::string> EcdsaDer(std::string_view raw, size_t half) {
  if (raw.size() != 2 * half) return std::nullopt;
  auto bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(bytes + half, static_cast<int>(half), nullptr);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (r == nullptr || s == nullptr || sig == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

Result<json::Value> ParseObject(std::string_view part, std::string_view what) {
  auto bytes = Base64UrlDecode(part);
  if (!bytes) return Malformed("the token's " + std::string(what) + " is not base64url");
  auto value = json::Parse(*bytes, json::ParseLimits{kMaxJsonDepth, kMaxTokenBytes});
  if (!value.ok() || !value->is_object()) {
    return Malformed("the token's " + std::string(what) + " is not a JSON object");
  }
  return std::move(value).value();
}

}  // namespace

std::optional<Algorithm> AlgorithmFromName(std::string_view name) {
  for (const AlgorithmInfo& info : kAlgorithms) {
    if (info.name == name) return info.alg;
  }
  return std::nullopt;
}

std::string_view AlgorithmName(Algorithm alg) { return InfoOf(alg).name; }

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string standard;
  standard.reserve(text.size() + 3);
  for (char c : text) {
    if (c == '+' || c == '/' || c == '=') return std::nullopt;  // not the URL alphabet
    standard.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  while (standard.size() % 4 != 0) standard.push_back('=');
  return Base64Decode(standard);
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out = Base64Encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

Result<Token> Parse(std::string_view compact) {
  if (compact.size() > kMaxTokenBytes) return Malformed("the token is too long");
  size_t first = compact.find('.');
  size_t second = first == std::string_view::npos ? first : compact.find('.', first + 1);
  if (second == std::string_view::npos || compact.find('.', second + 1) != std::string_view::npos) {
    return Malformed("the token is not a JWS in compact form (three parts)");
  }
  Token t;
  ASSIGN_OR_RETURN(t.header, ParseObject(compact.substr(0, first), "header"));
  ASSIGN_OR_RETURN(t.claims, ParseObject(compact.substr(first + 1, second - first - 1), "payload"));
  const json::Value* alg = t.header.find("alg");
  if (alg == nullptr || !alg->is_string()) return Malformed("the token's header names no alg");
  auto known = AlgorithmFromName(alg->as_string());
  if (!known) return Malformed("the token's signing algorithm is not supported");
  t.alg = *known;
  if (t.header.find("crit") != nullptr)
    return Malformed("the token has critical header extensions");
  if (const json::Value* kid = t.header.find("kid"); kid != nullptr) {
    if (!kid->is_string()) return Malformed("the token's kid is not a string");
    t.kid = kid->as_string();
  }
  auto signature = Base64UrlDecode(compact.substr(second + 1));
  if (!signature || signature->empty())
    return Malformed("the token's signature is missing or not base64url");
  t.signature = std::move(*signature);
  t.signing_input = std::string(compact.substr(0, second));
  return t;
}

PublicKey::PublicKey(evp_pkey_st* pkey, std::string kid, std::string alg, std::string curve)
    : pkey_(pkey), kid_(std::move(kid)), alg_(std::move(alg)), curve_(std::move(curve)) {}

PublicKey::PublicKey(PublicKey&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)),
      kid_(std::move(other.kid_)),
      alg_(std::move(other.alg_)),
      curve_(std::move(other.curve_)) {}

PublicKey& PublicKey::operator=(PublicKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pkey_);
    pkey_ = std::exchange(other.pkey_, nullptr);
    kid_ = std::move(other.kid_);
    alg_ = std::move(other.alg_);
    curve_ = std::move(other.curve_);
  }
  return *this;
}

PublicKey::~PublicKey() { EVP_PKEY_free(pkey_); }

Result<PublicKey> PublicKey::FromJwk(const json::Value& jwk) {
  if (!jwk.is_object()) return Malformed("the JWK is not an object");
  std::string_view kty = jwk.get_string("kty");
  const json::Value* use = jwk.find("use");
  if (use != nullptr && !(use->is_string() && use->as_string() == "sig")) {
    return Malformed("the JWK is not a signing key");
  }
  const json::Value* alg = jwk.find("alg");
  if (alg != nullptr && !alg->is_string()) return Malformed("the JWK's alg is not a string");
  std::string alg_name = alg != nullptr ? alg->as_string() : std::string();
  const json::Value* kid = jwk.find("kid");
  std::string kid_text = kid != nullptr && kid->is_string() ? kid->as_string() : std::string();
  if (kty == "RSA") {
    ASSIGN_OR_RETURN(PkeyPtr key, RsaKey(jwk));
    return PublicKey(key.release(), std::move(kid_text), std::move(alg_name), "");
  }
  if (kty == "EC") {
    std::string_view crv = jwk.get_string("crv");
    if (crv != "P-256" && crv != "P-384") return Malformed("the JWK's curve is not supported");
    ASSIGN_OR_RETURN(PkeyPtr key, EcKey(jwk, crv));
    return PublicKey(key.release(), std::move(kid_text), std::move(alg_name), std::string(crv));
  }
  return Malformed("the JWK's key type is not supported");
}

bool PublicKey::Suits(Algorithm alg) const {
  const AlgorithmInfo& info = InfoOf(alg);
  if (!alg_.empty() && alg_ != info.name) return false;
  if (info.ec) return curve_ == info.curve;
  return curve_.empty();
}

bool PublicKey::Verify(const Token& token) const {
  if (pkey_ == nullptr || !Suits(token.alg)) return false;
  const AlgorithmInfo& info = InfoOf(token.alg);
  std::string der;
  std::string_view signature = token.signature;
  if (info.ec) {
    auto converted = EcdsaDer(token.signature, info.coordinate_bytes);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  }
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok =
      md != nullptr &&
      EVP_DigestVerifyInit_ex(md, nullptr, info.digest, nullptr, nullptr, pkey_, nullptr) == 1 &&
      EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(),
                       reinterpret_cast<const unsigned char*>(token.signing_input.data()),
                       token.signing_input.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

Result<std::vector<std::shared_ptr<const PublicKey>>> ParseKeySet(std::string_view text,
                                                                  size_t max_keys) {
  auto doc = json::Parse(text, json::ParseLimits{kMaxJsonDepth, text.size() + 1});
  if (!doc.ok() || !doc->is_object()) return Malformed("the JWKS is not a JSON object");
  const json::Value* keys = doc->find("keys");
  if (keys == nullptr || !keys->is_array()) return Malformed("the JWKS has no \"keys\" array");
  std::vector<std::shared_ptr<const PublicKey>> out;
  for (const json::Value& jwk : keys->as_array()) {
    if (out.size() >= max_keys) break;
    auto key = PublicKey::FromJwk(jwk);
    if (key.ok()) out.push_back(std::make_shared<const PublicKey>(std::move(key).value()));
  }
  return out;
}

std::vector<std::string> Audiences(const json::Value& claims) {
  std::vector<std::string> out;
  const json::Value* aud = claims.find("aud");
  if (aud == nullptr) return out;
  if (aud->is_string()) {
    out.push_back(aud->as_string());
  } else if (aud->is_array()) {
    for (const json::Value& a : aud->as_array()) {
      if (a.is_string()) out.push_back(a.as_string());
    }
  }
  return out;
}

Result<std::optional<int64_t>> NumericDate(const json::Value& claims, std::string_view name) {
  const json::Value* v = claims.find(name);
  if (v == nullptr) return std::optional<int64_t>();
  if (v->is_int()) return std::optional<int64_t>(v->as_int());
  // RFC 7519 allows fractional seconds; keep the range inside int64.
  if (v->is_double() && std::isfinite(v->as_double()) && std::fabs(v->as_double()) < 1e15) {
    return std::optional<int64_t>(static_cast<int64_t>(v->as_double()));
  }
  return Malformed("the token's " + std::string(name) + " claim is not a number");
}

}  // namespace rampart::crypto::jwt
