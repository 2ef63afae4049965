// KmsService unit tests: key lifecycle (CreateKey and its identifiers, key
// states, ListKeys), aliases, tags, material at rest, rotation, the
// scheduler and imported material.
#include <thread>

#include "kms/kms_test_fixture.h"
#include "rampart/core/arn.h"
#include "rampart/crypto/pkey.h"
#include "rampart/kms/ciphertext.h"

namespace rampart::kms::test {
namespace {

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

// A key policy that gives another account kms:* lets it use the key, not
// manage it: key management is not a cross-account operation in AWS KMS.
TEST_F(KmsServiceTest, AnotherAccountUsesButDoesNotManageASharedKey) {
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[)"
      R"("arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},)"
      R"("Action":"kms:*","Resource":"*"}]})";
  auto created = A("CreateKey", Obj({{"Policy", policy}, {"MultiRegion", true}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string arn(created->find("KeyMetadata")->get_string("Arn"));
  server::Principal other = Root(kOther);
  auto blob = Call(other, "Encrypt", Obj({{"KeyId", arn}, {"Plaintext", "shared"}}));
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_TRUE(Call(other, "DescribeKey", Obj({{"KeyId", arn}})).ok());
  EXPECT_TRUE(Call(other, "GetKeyRotationStatus", Obj({{"KeyId", arn}})).ok());
  const json::Value refused[] = {
      Obj({{"KeyId", arn}}),
      Obj({{"KeyId", arn}, {"PolicyName", "default"}}),
      Obj({{"KeyId", arn}, {"ReplicaRegion", "eu-west-1"}}),
  };
  for (std::string_view op : {"ScheduleKeyDeletion", "DisableKey", "EnableKeyRotation",
                              "ListResourceTags", "UpdateKeyDescription"}) {
    auto r = Call(other, op, refused[0]);
    EXPECT_EQ(Code(r), "NotFoundException") << op;
    EXPECT_EQ(r.status().message(), "Key '" + arn + "' does not exist") << op;
  }
  EXPECT_EQ(Code(Call(other, "GetKeyPolicy", refused[1])), "NotFoundException");
  EXPECT_EQ(Code(Call(other, "ReplicateKey", refused[2])), "NotFoundException");
  EXPECT_EQ(A("DescribeKey", Obj({{"KeyId", arn}}))->find("KeyMetadata")->get_string("KeyState"),
            "Enabled");
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

}  // namespace
}  // namespace rampart::kms::test
