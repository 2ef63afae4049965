// KMS custom key stores over a two-member SoftHSM2 cluster: the store life
// cycle, keys in the HSM, the ciphertext marking, and hostile input.
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "kms/kms_test_fixture.h"
#include "rampart/kms/ciphertext.h"
#include "rampart/pkcs11/pkcs11_token.h"

namespace rampart::kms::test {
namespace {

constexpr const char* kPin = SoftHsmCluster::kPin;
constexpr const char* kCluster = SoftHsmCluster::kCluster;
constexpr char kAnchor[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

class CustomKeyStoreTest : public KmsServiceTest {
 protected:
  void SetUp() override {
    if (!SoftHsmCluster::Available()) {
      GTEST_SKIP() << "SoftHSM2 is not installed (scripts/install-deps.sh)";
    }
    KmsServiceTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(tokens_.Create(hsm_));
    service_->SetHsmConfig(&hsm_);
    // kAcct is the management account: the one a cluster without an
    // accounts list is for.
    ASSERT_TRUE(db_->Write([](store::Tx& tx) {
                     return server::CredentialStore::InsertAccount(tx, kAcct, "management", true);
                   }).ok());
  }

  void TearDown() override {
    service_.reset();  // closes the HSM sessions before the tokens go
  }

  std::string NewStore(std::string name = "store") {
    auto r = A("CreateCustomKeyStore", Obj({{"CustomKeyStoreName", name},
                                            {"CloudHsmClusterId", kCluster},
                                            {"KeyStorePassword", kPin},
                                            {"TrustAnchorCertificate", kAnchor}}));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->get_string("CustomKeyStoreId")) : "";
  }

  std::string State(const std::string& id) {
    auto r = A("DescribeCustomKeyStores", Obj({{"CustomKeyStoreId", id}}));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return "";
    return std::string(r->find("CustomKeyStores")->as_array()[0].get_string("ConnectionState"));
  }

  server::HsmConfig hsm_;
  SoftHsmCluster tokens_;
};

TEST_F(CustomKeyStoreTest, KeysInAConnectedStoreEncryptInTheHsm) {
  std::string store = NewStore();
  EXPECT_EQ(State(store), "DISCONNECTED");
  EXPECT_EQ(Code(A("CreateKey", Obj({{"Origin", "AWS_CLOUDHSM"}, {"CustomKeyStoreId", store}}))),
            "CustomKeyStoreInvalidStateException");
  ASSERT_TRUE(A("ConnectCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  EXPECT_EQ(State(store), "CONNECTED");
  auto created = A("CreateKey", Obj({{"Origin", "AWS_CLOUDHSM"}, {"CustomKeyStoreId", store}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const json::Value* meta = created->find("KeyMetadata");
  EXPECT_EQ(meta->get_string("CustomKeyStoreId"), store);
  EXPECT_EQ(meta->get_string("CloudHsmClusterId"), kCluster);
  std::string key(meta->get_string("KeyId"));

  std::string blob = Encrypt(key, "in the HSM", Obj({{"k", "v"}}));
  auto parsed = ParseBlob(blob);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->header.material_version, 0x80000001u);  // the HSM mark
  auto plain = A("Decrypt", Obj({{"CiphertextBlob", blob}, {"EncryptionContext", Obj({{"k", "v"}})}}));
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->get_string("Plaintext"), "in the HSM");
  auto random = A("GenerateRandom", Obj({{"NumberOfBytes", 48}, {"CustomKeyStoreId", store}}));
  ASSERT_TRUE(random.ok()) << random.status().ToString();
  EXPECT_EQ(random->get_string("Plaintext").size(), 48u);

  ASSERT_TRUE(A("DisconnectCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  EXPECT_EQ(Code(A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))), "KMSInvalidStateException");
  auto described = A("DescribeKey", Obj({{"KeyId", key}}));
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(described->find("KeyMetadata")->get_string("KeyState"), "Unavailable");
  EXPECT_EQ(Code(A("DeleteCustomKeyStore", Obj({{"CustomKeyStoreId", store}}))),
            "CustomKeyStoreHasCMKsException");
}

TEST_F(CustomKeyStoreTest, DeletedKeysLeaveTheHsmWhenTheStoreDisconnects) {
  std::string store = NewStore();
  ASSERT_TRUE(A("ConnectCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  std::string doomed = NewKey(Obj({{"Origin", "AWS_CLOUDHSM"}, {"CustomKeyStoreId", store}}));
  std::string kept = NewKey(Obj({{"Origin", "AWS_CLOUDHSM"}, {"CustomKeyStoreId", store}}));
  ASSERT_TRUE(A("ScheduleKeyDeletion", Obj({{"KeyId", doomed}, {"PendingWindowInDays", 7}})).ok());
  clock_.Advance(std::chrono::hours(24 * 8));
  auto swept = service_->SweepOnce(clock_.Now());
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(swept->deleted, 1);
  ASSERT_TRUE(A("DisconnectCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  // Look into both tokens directly.
  auto module = pkcs11::Module::Load(SoftHsmCluster::kModule);
  ASSERT_TRUE(module.ok());
  for (const char* label : {"k1", "k2"}) {
    pkcs11::TokenOptions opts;
    opts.selector.label = label;
    opts.user_pin = SecretBytes(kPin);
    auto token = pkcs11::Pkcs11Token::Open(*module, std::move(opts));
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    EXPECT_EQ((*token)->FindKeyByLabel(doomed).status().code(), ErrorCode::kNotFound) << label;
    EXPECT_TRUE((*token)->FindKeyByLabel(kept).ok()) << label;
  }
  EXPECT_EQ(Code(A("DeleteCustomKeyStore", Obj({{"CustomKeyStoreId", store}}))),
            "CustomKeyStoreHasCMKsException");
}

TEST_F(CustomKeyStoreTest, RefusesForgedAndMisdirectedCiphertexts) {
  std::string store = NewStore();
  ASSERT_TRUE(A("ConnectCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  std::string hsm_key = NewKey(Obj({{"Origin", "AWS_CLOUDHSM"}, {"CustomKeyStoreId", store}}));
  std::string soft_key = NewKey();
  std::string blob = Encrypt(hsm_key, "abc");
  auto parsed = ParseBlob(blob);
  ASSERT_TRUE(parsed.ok());
  // The same body under a header without the HSM mark, and a software
  // key's blob given the mark: neither decrypts.
  std::string unmarked = EncodeBlobHeader({hsm_key, 1}) + std::string(parsed->sealed);
  EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", unmarked}}))), "InvalidCiphertextException");
  std::string soft_blob = Encrypt(soft_key, "abc");  // ParseBlob's result views into it
  auto soft = ParseBlob(soft_blob);
  ASSERT_TRUE(soft.ok());
  std::string marked = EncodeBlobHeader({soft_key, 0x80000001u}) + std::string(soft->sealed);
  EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", marked}}))), "InvalidCiphertextException");
  for (size_t i = 0; i < blob.size(); i += 7) {
    std::string t = blob;
    t[i] = static_cast<char>(t[i] ^ 0x20);
    EXPECT_FALSE(A("Decrypt", Obj({{"CiphertextBlob", t}})).ok()) << i;
  }
}

TEST_F(CustomKeyStoreTest, StoreRulesAndErrors) {
  std::string store = NewStore();
  EXPECT_EQ(Code(A("CreateCustomKeyStore", Obj({{"CustomKeyStoreName", "store"},
                                                {"CloudHsmClusterId", kCluster},
                                                {"KeyStorePassword", kPin},
                                                {"TrustAnchorCertificate", kAnchor}}))),
            "CustomKeyStoreNameInUseException");
  EXPECT_EQ(Code(A("CreateCustomKeyStore", Obj({{"CustomKeyStoreName", "two"},
                                                {"CloudHsmClusterId", kCluster},
                                                {"KeyStorePassword", kPin},
                                                {"TrustAnchorCertificate", kAnchor}}))),
            "CloudHsmClusterInUseException");
  EXPECT_EQ(A("CreateCustomKeyStore", Obj({{"CustomKeyStoreName", "x"}})).status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(A("CreateCustomKeyStore", Obj({{"CustomKeyStoreName", "x"},
                                           {"CustomKeyStoreType", "EXTERNAL_KEY_STORE"}}))
                .status()
                .code(),
            ErrorCode::kNotImplemented);
  EXPECT_EQ(A("DescribeCustomKeyStores", Obj({{"CustomKeyStoreId", store}, {"CustomKeyStoreName", "store"}}))
                .status()
                .code(),
            ErrorCode::kValidation);
  EXPECT_EQ(Code(A("DescribeCustomKeyStores", Obj({{"Marker", "garbage"}}))), "InvalidMarkerException");
  EXPECT_EQ(Code(A("ConnectCustomKeyStore", Obj({{"CustomKeyStoreId", "cks-0000000000000000'"}}))),
            "CustomKeyStoreNotFoundException");
  // Another account cannot see or use the store.
  EXPECT_EQ(Code(Call(Root(kOther), "DescribeCustomKeyStores", Obj({{"CustomKeyStoreId", store}}))),
            "CustomKeyStoreNotFoundException");
  // An IAM user without permissions is denied.
  EXPECT_EQ(Call(User(kAcct, "nobody"), "DescribeCustomKeyStores", json::Value::MakeObject())
                .status()
                .code(),
            ErrorCode::kAccessDenied);
  // A wrong password fails the connection with INVALID_CREDENTIALS.
  ASSERT_TRUE(A("UpdateCustomKeyStore", Obj({{"CustomKeyStoreId", store}, {"KeyStorePassword", "wrong-pass"}})).ok());
  ASSERT_TRUE(A("ConnectCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  auto d = A("DescribeCustomKeyStores", Obj({{"CustomKeyStoreId", store}}));
  ASSERT_TRUE(d.ok());
  const json::Value& entry = d->find("CustomKeyStores")->as_array()[0];
  EXPECT_EQ(entry.get_string("ConnectionState"), "FAILED");
  EXPECT_EQ(entry.get_string("ConnectionErrorCode"), "INVALID_CREDENTIALS");
  ASSERT_TRUE(A("DisconnectCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  ASSERT_TRUE(A("DeleteCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  EXPECT_EQ(Code(A("DescribeCustomKeyStores", Obj({{"CustomKeyStoreId", store}}))),
            "CustomKeyStoreNotFoundException");
}

TEST_F(CustomKeyStoreTest, ClustersBelongToTheAccountsTheConfigNames) {
  json::Value create = Obj({{"CustomKeyStoreName", "theirs"},
                            {"CloudHsmClusterId", kCluster},
                            {"KeyStorePassword", kPin},
                            {"TrustAnchorCertificate", kAnchor}});
  // No accounts list: the management account only. For any other account
  // the cluster does not exist.
  auto refused = Call(Root(kOther), "CreateCustomKeyStore", create);
  EXPECT_EQ(Code(refused), "CloudHsmClusterNotFoundException");
  EXPECT_NE(refused.status().message().find(kCluster), std::string::npos);

  // Listed accounts only: now kOther may, and the management account not.
  hsm_.clusters[0].accounts = {std::string(kOther)};
  auto made = Call(Root(kOther), "CreateCustomKeyStore", create);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::string store(made->get_string("CustomKeyStoreId"));
  EXPECT_EQ(Code(A("CreateCustomKeyStore", Obj({{"CustomKeyStoreName", "mine"},
                                                {"CloudHsmClusterId", kCluster},
                                                {"KeyStorePassword", kPin},
                                                {"TrustAnchorCertificate", kAnchor}}))),
            "CloudHsmClusterNotFoundException");

  // Taken off the list, the store can no longer connect.
  hsm_.clusters[0].accounts = {std::string(kAcct)};
  ASSERT_TRUE(Call(Root(kOther), "ConnectCustomKeyStore", Obj({{"CustomKeyStoreId", store}})).ok());
  auto d = Call(Root(kOther), "DescribeCustomKeyStores", Obj({{"CustomKeyStoreId", store}}));
  ASSERT_TRUE(d.ok());
  const json::Value& entry = d->find("CustomKeyStores")->as_array()[0];
  EXPECT_EQ(entry.get_string("ConnectionState"), "FAILED");
  EXPECT_EQ(entry.get_string("ConnectionErrorCode"), "CLUSTER_NOT_FOUND");
}

}  // namespace
}  // namespace rampart::kms::test
