// PrivateKey: round trips through PKCS#8, signatures and OAEP, and
// rejection of tampered inputs.
#include "rampart/crypto/pkey.h"

#include <gtest/gtest.h>

namespace rampart::crypto {
namespace {

TEST(PkeyTest, EcdsaSignVerifyAndPkcs8RoundTrip) {
  for (const char* curve : {"P-256", "P-384", "P-521", "secp256k1"}) {
    auto key = PrivateKey::GenerateEc(curve);
    ASSERT_TRUE(key.ok()) << curve;
    auto digest = Digest("SHA256", "message");
    ASSERT_TRUE(digest.ok());
    auto sig = key->SignDigest(*digest, "SHA256", SignPadding::kEcdsa);
    ASSERT_TRUE(sig.ok()) << curve;
    EXPECT_EQ(static_cast<unsigned char>((*sig)[0]), 0x30) << "DER SEQUENCE";
    auto der = key->ToPkcs8();
    ASSERT_TRUE(der.ok());
    auto again = PrivateKey::FromPkcs8(*der);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(*again->VerifyDigest(*digest, *sig, "SHA256", SignPadding::kEcdsa));
    std::string bad = *sig;
    bad[bad.size() - 1] ^= 1;
    EXPECT_FALSE(*again->VerifyDigest(*digest, bad, "SHA256", SignPadding::kEcdsa));
    EXPECT_EQ(*key->PublicKeyDer(), *again->PublicKeyDer());
  }
}

TEST(PkeyTest, RsaSignaturesAndOaep) {
  auto key = PrivateKey::GenerateRsa(2048);
  ASSERT_TRUE(key.ok());
  auto digest = Digest("SHA384", "message");
  for (SignPadding p : {SignPadding::kPkcs1, SignPadding::kPss}) {
    auto sig = key->SignDigest(*digest, "SHA384", p);
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(sig->size(), 256u);
    EXPECT_TRUE(*key->VerifyDigest(*digest, *sig, "SHA384", p));
    EXPECT_FALSE(*key->VerifyDigest(*Digest("SHA384", "other"), *sig, "SHA384", p));
  }
  auto ct = key->EncryptOaep("secret", "SHA256");
  ASSERT_TRUE(ct.ok());
  auto pt = key->DecryptOaep(*ct, "SHA256");
  ASSERT_TRUE(pt.ok());
  EXPECT_EQ(pt->reveal(), "secret");
  EXPECT_FALSE(key->DecryptOaep(*ct, "SHA1").ok());
  EXPECT_FALSE(key->DecryptOaep("short", "SHA256").ok());
  EXPECT_FALSE(key->EncryptOaep(std::string(300, 'x'), "SHA256").ok());
}

TEST(PkeyTest, RejectsGarbageDer) {
  EXPECT_FALSE(PrivateKey::FromPkcs8(SecretBytes(std::string_view("not der"))).ok());
  EXPECT_FALSE(PrivateKey::FromPkcs8(SecretBytes()).ok());
  EXPECT_EQ(DigestSize("SHA512"), 64u);
  EXPECT_EQ(DigestSize("MD5"), 0u);
}

}  // namespace
}  // namespace rampart::crypto
