// KmsService unit tests: key policies (access, the lockout safety check,
// malformed policies) and the KMS condition keys.
#include <thread>

#include "kms/kms_test_fixture.h"
#include "rampart/core/arn.h"
#include "rampart/crypto/pkey.h"
#include "rampart/kms/ciphertext.h"

namespace rampart::kms::test {
namespace {

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

// The engine builds no condition keys for policies without conditions or
// policy variables (the default key policy): a key policy whose only use
// of them is a variable in Resource must still get them.
TEST_F(KmsServiceTest, PolicyVariablesInKeyPolicyResourcesResolve) {
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},)"
      R"("Action":"kms:Encrypt","Resource":"arn:aws:kms:${aws:RequestedRegion}:111122223333:key/*"},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/carol"},)"
      R"("Action":"kms:Encrypt","Resource":"arn:aws:kms:${aws:PrincipalTag/home}:111122223333:key/*"}]})";
  std::string key = NewKey(Obj({{"Policy", policy}}));
  json::Value in = Obj({{"KeyId", key}, {"Plaintext", "x"}});
  auto allowed = Call(User(kAcct, "bob"), "Encrypt", in);
  EXPECT_TRUE(allowed.ok()) << allowed.status().ToString();
  // carol has no tag "home": the variable does not resolve, nothing matches.
  EXPECT_EQ(Call(User(kAcct, "carol"), "Encrypt", in).status().code(), ErrorCode::kAccessDenied);
  // The same without the variable statements: the default policy alone
  // delegates to IAM, where bob has no policy.
  std::string key2 = NewKey();
  EXPECT_EQ(Call(User(kAcct, "bob"), "Encrypt", Obj({{"KeyId", key2}, {"Plaintext", "x"}}))
                .status()
                .code(),
            ErrorCode::kAccessDenied);
}

// The key's condition keys are prepared once per cached key entry: every
// tag and alias change must reach the very next call, for allows and
// denies alike (a stale entry would be an authorization bug).
TEST_F(KmsServiceTest, KeyConditionKeysFollowEveryTagAndAliasChange) {
  std::string policy =
      R"({"Version":"2012-10-17","Statement":[)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},)"
      R"("Action":"kms:Encrypt","Resource":"*",)"
      R"("Condition":{"StringEquals":{"aws:ResourceTag/team":"blue","kms:KeySpec":"SYMMETRIC_DEFAULT"}}},)"
      R"({"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",)"
      R"("Condition":{"StringEquals":{"aws:ResourceTag/frozen":"true"}}},)"
      R"({"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",)"
      R"("Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/retired"}}}]})";
  std::string key = NewKey(Obj({{"Policy", policy}}));
  server::Principal bob = User(kAcct, "bob");
  const json::Value in = Obj({{"KeyId", key}, {"Plaintext", "x"}});
  auto tag = [&](std::string_view k, std::string_view v) {
    json::Value tags = json::Value::MakeArray();
    tags.push(Obj({{"TagKey", k}, {"TagValue", v}}));
    ASSERT_TRUE(A("TagResource", Obj({{"KeyId", key}, {"Tags", tags}})).ok());
  };
  auto untag = [&](std::string_view k) {
    json::Value keys = json::Value::MakeArray();
    keys.push(k);
    ASSERT_TRUE(A("UntagResource", Obj({{"KeyId", key}, {"TagKeys", keys}})).ok());
  };
  auto bob_allowed = [&] { return Call(bob, "Encrypt", in).ok(); };
  auto root_allowed = [&] { return A("Encrypt", in).ok(); };
  ASSERT_TRUE(root_allowed());  // the entry is cached from here on
  EXPECT_FALSE(bob_allowed());
  tag("team", "blue");
  EXPECT_TRUE(bob_allowed());
  tag("team", "red");  // a new value for the same tag key
  EXPECT_FALSE(bob_allowed());
  tag("team", "blue");
  EXPECT_TRUE(bob_allowed());
  tag("frozen", "true");  // an explicit deny for everybody
  EXPECT_FALSE(bob_allowed());
  EXPECT_FALSE(root_allowed());
  untag("frozen");
  EXPECT_TRUE(bob_allowed());
  EXPECT_TRUE(root_allowed());
  untag("team");
  EXPECT_FALSE(bob_allowed());
  EXPECT_TRUE(root_allowed());
  ASSERT_TRUE(A("CreateAlias", Obj({{"AliasName", "alias/retired"}, {"TargetKeyId", key}})).ok());
  EXPECT_FALSE(root_allowed());
  ASSERT_TRUE(A("DeleteAlias", Obj({{"AliasName", "alias/retired"}})).ok());
  EXPECT_TRUE(root_allowed());
  ASSERT_TRUE(A("CreateAlias", Obj({{"AliasName", "alias/retired"}, {"TargetKeyId", key}})).ok());
  EXPECT_FALSE(root_allowed());
  std::string other = NewKey();
  ASSERT_TRUE(A("UpdateAlias", Obj({{"AliasName", "alias/retired"}, {"TargetKeyId", other}})).ok());
  EXPECT_TRUE(root_allowed());
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

}  // namespace
}  // namespace rampart::kms::test
