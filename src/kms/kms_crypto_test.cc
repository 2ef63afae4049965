// KmsService unit tests: cryptographic operations (symmetric encryption and
// tampering, data keys, HMAC, signing, RSA-OAEP, data key pairs).
#include <thread>

#include "kms/kms_test_fixture.h"
#include "rampart/core/arn.h"
#include "rampart/crypto/pkey.h"
#include "rampart/kms/ciphertext.h"

namespace rampart::kms::test {
namespace {

TEST_F(KmsServiceTest, EncryptDecryptWithContext) {
  std::string key = NewKey();
  json::Value ctx = Obj({{"purpose", "test"}, {"app", "x"}});
  std::string blob = Encrypt(key, "secret data", ctx);
  ASSERT_FALSE(blob.empty());
  EXPECT_EQ(blob.find("secret data"), std::string::npos);
  auto plain = A("Decrypt", Obj({{"CiphertextBlob", blob}, {"EncryptionContext", ctx}}));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->get_string("Plaintext"), "secret data");
  EXPECT_EQ(plain->get_string("KeyId"), "arn:aws:kms:us-east-1:111122223333:key/" + key);
  // Context order does not matter; its content does.
  json::Value reordered = Obj({{"app", "x"}, {"purpose", "test"}});
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}, {"EncryptionContext", reordered}})).ok());
  EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", blob}}))), "InvalidCiphertextException");
  EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", blob},
                                   {"EncryptionContext", Obj({{"purpose", "test"}})}}))),
            "InvalidCiphertextException");
}

TEST_F(KmsServiceTest, EveryBitFlipIsDetected) {
  std::string key = NewKey();
  std::string blob = Encrypt(key, "abc");
  for (size_t i = 0; i < blob.size(); ++i) {
    std::string t = blob;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    auto r = A("Decrypt", Obj({{"CiphertextBlob", t}}));
    EXPECT_FALSE(r.ok()) << "byte " << i;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().modeled() == "InvalidCiphertextException" ||
                  r.status().modeled() == "NotFoundException")
          << i << " " << r.status().ToString();
    }
  }
  EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", blob.substr(0, blob.size() - 1)}}))),
            "InvalidCiphertextException");
}

TEST_F(KmsServiceTest, DecryptChecksAGivenKeyId) {
  std::string k1 = NewKey();
  std::string k2 = NewKey();
  std::string blob = Encrypt(k1, "abc");
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}, {"KeyId", k1}})).ok());
  EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", blob}, {"KeyId", k2}}))),
            "IncorrectKeyException");
}

TEST_F(KmsServiceTest, ReEncryptAndDataKeys) {
  std::string k1 = NewKey();
  std::string k2 = NewKey();
  std::string blob = Encrypt(k1, "move me", Obj({{"a", "1"}}));
  auto re = A("ReEncrypt", Obj({{"CiphertextBlob", blob},
                                {"SourceEncryptionContext", Obj({{"a", "1"}})},
                                {"DestinationKeyId", k2}}));
  ASSERT_TRUE(re.ok()) << re.status().ToString();
  std::string moved(re->get_string("CiphertextBlob"));
  auto plain = A("Decrypt", Obj({{"CiphertextBlob", moved}}));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->get_string("Plaintext"), "move me");
  EXPECT_EQ(plain->get_string("KeyId"), "arn:aws:kms:us-east-1:111122223333:key/" + k2);

  auto dk = A("GenerateDataKey", Obj({{"KeyId", k1}, {"KeySpec", "AES_256"}}));
  ASSERT_TRUE(dk.ok()) << dk.status().ToString();
  EXPECT_EQ(dk->get_string("Plaintext").size(), 32u);
  auto back = A("Decrypt", Obj({{"CiphertextBlob", dk->get_string("CiphertextBlob")}}));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->get_string("Plaintext"), dk->get_string("Plaintext"));
  auto np = A("GenerateDataKeyWithoutPlaintext", Obj({{"KeyId", k1}, {"NumberOfBytes", 7}}));
  ASSERT_TRUE(np.ok());
  EXPECT_EQ(np->find("Plaintext"), nullptr);
  EXPECT_EQ(A("Decrypt", Obj({{"CiphertextBlob", np->get_string("CiphertextBlob")}}))
                ->get_string("Plaintext")
                .size(),
            7u);
  EXPECT_FALSE(A("GenerateDataKey", Obj({{"KeyId", k1}})).ok());
  EXPECT_FALSE(
      A("GenerateDataKey", Obj({{"KeyId", k1}, {"KeySpec", "AES_128"}, {"NumberOfBytes", 16}}))
          .ok());
  auto rnd = A("GenerateRandom", Obj({{"NumberOfBytes", 1024}}));
  ASSERT_TRUE(rnd.ok());
  EXPECT_EQ(rnd->get_string("Plaintext").size(), 1024u);
  EXPECT_FALSE(A("GenerateRandom", Obj({{"NumberOfBytes", 1025}})).ok());
}

TEST_F(KmsServiceTest, HmacKeys) {
  auto created =
      A("CreateKey", Obj({{"KeySpec", "HMAC_384"}, {"KeyUsage", "GENERATE_VERIFY_MAC"}}));
  ASSERT_TRUE(created.ok());
  std::string key(created->find("KeyMetadata")->get_string("KeyId"));
  auto mac = A("GenerateMac",
               Obj({{"KeyId", key}, {"Message", "hello"}, {"MacAlgorithm", "HMAC_SHA_384"}}));
  ASSERT_TRUE(mac.ok()) << mac.status().ToString();
  EXPECT_EQ(mac->get_string("Mac").size(), 48u);
  auto ok = A("VerifyMac", Obj({{"KeyId", key}, {"Message", "hello"},
                                {"MacAlgorithm", "HMAC_SHA_384"}, {"Mac", mac->get_string("Mac")}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->find("MacValid")->as_bool());
  EXPECT_EQ(Code(A("VerifyMac", Obj({{"KeyId", key}, {"Message", "hellO"},
                                     {"MacAlgorithm", "HMAC_SHA_384"},
                                     {"Mac", mac->get_string("Mac")}}))),
            "KMSInvalidMacException");
  EXPECT_EQ(Code(A("GenerateMac", Obj({{"KeyId", key}, {"Message", "hello"},
                                       {"MacAlgorithm", "HMAC_SHA_256"}}))),
            "InvalidKeyUsageException");
  EXPECT_EQ(Code(A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))),
            "InvalidKeyUsageException");
}

TEST_F(KmsServiceTest, SignAndVerifyEverySpec) {
  struct Case {
    const char* spec;
    const char* algorithm;
    size_t digest;
  };
  for (Case c : {Case{"ECC_NIST_P256", "ECDSA_SHA_256", 32}, Case{"ECC_NIST_P384", "ECDSA_SHA_384", 48},
                 Case{"ECC_NIST_P521", "ECDSA_SHA_512", 64},
                 Case{"ECC_SECG_P256K1", "ECDSA_SHA_256", 32},
                 Case{"RSA_2048", "RSASSA_PSS_SHA_256", 32},
                 Case{"RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", 64}}) {
    SCOPED_TRACE(c.spec + std::string(" ") + c.algorithm);
    auto created = A("CreateKey", Obj({{"KeySpec", c.spec}, {"KeyUsage", "SIGN_VERIFY"}}));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    std::string key(created->find("KeyMetadata")->get_string("KeyId"));
    auto sig = A("Sign", Obj({{"KeyId", key}, {"Message", "hello"}, {"SigningAlgorithm", c.algorithm}}));
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    std::string signature(sig->get_string("Signature"));
    auto ok = A("Verify", Obj({{"KeyId", key}, {"Message", "hello"}, {"Signature", signature},
                               {"SigningAlgorithm", c.algorithm}}));
    ASSERT_TRUE(ok.ok()) << ok.status().ToString();
    EXPECT_TRUE(ok->find("SignatureValid")->as_bool());
    EXPECT_EQ(Code(A("Verify", Obj({{"KeyId", key}, {"Message", "hellO"}, {"Signature", signature},
                                    {"SigningAlgorithm", c.algorithm}}))),
              "KMSInvalidSignatureException");
    // DIGEST: the caller's digest must have the algorithm's length.
    EXPECT_EQ(A("Sign", Obj({{"KeyId", key}, {"Message", std::string(c.digest + 1, 'd')},
                             {"MessageType", "DIGEST"}, {"SigningAlgorithm", c.algorithm}}))
                  .status()
                  .code(),
              ErrorCode::kValidation);
    EXPECT_TRUE(A("Sign", Obj({{"KeyId", key}, {"Message", std::string(c.digest, 'd')},
                              {"MessageType", "DIGEST"}, {"SigningAlgorithm", c.algorithm}}))
                    .ok());
    auto pub = A("GetPublicKey", Obj({{"KeyId", key}}));
    ASSERT_TRUE(pub.ok());
    EXPECT_EQ(static_cast<unsigned char>(pub->get_string("PublicKey")[0]), 0x30);
    EXPECT_EQ(Code(A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))),
              "InvalidKeyUsageException");
  }
  auto p256 = A("CreateKey", Obj({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "SIGN_VERIFY"}}));
  std::string key(p256->find("KeyMetadata")->get_string("KeyId"));
  EXPECT_EQ(Code(A("Sign", Obj({{"KeyId", key}, {"Message", "m"},
                                {"SigningAlgorithm", "ECDSA_SHA_384"}}))),
            "InvalidKeyUsageException");
  EXPECT_EQ(A("CreateKey", Obj({{"KeySpec", "ECC_NIST_P256"}, {"KeyUsage", "ENCRYPT_DECRYPT"}}))
                .status()
                .code(),
            ErrorCode::kValidation);
}

TEST_F(KmsServiceTest, RsaOaepEncryption) {
  auto created = A("CreateKey", Obj({{"KeySpec", "RSA_2048"}, {"KeyUsage", "ENCRYPT_DECRYPT"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const json::Value& m = *created->find("KeyMetadata");
  ASSERT_EQ(m.find("EncryptionAlgorithms")->as_array().size(), 2u);
  std::string key(m.get_string("KeyId"));
  for (const char* alg : {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}) {
    auto ct = A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "secret"}, {"EncryptionAlgorithm", alg}}));
    ASSERT_TRUE(ct.ok()) << ct.status().ToString();
    auto pt = A("Decrypt", Obj({{"KeyId", key}, {"CiphertextBlob", ct->get_string("CiphertextBlob")},
                                {"EncryptionAlgorithm", alg}}));
    ASSERT_TRUE(pt.ok()) << pt.status().ToString();
    EXPECT_EQ(pt->get_string("Plaintext"), "secret");
    // Without the KeyId the ciphertext names no key.
    EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", ct->get_string("CiphertextBlob")},
                                     {"EncryptionAlgorithm", alg}}))),
              "InvalidCiphertextException");
  }
  EXPECT_EQ(Code(A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))),
            "InvalidKeyUsageException");
  EXPECT_EQ(A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", std::string(300, 'x')},
                              {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}}))
                .status()
                .code(),
            ErrorCode::kValidation);
}

TEST_F(KmsServiceTest, DataKeyPairs) {
  std::string key = NewKey();
  auto pair = A("GenerateDataKeyPair", Obj({{"KeyId", key}, {"KeyPairSpec", "ECC_NIST_P256"},
                                            {"EncryptionContext", Obj({{"k", "v"}})}}));
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  std::string private_der(pair->get_string("PrivateKeyPlaintext"));
  auto parsed = crypto::PrivateKey::FromPkcs8(SecretBytes(private_der));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed->PublicKeyDer(), pair->get_string("PublicKey"));
  auto opened = A("Decrypt", Obj({{"CiphertextBlob", pair->get_string("PrivateKeyCiphertextBlob")},
                                  {"EncryptionContext", Obj({{"k", "v"}})}}));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->get_string("Plaintext"), private_der);
  auto bare = A("GenerateDataKeyPairWithoutPlaintext",
                Obj({{"KeyId", key}, {"KeyPairSpec", "RSA_2048"}}));
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  EXPECT_EQ(bare->find("PrivateKeyPlaintext"), nullptr);
  EXPECT_EQ(bare->get_string("KeyPairSpec"), "RSA_2048");
}

}  // namespace
}  // namespace rampart::kms::test
