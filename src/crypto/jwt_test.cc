#include "rampart/crypto/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>

namespace rampart::crypto::jwt {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string BnParam(EVP_PKEY* key, const char* name, size_t pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  size_t size = pad != 0 ? pad : static_cast<size_t>(BN_num_bytes(bn));
  std::string out(size, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(size));
  BN_free(bn);
  return out;
}

std::string Sign(EVP_PKEY* key, const char* md, std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit_ex(ctx, nullptr, md, nullptr, nullptr, key, nullptr), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()),
            1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

// ECDSA DER -> JOSE's fixed-size r||s.
std::string RawEcdsa(const std::string& der, int half) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  std::string out(2 * half, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(out.data()), half);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(out.data()) + half, half);
  ECDSA_SIG_free(sig);
  return out;
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = EVP_RSA_gen(2048);
    ec_ = EVP_EC_gen("P-256");
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(ec_);
  }

  static json::Value RsaJwk() {
    json::Value jwk = json::Value::MakeObject();
    jwk.set("kty", "RSA");
    jwk.set("kid", "r1");
    jwk.set("n", Base64UrlEncode(BnParam(rsa_, OSSL_PKEY_PARAM_RSA_N)));
    jwk.set("e", Base64UrlEncode(BnParam(rsa_, OSSL_PKEY_PARAM_RSA_E)));
    return jwk;
  }
  static json::Value EcJwk() {
    json::Value jwk = json::Value::MakeObject();
    jwk.set("kty", "EC");
    jwk.set("kid", "e1");
    jwk.set("crv", "P-256");
    jwk.set("x", Base64UrlEncode(BnParam(ec_, OSSL_PKEY_PARAM_EC_PUB_X, 32)));
    jwk.set("y", Base64UrlEncode(BnParam(ec_, OSSL_PKEY_PARAM_EC_PUB_Y, 32)));
    return jwk;
  }

  static std::string Input(std::string_view header, std::string_view claims) {
    return Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
  }
  static std::string RsaToken(std::string_view claims = R"({"sub":"a","aud":"x"})") {
    std::string input = Input(R"({"alg":"RS256","kid":"r1"})", claims);
    return input + "." + Base64UrlEncode(Sign(rsa_, "SHA256", input));
  }
  static std::string EcToken() {
    std::string input = Input(R"({"alg":"ES256","kid":"e1"})", R"({"sub":"b"})");
    return input + "." + Base64UrlEncode(RawEcdsa(Sign(ec_, "SHA256", input), 32));
  }

  static EVP_PKEY* rsa_;
  static EVP_PKEY* ec_;
};

EVP_PKEY* JwtTest::rsa_ = nullptr;
EVP_PKEY* JwtTest::ec_ = nullptr;

TEST_F(JwtTest, RsaTokenVerifies) {
  auto token = Parse(RsaToken());
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->alg, Algorithm::kRs256);
  EXPECT_EQ(token->kid, "r1");
  EXPECT_EQ(token->claims.get_string("sub"), "a");
  auto key = PublicKey::FromJwk(RsaJwk());
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->kid(), "r1");
  EXPECT_TRUE(key->Verify(*token));
}

TEST_F(JwtTest, EcTokenVerifies) {
  auto token = Parse(EcToken());
  ASSERT_TRUE(token.ok());
  auto key = PublicKey::FromJwk(EcJwk());
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_TRUE(key->Verify(*token));
  // The RSA key must not verify an ES256 token, nor the EC key an RS256 one.
  auto rsa = PublicKey::FromJwk(RsaJwk());
  EXPECT_FALSE(rsa->Verify(*token));
  EXPECT_FALSE(key->Verify(*Parse(RsaToken())));
}

TEST_F(JwtTest, TamperedPayloadFails) {
  std::string good = RsaToken();
  size_t dot = good.find('.');
  size_t dot2 = good.find('.', dot + 1);
  std::string forged =
      good.substr(0, dot + 1) + Base64UrlEncode(R"({"sub":"admin","aud":"x"})") + good.substr(dot2);
  auto token = Parse(forged);
  ASSERT_TRUE(token.ok());
  EXPECT_FALSE(PublicKey::FromJwk(RsaJwk())->Verify(*token));
}

TEST_F(JwtTest, RefusesNoneHmacAndUnknownAlgorithms) {
  for (std::string_view header : {R"({"alg":"none"})", R"({"alg":"HS256"})", R"({"alg":"PS256"})",
                                  R"({"alg":"rs256"})", R"({"typ":"JWT"})", R"({"alg":7})"}) {
    std::string token = Input(header, R"({"sub":"a"})") + "." + Base64UrlEncode("sig");
    EXPECT_FALSE(Parse(token).ok()) << header;
  }
}

TEST_F(JwtTest, RefusesMalformedShapes) {
  std::string good = RsaToken();
  for (std::string bad : {std::string(), std::string("a.b"), std::string("a.b.c.d"), good + ".x",
                          std::string("..."), good.substr(0, good.rfind('.') + 1),  // no signature
                          Input("[1]", "{}") + ".c2ln",                             // not an object
                          Input(R"({"alg":"RS256","crit":["x"]})", "{}") + ".c2ln",
                          Input(R"({"alg":"RS256","kid":1})", "{}") + ".c2ln",
                          std::string("e30=.e30.c2ln"),  // padded base64
                          std::string(kMaxTokenBytes + 1, 'a')}) {
    EXPECT_FALSE(Parse(bad).ok()) << bad.substr(0, 80);
  }
}

TEST_F(JwtTest, RefusesDeepJson) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  std::string claims = R"({"x":)" + deep + "}";
  EXPECT_FALSE(Parse(Input(R"({"alg":"RS256"})", claims) + ".c2ln").ok());
}

TEST_F(JwtTest, JwkChecks) {
  json::Value jwk = RsaJwk();
  jwk.set("use", "enc");
  EXPECT_FALSE(PublicKey::FromJwk(jwk).ok());
  jwk = RsaJwk();
  jwk.set("alg", "RS384");
  auto key = PublicKey::FromJwk(jwk);
  ASSERT_TRUE(key.ok());
  EXPECT_FALSE(key->Suits(Algorithm::kRs256));  // the JWK says RS384 only
  EXPECT_FALSE(key->Verify(*Parse(RsaToken())));
  EXPECT_TRUE(key->Suits(Algorithm::kRs384));

  json::Value ec = EcJwk();
  ec.set("crv", "P-521");
  EXPECT_FALSE(PublicKey::FromJwk(ec).ok());
  ec = EcJwk();
  ec.set("y", Base64UrlEncode(std::string(32, '\x01')));  // not on the curve
  EXPECT_FALSE(PublicKey::FromJwk(ec).ok());
  json::Value oct = json::Value::MakeObject();
  oct.set("kty", "oct");
  oct.set("k", "c2VjcmV0");
  EXPECT_FALSE(PublicKey::FromJwk(oct).ok());

  // A short RSA modulus is refused.
  Pkey small(EVP_RSA_gen(1024));
  json::Value weak = json::Value::MakeObject();
  weak.set("kty", "RSA");
  weak.set("n", Base64UrlEncode(BnParam(small.get(), OSSL_PKEY_PARAM_RSA_N)));
  weak.set("e", Base64UrlEncode(BnParam(small.get(), OSSL_PKEY_PARAM_RSA_E)));
  EXPECT_FALSE(PublicKey::FromJwk(weak).ok());
}

TEST_F(JwtTest, KeySetSkipsUnusableKeys) {
  json::Value keys = json::Value::MakeArray();
  keys.push(RsaJwk());
  json::Value junk = json::Value::MakeObject();
  junk.set("kty", "oct");
  keys.push(std::move(junk));
  keys.push(EcJwk());
  json::Value doc = json::Value::MakeObject();
  doc.set("keys", std::move(keys));
  auto set = ParseKeySet(json::Write(doc));
  ASSERT_TRUE(set.ok());
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ((*set)[0]->kid(), "r1");
  EXPECT_EQ((*set)[1]->kid(), "e1");
  EXPECT_EQ(ParseKeySet(json::Write(doc), 1)->size(), 1u);
  EXPECT_FALSE(ParseKeySet("{}").ok());
  EXPECT_FALSE(ParseKeySet("not json").ok());
}

TEST(JwtClaims, AudiencesAndDates) {
  auto claims = json::Parse(R"({"aud":["a",1,"b"],"exp":1700000000,"nbf":1.5e9,"iat":"x"})");
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(Audiences(*claims), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Audiences(*json::Parse(R"({"aud":"only"})")), (std::vector<std::string>{"only"}));
  EXPECT_TRUE(Audiences(*json::Parse("{}")).empty());
  EXPECT_EQ(**NumericDate(*claims, "exp"), 1700000000);
  EXPECT_EQ(**NumericDate(*claims, "nbf"), 1500000000);
  EXPECT_FALSE(NumericDate(*claims, "iat").ok());
  EXPECT_FALSE(NumericDate(*claims, "missing")->has_value());
  EXPECT_FALSE(NumericDate(*json::Parse(R"({"exp":1e300})"), "exp").ok());
}

TEST(JwtBase64Url, RoundTripAndStrictness) {
  for (std::string s :
       {std::string(), std::string("f"), std::string("fo"), std::string("\xff\xfe\xfd", 3)}) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(s)), s);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_FALSE(Base64UrlDecode("+/8").has_value());
  EXPECT_FALSE(Base64UrlDecode("a").has_value());
  EXPECT_FALSE(Base64UrlDecode("ab==").has_value());
}

}  // namespace
}  // namespace rampart::crypto::jwt
