// PrivateKey: round trips through PKCS#8, signatures and OAEP, and
// rejection of tampered inputs.
#include "rampart/crypto/pkey.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

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

// Contexts are pooled per key: repeated and interleaved operations with
// different digests and paddings must each use the right setup, and a
// failed operation must not poison later ones.
TEST(PkeyTest, PooledContextsKeepEachSetupApart) {
  auto key = PrivateKey::GenerateRsa(2048);
  ASSERT_TRUE(key.ok());
  auto d256 = *Digest("SHA256", "message");
  auto d512 = *Digest("SHA512", "message");
  for (int round = 0; round < 3; ++round) {
    auto pss = key->SignDigest(d256, "SHA256", SignPadding::kPss);
    auto pkcs1 = key->SignDigest(d512, "SHA512", SignPadding::kPkcs1);
    ASSERT_TRUE(pss.ok() && pkcs1.ok());
    EXPECT_TRUE(*key->VerifyDigest(d256, *pss, "SHA256", SignPadding::kPss));
    EXPECT_TRUE(*key->VerifyDigest(d512, *pkcs1, "SHA512", SignPadding::kPkcs1));
    // The other setup's signature does not verify under this one.
    EXPECT_FALSE(*key->VerifyDigest(d256, *pss, "SHA256", SignPadding::kPkcs1));
    EXPECT_FALSE(*key->VerifyDigest(d512, *pkcs1, "SHA512", SignPadding::kPss));
    // A failed decryption, then a good one with the same setup.
    EXPECT_FALSE(key->DecryptOaep(std::string(256, '\x01'), "SHA256").ok());
    auto ct = key->EncryptOaep("round " + std::to_string(round), "SHA256");
    ASSERT_TRUE(ct.ok());
    EXPECT_EQ(key->DecryptOaep(*ct, "SHA256")->reveal(), "round " + std::to_string(round));
    EXPECT_FALSE(key->DecryptOaep(*ct, "SHA1").ok());
  }
  // A wrong-length digest fails; the next signature still works.
  EXPECT_FALSE(key->SignDigest("short", "SHA256", SignPadding::kPss).ok());
  auto again = key->SignDigest(d256, "SHA256", SignPadding::kPss);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(*key->VerifyDigest(d256, *again, "SHA256", SignPadding::kPss));
}

// ECDSA draws a fresh nonce on every signature, also on a reused context,
// and one key signs from several threads at once.
TEST(PkeyTest, EcdsaOnPooledContextsFromManyThreads) {
  auto key = PrivateKey::GenerateEc("P-256");
  ASSERT_TRUE(key.ok());
  const std::string digest = *Digest("SHA256", "message");
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  std::vector<std::vector<std::string>> sigs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&key, &digest, &sigs, t] {
      for (int i = 0; i < kEach; ++i) {
        auto sig = key->SignDigest(digest, "SHA256", SignPadding::kEcdsa);
        if (sig.ok()) sigs[static_cast<size_t>(t)].push_back(*sig);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> distinct;
  for (const auto& list : sigs) {
    ASSERT_EQ(list.size(), static_cast<size_t>(kEach));
    for (const std::string& sig : list) {
      EXPECT_TRUE(*key->VerifyDigest(digest, sig, "SHA256", SignPadding::kEcdsa));
      distinct.insert(sig);
    }
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads * kEach));
}

// A moved key takes its pooled contexts along; the moved-to key keeps
// working after the source is gone.
TEST(PkeyTest, MovedKeyKeepsWorking) {
  auto made = PrivateKey::GenerateEc("P-384");
  ASSERT_TRUE(made.ok());
  PrivateKey first = std::move(made).value();
  const std::string digest = *Digest("SHA384", "m");
  ASSERT_TRUE(first.SignDigest(digest, "SHA384", SignPadding::kEcdsa).ok());
  PrivateKey second = std::move(first);
  auto sig = second.SignDigest(digest, "SHA384", SignPadding::kEcdsa);
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(*second.VerifyDigest(digest, *sig, "SHA384", SignPadding::kEcdsa));
  auto other = PrivateKey::GenerateEc("P-384");
  ASSERT_TRUE(other.ok());
  second = std::move(other).value();
  EXPECT_FALSE(*second.VerifyDigest(digest, *sig, "SHA384", SignPadding::kEcdsa));
}

TEST(PkeyTest, DigestsMatchKnownValues) {
  // FIPS 180-2 test vector "abc".
  auto d = Digest("SHA256", "abc");
  ASSERT_TRUE(d.ok());
  static const unsigned char kAbc[] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                       0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                       0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                       0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  EXPECT_EQ(*d, std::string(reinterpret_cast<const char*>(kAbc), sizeof kAbc));
  for (const char* md : {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"}) {
    EXPECT_EQ(Digest(md, "x")->size(), DigestSize(md)) << md;
  }
  EXPECT_FALSE(Digest("MD5", "x").ok());
}

TEST(PkeyTest, RejectsGarbageDer) {
  EXPECT_FALSE(PrivateKey::FromPkcs8(SecretBytes(std::string_view("not der"))).ok());
  EXPECT_FALSE(PrivateKey::FromPkcs8(SecretBytes()).ok());
  EXPECT_EQ(DigestSize("SHA512"), 64u);
  EXPECT_EQ(DigestSize("MD5"), 0u);
}

}  // namespace
}  // namespace rampart::crypto
