// KmsService unit tests: SM2 keys (SM2DSA, SM2PKE, SM2 data key pairs),
// offered only in China regions, checked against OpenSSL directly.
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "kms/kms_test_fixture.h"

namespace rampart::kms::test {
namespace {

constexpr std::string_view kChina = "cn-north-1";

class Sm2Test : public KmsServiceTest {
 protected:
  Result<json::Value> Cn(std::string_view op, const json::Value& in) {
    return CallIn(Root(kAcct), kChina, op, in);
  }
  std::string NewSm2Key(std::string_view usage) {
    auto r = Cn("CreateKey", Obj({{"KeySpec", "SM2"}, {"KeyUsage", usage}}));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->find("KeyMetadata")->get_string("KeyId")) : "";
  }
  std::string PublicKey(const std::string& key) {
    auto r = Cn("GetPublicKey", Obj({{"KeyId", key}}));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->get_string("PublicKey")) : "";
  }
};

EVP_PKEY* ParsePublic(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size()));
}

// Verifies an SM2DSA signature of message with OpenSSL alone, with the
// given distinguishing ID.
bool OpenSslVerifies(std::string_view public_der, std::string_view message,
                     std::string_view signature, std::string id) {
  EVP_PKEY* pkey = ParsePublic(public_der);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_DIST_ID, id.data(), id.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = pkey != nullptr && md != nullptr && EVP_PKEY_is_a(pkey, "SM2") == 1 &&
            EVP_DigestVerifyInit_ex(md, &pctx, "SM3", nullptr, nullptr, pkey, nullptr) == 1 &&
            EVP_PKEY_CTX_set_params(pctx, params) == 1 &&
            EVP_DigestVerify(
                md, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  return ok;
}

std::string OpenSslEncrypt(std::string_view public_der, std::string_view plaintext) {
  EVP_PKEY* pkey = ParsePublic(public_der);
  EVP_PKEY_CTX* ctx = pkey ? EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr) : nullptr;
  std::string out(plaintext.size() + 256, '\0');
  size_t n = out.size();
  bool ok = ctx != nullptr && EVP_PKEY_encrypt_init(ctx) == 1 &&
            EVP_PKEY_encrypt(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                             reinterpret_cast<const unsigned char*>(plaintext.data()),
                             plaintext.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  out.resize(ok ? n : 0);
  return out;
}

TEST_F(Sm2Test, OnlyInChinaRegions) {
  auto outside = A("CreateKey", Obj({{"KeySpec", "SM2"}, {"KeyUsage", "SIGN_VERIFY"}}));
  EXPECT_EQ(Code(outside), "UnsupportedOperationException");
  EXPECT_NE(outside.status().message().find("China"), std::string::npos);
  std::string symmetric = NewKey();
  EXPECT_EQ(Code(A("GenerateDataKeyPair", Obj({{"KeyId", symmetric}, {"KeyPairSpec", "SM2"}}))),
            "UnsupportedOperationException");
  auto created = Cn("CreateKey", Obj({{"KeySpec", "SM2"}, {"KeyUsage", "SIGN_VERIFY"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const json::Value& m = *created->find("KeyMetadata");
  EXPECT_EQ(m.get_string("KeySpec"), "SM2");
  ASSERT_EQ(m.find("SigningAlgorithms")->as_array().size(), 1u);
  EXPECT_EQ(m.find("SigningAlgorithms")->as_array()[0].as_string(), "SM2DSA");
  EXPECT_EQ(Cn("CreateKey", Obj({{"KeySpec", "SM2"}, {"KeyUsage", "GENERATE_VERIFY_MAC"}}))
                .status()
                .code(),
            ErrorCode::kValidation);
}

TEST_F(Sm2Test, SignaturesVerifyInOpenSslWithTheDefaultId) {
  std::string key = NewSm2Key("SIGN_VERIFY");
  std::string pub = PublicKey(key);
  auto sig =
      Cn("Sign", Obj({{"KeyId", key}, {"Message", "hello sm2"}, {"SigningAlgorithm", "SM2DSA"}}));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  std::string signature(sig->get_string("Signature"));
  EXPECT_TRUE(OpenSslVerifies(pub, "hello sm2", signature, "1234567812345678"));
  EXPECT_FALSE(OpenSslVerifies(pub, "hello sm2", signature, "8765432187654321"));
  EXPECT_FALSE(OpenSslVerifies(pub, "hello sm3", signature, "1234567812345678"));
  auto valid = Cn("Verify", Obj({{"KeyId", key},
                                 {"Message", "hello sm2"},
                                 {"Signature", signature},
                                 {"SigningAlgorithm", "SM2DSA"}}));
  ASSERT_TRUE(valid.ok()) << valid.status().ToString();
  EXPECT_TRUE(valid->find("SignatureValid")->as_bool());
  EXPECT_EQ(Code(Cn("Verify", Obj({{"KeyId", key},
                                   {"Message", "hello sm3"},
                                   {"Signature", signature},
                                   {"SigningAlgorithm", "SM2DSA"}}))),
            "KMSInvalidSignatureException");
  EXPECT_EQ(Code(Cn("Verify", Obj({{"KeyId", key},
                                   {"Message", "hello sm2"},
                                   {"Signature", "garbage"},
                                   {"SigningAlgorithm", "SM2DSA"}}))),
            "KMSInvalidSignatureException");
  EXPECT_EQ(
      Code(Cn("Sign",
              Obj({{"KeyId", key}, {"Message", "m"}, {"SigningAlgorithm", "ECDSA_SHA_256"}}))),
      "InvalidKeyUsageException");
  EXPECT_EQ(Code(Cn("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))),
            "InvalidKeyUsageException");
}

TEST_F(Sm2Test, DigestMessages) {
  std::string key = NewSm2Key("SIGN_VERIFY");
  std::string e(32, '\x5a');
  auto sig = Cn("Sign", Obj({{"KeyId", key},
                             {"Message", e},
                             {"MessageType", "DIGEST"},
                             {"SigningAlgorithm", "SM2DSA"}}));
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  auto ok = Cn("Verify", Obj({{"KeyId", key},
                              {"Message", e},
                              {"MessageType", "DIGEST"},
                              {"Signature", sig->get_string("Signature")},
                              {"SigningAlgorithm", "SM2DSA"}}));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  // A digest is not the message it was made from: RAW verification of the
  // same bytes hashes them with Z first and fails.
  EXPECT_EQ(Code(Cn("Verify", Obj({{"KeyId", key},
                                   {"Message", e},
                                   {"Signature", sig->get_string("Signature")},
                                   {"SigningAlgorithm", "SM2DSA"}}))),
            "KMSInvalidSignatureException");
  EXPECT_EQ(Cn("Sign", Obj({{"KeyId", key},
                            {"Message", std::string(31, 'd')},
                            {"MessageType", "DIGEST"},
                            {"SigningAlgorithm", "SM2DSA"}}))
                .status()
                .code(),
            ErrorCode::kValidation);
}

TEST_F(Sm2Test, EncryptionInteroperatesWithOpenSsl) {
  std::string key = NewSm2Key("ENCRYPT_DECRYPT");
  auto described = Cn("DescribeKey", Obj({{"KeyId", key}}));
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(described->find("KeyMetadata")->find("EncryptionAlgorithms")->as_array()[0].as_string(),
            "SM2PKE");
  auto ct = Cn("Encrypt",
               Obj({{"KeyId", key}, {"Plaintext", "secret"}, {"EncryptionAlgorithm", "SM2PKE"}}));
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  auto pt = Cn("Decrypt", Obj({{"KeyId", key},
                               {"CiphertextBlob", ct->get_string("CiphertextBlob")},
                               {"EncryptionAlgorithm", "SM2PKE"}}));
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(pt->get_string("Plaintext"), "secret");
  // Ciphertext made by OpenSSL under the public key decrypts in KMS.
  std::string outside = OpenSslEncrypt(PublicKey(key), "from openssl");
  ASSERT_FALSE(outside.empty());
  auto opened =
      Cn("Decrypt",
         Obj({{"KeyId", key}, {"CiphertextBlob", outside}, {"EncryptionAlgorithm", "SM2PKE"}}));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->get_string("Plaintext"), "from openssl");
  std::string tampered = outside;
  tampered[tampered.size() - 1] ^= 1;
  EXPECT_EQ(
      Code(Cn(
          "Decrypt",
          Obj({{"KeyId", key}, {"CiphertextBlob", tampered}, {"EncryptionAlgorithm", "SM2PKE"}}))),
      "InvalidCiphertextException");
  EXPECT_EQ(
      Code(
          Cn("Decrypt",
             Obj({{"KeyId", key}, {"CiphertextBlob", "junk"}, {"EncryptionAlgorithm", "SM2PKE"}}))),
      "InvalidCiphertextException");
  EXPECT_EQ(Cn("Encrypt", Obj({{"KeyId", key},
                               {"Plaintext", std::string(1025, 'x')},
                               {"EncryptionAlgorithm", "SM2PKE"}}))
                .status()
                .code(),
            ErrorCode::kValidation);
  EXPECT_TRUE(Cn("Encrypt", Obj({{"KeyId", key},
                                 {"Plaintext", std::string(1024, 'x')},
                                 {"EncryptionAlgorithm", "SM2PKE"}}))
                  .ok());
  EXPECT_EQ(Code(Cn("Encrypt", Obj({{"KeyId", key},
                                    {"Plaintext", "x"},
                                    {"EncryptionAlgorithm", "RSAES_OAEP_SHA_256"}}))),
            "InvalidKeyUsageException");
}

TEST_F(Sm2Test, DataKeyPairs) {
  auto created = Cn("CreateKey", json::Value::MakeObject());
  ASSERT_TRUE(created.ok());
  std::string key(created->find("KeyMetadata")->get_string("KeyId"));
  auto pair = Cn("GenerateDataKeyPair", Obj({{"KeyId", key}, {"KeyPairSpec", "SM2"}}));
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_EQ(pair->get_string("KeyPairSpec"), "SM2");
  EVP_PKEY* pub = ParsePublic(pair->get_string("PublicKey"));
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(EVP_PKEY_is_a(pub, "SM2"), 1);
  EVP_PKEY_free(pub);
  // The private key comes back in plaintext and sealed under the KMS key.
  auto opened =
      Cn("Decrypt", Obj({{"CiphertextBlob", pair->get_string("PrivateKeyCiphertextBlob")}}));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->get_string("Plaintext"), pair->get_string("PrivateKeyPlaintext"));
}

}  // namespace
}  // namespace rampart::kms::test
