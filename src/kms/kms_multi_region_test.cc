// KmsService unit tests: multi-Region keys (ReplicateKey,
// UpdatePrimaryRegion, shared material and rotation, deletion order,
// condition keys) and the schema migration that made key ids unique per
// (account, region).
#include <chrono>

#include "kms/kms_internal.h"
#include "kms/kms_test_fixture.h"
#include "rampart/kms/ciphertext.h"

namespace rampart::kms::test {
namespace {

constexpr std::string_view kEu = "eu-west-1";
constexpr std::string_view kWest = "us-west-2";

class MultiRegionTest : public KmsServiceTest {
 protected:
  // As the root of kAcct in region.
  Result<json::Value> In(std::string_view region, std::string_view op, const json::Value& in) {
    return CallIn(Root(kAcct), region, op, in);
  }
  std::string NewMultiRegionKey() { return NewKey(Obj({{"MultiRegion", true}})); }
  const json::Value* Metadata(std::string_view region, const std::string& key) {
    described_ = In(region, "DescribeKey", Obj({{"KeyId", key}}));
    EXPECT_TRUE(described_.ok()) << described_.status().ToString();
    return described_.ok() ? described_->find("KeyMetadata") : nullptr;
  }
  std::string State(std::string_view region, const std::string& key) {
    const json::Value* m = Metadata(region, key);
    return m == nullptr ? "" : std::string(m->get_string("KeyState"));
  }
  Result<json::Value> described_ = json::Value::MakeObject();
};

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST_F(MultiRegionTest, CreateKeyGivesAnMrkPrimary) {
  auto created = A("CreateKey", Obj({{"MultiRegion", true}, {"Description", "p"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const json::Value& m = *created->find("KeyMetadata");
  std::string id(m.get_string("KeyId"));
  ASSERT_EQ(id.size(), 36u);
  EXPECT_TRUE(id.starts_with("mrk-"));
  EXPECT_TRUE(IsLowerHex(id.substr(4))) << id;
  EXPECT_TRUE(m.find("MultiRegion")->as_bool());
  const json::Value& config = *m.find("MultiRegionConfiguration");
  EXPECT_EQ(config.get_string("MultiRegionKeyType"), "PRIMARY");
  EXPECT_EQ(config.find("PrimaryKey")->get_string("Region"), "us-east-1");
  EXPECT_EQ(config.find("PrimaryKey")->get_string("Arn"),
            "arn:aws:kms:us-east-1:111122223333:key/" + id);
  EXPECT_TRUE(config.find("ReplicaKeys")->as_array().empty());
  // A single-Region key says so and carries no configuration.
  auto single = A("CreateKey", json::Value::MakeObject());
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE(single->find("KeyMetadata")->find("MultiRegion")->as_bool());
  EXPECT_EQ(single->find("KeyMetadata")->find("MultiRegionConfiguration"), nullptr);
  // The id is only known in its own region until replicated.
  EXPECT_EQ(Code(In(kEu, "DescribeKey", Obj({{"KeyId", id}}))), "NotFoundException");
}

TEST_F(MultiRegionTest, ReplicaSharesMaterialButNotPolicyTagsOrState) {
  std::string key = NewMultiRegionKey();
  auto replicated = A("ReplicateKey", Obj({{"KeyId", key},
                                           {"ReplicaRegion", kEu},
                                           {"Description", "replica"},
                                           {"Tags", json::Value::MakeArray()}}));
  ASSERT_TRUE(replicated.ok()) << replicated.status().ToString();
  const json::Value& rm = *replicated->find("ReplicaKeyMetadata");
  EXPECT_EQ(rm.get_string("KeyId"), key);
  EXPECT_EQ(rm.get_string("Arn"), "arn:aws:kms:eu-west-1:111122223333:key/" + key);
  EXPECT_EQ(rm.get_string("Description"), "replica");
  EXPECT_EQ(rm.find("MultiRegionConfiguration")->get_string("MultiRegionKeyType"), "REPLICA");
  EXPECT_NE(replicated->get_string("ReplicaPolicy").find(":root"), std::string_view::npos);

  // Both regions list each other.
  const json::Value* primary = Metadata("us-east-1", key);
  ASSERT_NE(primary, nullptr);
  const json::Value& replicas = *primary->find("MultiRegionConfiguration")->find("ReplicaKeys");
  ASSERT_EQ(replicas.as_array().size(), 1u);
  EXPECT_EQ(replicas.as_array()[0].get_string("Region"), "eu-west-1");
  const json::Value* replica = Metadata(kEu, key);
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(replica->find("MultiRegionConfiguration")->find("PrimaryKey")->get_string("Region"),
            "us-east-1");

  // Ciphertext from one region decrypts in the other, with or without KeyId.
  std::string blob = Encrypt(key, "travels", Obj({{"k", "v"}}));
  auto there =
      In(kEu, "Decrypt", Obj({{"CiphertextBlob", blob}, {"EncryptionContext", Obj({{"k", "v"}})}}));
  ASSERT_TRUE(there.ok()) << there.status().ToString();
  EXPECT_EQ(there->get_string("Plaintext"), "travels");
  EXPECT_EQ(there->get_string("KeyId"), "arn:aws:kms:eu-west-1:111122223333:key/" + key);
  auto back = In(kEu, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "home"}}));
  ASSERT_TRUE(back.ok());
  auto home =
      A("Decrypt", Obj({{"KeyId", key}, {"CiphertextBlob", back->get_string("CiphertextBlob")}}));
  ASSERT_TRUE(home.ok()) << home.status().ToString();
  EXPECT_EQ(home->get_string("Plaintext"), "home");

  // Own state, tags and description per region.
  ASSERT_TRUE(In(kEu, "DisableKey", Obj({{"KeyId", key}})).ok());
  EXPECT_EQ(Code(In(kEu, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))),
            "DisabledException");
  EXPECT_EQ(Encrypt(key, "still").empty(), false);
  json::Value tags = json::Value::MakeArray();
  tags.push(Obj({{"TagKey", "team"}, {"TagValue", "eu"}}));
  ASSERT_TRUE(In(kEu, "TagResource", Obj({{"KeyId", key}, {"Tags", tags}})).ok());
  EXPECT_EQ(In(kEu, "ListResourceTags", Obj({{"KeyId", key}}))->find("Tags")->as_array().size(),
            1u);
  EXPECT_TRUE(A("ListResourceTags", Obj({{"KeyId", key}}))->find("Tags")->as_array().empty());
  EXPECT_EQ(Metadata("us-east-1", key)->get_string("Description"), "");
}

TEST_F(MultiRegionTest, ReplicateKeyErrors) {
  std::string key = NewMultiRegionKey();
  std::string single = NewKey();
  EXPECT_EQ(Code(A("ReplicateKey", Obj({{"KeyId", single}, {"ReplicaRegion", kEu}}))),
            "UnsupportedOperationException");
  EXPECT_EQ(
      A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", "us-east-1"}})).status().code(),
      ErrorCode::kValidation);
  auto unserved = A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", "ap-south-1"}}));
  EXPECT_EQ(Code(unserved), "UnsupportedOperationException");
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}})).ok());
  auto again = A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}}));
  EXPECT_EQ(Code(again), "AlreadyExistsException");
  EXPECT_EQ(again.status().message(),
            "Key 'arn:aws:kms:eu-west-1:111122223333:key/" + key + "' already exists");
  // Only the primary replicates.
  EXPECT_EQ(Code(In(kEu, "ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}}))),
            "UnsupportedOperationException");
  // Aliases are not key ids here.
  EXPECT_EQ(Code(A("ReplicateKey", Obj({{"KeyId", "alias/x"}, {"ReplicaRegion", kWest}}))),
            "NotFoundException");
  // A replica policy is checked for lockout like any key policy.
  std::string locked =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":)"
      R"("arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]})";
  EXPECT_EQ(
      Code(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}, {"Policy", locked}}))),
      "MalformedPolicyDocumentException");
  auto bypassed = A("ReplicateKey", Obj({{"KeyId", key},
                                         {"ReplicaRegion", kWest},
                                         {"Policy", locked},
                                         {"BypassPolicyLockoutSafetyCheck", true}}));
  ASSERT_TRUE(bypassed.ok()) << bypassed.status().ToString();
  EXPECT_EQ(bypassed->get_string("ReplicaPolicy"), locked);
  EXPECT_EQ(In(kWest, "DescribeKey", Obj({{"KeyId", key}})).status().code(),
            ErrorCode::kAccessDenied);
}

TEST_F(MultiRegionTest, ReplicateNeedsReplicateKeyAndCreateKey) {
  std::string key = NewMultiRegionKey();
  server::Principal bob = User(kAcct, "bob");
  // The key policy lets bob replicate, but nothing lets him create keys
  // in the replica region.
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},)"
      R"("Action":"kms:ReplicateKey","Resource":"*",)"
      R"("Condition":{"StringEquals":{"kms:ReplicaRegion":"eu-west-1"}}}]})";
  ASSERT_TRUE(
      A("PutKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "default"}, {"Policy", policy}})).ok());
  auto denied = Call(bob, "ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}}));
  ASSERT_EQ(denied.status().code(), ErrorCode::kAccessDenied);
  EXPECT_NE(denied.status().message().find("kms:CreateKey"), std::string::npos)
      << denied.status().message();
  auto wrong_region = Call(bob, "ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}}));
  ASSERT_EQ(wrong_region.status().code(), ErrorCode::kAccessDenied);
  EXPECT_NE(wrong_region.status().message().find("kms:ReplicateKey"), std::string::npos);
}

TEST_F(MultiRegionTest, MultiRegionConditionKeys) {
  std::string key = NewMultiRegionKey();
  // Replicas refuse Decrypt by their key type; the primary does not.
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",)"
      R"("Condition":{"StringEquals":{"kms:MultiRegionKeyType":"REPLICA"}}},)"
      R"({"Effect":"Deny","Principal":"*","Action":"kms:GenerateDataKey","Resource":"*",)"
      R"("Condition":{"Bool":{"kms:MultiRegion":"true"}}}]})";
  ASSERT_TRUE(
      A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}, {"Policy", policy}})).ok());
  ASSERT_TRUE(
      A("PutKeyPolicy", Obj({{"KeyId", key}, {"PolicyName", "default"}, {"Policy", policy}})).ok());
  std::string blob = Encrypt(key, "p");
  EXPECT_TRUE(A("Decrypt", Obj({{"CiphertextBlob", blob}})).ok());
  EXPECT_EQ(In(kEu, "Decrypt", Obj({{"CiphertextBlob", blob}})).status().code(),
            ErrorCode::kAccessDenied);
  EXPECT_EQ(A("GenerateDataKey", Obj({{"KeyId", key}, {"KeySpec", "AES_256"}})).status().code(),
            ErrorCode::kAccessDenied);
  // The same policy on a single-Region key denies neither.
  std::string single = NewKey(Obj({{"Policy", policy}}));
  EXPECT_TRUE(A("GenerateDataKey", Obj({{"KeyId", single}, {"KeySpec", "AES_256"}})).ok());
}

TEST_F(MultiRegionTest, RotationOfThePrimaryReachesReplicas) {
  std::string key = NewMultiRegionKey();
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}})).ok());
  std::string old_blob = Encrypt(key, "old");
  EXPECT_EQ(Code(In(kEu, "EnableKeyRotation", Obj({{"KeyId", key}}))),
            "UnsupportedOperationException");
  ASSERT_TRUE(A("EnableKeyRotation", Obj({{"KeyId", key}})).ok());
  auto status = In(kEu, "GetKeyRotationStatus", Obj({{"KeyId", key}}));
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_TRUE(status->find("KeyRotationEnabled")->as_bool());
  clock_.Advance(std::chrono::hours(24 * 366));
  auto swept = service_->SweepOnce(clock_.Now());
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(swept->rotated, 1);
  // New ciphertext in the replica region uses the rotated material, and
  // both old and new decrypt in both regions.
  auto fresh = In(kEu, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "new"}}));
  ASSERT_TRUE(fresh.ok());
  std::string new_blob(fresh->get_string("CiphertextBlob"));
  auto parsed = ParseBlob(new_blob);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->header.material_version, 2u);
  for (std::string_view region : {std::string_view("us-east-1"), kEu}) {
    EXPECT_EQ(In(region, "Decrypt", Obj({{"CiphertextBlob", old_blob}}))->get_string("Plaintext"),
              "old");
    EXPECT_EQ(In(region, "Decrypt", Obj({{"CiphertextBlob", new_blob}}))->get_string("Plaintext"),
              "new");
  }
}

TEST_F(MultiRegionTest, PrimaryWaitsForItsReplicasToBeDeleted) {
  std::string key = NewMultiRegionKey();
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}})).ok());
  auto scheduled = A("ScheduleKeyDeletion", Obj({{"KeyId", key}, {"PendingWindowInDays", 10}}));
  ASSERT_TRUE(scheduled.ok()) << scheduled.status().ToString();
  EXPECT_EQ(scheduled->get_string("KeyState"), "PendingReplicaDeletion");
  EXPECT_EQ(scheduled->find("DeletionDate"), nullptr);
  const json::Value* m = Metadata("us-east-1", key);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->get_string("KeyState"), "PendingReplicaDeletion");
  EXPECT_EQ(m->find("PendingDeletionWindowInDays")->as_int(), 10);
  EXPECT_EQ(Code(A("Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))),
            "KMSInvalidStateException");
  EXPECT_EQ(Code(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}}))),
            "KMSInvalidStateException");
  // Nothing happens to the primary however long its replica lives.
  clock_.Advance(std::chrono::hours(24 * 40));
  ASSERT_TRUE(service_->SweepOnce(clock_.Now()).ok());
  EXPECT_EQ(State("us-east-1", key), "PendingReplicaDeletion");
  // Deleting the last replica starts the primary's own waiting period.
  ASSERT_TRUE(
      In(kEu, "ScheduleKeyDeletion", Obj({{"KeyId", key}, {"PendingWindowInDays", 7}})).ok());
  clock_.Advance(std::chrono::hours(24 * 7 + 1));
  auto swept = service_->SweepOnce(clock_.Now());
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(swept->deleted, 1);
  EXPECT_EQ(Code(In(kEu, "DescribeKey", Obj({{"KeyId", key}}))), "NotFoundException");
  m = Metadata("us-east-1", key);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->get_string("KeyState"), "PendingDeletion");
  EXPECT_TRUE(m->find("MultiRegionConfiguration")->find("ReplicaKeys")->as_array().empty());
  // Ten days from the replica's deletion, not from the request.
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
  EXPECT_NEAR(static_cast<double>(m->find("DeletionDate")->as_int()),
              static_cast<double>(now + 10 * 86400), 5.0);
  ASSERT_TRUE(A("CancelKeyDeletion", Obj({{"KeyId", key}})).ok());
  EXPECT_EQ(State("us-east-1", key), "Disabled");
}

TEST_F(MultiRegionTest, CancellingAPrimaryWaitingForReplicas) {
  std::string key = NewMultiRegionKey();
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}})).ok());
  ASSERT_TRUE(A("ScheduleKeyDeletion", Obj({{"KeyId", key}})).ok());
  ASSERT_TRUE(A("CancelKeyDeletion", Obj({{"KeyId", key}})).ok());
  EXPECT_EQ(State("us-east-1", key), "Disabled");
  EXPECT_EQ(State(kEu, key), "Enabled");
}

TEST_F(MultiRegionTest, UpdatePrimaryRegionSwapsRoles) {
  std::string key = NewMultiRegionKey();
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}})).ok());
  EXPECT_EQ(Code(A("UpdatePrimaryRegion", Obj({{"KeyId", key}, {"PrimaryRegion", kWest}}))),
            "NotFoundException");
  EXPECT_EQ(A("UpdatePrimaryRegion", Obj({{"KeyId", key}, {"PrimaryRegion", "us-east-1"}}))
                .status()
                .code(),
            ErrorCode::kValidation);
  EXPECT_EQ(Code(In(kEu, "UpdatePrimaryRegion", Obj({{"KeyId", key}, {"PrimaryRegion", kEu}}))),
            "UnsupportedOperationException");
  EXPECT_EQ(Code(A("UpdatePrimaryRegion", Obj({{"KeyId", NewKey()}, {"PrimaryRegion", kEu}}))),
            "UnsupportedOperationException");
  ASSERT_TRUE(A("UpdatePrimaryRegion", Obj({{"KeyId", key}, {"PrimaryRegion", kEu}})).ok());
  const json::Value* old_primary = Metadata("us-east-1", key);
  ASSERT_NE(old_primary, nullptr);
  const json::Value& config = *old_primary->find("MultiRegionConfiguration");
  EXPECT_EQ(config.get_string("MultiRegionKeyType"), "REPLICA");
  EXPECT_EQ(config.find("PrimaryKey")->get_string("Region"), "eu-west-1");
  EXPECT_EQ(config.find("ReplicaKeys")->as_array()[0].get_string("Region"), "us-east-1");
  // Now eu-west-1 replicates, and us-east-1 manages rotation no more.
  EXPECT_EQ(Code(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}}))),
            "UnsupportedOperationException");
  ASSERT_TRUE(In(kEu, "ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}})).ok());
  EXPECT_EQ(Code(A("EnableKeyRotation", Obj({{"KeyId", key}}))), "UnsupportedOperationException");
}

// The schema before multi-Region keys (migrations 1-3) with a key, its
// material, a tag, a grant, an alias and an import token; migration 4 must
// keep all of it usable.
TEST_F(KmsServiceTest, MigrationToPerRegionKeyIdsKeepsData) {
  auto old_db = rampart::testing::FreshDatabase("kms_migration");
  ASSERT_NE(old_db, nullptr);
  ASSERT_TRUE(iam::IamService::Migrate(*old_db).ok());
  ASSERT_TRUE(old_db->Migrate("kms", internal::KmsMigrations().first(3)).ok());
  const std::string id = "0b7e3c1a-5d2f-4a8e-9c6b-1f2e3d4c5b6a";
  auto material = internal::GenerateMaterial("SYMMETRIC_DEFAULT");
  ASSERT_TRUE(material.ok());
  auto sealed = internal::SealMaterial(root_key_, id, 1, *material);
  ASSERT_TRUE(sealed.ok());
  Status wrote = old_db->Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto k,
        tx.Prepare(
            "INSERT INTO kms_keys (key_id, account_id, region, description, key_spec, key_usage, "
            "origin, state, policy, created_at, deletion_date, pending_days, current_version, "
            "rotation_enabled, next_rotation) VALUES (?, ?, 'us-east-1', 'old key', "
            "'SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', 'AWS_KMS', 'Enabled', ?, 1700000000, 0, 0, 1, "
            "0, 0)"));
    k->Bind(1, id).Bind(2, kAcct).Bind(3, internal::DefaultKeyPolicy(kAcct));
    RETURN_IF_ERROR(k->Run());
    ASSIGN_OR_RETURN(auto m, tx.Prepare("INSERT INTO kms_key_material (key_id, version, sealed, "
                                        "created_at) VALUES (?, 1, ?, 1700000000)"));
    m->Bind(1, id).BindBlob(2, *sealed);
    RETURN_IF_ERROR(m->Run());
    ASSIGN_OR_RETURN(auto t, tx.Prepare("INSERT INTO kms_tags (key_id, tag_key, tag_value) "
                                        "VALUES (?, 'team', 'blue')"));
    t->Bind(1, id);
    RETURN_IF_ERROR(t->Run());
    ASSIGN_OR_RETURN(
        auto g,
        tx.Prepare("INSERT INTO kms_grants (grant_id, key_id, name, grantee, retiring, operations, "
                   "context_equals, context_subset, created_at) VALUES (?, ?, 'g', "
                   "'arn:aws:iam::111122223333:user/bob', '', 'Encrypt', NULL, NULL, 1700000000)"));
    g->Bind(1, std::string(64, 'a')).Bind(2, id);
    RETURN_IF_ERROR(g->Run());
    ASSIGN_OR_RETURN(
        auto a,
        tx.Prepare("INSERT INTO kms_aliases (account_id, region, alias_name, key_id, created_at, "
                   "updated_at) VALUES (?, 'us-east-1', 'alias/old', ?, 1700000000, 1700000000)"));
    a->Bind(1, kAcct).Bind(2, id);
    RETURN_IF_ERROR(a->Run());
    ASSIGN_OR_RETURN(
        auto i,
        tx.Prepare(
            "INSERT INTO kms_import_tokens (token_id, key_id, wrapping_algorithm, "
            "sealed_private_key, expires_at) VALUES ('t1', ?, 'RSAES_OAEP_SHA_256', x'00', 1)"));
    i->Bind(1, id);
    return i->Run();
  });
  ASSERT_TRUE(wrote.ok()) << wrote.ToString();

  ASSERT_TRUE(KmsService::Migrate(*old_db).ok());
  // Migrating again is a no-op.
  ASSERT_TRUE(KmsService::Migrate(*old_db).ok());
  registry_ = server::Registry();
  service_.reset();
  authorizer_.reset();
  db_ = std::move(old_db);
  authorizer_ = std::make_unique<iam::EngineAuthorizer>(*db_, cache_);
  service_ = std::make_unique<KmsService>(*db_, root_key_, *authorizer_);
  service_->Register(registry_);

  auto described = A("DescribeKey", Obj({{"KeyId", "alias/old"}}));
  ASSERT_TRUE(described.ok()) << described.status().ToString();
  const json::Value& m = *described->find("KeyMetadata");
  EXPECT_EQ(m.get_string("KeyId"), id);
  EXPECT_EQ(m.get_string("Description"), "old key");
  EXPECT_FALSE(m.find("MultiRegion")->as_bool());
  auto tags = A("ListResourceTags", Obj({{"KeyId", id}}));
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->find("Tags")->as_array().size(), 1u);
  EXPECT_EQ(tags->find("Tags")->as_array()[0].get_string("TagValue"), "blue");
  auto grants = A("ListGrants", Obj({{"KeyId", id}}));
  ASSERT_TRUE(grants.ok());
  EXPECT_EQ(grants->find("Grants")->as_array().size(), 1u);
  // The material survived: the grant lets bob encrypt, and root decrypts.
  auto ct = Call(User(kAcct, "bob"), "Encrypt", Obj({{"KeyId", id}, {"Plaintext", "kept"}}));
  ASSERT_TRUE(ct.ok()) << ct.status().ToString();
  auto pt = A("Decrypt", Obj({{"CiphertextBlob", ct->get_string("CiphertextBlob")}}));
  ASSERT_TRUE(pt.ok()) << pt.status().ToString();
  EXPECT_EQ(pt->get_string("Plaintext"), "kept");
  // Child rows carry the key's region now, so deleting the key takes them.
  ASSERT_TRUE(A("ScheduleKeyDeletion", Obj({{"KeyId", id}, {"PendingWindowInDays", 7}})).ok());
  clock_.Advance(std::chrono::hours(24 * 8));
  ASSERT_TRUE(service_->SweepOnce(clock_.Now()).ok());
  int64_t left = -1;
  ASSERT_TRUE(
      db_->Read([&](store::Tx& tx) -> Status {
           ASSIGN_OR_RETURN(
               auto q,
               tx.Prepare("SELECT (SELECT COUNT(*) FROM kms_tags) + (SELECT COUNT(*) FROM "
                          "kms_grants) + (SELECT COUNT(*) FROM kms_import_tokens) + (SELECT "
                          "COUNT(*) FROM kms_key_material) + (SELECT COUNT(*) FROM kms_aliases)"));
           ASSIGN_OR_RETURN(bool row, q->Step());
           if (row) left = q->Int(0);
           return Status::Ok();
         })
          .ok());
  EXPECT_EQ(left, 0);
}

}  // namespace
}  // namespace rampart::kms::test
