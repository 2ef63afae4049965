// KmsService handlers through the registry, against a real SQLite database
// and the real policy engine (EngineAuthorizer).
#include "rampart/kms/kms_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <filesystem>
#include <thread>

#include "rampart/core/arn.h"
#include "rampart/iam/iam_service.h"
#include "rampart/crypto/pkey.h"
#include "rampart/kms/ciphertext.h"
#include "rampart/server/config.h"
#include "rampart/server/identity.h"

namespace rampart::kms {
namespace {

constexpr std::string_view kAcct = "111122223333";
constexpr std::string_view kOther = "444455556666";

server::Principal Root(std::string_view account) {
  server::Principal p;
  p.account_id = std::string(account);
  p.arn = RootArn(account);
  p.type = "Root";
  p.principal_id = p.account_id;
  return p;
}

server::Principal User(std::string_view account, std::string_view name) {
  server::Principal p;
  p.account_id = std::string(account);
  p.arn = "arn:aws:iam::" + std::string(account) + ":user/" + std::string(name);
  p.type = "IAMUser";
  p.principal_id = "AIDAEXAMPLE" + std::string(name);
  p.user_name = std::string(name);
  return p;
}

json::Value Obj(std::initializer_list<std::pair<std::string_view, json::Value>> members) {
  json::Value v = json::Value::MakeObject();
  for (const auto& [k, m] : members) v.set(k, m);
  return v;
}

// RSAES-OAEP-SHA256 under a DER SubjectPublicKeyInfo, as a client wrapping
// key material for import would.
std::string WrapForImport(std::string_view public_der, std::string_view material) {
  const auto* p = reinterpret_cast<const unsigned char*>(public_der.data());
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(public_der.size()));
  if (pkey == nullptr) return "";
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pkey, nullptr);
  std::string out(512, '\0');
  size_t n = out.size();
  bool ok = ctx && EVP_PKEY_encrypt_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
            EVP_PKEY_encrypt(ctx, reinterpret_cast<unsigned char*>(out.data()), &n,
                             reinterpret_cast<const unsigned char*>(material.data()),
                             material.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  out.resize(ok ? n : 0);
  return out;
}

class KmsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = std::filesystem::temp_directory_path() /
               ("rampart_kms_" + std::to_string(::getpid()) + "_" +
                std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto db = store::OpenSqlite({.path = (dir / "db.sqlite").string()});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(server::CredentialStore::Migrate(*db_).ok());
    ASSERT_TRUE(iam::IamService::Migrate(*db_).ok());
    ASSERT_TRUE(KmsService::Migrate(*db_).ok());
    authorizer_ = std::make_unique<iam::EngineAuthorizer>(*db_, cache_);
    service_ = std::make_unique<KmsService>(*db_, root_key_, *authorizer_);
    service_->Register(registry_);
  }

  Result<json::Value> Call(const server::Principal& p, std::string_view op, const json::Value& in) {
    const server::OperationHandler* h = registry_.Find("kms", op);
    EXPECT_NE(h, nullptr) << op;
    if (h == nullptr) return Status::Internal("no handler");
    server::RequestContext ctx({&p, "kms", op, "us-east-1", "req", "127.0.0.1", "test", true,
                                clock_.Now(), &config_, db_.get(), authorizer_.get(), &clock_});
    return (*h)(ctx, in);
  }
  Result<json::Value> A(std::string_view op, const json::Value& in) {
    return Call(Root(kAcct), op, in);
  }
  std::string NewKey(json::Value in = json::Value::MakeObject()) {
    auto r = A("CreateKey", in);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->find("KeyMetadata")->get_string("KeyId")) : "";
  }
  std::string Encrypt(const std::string& key, std::string_view plaintext,
                      json::Value context = nullptr) {
    json::Value in = Obj({{"KeyId", key}, {"Plaintext", plaintext}});
    if (!context.is_null()) in.set("EncryptionContext", context);
    auto r = A("Encrypt", in);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->get_string("CiphertextBlob")) : "";
  }

  static std::string Code(const Result<json::Value>& r) {
    if (r.ok()) return "OK";
    return r.status().modeled().empty() ? r.status().ToString() : r.status().modeled();
  }

  SecretBytes root_key_{std::string(32, 'k')};
  std::unique_ptr<store::Database> db_;
  iam::PolicyCache cache_;
  std::unique_ptr<iam::EngineAuthorizer> authorizer_;
  std::unique_ptr<KmsService> service_;
  server::Registry registry_;
  server::Config config_;
  OffsetClock clock_;
};

TEST_F(KmsServiceTest, CreateAndDescribeByEveryIdentifier) {
  auto created = A("CreateKey", Obj({{"Description", "d1"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const json::Value& m = *created->find("KeyMetadata");
  std::string id(m.get_string("KeyId"));
  std::string arn(m.get_string("Arn"));
  EXPECT_EQ(arn, "arn:aws:kms:us-east-1:111122223333:key/" + id);
  EXPECT_EQ(m.get_string("KeyState"), "Enabled");
  EXPECT_EQ(m.get_string("KeySpec"), "SYMMETRIC_DEFAULT");
  EXPECT_EQ(m.get_string("KeyUsage"), "ENCRYPT_DECRYPT");
  ASSERT_TRUE(A("CreateAlias", Obj({{"AliasName", "alias/app"}, {"TargetKeyId", id}})).ok());
  for (std::string ref : {id, arn, std::string("alias/app"),
                          std::string("arn:aws:kms:us-east-1:111122223333:alias/app")}) {
    auto d = A("DescribeKey", Obj({{"KeyId", ref}}));
    ASSERT_TRUE(d.ok()) << ref << ": " << d.status().ToString();
    EXPECT_EQ(d->find("KeyMetadata")->get_string("KeyId"), id);
  }
  auto missing = A("DescribeKey", Obj({{"KeyId", "1234abcd-12ab-34cd-56ef-1234567890ab"}}));
  EXPECT_EQ(Code(missing), "NotFoundException");
  EXPECT_EQ(missing.status().message(),
            "Key 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' "
            "does not exist");
  EXPECT_EQ(Code(A("DescribeKey", Obj({{"KeyId", "nonsense"}}))), "NotFoundException");
  EXPECT_EQ(A("DescribeKey", Obj({{"KeyId", "alias/none"}})).status().message(),
            "Alias 'arn:aws:kms:us-east-1:111122223333:alias/none' is not found.");
  // Another account cannot see the key by bare id.
  EXPECT_EQ(Code(Call(Root(kOther), "DescribeKey", Obj({{"KeyId", id}}))), "NotFoundException");
}

TEST_F(KmsServiceTest, KeySpecAndUsageAreValidated) {
  // SYMMETRIC_DEFAULT cannot sign; HMAC keys cannot encrypt.
  EXPECT_EQ(A("CreateKey", Obj({{"KeyUsage", "SIGN_VERIFY"}})).status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(A("CreateKey", Obj({{"KeySpec", "HMAC_256"}})).status().code(),
            ErrorCode::kValidation);
  auto hmac = A("CreateKey", Obj({{"KeySpec", "HMAC_256"}, {"KeyUsage", "GENERATE_VERIFY_MAC"}}));
  ASSERT_TRUE(hmac.ok()) << hmac.status().ToString();
  EXPECT_EQ(hmac->find("KeyMetadata")->find("MacAlgorithms")->as_array()[0].as_string(),
            "HMAC_SHA_256");
  auto both = A("CreateKey", Obj({{"KeySpec", "SYMMETRIC_DEFAULT"},
                                 {"CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"}}));
  EXPECT_EQ(both.status().code(), ErrorCode::kValidation);
}

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

TEST_F(KmsServiceTest, KeyStatesGateOperations) {
  std::string key = NewKey();
  std::string blob = Encrypt(key, "abc");
  ASSERT_TRUE(A("DisableKey", Obj({{"KeyId", key}})).ok());
  auto disabled = A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}));
  EXPECT_EQ(Code(disabled), "DisabledException");
  EXPECT_EQ(disabled.status().message(),
            "arn:aws:kms:us-east-1:111122223333:key/" + key + " is disabled.");
  EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", blob}}))), "DisabledException");
  ASSERT_TRUE(A("EnableKey", Obj({{"KeyId", key}})).ok());
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok());

  EXPECT_FALSE(A("ScheduleKeyDeletion", Obj({{"KeyId", key}, {"PendingWindowInDays", 6}})).ok());
  EXPECT_FALSE(A("ScheduleKeyDeletion", Obj({{"KeyId", key}, {"PendingWindowInDays", 31}})).ok());
  auto sched = A("ScheduleKeyDeletion", Obj({{"KeyId", key}, {"PendingWindowInDays", 7}}));
  ASSERT_TRUE(sched.ok()) << sched.status().ToString();
  EXPECT_EQ(sched->get_string("KeyState"), "PendingDeletion");
  auto pending = A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}));
  EXPECT_EQ(Code(pending), "KMSInvalidStateException");
  EXPECT_EQ(pending.status().message(),
            "arn:aws:kms:us-east-1:111122223333:key/" + key + " is pending deletion.");
  EXPECT_EQ(Code(A("EnableKey", Obj({{"KeyId", key}}))), "KMSInvalidStateException");
  EXPECT_EQ(Code(A("ScheduleKeyDeletion", Obj({{"KeyId", key}}))), "KMSInvalidStateException");
  auto d = A("DescribeKey", Obj({{"KeyId", key}}));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->find("KeyMetadata")->find("PendingDeletionWindowInDays")->as_int(), 7);

  ASSERT_TRUE(A("CancelKeyDeletion", Obj({{"KeyId", key}})).ok());
  EXPECT_EQ(A("DescribeKey", Obj({{"KeyId", key}}))->find("KeyMetadata")->get_string("KeyState"),
            "Disabled");
  EXPECT_EQ(Code(A("CancelKeyDeletion", Obj({{"KeyId", key}}))), "KMSInvalidStateException");

  // After the waiting period the key is gone.
  ASSERT_TRUE(A("ScheduleKeyDeletion", Obj({{"KeyId", key}, {"PendingWindowInDays", 7}})).ok());
  clock_.Advance(std::chrono::hours(24 * 7 + 1));
  EXPECT_EQ(Code(A("DescribeKey", Obj({{"KeyId", key}}))), "NotFoundException");
  auto listed = A("ListKeys", json::Value::MakeObject());
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->find("Keys")->as_array().empty());
}

TEST_F(KmsServiceTest, ListKeysPages) {
  for (int i = 0; i < 5; ++i) NewKey();
  std::vector<std::string> seen;
  json::Value in = Obj({{"Limit", 2}});
  for (int page = 0; page < 5; ++page) {
    auto r = A("ListKeys", in);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const json::Value& k : r->find("Keys")->as_array()) seen.emplace_back(k.get_string("KeyId"));
    if (!r->find("Truncated")->as_bool()) break;
    in.set("Marker", r->get_string("NextMarker"));
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(Code(A("ListKeys", Obj({{"Marker", "junk"}}))), "InvalidMarkerException");
}

TEST_F(KmsServiceTest, KeyPolicyGovernsAccess) {
  std::string key = NewKey();
  server::Principal bob = User(kAcct, "bob");
  // No identity policy and the default key policy delegates to IAM: denied.
  auto denied = Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), ErrorCode::kAccessDenied);
  std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + key;
  EXPECT_EQ(denied.status().message(),
            "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Encrypt "
            "on resource: " + arn + " because no identity-based policy allows the kms:Encrypt "
            "action");
  // A key policy naming bob grants him Encrypt only with a matching context.
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},)"
      R"("Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",)"
      R"("Condition":{"StringEquals":{"kms:EncryptionContext:team":"blue"}}}]})";
  ASSERT_TRUE(A("PutKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "default"}, {"Policy", policy}}))
                  .ok());
  auto got = A("GetKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "default"}}));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->get_string("Policy"), policy);
  EXPECT_EQ(Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}})).status().code(),
            ErrorCode::kAccessDenied);
  auto ok = Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"},
                                      {"EncryptionContext", Obj({{"team", "blue"}})}}));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(Call(bob, "DescribeKey", Obj({{"KeyId", key}})).status().code(),
            ErrorCode::kAccessDenied);
}

TEST_F(KmsServiceTest, LockoutSafetyCheck) {
  std::string key = NewKey();
  std::string locked =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":)"
      R"("arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]})";
  auto r = A("PutKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "default"}, {"Policy", locked}}));
  EXPECT_EQ(Code(r), "MalformedPolicyDocumentException");
  EXPECT_EQ(r.status().message(),
            "The new key policy will not allow you to update the key policy in the future.");
  EXPECT_EQ(Code(A("CreateKey", Obj({{"Policy", locked}}))), "MalformedPolicyDocumentException");
  EXPECT_TRUE(A("PutKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "default"}, {"Policy", locked},
                                     {"BypassPolicyLockoutSafetyCheck", true}}))
                  .ok());
  // Now even the root is locked out, and the cached policy was replaced.
  EXPECT_EQ(A("DescribeKey", Obj({{"KeyId", key}})).status().code(), ErrorCode::kAccessDenied);
  EXPECT_EQ(A("PutKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "default"},
                                    {"Policy", "not json"}}))
                .status()
                .code(),
            ErrorCode::kAccessDenied);
}

TEST_F(KmsServiceTest, MalformedPolicyIsRejected) {
  std::string key = NewKey();
  auto r = A("PutKeyPolicy",
             Obj({{"KeyId", key}, {"PolicyName", "default"}, {"Policy", "{not json"}}));
  EXPECT_EQ(Code(r), "MalformedPolicyDocumentException");
  EXPECT_EQ(Code(A("GetKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "other"}}))),
            "NotFoundException");
}

TEST_F(KmsServiceTest, Aliases) {
  std::string k1 = NewKey();
  std::string k2 = NewKey();
  ASSERT_TRUE(A("CreateAlias", Obj({{"AliasName", "alias/a"}, {"TargetKeyId", k1}})).ok());
  auto dup = A("CreateAlias", Obj({{"AliasName", "alias/a"}, {"TargetKeyId", k2}}));
  EXPECT_EQ(Code(dup), "AlreadyExistsException");
  EXPECT_EQ(dup.status().message(),
            "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/a already exists");
  EXPECT_FALSE(A("CreateAlias", Obj({{"AliasName", "alias/aws/x"}, {"TargetKeyId", k1}})).ok());
  EXPECT_FALSE(A("CreateAlias", Obj({{"AliasName", "noprefix"}, {"TargetKeyId", k1}})).ok());
  EXPECT_FALSE(A("CreateAlias", Obj({{"AliasName", "alias/"}, {"TargetKeyId", k1}})).ok());
  std::string blob = Encrypt("alias/a", "hi");
  ASSERT_TRUE(A("UpdateAlias", Obj({{"AliasName", "alias/a"}, {"TargetKeyId", k2}})).ok());
  auto d = A("DescribeKey", Obj({{"KeyId", "alias/a"}}));
  EXPECT_EQ(d->find("KeyMetadata")->get_string("KeyId"), k2);
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok());
  auto list = A("ListAliases", Obj({{"KeyId", k2}}));
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->find("Aliases")->as_array().size(), 1u);
  ASSERT_TRUE(A("DeleteAlias", Obj({{"AliasName", "alias/a"}})).ok());
  EXPECT_EQ(Code(A("DeleteAlias", Obj({{"AliasName", "alias/a"}}))), "NotFoundException");
  EXPECT_EQ(Code(A("Encrypt", Obj({{"KeyId", "alias/a"}, {"Plaintext", "x"}}))),
            "NotFoundException");
}

TEST_F(KmsServiceTest, Tags) {
  json::Value tags = json::Value::MakeArray();
  tags.push(Obj({{"TagKey", "env"}, {"TagValue", "prod"}}));
  std::string key = NewKey(Obj({{"Tags", tags}}));
  json::Value more = json::Value::MakeArray();
  more.push(Obj({{"TagKey", "team"}, {"TagValue", "blue"}}));
  more.push(Obj({{"TagKey", "env"}, {"TagValue", "dev"}}));
  ASSERT_TRUE(A("TagResource", Obj({{"KeyId", key}, {"Tags", more}})).ok());
  auto list = A("ListResourceTags", Obj({{"KeyId", key}}));
  ASSERT_TRUE(list.ok());
  const auto& t = list->find("Tags")->as_array();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].get_string("TagKey"), "env");
  EXPECT_EQ(t[0].get_string("TagValue"), "dev");
  json::Value keys = json::Value::MakeArray();
  keys.push("env");
  ASSERT_TRUE(A("UntagResource", Obj({{"KeyId", key}, {"TagKeys", keys}})).ok());
  EXPECT_EQ(A("ListResourceTags", Obj({{"KeyId", key}}))->find("Tags")->as_array().size(), 1u);
  json::Value reserved = json::Value::MakeArray();
  reserved.push(Obj({{"TagKey", "aws:x"}, {"TagValue", "v"}}));
  EXPECT_EQ(Code(A("TagResource", Obj({{"KeyId", key}, {"Tags", reserved}}))), "TagException");
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

TEST_F(KmsServiceTest, MaterialIsSealedAtRest) {
  std::string key = NewKey();
  std::string sealed;
  ASSERT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
                   ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT sealed FROM kms_key_material "
                                                       "WHERE key_id = ?"));
                   q->Bind(1, key);
                   ASSIGN_OR_RETURN(bool row, q->Step());
                   if (row) sealed = q->Text(0);
                   return Status::Ok();
                 }).ok());
  EXPECT_EQ(sealed.size(), 32u + 28u);
  // A server with another root key cannot use the material.
  SecretBytes other_root(std::string(32, 'o'));
  KmsService other(*db_, other_root, *authorizer_);
  server::Registry reg;
  other.Register(reg);
  server::Principal root = Root(kAcct);
  server::RequestContext ctx({&root, "kms", "Encrypt", "us-east-1", "req", "127.0.0.1", "test",
                              true, clock_.Now(), &config_, db_.get(), authorizer_.get(), &clock_});
  auto r = (*reg.Find("kms", "Encrypt"))(ctx, Obj({{"KeyId", key}, {"Plaintext", "x"}}));
  EXPECT_FALSE(r.ok());
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

TEST_F(KmsServiceTest, RotationKeepsOldCiphertextsReadable) {
  std::string key = NewKey();
  EXPECT_FALSE(A("GetKeyRotationStatus", Obj({{"KeyId", key}}))->find("KeyRotationEnabled")->as_bool());
  std::string before = Encrypt(key, "old");
  ASSERT_TRUE(A("EnableKeyRotation", Obj({{"KeyId", key}})).ok());
  EXPECT_TRUE(A("GetKeyRotationStatus", Obj({{"KeyId", key}}))->find("KeyRotationEnabled")->as_bool());
  clock_.Advance(std::chrono::hours(24 * 366));
  std::string after = Encrypt(key, "new");
  auto p1 = ParseBlob(before);
  auto p2 = ParseBlob(after);
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_EQ(p1->header.material_version, 1u);
  EXPECT_EQ(p2->header.material_version, 2u);
  EXPECT_EQ(A("Decrypt", Obj({{"CiphertextBlob", before}}))->get_string("Plaintext"), "old");
  EXPECT_EQ(A("Decrypt", Obj({{"CiphertextBlob", after}}))->get_string("Plaintext"), "new");
  // Not again until the next period.
  EXPECT_EQ(ParseBlob(Encrypt(key, "x"))->header.material_version, 2u);
  ASSERT_TRUE(A("DisableKeyRotation", Obj({{"KeyId", key}})).ok());
  clock_.Advance(std::chrono::hours(24 * 400));
  EXPECT_EQ(ParseBlob(Encrypt(key, "x"))->header.material_version, 2u);

  auto hmac = A("CreateKey", Obj({{"KeySpec", "HMAC_256"}, {"KeyUsage", "GENERATE_VERIFY_MAC"}}));
  std::string hk(hmac->find("KeyMetadata")->get_string("KeyId"));
  EXPECT_EQ(Code(A("EnableKeyRotation", Obj({{"KeyId", hk}}))), "UnsupportedOperationException");
  ASSERT_TRUE(A("DisableKey", Obj({{"KeyId", key}})).ok());
  EXPECT_EQ(Code(A("EnableKeyRotation", Obj({{"KeyId", key}}))), "DisabledException");
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

TEST_F(KmsServiceTest, ResourceTagsReachKeyPolicyConditions) {
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},)"
      R"("Action":"kms:Encrypt","Resource":"*",)"
      R"("Condition":{"StringEquals":{"aws:ResourceTag/team":"blue"}}}]})";
  std::string key = NewKey(Obj({{"Policy", policy}}));
  server::Principal bob = User(kAcct, "bob");
  EXPECT_EQ(Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}})).status().code(),
            ErrorCode::kAccessDenied);
  json::Value tags = json::Value::MakeArray();
  tags.push(Obj({{"TagKey", "team"}, {"TagValue", "blue"}}));
  ASSERT_TRUE(A("TagResource", Obj({{"KeyId", key}, {"Tags", tags}})).ok());
  EXPECT_TRUE(Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}})).ok());
  // A key ARN of another region is not reachable from this one.
  EXPECT_EQ(Code(A("DescribeKey",
                   Obj({{"KeyId", "arn:aws:kms:eu-west-1:111122223333:key/" + key}}))),
            "NotFoundException");
}

TEST_F(KmsServiceTest, GrantsAuthorizeTheirGrantee) {
  std::string key = NewKey();
  server::Principal bob = User(kAcct, "bob");
  server::Principal carol = User(kOther, "carol");
  json::Value ops = json::Value::MakeArray();
  ops.push("Encrypt");
  ops.push("Decrypt");
  ops.push("RetireGrant");
  json::Value constraints = Obj({{"EncryptionContextSubset", Obj({{"Team", "blue"}})}});
  auto created = A("CreateGrant", Obj({{"KeyId", key},
                                       {"GranteePrincipal", "arn:aws:iam::111122223333:user/bob"},
                                       {"Operations", ops}, {"Constraints", constraints},
                                       {"Name", "g1"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string grant_id(created->get_string("GrantId"));
  std::string token(created->get_string("GrantToken"));
  EXPECT_EQ(grant_id.size(), 64u);
  // Name idempotency: the same grant id, a new token.
  auto again = A("CreateGrant", Obj({{"KeyId", key},
                                     {"GranteePrincipal", "arn:aws:iam::111122223333:user/bob"},
                                     {"Operations", ops}, {"Constraints", constraints},
                                     {"Name", "g1"}}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get_string("GrantId"), grant_id);
  EXPECT_NE(again->get_string("GrantToken"), token);

  json::Value tokens = json::Value::MakeArray();
  tokens.push(token);
  // The constraint: keys match without regard to case, values exactly.
  auto enc = Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}, {"GrantTokens", tokens},
                                       {"EncryptionContext", Obj({{"team", "blue"}, {"x", "y"}})}}));
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  EXPECT_EQ(Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"},
                                      {"EncryptionContext", Obj({{"team", "Blue"}})}}))
                .status().code(),
            ErrorCode::kAccessDenied);
  EXPECT_EQ(Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}})).status().code(),
            ErrorCode::kAccessDenied);
  EXPECT_EQ(Call(bob, "DescribeKey", Obj({{"KeyId", key}})).status().code(),
            ErrorCode::kAccessDenied);
  auto dec = Call(bob, "Decrypt", Obj({{"CiphertextBlob", enc->get_string("CiphertextBlob")},
                                       {"EncryptionContext", Obj({{"team", "blue"}, {"x", "y"}})}}));
  ASSERT_TRUE(dec.ok()) << dec.status().ToString();
  EXPECT_EQ(dec->get_string("Plaintext"), "x");
  // Another account's principal is not the grantee.
  std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + key;
  EXPECT_EQ(Call(carol, "Encrypt", Obj({{"KeyId", arn}, {"Plaintext", "x"},
                                        {"EncryptionContext", Obj({{"team", "blue"}})}}))
                .status().code(),
            ErrorCode::kAccessDenied);
  // A forged token.
  json::Value bad = json::Value::MakeArray();
  bad.push("bm90LWEtdG9rZW4=");
  EXPECT_EQ(Code(Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}, {"GrantTokens", bad}}))),
            "InvalidGrantTokenException");

  auto listed = A("ListGrants", Obj({{"KeyId", key}}));
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->find("Grants")->as_array().size(), 1u);
  const json::Value& g = listed->find("Grants")->as_array()[0];
  EXPECT_EQ(g.get_string("GrantId"), grant_id);
  EXPECT_EQ(g.get_string("Name"), "g1");
  EXPECT_EQ(g.get_string("KeyId"), arn);
  EXPECT_EQ(g.get_string("IssuingAccount"), "arn:aws:iam::111122223333:root");
  EXPECT_EQ(g.find("Constraints")->find("EncryptionContextSubset")->get_string("Team"), "blue");

  // bob retires his own grant (it includes RetireGrant) by token.
  ASSERT_TRUE(Call(bob, "RetireGrant", Obj({{"GrantToken", token}})).ok());
  EXPECT_EQ(Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"},
                                      {"EncryptionContext", Obj({{"team", "blue"}})}}))
                .status().code(),
            ErrorCode::kAccessDenied);
  EXPECT_EQ(Code(A("RevokeGrant", Obj({{"KeyId", key}, {"GrantId", grant_id}}))),
            "NotFoundException");
  EXPECT_EQ(Code(A("RevokeGrant", Obj({{"KeyId", key}, {"GrantId", "zz"}}))),
            "InvalidGrantIdException");
}

TEST_F(KmsServiceTest, GrantValidationRetiringAndRevoking) {
  std::string key = NewKey();
  std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + key;
  server::Principal carol = User(kOther, "carol");
  server::Principal dave = User(kAcct, "dave");
  json::Value sign = json::Value::MakeArray();
  sign.push("Sign");
  EXPECT_EQ(A("CreateGrant", Obj({{"KeyId", key}, {"GranteePrincipal", "arn:aws:iam::444455556666:root"},
                                  {"Operations", sign}}))
                .status().code(),
            ErrorCode::kValidation);
  json::Value ops = json::Value::MakeArray();
  ops.push("Encrypt");
  ops.push("CreateGrant");
  EXPECT_EQ(A("CreateGrant", Obj({{"KeyId", key}, {"GranteePrincipal", "bob"},
                                  {"Operations", ops}}))
                .status().code(),
            ErrorCode::kValidation);
  // A cross-account grantee, with a retiring principal in this account.
  auto created = A("CreateGrant", Obj({{"KeyId", key},
                                       {"GranteePrincipal", "arn:aws:iam::444455556666:user/carol"},
                                       {"RetiringPrincipal", "arn:aws:iam::111122223333:user/dave"},
                                       {"Operations", ops}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string grant_id(created->get_string("GrantId"));
  EXPECT_TRUE(Call(carol, "Encrypt", Obj({{"KeyId", arn}, {"Plaintext", "x"}})).ok());
  // carol may pass on no more than she holds.
  json::Value more = json::Value::MakeArray();
  more.push("Decrypt");
  EXPECT_EQ(Call(carol, "CreateGrant", Obj({{"KeyId", arn},
                                            {"GranteePrincipal", "arn:aws:iam::444455556666:user/eve"},
                                            {"Operations", more}}))
                .status().code(),
            ErrorCode::kAccessDenied);
  json::Value fewer = json::Value::MakeArray();
  fewer.push("Encrypt");
  auto child = Call(carol, "CreateGrant", Obj({{"KeyId", arn},
                                               {"GranteePrincipal", "arn:aws:iam::444455556666:user/eve"},
                                               {"Operations", fewer}}));
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  auto retirable = Call(dave, "ListRetirableGrants",
                        Obj({{"RetiringPrincipal", "arn:aws:iam::111122223333:user/dave"}}));
  // dave has no IAM permission for ListRetirableGrants; root does.
  EXPECT_EQ(retirable.status().code(), ErrorCode::kAccessDenied);
  retirable = A("ListRetirableGrants",
                Obj({{"RetiringPrincipal", "arn:aws:iam::111122223333:user/dave"}}));
  ASSERT_TRUE(retirable.ok()) << retirable.status().ToString();
  ASSERT_EQ(retirable->find("Grants")->as_array().size(), 1u);
  // carol's grant lacks RetireGrant: she cannot retire it; dave can.
  EXPECT_EQ(Call(carol, "RetireGrant", Obj({{"KeyId", arn}, {"GrantId", grant_id}})).status().code(),
            ErrorCode::kAccessDenied);
  ASSERT_TRUE(Call(dave, "RetireGrant", Obj({{"KeyId", arn}, {"GrantId", grant_id}})).ok());
  EXPECT_EQ(Call(carol, "Encrypt", Obj({{"KeyId", arn}, {"Plaintext", "x"}})).status().code(),
            ErrorCode::kAccessDenied);
  // The child grant stays until revoked by the key's account.
  std::string child_id(child->get_string("GrantId"));
  server::Principal eve = User(kOther, "eve");
  EXPECT_TRUE(Call(eve, "Encrypt", Obj({{"KeyId", arn}, {"Plaintext", "x"}})).ok());
  EXPECT_EQ(Call(eve, "RevokeGrant", Obj({{"KeyId", arn}, {"GrantId", child_id}})).status().code(),
            ErrorCode::kAccessDenied);
  ASSERT_TRUE(A("RevokeGrant", Obj({{"KeyId", key}, {"GrantId", child_id}})).ok());
  EXPECT_EQ(Call(eve, "Encrypt", Obj({{"KeyId", arn}, {"Plaintext", "x"}})).status().code(),
            ErrorCode::kAccessDenied);
  EXPECT_EQ(A("ListGrants", Obj({{"KeyId", key}}))->find("Grants")->as_array().size(), 0u);
}

TEST_F(KmsServiceTest, SchedulerDeletesAndRotatesKeysNobodyUses) {
  std::string doomed = NewKey();
  std::string spared = NewKey();
  std::string rotating = NewKey();
  ASSERT_TRUE(A("ScheduleKeyDeletion", Obj({{"KeyId", doomed}, {"PendingWindowInDays", 7}})).ok());
  ASSERT_TRUE(A("ScheduleKeyDeletion", Obj({{"KeyId", spared}, {"PendingWindowInDays", 7}})).ok());
  ASSERT_TRUE(A("CancelKeyDeletion", Obj({{"KeyId", spared}})).ok());
  ASSERT_TRUE(A("EnableKeyRotation", Obj({{"KeyId", rotating}})).ok());
  auto column = [&](const std::string& key, std::string_view sql) -> int64_t {
    int64_t v = -1;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
                     ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
                     q->Bind(1, key);
                     ASSIGN_OR_RETURN(bool row, q->Step());
                     if (row) v = q->Int(0);
                     return Status::Ok();
                   }).ok());
    return v;
  };
  auto rows = [&](const std::string& key) {
    return column(key, "SELECT COUNT(*) FROM kms_keys WHERE key_id = ?");
  };
  auto version = [&](const std::string& key) {
    return column(key, "SELECT current_version FROM kms_keys WHERE key_id = ?");
  };
  // Nothing is due yet.
  auto first = service_->SweepOnce(clock_.Now());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->deleted, 0);
  EXPECT_EQ(first->rotated, 0);
  clock_.Advance(std::chrono::hours(24 * 8));
  auto second = service_->SweepOnce(clock_.Now());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->deleted, 1);
  EXPECT_EQ(rows(doomed), 0);
  EXPECT_EQ(rows(spared), 1);
  EXPECT_EQ(column(doomed, "SELECT COUNT(*) FROM kms_key_material WHERE key_id = ?"), 0);
  EXPECT_EQ(version(rotating), 1);

  // The background thread does the rotation once it is due.
  clock_.Advance(std::chrono::hours(24 * 365));
  service_->StartScheduler(clock_, std::chrono::milliseconds(10));
  for (int i = 0; i < 500 && version(rotating) != 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  service_->StopScheduler();
  EXPECT_EQ(version(rotating), 2);
  EXPECT_EQ(ParseBlob(Encrypt(rotating, "x"))->header.material_version, 2u);
  // Stopping twice is harmless.
  service_->StopScheduler();
}

TEST_F(KmsServiceTest, ImportedMaterialExpiresAtValidTo) {
  auto created = A("CreateKey", Obj({{"Origin", "EXTERNAL"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string key(created->find("KeyMetadata")->get_string("KeyId"));
  auto params = A("GetParametersForImport", Obj({{"KeyId", key},
                                                 {"WrappingAlgorithm", "RSAES_OAEP_SHA_256"},
                                                 {"WrappingKeySpec", "RSA_2048"}}));
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  std::string material(32, 'm');
  std::string wrapped = WrapForImport(params->get_string("PublicKey"), material);
  ASSERT_FALSE(wrapped.empty());
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    clock_.Now().time_since_epoch()).count();
  auto imported = A("ImportKeyMaterial", Obj({{"KeyId", key},
                                              {"ImportToken", params->get_string("ImportToken")},
                                              {"EncryptedKeyMaterial", wrapped},
                                              {"ValidTo", now + 86400}}));
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  std::string blob = Encrypt(key, "byok");
  // The scheduler deletes the material once ValidTo has passed.
  clock_.Advance(std::chrono::hours(25));
  auto swept = service_->SweepOnce(clock_.Now());
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(swept->expired_imports, 1);
  auto described = A("DescribeKey", Obj({{"KeyId", key}}));
  EXPECT_EQ(described->find("KeyMetadata")->get_string("KeyState"), "PendingImport");
  EXPECT_EQ(Code(A("Decrypt", Obj({{"CiphertextBlob", blob}}))), "KMSInvalidStateException");
  // The same material again (a new token) restores the key.
  params = A("GetParametersForImport", Obj({{"KeyId", key},
                                            {"WrappingAlgorithm", "RSAES_OAEP_SHA_256"},
                                            {"WrappingKeySpec", "RSA_2048"}}));
  ASSERT_TRUE(params.ok());
  ASSERT_TRUE(A("ImportKeyMaterial",
                Obj({{"KeyId", key}, {"ImportToken", params->get_string("ImportToken")},
                     {"EncryptedKeyMaterial", WrapForImport(params->get_string("PublicKey"), material)},
                     {"ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE"}}))
                  .ok());
  EXPECT_EQ(A("Decrypt", Obj({{"CiphertextBlob", blob}}))->get_string("Plaintext"), "byok");
  // The import token of 24 hours ago has expired and is swept.
  clock_.Advance(std::chrono::hours(25));
  std::string stale(params->get_string("ImportToken"));
  ASSERT_TRUE(service_->SweepOnce(clock_.Now()).ok());
  EXPECT_EQ(Code(A("ImportKeyMaterial", Obj({{"KeyId", key}, {"ImportToken", stale},
                                             {"EncryptedKeyMaterial", std::string(256, 'x')},
                                             {"ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE"}}))),
            "ExpiredImportTokenException");
  EXPECT_EQ(Code(A("ImportKeyMaterial", Obj({{"KeyId", key}, {"ImportToken", "forged"},
                                             {"EncryptedKeyMaterial", std::string(256, 'x')},
                                             {"ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE"}}))),
            "InvalidImportTokenException");
}

TEST_F(KmsServiceTest, AliasConditionKeys) {
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},)"
      R"("Action":"kms:Encrypt","Resource":"*",)"
      R"("Condition":{"StringEquals":{"kms:RequestAlias":"alias/app"}}},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},)"
      R"("Action":"kms:DescribeKey","Resource":"*",)"
      R"("Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/team"}}}]})";
  std::string key = NewKey(Obj({{"Policy", policy}}));
  server::Principal bob = User(kAcct, "bob");
  ASSERT_TRUE(A("CreateAlias", Obj({{"AliasName", "alias/app"}, {"TargetKeyId", key}})).ok());
  ASSERT_TRUE(A("CreateAlias", Obj({{"AliasName", "alias/other"}, {"TargetKeyId", key}})).ok());
  // kms:RequestAlias: only when the request names the key by that alias.
  EXPECT_TRUE(Call(bob, "Encrypt", Obj({{"KeyId", "alias/app"}, {"Plaintext", "x"}})).ok());
  EXPECT_TRUE(Call(bob, "Encrypt", Obj({{"KeyId", "arn:aws:kms:us-east-1:111122223333:alias/app"},
                                        {"Plaintext", "x"}}))
                  .ok());
  EXPECT_EQ(Call(bob, "Encrypt", Obj({{"KeyId", "alias/other"}, {"Plaintext", "x"}})).status().code(),
            ErrorCode::kAccessDenied);
  EXPECT_EQ(Call(bob, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}})).status().code(),
            ErrorCode::kAccessDenied);
  // kms:ResourceAliases follows alias changes at once.
  EXPECT_EQ(Call(bob, "DescribeKey", Obj({{"KeyId", key}})).status().code(),
            ErrorCode::kAccessDenied);
  ASSERT_TRUE(A("CreateAlias", Obj({{"AliasName", "alias/team"}, {"TargetKeyId", key}})).ok());
  EXPECT_TRUE(Call(bob, "DescribeKey", Obj({{"KeyId", key}})).ok());
  std::string other = NewKey();
  ASSERT_TRUE(A("UpdateAlias", Obj({{"AliasName", "alias/team"}, {"TargetKeyId", other}})).ok());
  EXPECT_EQ(Call(bob, "DescribeKey", Obj({{"KeyId", key}})).status().code(),
            ErrorCode::kAccessDenied);
}

TEST_F(KmsServiceTest, GrantsToRolesAndAccounts) {
  std::string key = NewKey();
  std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + key;
  server::Principal session;
  session.account_id = std::string(kOther);
  session.arn = "arn:aws:sts::444455556666:assumed-role/worker/s1";
  session.role_arn = "arn:aws:iam::444455556666:role/worker";
  session.type = "AssumedRole";
  session.principal_id = "AROAEXAMPLE:s1";
  json::Value ops = json::Value::MakeArray();
  ops.push("Encrypt");
  json::Value in = Obj({{"KeyId", arn}, {"Plaintext", "x"}});
  EXPECT_EQ(Call(session, "Encrypt", in).status().code(), ErrorCode::kAccessDenied);
  // A grant to the role covers its sessions.
  ASSERT_TRUE(A("CreateGrant", Obj({{"KeyId", key},
                                    {"GranteePrincipal", "arn:aws:iam::444455556666:role/worker"},
                                    {"Operations", ops}}))
                  .ok());
  EXPECT_TRUE(Call(session, "Encrypt", in).ok());
  // A grant to an account delegates to its IAM policies: bob has none.
  ASSERT_TRUE(A("CreateGrant", Obj({{"KeyId", key},
                                    {"GranteePrincipal", "arn:aws:iam::111122223333:root"},
                                    {"Operations", ops}}))
                  .ok());
  EXPECT_EQ(Call(User(kAcct, "bob"), "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))
                .status().code(),
            ErrorCode::kAccessDenied);
}

}  // namespace
}  // namespace rampart::kms
