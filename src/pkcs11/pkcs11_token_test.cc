#include "rampart/pkcs11/pkcs11_token.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "pkcs11/softhsm_fixture.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/pkey.h"

namespace rampart::pkcs11 {
namespace {

using TokenTest = testing::SoftHsmTest;

KeySpec Spec(KeyAlgorithm alg, std::string label) {
  KeySpec s;
  s.algorithm = alg;
  s.label = std::move(label);
  if (alg == KeyAlgorithm::kAes256)
    s.usage.encrypt = true;
  else
    s.usage.sign = true;
  return s;
}

// Verifies a signature over digest with OpenSSL against a DER public key.
bool OpenSslVerify(const std::string& spki, const std::string& digest, const std::string& sig,
                   const EVP_MD* md, int padding) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(spki.data());
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (pkey == nullptr) return false;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  bool ok =
      ctx != nullptr && EVP_PKEY_verify_init(ctx) > 0 && EVP_PKEY_CTX_set_signature_md(ctx, md) > 0;
  if (ok && padding != 0) {
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx, padding) > 0;
    if (ok && padding == RSA_PKCS1_PSS_PADDING) {
      ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
    }
  }
  ok = ok &&
       EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(digest.data()), digest.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok;
}

// A boolean attribute of the token object (class, id), read outside the pool.
bool BoolAttr(ck_function_list* f, ck_session_handle_t s, ck_object_class_t cls,
              const std::string& id, ck_attribute_type_t type) {
  unsigned long c = cls;
  ck_attribute tmpl[2] = {{CKA_CLASS, &c, sizeof c},
                          {CKA_ID, const_cast<char*>(id.data()), id.size()}};
  ck_object_handle_t h = 0;
  unsigned long n = 0;
  EXPECT_EQ(f->C_FindObjectsInit(s, tmpl, 2), CKR_OK);
  EXPECT_EQ(f->C_FindObjects(s, &h, 1, &n), CKR_OK);
  EXPECT_EQ(f->C_FindObjectsFinal(s), CKR_OK);
  EXPECT_EQ(n, 1u);
  unsigned char v = 2;
  ck_attribute a{type, &v, 1};
  EXPECT_EQ(f->C_GetAttributeValue(s, h, &a, 1), CKR_OK);
  return v == 1;
}

TEST_F(TokenTest, AesGcmRoundTripWithAad) {
  OpenToken();
  auto key = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "aes-1"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->kind, KeyKind::kAes);
  EXPECT_EQ(key->id.size(), 16u);

  auto ct = token_->EncryptGcm(*key, "attack at dawn", "context-a");
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  EXPECT_EQ(ct->iv.size(), kGcmIvSize);
  EXPECT_EQ(ct->ciphertext.size(), 14 + kGcmTagSize);
  auto pt = token_->DecryptGcm(*key, ct->iv, ct->ciphertext, "context-a");
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(pt->reveal(), "attack at dawn");

  auto ct2 = token_->EncryptGcm(*key, "attack at dawn", "context-a");
  ASSERT_TRUE(ct2.ok());
  EXPECT_NE(ct2->iv, ct->iv);
  EXPECT_NE(ct2->ciphertext, ct->ciphertext);

  auto empty = token_->EncryptGcm(*key, "", "");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  auto empty_pt = token_->DecryptGcm(*key, empty->iv, empty->ciphertext, "");
  ASSERT_TRUE(empty_pt.ok()) << empty_pt.status().ToString();
  EXPECT_TRUE(empty_pt->empty());
}

TEST_F(TokenTest, AesGcmRejectsTamperingAndWrongAad) {
  OpenToken();
  auto key = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "aes-tamper"));
  ASSERT_TRUE(key.ok());
  auto ct = token_->EncryptGcm(*key, "payload", "aad");
  ASSERT_TRUE(ct.ok());
  auto wrong_aad = token_->DecryptGcm(*key, ct->iv, ct->ciphertext, "other");
  ASSERT_FALSE(wrong_aad.ok());
  EXPECT_NE(wrong_aad.status().message().find("C_Decrypt: CKR_"), std::string::npos);
  EXPECT_EQ(wrong_aad.status().code(), ErrorCode::kValidation) << wrong_aad.status().message();
  std::string flipped = ct->ciphertext;
  flipped[0] ^= 1;
  EXPECT_EQ(token_->DecryptGcm(*key, ct->iv, flipped, "aad").status().code(),
            ErrorCode::kValidation);
  std::string other_iv = ct->iv;
  other_iv[11] ^= 1;
  EXPECT_EQ(token_->DecryptGcm(*key, other_iv, ct->ciphertext, "aad").status().code(),
            ErrorCode::kValidation);
  // Still usable afterwards: the failed operation left no state behind.
  EXPECT_TRUE(token_->DecryptGcm(*key, ct->iv, ct->ciphertext, "aad").ok());

  EXPECT_EQ(token_->DecryptGcm(*key, "short", ct->ciphertext, "aad").status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(token_->DecryptGcm(*key, ct->iv, "tiny", "aad").status().code(),
            ErrorCode::kValidation);
}

TEST_F(TokenTest, KeysAreSensitiveNonExtractableTokenObjects) {
  OpenToken();
  auto aes = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "aes-attrs"));
  auto ec = token_->GenerateKey(Spec(KeyAlgorithm::kEcP256, "ec-attrs"));
  ASSERT_TRUE(aes.ok() && ec.ok());
  ck_session_handle_t s = RawSession();
  ASSERT_EQ(fns()->C_Login(s, CKU_USER,
                           reinterpret_cast<unsigned char*>(const_cast<char*>(testing::kUserPin)),
                           std::strlen(testing::kUserPin)),
            CKR_USER_ALREADY_LOGGED_IN);
  for (auto [cls, id] : {std::pair{CKO_SECRET_KEY, aes->id}, std::pair{CKO_PRIVATE_KEY, ec->id}}) {
    EXPECT_TRUE(BoolAttr(fns(), s, cls, id, CKA_TOKEN));
    EXPECT_TRUE(BoolAttr(fns(), s, cls, id, CKA_PRIVATE));
    EXPECT_TRUE(BoolAttr(fns(), s, cls, id, CKA_SENSITIVE));
    EXPECT_FALSE(BoolAttr(fns(), s, cls, id, CKA_EXTRACTABLE));
    EXPECT_TRUE(BoolAttr(fns(), s, cls, id, CKA_NEVER_EXTRACTABLE));
  }
  EXPECT_FALSE(BoolAttr(fns(), s, CKO_SECRET_KEY, aes->id, CKA_SIGN));
  EXPECT_EQ(fns()->C_CloseSession(s), CKR_OK);
}

TEST_F(TokenTest, FindsAndDestroysKeys) {
  OpenToken();
  KeySpec spec = Spec(KeyAlgorithm::kAes256, "by-label");
  spec.id = "fixed-id-1";
  auto key = token_->GenerateKey(spec);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->id, "fixed-id-1");
  auto dup = token_->GenerateKey(spec);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), ErrorCode::kValidation);

  auto found = token_->FindKeyByLabel("by-label");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(*found, *key);
  EXPECT_EQ(token_->FindKeyByLabel("absent").status().code(), ErrorCode::kNotFound);

  auto ec = token_->GenerateKey(Spec(KeyAlgorithm::kEcP384, "ec-label"));
  ASSERT_TRUE(ec.ok());
  auto found_ec = token_->FindKeyByLabel("ec-label");
  ASSERT_TRUE(found_ec.ok());
  EXPECT_EQ(found_ec->kind, KeyKind::kEcPrivate);

  ASSERT_TRUE(token_->DestroyKey(*key).ok());
  EXPECT_EQ(token_->CheckKey(*key).code(), ErrorCode::kNotFound);
  EXPECT_EQ(token_->EncryptGcm(*key, "x", "").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(token_->DestroyKey(*key).code(), ErrorCode::kNotFound);
  ASSERT_TRUE(token_->DestroyKey(*ec).ok());
  EXPECT_EQ(token_->PublicKeyDer(*ec).status().code(), ErrorCode::kNotFound);
}

TEST_F(TokenTest, RejectsBadSpecs) {
  OpenToken();
  KeySpec no_label = Spec(KeyAlgorithm::kAes256, "");
  EXPECT_EQ(token_->GenerateKey(no_label).status().code(), ErrorCode::kValidation);
  KeySpec long_label = Spec(KeyAlgorithm::kAes256, std::string(129, 'a'));
  EXPECT_EQ(token_->GenerateKey(long_label).status().code(), ErrorCode::kValidation);
  KeySpec long_id = Spec(KeyAlgorithm::kAes256, "x");
  long_id.id = std::string(65, 'i');
  EXPECT_EQ(token_->GenerateKey(long_id).status().code(), ErrorCode::kValidation);
  KeySpec aes_sign = Spec(KeyAlgorithm::kAes256, "x");
  aes_sign.usage.sign = true;
  EXPECT_EQ(token_->GenerateKey(aes_sign).status().code(), ErrorCode::kValidation);
  KeySpec ec_encrypt = Spec(KeyAlgorithm::kEcP256, "x");
  ec_encrypt.usage.encrypt = true;
  EXPECT_EQ(token_->GenerateKey(ec_encrypt).status().code(), ErrorCode::kValidation);
  KeySpec nothing = Spec(KeyAlgorithm::kHmacSha256, "x");
  nothing.usage.sign = false;
  EXPECT_EQ(token_->GenerateKey(nothing).status().code(), ErrorCode::kValidation);
}

TEST_F(TokenTest, EcdsaSignaturesVerifyWithOpenSsl) {
  OpenToken();
  for (auto [alg, md_name, md] : {std::tuple{KeyAlgorithm::kEcP256, "SHA256", EVP_sha256()},
                                  std::tuple{KeyAlgorithm::kEcP384, "SHA384", EVP_sha384()}}) {
    auto key = token_->GenerateKey(Spec(alg, std::string("ec-") + md_name));
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    auto spki = token_->PublicKeyDer(*key);
    ASSERT_TRUE(spki.ok()) << spki.status().ToString();
    auto digest = crypto::Digest(md_name, "message to sign");
    ASSERT_TRUE(digest.ok());
    auto sig = token_->SignDigest(*key, *digest, md_name, SignScheme::kEcdsa);
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_EQ((*sig)[0], 0x30);  // DER SEQUENCE
    EXPECT_TRUE(OpenSslVerify(*spki, *digest, *sig, md, 0));
    std::string other = *digest;
    other[0] ^= 1;
    EXPECT_FALSE(OpenSslVerify(*spki, other, *sig, md, 0));
  }
}

TEST_F(TokenTest, RsaPkcs1AndPssSignaturesVerifyWithOpenSsl) {
  OpenToken();
  for (auto alg : {KeyAlgorithm::kRsa2048, KeyAlgorithm::kRsa3072}) {
    auto key = token_->GenerateKey(Spec(alg, "rsa" + std::to_string(static_cast<int>(alg))));
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ(key->kind, KeyKind::kRsaPrivate);
    auto spki = token_->PublicKeyDer(*key);
    ASSERT_TRUE(spki.ok()) << spki.status().ToString();
    size_t modulus = alg == KeyAlgorithm::kRsa2048 ? 256 : 384;
    for (auto [md_name, md] :
         {std::pair{"SHA256", EVP_sha256()}, std::pair{"SHA512", EVP_sha512()}}) {
      auto digest = crypto::Digest(md_name, "document");
      ASSERT_TRUE(digest.ok());
      auto pkcs1 = token_->SignDigest(*key, *digest, md_name, SignScheme::kRsaPkcs1);
      ASSERT_TRUE(pkcs1.ok()) << pkcs1.status().ToString();
      EXPECT_EQ(pkcs1->size(), modulus);
      EXPECT_TRUE(OpenSslVerify(*spki, *digest, *pkcs1, md, RSA_PKCS1_PADDING));
      auto pss = token_->SignDigest(*key, *digest, md_name, SignScheme::kRsaPss);
      ASSERT_TRUE(pss.ok()) << pss.status().ToString();
      EXPECT_TRUE(OpenSslVerify(*spki, *digest, *pss, md, RSA_PKCS1_PSS_PADDING));
      EXPECT_FALSE(OpenSslVerify(*spki, *digest, *pss, md, RSA_PKCS1_PADDING));
    }
  }
}

TEST_F(TokenTest, SignRejectsMismatchedInputs) {
  OpenToken();
  auto ec = token_->GenerateKey(Spec(KeyAlgorithm::kEcP256, "ec-bad"));
  auto aes = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "aes-bad"));
  ASSERT_TRUE(ec.ok() && aes.ok());
  std::string d32(32, 'd');
  EXPECT_EQ(token_->SignDigest(*ec, d32, "SHA384", SignScheme::kEcdsa).status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(token_->SignDigest(*ec, d32, "MD5", SignScheme::kEcdsa).status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(token_->SignDigest(*ec, d32, "SHA256", SignScheme::kRsaPss).status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(token_->SignDigest(*aes, d32, "SHA256", SignScheme::kEcdsa).status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(token_->EncryptGcm(*ec, "x", "").status().code(), ErrorCode::kValidation);
  EXPECT_EQ(token_->PublicKeyDer(*aes).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(token_->HmacSha256(*aes, "x").status().code(), ErrorCode::kValidation);
}

TEST_F(TokenTest, HmacSha256MatchesReferenceAndVerifies) {
  OpenToken();
  auto key = token_->GenerateKey(Spec(KeyAlgorithm::kHmacSha256, "hmac"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto mac = token_->HmacSha256(*key, "data");
  ASSERT_TRUE(mac.ok()) << mac.status().ToString();
  EXPECT_EQ(mac->size(), 32u);
  auto again = token_->HmacSha256(*key, "data");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *mac);
  EXPECT_EQ(*token_->VerifyHmacSha256(*key, "data", *mac), true);
  EXPECT_EQ(*token_->VerifyHmacSha256(*key, "other", *mac), false);
  EXPECT_EQ(*token_->VerifyHmacSha256(*key, "data", "short"), false);

  // A known key imported through the raw API: the token's HMAC equals
  // OpenSSL's for the same key and message.
  ck_session_handle_t s = RawSession();
  std::string value(32, '\x0b'), id = "known-hmac";
  unsigned long cls = CKO_SECRET_KEY, type = CKK_GENERIC_SECRET;
  unsigned char yes = 1;
  ck_attribute tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                         {CKA_KEY_TYPE, &type, sizeof type},
                         {CKA_TOKEN, &yes, 1},
                         {CKA_PRIVATE, &yes, 1},
                         {CKA_SIGN, &yes, 1},
                         {CKA_VERIFY, &yes, 1},
                         {CKA_VALUE, value.data(), value.size()},
                         {CKA_ID, id.data(), id.size()}};
  ck_object_handle_t h = 0;
  ASSERT_EQ(fns()->C_CreateObject(s, tmpl, sizeof tmpl / sizeof tmpl[0], &h), CKR_OK);
  auto known = token_->HmacSha256(KeyRef{id, KeyKind::kGenericSecret}, "Hi There");
  ASSERT_TRUE(known.ok()) << known.status().ToString();
  EXPECT_EQ(*known, crypto::HmacSha256(value, "Hi There"));
  EXPECT_EQ(fns()->C_CloseSession(s), CKR_OK);
}

TEST_F(TokenTest, WrapsAndUnwrapsExtractableKeys) {
  OpenToken();
  KeySpec wrap_spec = Spec(KeyAlgorithm::kAes256, "cluster-wrapping-key");
  wrap_spec.usage = KeyUsage{.encrypt = false, .sign = false, .wrap = true};
  auto wrapping = token_->GenerateKey(wrap_spec);
  ASSERT_TRUE(wrapping.ok()) << wrapping.status().ToString();
  KeySpec replicated = Spec(KeyAlgorithm::kAes256, "replicated");
  replicated.extractable = true;
  auto key = token_->GenerateKey(replicated);
  ASSERT_TRUE(key.ok());
  auto ct = token_->EncryptGcm(*key, "replicated secret", "r");
  ASSERT_TRUE(ct.ok());

  auto wrapped = token_->WrapKey(*wrapping, *key);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_EQ(wrapped->size(), 40u);  // RFC 5649: 32 bytes + 8-byte integrity block

  KeySpec copy = Spec(KeyAlgorithm::kAes256, "replica");
  auto replica = token_->UnwrapKey(*wrapping, *wrapped, copy);
  ASSERT_TRUE(replica.ok()) << replica.status().ToString();
  auto pt = token_->DecryptGcm(*replica, ct->iv, ct->ciphertext, "r");
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(pt->reveal(), "replicated secret");

  std::string corrupt = *wrapped;
  corrupt[5] ^= 1;
  KeySpec bad = Spec(KeyAlgorithm::kAes256, "bad-replica");
  EXPECT_FALSE(token_->UnwrapKey(*wrapping, corrupt, bad).ok());

  auto fixed = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "non-extractable"));
  ASSERT_TRUE(fixed.ok());
  auto refused = token_->WrapKey(*wrapping, *fixed);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("CKR_KEY_UNEXTRACTABLE"), std::string::npos)
      << refused.status().message();
  // A key without CKA_WRAP cannot wrap.
  EXPECT_FALSE(token_->WrapKey(*fixed, *key).ok());
}

TEST_F(TokenTest, TransportsAKeyUnderAnRsaPublicKeyAndLocksIt) {
  OpenToken();
  KeySpec transport = Spec(KeyAlgorithm::kRsa2048, "transport");
  transport.usage = KeyUsage{.encrypt = false, .sign = false, .wrap = true};
  auto pair = token_->GenerateKey(transport);
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  auto pub = token_->PublicKeyDer(*pair);
  ASSERT_TRUE(pub.ok());
  // A transport pair neither signs nor is an acceptable sign-and-wrap mix.
  EXPECT_FALSE(token_->SignDigest(*pair, std::string(32, 'd'), "SHA256", SignScheme::kRsaPkcs1).ok());
  KeySpec both = transport;
  both.usage.sign = true;
  EXPECT_EQ(token_->GenerateKey(both).status().code(), ErrorCode::kValidation);

  KeySpec moving = Spec(KeyAlgorithm::kAes256, "moving");
  moving.usage = KeyUsage{.encrypt = true, .sign = false, .wrap = false};
  moving.extractable = true;
  auto key = token_->GenerateKey(moving);
  ASSERT_TRUE(key.ok());
  auto ct = token_->EncryptGcm(*key, "carried across", "");
  ASSERT_TRUE(ct.ok());
  auto wrapped = token_->WrapKeyWithPublicKey(*pub, *key);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_EQ(wrapped->size(), 256u);  // one RSA-2048 block

  KeySpec arrived = Spec(KeyAlgorithm::kAes256, "arrived");
  arrived.id = "arrived-id";
  auto copy = token_->UnwrapKey(*pair, *wrapped, arrived);
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  auto pt = token_->DecryptGcm(*copy, ct->iv, ct->ciphertext, "");
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(pt->reveal(), "carried across");

  // Not a public key, or too short a one: refused before the module.
  EXPECT_EQ(token_->WrapKeyWithPublicKey("garbage", *key).status().code(), ErrorCode::kValidation);
  ASSERT_TRUE(token_->MakeNonExtractable(*key).ok());
  EXPECT_TRUE(token_->MakeNonExtractable(*key).ok());  // idempotent
  ck_session_handle_t s = RawSession();
  EXPECT_FALSE(BoolAttr(fns(), s, CKO_SECRET_KEY, key->id, CKA_EXTRACTABLE));
  EXPECT_EQ(fns()->C_CloseSession(s), CKR_OK);
  auto refused = token_->WrapKeyWithPublicKey(*pub, *key);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("CKR_KEY_UNEXTRACTABLE"), std::string::npos)
      << refused.status().message();
}

TEST_F(TokenTest, GeneratesRandomBytes) {
  OpenToken();
  auto a = token_->GenerateRandom(32);
  auto b = token_->GenerateRandom(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(token_->GenerateRandom(0).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(token_->GenerateRandom(65537).status().code(), ErrorCode::kValidation);
  EXPECT_TRUE(token_->GenerateRandom(65536).ok());
}

TEST_F(TokenTest, LogsInAgainAfterLogoutFromAnotherSession) {
  OpenToken();
  auto aes = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "relogin-aes"));
  auto ec = token_->GenerateKey(Spec(KeyAlgorithm::kEcP256, "relogin-ec"));
  ASSERT_TRUE(aes.ok() && ec.ok());
  ASSERT_TRUE(token_->EncryptGcm(*aes, "warm the handle cache", "").ok());
  EXPECT_EQ(token_->logins(), 1u);

  ck_session_handle_t s = RawSession();
  ASSERT_EQ(fns()->C_Logout(s), CKR_OK);  // logs out every session of the token
  auto ct = token_->EncryptGcm(*aes, "after logout", "");
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  EXPECT_EQ(token_->logins(), 2u);

  ASSERT_EQ(fns()->C_Logout(s), CKR_OK);
  auto digest = crypto::Digest("SHA256", "m");
  auto sig = token_->SignDigest(*ec, *digest, "SHA256", SignScheme::kEcdsa);
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  EXPECT_EQ(token_->logins(), 3u);
  EXPECT_EQ(fns()->C_CloseSession(s), CKR_OK);
}

TEST_F(TokenTest, DestroysBothHalvesAfterALogout) {
  OpenToken();
  auto ec = token_->GenerateKey(Spec(KeyAlgorithm::kEcP256, "destroy-after-logout"));
  ASSERT_TRUE(ec.ok());
  ck_session_handle_t s = RawSession();
  ASSERT_EQ(fns()->C_Logout(s), CKR_OK);
  ASSERT_TRUE(token_->DestroyKey(*ec).ok());
  EXPECT_EQ(token_->CheckKey(*ec).code(), ErrorCode::kNotFound);
  EXPECT_EQ(token_->PublicKeyDer(*ec).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(fns()->C_CloseSession(s), CKR_OK);
}

TEST_F(TokenTest, RejectsHostileReferencesAndBlobs) {
  OpenToken();
  KeySpec wrap_spec = Spec(KeyAlgorithm::kAes256, "w");
  wrap_spec.usage = KeyUsage{.encrypt = false, .sign = false, .wrap = true};
  auto wrapping = token_->GenerateKey(wrap_spec);
  auto hmac = token_->GenerateKey(Spec(KeyAlgorithm::kHmacSha256, "h"));
  ASSERT_TRUE(wrapping.ok() && hmac.ok());
  // References to keys that do not exist, including an empty id.
  for (const KeyRef& ref : {KeyRef{"", KeyKind::kAes}, KeyRef{std::string(300, 'x'), KeyKind::kAes},
                            KeyRef{hmac->id, KeyKind::kAes}}) {
    EXPECT_EQ(token_->EncryptGcm(ref, "x", "").status().code(), ErrorCode::kNotFound);
  }
  EXPECT_EQ(token_
                ->SignDigest(KeyRef{"nope", KeyKind::kEcPrivate}, std::string(32, 'd'), "SHA256",
                             SignScheme::kEcdsa)
                .status()
                .code(),
            ErrorCode::kNotFound);
  // Wrapped blobs: empty, oversized, garbage, and a wrapping key of the wrong kind.
  KeySpec target = Spec(KeyAlgorithm::kAes256, "target");
  EXPECT_EQ(token_->UnwrapKey(*wrapping, "", target).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(token_->UnwrapKey(*wrapping, std::string(20000, 'x'), target).status().code(),
            ErrorCode::kValidation);
  EXPECT_FALSE(token_->UnwrapKey(*wrapping, std::string(40, 'x'), target).ok());
  EXPECT_FALSE(token_->UnwrapKey(*wrapping, std::string(7, 'x'), target).ok());
  EXPECT_EQ(token_->UnwrapKey(*hmac, std::string(40, 'x'), target).status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(token_->UnwrapKey(*wrapping, std::string(40, 'x'), Spec(KeyAlgorithm::kEcP256, "e"))
                .status()
                .code(),
            ErrorCode::kValidation);
  EXPECT_EQ(token_->CheckKey(KeyRef{"target", KeyKind::kAes}).code(), ErrorCode::kNotFound);
  EXPECT_EQ(token_->FindKeyByLabel("target").status().code(), ErrorCode::kNotFound);
}

TEST_F(TokenTest, ReplacesSessionsClosedUnderneathIt) {
  OpenToken(4);
  auto aes = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "closed-sessions"));
  ASSERT_TRUE(aes.ok());
  // Open several pooled sessions, then close them all behind the pool's back.
  std::vector<std::thread> warm;
  for (int i = 0; i < 4; ++i) {
    warm.emplace_back([&] { EXPECT_TRUE(token_->EncryptGcm(*aes, "w", "").ok()); });
  }
  for (auto& t : warm) t.join();
  ASSERT_EQ(fns()->C_CloseAllSessions(token_->slot_id()), CKR_OK);
  auto ct = token_->EncryptGcm(*aes, "after close-all", "");
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  auto pt = token_->DecryptGcm(*aes, ct->iv, ct->ciphertext, "");
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_LE(token_->open_sessions(), 4u);
}

TEST_F(TokenTest, ThreadsWaitForTheOnlySession) {
  OpenToken(1);
  auto aes = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "one-session"));
  ASSERT_TRUE(aes.ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!token_->EncryptGcm(*aes, "x", "").ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(token_->open_sessions(), 1u);
}

class PoolTest : public testing::SoftHsmTest {
 protected:
  // Eight threads encrypt, sign and MAC through a pool of three sessions
  // while another session logs the token out twice.
  void ConcurrentEncryptAndSign() {
    OpenToken(3);
    auto aes = token_->GenerateKey(Spec(KeyAlgorithm::kAes256, "conc-aes"));
    auto ec = token_->GenerateKey(Spec(KeyAlgorithm::kEcP256, "conc-ec"));
    auto hmac = token_->GenerateKey(Spec(KeyAlgorithm::kHmacSha256, "conc-hmac"));
    ASSERT_TRUE(aes.ok() && ec.ok() && hmac.ok());
    auto spki = token_->PublicKeyDer(*ec);
    ASSERT_TRUE(spki.ok());
    std::atomic<int> failures{0};
    std::mutex mu;
    std::vector<std::string> errors;
    auto Fail = [&](const char* what, const Status& st) {
      ++failures;
      std::lock_guard<std::mutex> lock(mu);
      errors.push_back(std::string(what) + ": " + st.ToString());
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 40; ++i) {
          std::string msg = "thread " + std::to_string(t) + " message " + std::to_string(i);
          auto ct = token_->EncryptGcm(*aes, msg, "aad");
          auto pt = ct.ok() ? token_->DecryptGcm(*aes, ct->iv, ct->ciphertext, "aad")
                            : Result<SecretBytes>(ct.status());
          if (!pt.ok() || pt->reveal() != msg) Fail("gcm", pt.status());
          auto digest = crypto::Digest("SHA256", msg);
          auto sig = token_->SignDigest(*ec, *digest, "SHA256", SignScheme::kEcdsa);
          if (!sig.ok() || !OpenSslVerify(*spki, *digest, *sig, EVP_sha256(), 0)) {
            Fail("ecdsa", sig.status());
          }
          auto mac = token_->HmacSha256(*hmac, msg);
          auto ok =
              mac.ok() ? token_->VerifyHmacSha256(*hmac, msg, *mac) : Result<bool>(mac.status());
          if (!ok.ok() || !*ok) Fail("hmac", ok.status());
        }
      });
    }
    // Meanwhile another part of the process logs the token out twice.
    ck_session_handle_t s = RawSession();
    for (int i = 0; i < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      ck_rv_t rv = fns()->C_Logout(s);
      EXPECT_TRUE(rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN) << rv;
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0) << (errors.empty() ? "" : errors[0]) << " / "
                                  << (errors.empty() ? "" : errors.back());
    auto after = token_->EncryptGcm(*aes, "after", "");
    EXPECT_TRUE(after.ok()) << after.status().ToString();
    EXPECT_LE(token_->open_sessions(), 3u);
    EXPECT_GE(token_->logins(), 2u);
    EXPECT_EQ(fns()->C_CloseSession(s), CKR_OK);
  }
};

TEST_F(PoolTest, ConcurrentEncryptAndSignThroughThePool) { ConcurrentEncryptAndSign(); }

// The same through a module whose every call is serialized (the path for
// modules that cannot use OS locking): checks the lock order holds.
class SerializedPoolTest : public PoolTest {
 public:
  SerializedPoolTest() { serialize_calls_ = true; }
};

TEST_F(SerializedPoolTest, ConcurrentEncryptAndSignThroughThePool) {
  ConcurrentEncryptAndSign();
  EXPECT_TRUE(module_->serialized());
}

}  // namespace
}  // namespace rampart::pkcs11
