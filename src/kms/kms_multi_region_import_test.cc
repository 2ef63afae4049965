// KmsService unit tests: multi-Region keys with imported material (Origin
// EXTERNAL), the replica region's authorization context, and the records
// ReplicateKey and UpdatePrimaryRegion leave in another region's audit
// trail.
#include <chrono>

#include "kms/kms_test_fixture.h"
#include "rampart/audit/event_store.h"
#include "rampart/core/json.h"
#include "rampart/store/store.h"

namespace rampart::kms::test {
namespace {

constexpr std::string_view kEu = "eu-west-1";
constexpr std::string_view kWest = "us-west-2";

class MultiRegionImportTest : public KmsServiceTest {
 protected:
  Result<json::Value> In(std::string_view region, std::string_view op, const json::Value& in) {
    return CallIn(Root(kAcct), region, op, in);
  }
  std::string NewExternalKey() {
    return NewKey(Obj({{"MultiRegion", true}, {"Origin", "EXTERNAL"}}));
  }
  std::string State(std::string_view region, const std::string& key) {
    auto r = In(region, "DescribeKey", Obj({{"KeyId", key}}));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::string(r->find("KeyMetadata")->get_string("KeyState")) : "";
  }
  // GetParametersForImport in region: (token, wrapping public key).
  std::pair<std::string, std::string> Parameters(std::string_view region, const std::string& key) {
    auto p = In(region, "GetParametersForImport",
                Obj({{"KeyId", key},
                     {"WrappingAlgorithm", "RSAES_OAEP_SHA_256"},
                     {"WrappingKeySpec", "RSA_2048"}}));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return {};
    return {std::string(p->get_string("ImportToken")), std::string(p->get_string("PublicKey"))};
  }
  Result<json::Value> Import(std::string_view region, const std::string& key,
                             std::string_view material, json::Value expiry = nullptr) {
    auto [token, public_der] = Parameters(region, key);
    json::Value in = Obj({{"KeyId", key},
                          {"ImportToken", token},
                          {"EncryptedKeyMaterial", WrapForImport(public_der, material)}});
    if (expiry.is_null()) {
      in.set("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE");
    } else {
      in.set("ValidTo", expiry);
    }
    return In(region, "ImportKeyMaterial", in);
  }
  int64_t MaterialRows(const std::string& key) {
    int64_t n = -1;
    Status st = db_->Read([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto q,
                       tx.Prepare("SELECT COUNT(*) FROM kms_key_material WHERE key_id = ?"));
      q->Bind(1, key);
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (row) n = q->Int(0);
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return n;
  }
  int64_t NowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch())
        .count();
  }
};

TEST_F(MultiRegionImportTest, ReplicaOfAnExternalKeyWaitsForItsOwnImport) {
  std::string key = NewExternalKey();
  ASSERT_TRUE(key.starts_with("mrk-")) << key;
  EXPECT_EQ(State(kRegion, key), "PendingImport");
  auto replicated = A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}}));
  ASSERT_TRUE(replicated.ok()) << replicated.status().ToString();
  const json::Value& meta = *replicated->find("ReplicaKeyMetadata");
  EXPECT_EQ(meta.get_string("KeyState"), "PendingImport");
  EXPECT_EQ(meta.get_string("Origin"), "EXTERNAL");
  EXPECT_EQ(meta.find("ExpirationModel"), nullptr);

  const std::string material(32, 'm');
  ASSERT_TRUE(Import(kRegion, key, material).ok());
  EXPECT_EQ(State(kRegion, key), "Enabled");
  // Material is never copied: the replica still waits.
  EXPECT_EQ(State(kEu, key), "PendingImport");
  EXPECT_EQ(Code(In(kEu, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "x"}}))),
            "KMSInvalidStateException");
  // A replica made after the import starts without material too.
  auto later = A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}}));
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_EQ(later->find("ReplicaKeyMetadata")->get_string("KeyState"), "PendingImport");

  // Other material is refused; the same material enables the replica.
  auto wrong = Import(kEu, key, std::string(32, 'w'));
  EXPECT_EQ(Code(wrong), "IncorrectKeyMaterialException");
  EXPECT_EQ(State(kEu, key), "PendingImport");
  ASSERT_TRUE(Import(kEu, key, material, NowSeconds() + 86400).ok());
  EXPECT_EQ(State(kEu, key), "Enabled");

  // Ciphertext crosses regions both ways.
  std::string blob = Encrypt(key, "from the primary");
  auto in_eu = In(kEu, "Decrypt", Obj({{"CiphertextBlob", blob}}));
  ASSERT_TRUE(in_eu.ok()) << in_eu.status().ToString();
  EXPECT_EQ(in_eu->get_string("Plaintext"), "from the primary");
  auto eu_blob = In(kEu, "Encrypt", Obj({{"KeyId", key}, {"Plaintext", "from eu"}}));
  ASSERT_TRUE(eu_blob.ok());
  EXPECT_EQ(A("Decrypt", Obj({{"CiphertextBlob", eu_blob->get_string("CiphertextBlob")}}))
                ->get_string("Plaintext"),
            "from eu");
}

TEST_F(MultiRegionImportTest, ImportTokensBelongToOneRegion) {
  std::string key = NewExternalKey();
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}})).ok());
  auto [token, public_der] = Parameters(kRegion, key);
  auto crossed = In(kEu, "ImportKeyMaterial",
                    Obj({{"KeyId", key},
                         {"ImportToken", token},
                         {"EncryptedKeyMaterial", WrapForImport(public_der, std::string(32, 'm'))},
                         {"ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE"}}));
  EXPECT_EQ(Code(crossed), "InvalidImportTokenException");
  EXPECT_EQ(State(kEu, key), "PendingImport");
}

TEST_F(MultiRegionImportTest, RegionsLoseMaterialIndependently) {
  std::string key = NewExternalKey();
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}})).ok());
  const std::string material(32, 'q');
  ASSERT_TRUE(Import(kRegion, key, material).ok());
  ASSERT_TRUE(Import(kEu, key, material, NowSeconds() + 86400).ok());
  std::string blob = Encrypt(key, "kept");

  // The replica's material expires; the primary's does not.
  clock_.Advance(std::chrono::hours(25));
  auto swept = service_->SweepOnce(clock_.Now());
  ASSERT_TRUE(swept.ok()) << swept.status().ToString();
  EXPECT_EQ(swept->expired_imports, 1);
  EXPECT_EQ(State(kEu, key), "PendingImport");
  EXPECT_EQ(State(kRegion, key), "Enabled");
  EXPECT_EQ(A("Decrypt", Obj({{"CiphertextBlob", blob}}))->get_string("Plaintext"), "kept");
  EXPECT_EQ(MaterialRows(key), 1);

  // Deleting the primary's material too leaves no region holding it: the
  // stored material goes.
  ASSERT_TRUE(A("DeleteImportedKeyMaterial", Obj({{"KeyId", key}})).ok());
  EXPECT_EQ(State(kRegion, key), "PendingImport");
  EXPECT_EQ(MaterialRows(key), 0);
  // Importing the same material into the replica alone brings its old
  // ciphertexts back there; other material is still refused.
  EXPECT_EQ(Code(Import(kEu, key, std::string(32, 'z'))), "IncorrectKeyMaterialException");
  ASSERT_TRUE(Import(kEu, key, material).ok());
  EXPECT_EQ(In(kEu, "Decrypt", Obj({{"CiphertextBlob", blob}}))->get_string("Plaintext"), "kept");
  EXPECT_EQ(State(kRegion, key), "PendingImport");

  // A replica whose deletion is cancelled keeps waiting for material when
  // it has none, and comes back Disabled when it has.
  ASSERT_TRUE(In(kEu, "ScheduleKeyDeletion", Obj({{"KeyId", key}})).ok());
  ASSERT_TRUE(In(kEu, "CancelKeyDeletion", Obj({{"KeyId", key}})).ok());
  EXPECT_EQ(State(kEu, key), "Disabled");
  ASSERT_TRUE(In(kEu, "DeleteImportedKeyMaterial", Obj({{"KeyId", key}})).ok());
  ASSERT_TRUE(In(kEu, "ScheduleKeyDeletion", Obj({{"KeyId", key}})).ok());
  ASSERT_TRUE(In(kEu, "CancelKeyDeletion", Obj({{"KeyId", key}})).ok());
  EXPECT_EQ(State(kEu, key), "PendingImport");
}

// The lockout check of a replica's policy runs in the replica's region:
// a policy that lets the account manage the key only there passes.
TEST_F(MultiRegionImportTest, ReplicaLockoutCheckSeesTheReplicaRegion) {
  std::string key = NewKey(Obj({{"MultiRegion", true}}));
  auto policy_for = [](std::string_view region) {
    return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":)"
           R"("arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*","Condition":)"
           R"({"StringEquals":{"aws:RequestedRegion":")" +
           std::string(region) + R"("}}}]})";
  };
  EXPECT_EQ(Code(A("ReplicateKey",
                   Obj({{"KeyId", key}, {"ReplicaRegion", kEu}, {"Policy", policy_for(kRegion)}}))),
            "MalformedPolicyDocumentException");
  auto ok =
      A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kEu}, {"Policy", policy_for(kEu)}}));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(In(kEu, "DescribeKey", Obj({{"KeyId", key}})).ok());
}

// Stands in for the audit sink's per-request hook.
class NoOpHook final : public store::WriteHook {
 public:
  Status BeforeCommit(store::Tx&) override { return Status::Ok(); }
};

TEST_F(MultiRegionImportTest, ReplicateKeyRecordsCreateKeyInTheReplicaRegion) {
  ASSERT_TRUE(audit::MigrateEventStore(*db_).ok());
  std::string key = NewKey(Obj({{"MultiRegion", true}}));
  audit::LookupQuery query;
  query.account_id = std::string(kAcct);
  query.key = audit::LookupKey::kEventName;
  query.value = "CreateKey";
  // Without an audit trail recording the request there is nothing to add.
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}})).ok());
  auto none = audit::LookupEvents(*db_, query);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->events.empty());

  NoOpHook hook;
  store::ScopedWriteHook scope(&hook);
  ASSERT_TRUE(
      A("ReplicateKey",
        Obj({{"KeyId", key},
             {"ReplicaRegion", kEu},
             {"Description", "eu"},
             {"Tags", json::Value(json::Array{Obj({{"TagKey", "k"}, {"TagValue", "v"}})})}}))
          .ok());
  auto page = audit::LookupEvents(*db_, query);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->events.size(), 1u);
  auto record = json::Parse(page->events[0].record);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->get_string("eventName"), "CreateKey");
  EXPECT_EQ(record->get_string("awsRegion"), kEu);
  EXPECT_EQ(record->get_string("requestID"), "req");
  EXPECT_EQ(record->find("userIdentity")->get_string("arn"), "arn:aws:iam::111122223333:root");
  const json::Value* params = record->find("requestParameters");
  ASSERT_NE(params, nullptr);
  EXPECT_EQ(params->get_string("description"), "eu");
  EXPECT_TRUE(params->find("multiRegion")->as_bool());
  const json::Value* metadata = record->find("responseElements")->find("keyMetadata");
  ASSERT_NE(metadata, nullptr);
  EXPECT_EQ(metadata->get_string("arn"), "arn:aws:kms:eu-west-1:111122223333:key/" + key);
}

TEST_F(MultiRegionImportTest, UpdatePrimaryRegionIsRecordedInTheNewPrimaryRegion) {
  ASSERT_TRUE(audit::MigrateEventStore(*db_).ok());
  std::string key = NewKey(Obj({{"MultiRegion", true}}));
  ASSERT_TRUE(A("ReplicateKey", Obj({{"KeyId", key}, {"ReplicaRegion", kWest}})).ok());
  NoOpHook hook;
  store::ScopedWriteHook scope(&hook);
  ASSERT_TRUE(A("UpdatePrimaryRegion", Obj({{"KeyId", key}, {"PrimaryRegion", kWest}})).ok());
  audit::LookupQuery query;
  query.account_id = std::string(kAcct);
  query.key = audit::LookupKey::kEventName;
  query.value = "UpdatePrimaryRegion";
  auto page = audit::LookupEvents(*db_, query);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->events.size(), 1u);
  auto record = json::Parse(page->events[0].record);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->get_string("awsRegion"), kWest);
  EXPECT_EQ(record->find("requestParameters")->get_string("primaryRegion"), kWest);
  EXPECT_EQ(record->find("requestParameters")->get_string("keyId"), key);
}

}  // namespace
}  // namespace rampart::kms::test
