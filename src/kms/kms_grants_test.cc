// KmsService unit tests: grants (authorization by grant, validation,
// retiring and revoking, grants to roles and accounts).
#include <thread>

#include "kms/kms_test_fixture.h"
#include "rampart/core/arn.h"
#include "rampart/crypto/pkey.h"
#include "rampart/kms/ciphertext.h"

namespace rampart::kms::test {
namespace {

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
}  // namespace rampart::kms::test
