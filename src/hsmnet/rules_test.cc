#include "hsmnet/rules.h"

#include <gtest/gtest.h>

#include "pkcs11/p11.h"

namespace rampart::hsmnet {
namespace {

TEST(RulesTest, NothingButHelloAndLoginWithoutALogin) {
  EXPECT_EQ(CheckOperation(nullptr, Op::kHello), CKR_OK);
  EXPECT_EQ(CheckOperation(nullptr, Op::kLogin), CKR_OK);
  for (Op op : {Op::kLogout, Op::kSign, Op::kListKeys, Op::kCreateUser, Op::kRandom}) {
    EXPECT_EQ(CheckOperation(nullptr, op), CKR_USER_NOT_LOGGED_IN) << OpName(op);
  }
}

TEST(RulesTest, OfficersManageUsersAndUseNoKeys) {
  Role co = Role::kOfficer;
  for (Op op : {Op::kCreateUser, Op::kDeleteUser, Op::kListUsers, Op::kChangePassword}) {
    EXPECT_EQ(CheckOperation(&co, op), CKR_OK) << OpName(op);
  }
  for (Op op : {Op::kGenerateKey, Op::kSign, Op::kEncrypt, Op::kShareKey, Op::kDestroyKey, Op::kListKeys}) {
    EXPECT_EQ(CheckOperation(&co, op), CKR_ACTION_PROHIBITED) << OpName(op);
  }
}

TEST(RulesTest, CryptoUsersUseKeysAndManageNoUsers) {
  Role cu = Role::kCryptoUser;
  for (Op op : {Op::kGenerateKey, Op::kSign, Op::kEncrypt, Op::kDecrypt, Op::kShareKey, Op::kDestroyKey,
                Op::kListKeys, Op::kHmac, Op::kRandom, Op::kChangePassword}) {
    EXPECT_EQ(CheckOperation(&cu, op), CKR_OK) << OpName(op);
  }
  for (Op op : {Op::kCreateUser, Op::kDeleteUser, Op::kListUsers}) {
    EXPECT_EQ(CheckOperation(&cu, op), CKR_ACTION_PROHIBITED) << OpName(op);
  }
}

TEST(RulesTest, ApplianceUserOnlyLists) {
  Role au = Role::kAppliance;
  EXPECT_EQ(CheckOperation(&au, Op::kListKeys), CKR_OK);
  EXPECT_EQ(CheckOperation(&au, Op::kListUsers), CKR_OK);
  for (Op op : {Op::kGenerateKey, Op::kSign, Op::kCreateUser, Op::kDestroyKey}) {
    EXPECT_EQ(CheckOperation(&au, op), CKR_ACTION_PROHIBITED) << OpName(op);
  }
}

TEST(RulesTest, OnlyTheApplianceUserReplicates) {
  Role au = Role::kAppliance, cu = Role::kCryptoUser, co = Role::kOfficer;
  EXPECT_EQ(CheckOperation(&au, Op::kReplicate), CKR_OK);
  EXPECT_EQ(CheckOperation(&cu, Op::kReplicate), CKR_ACTION_PROHIBITED);
  EXPECT_EQ(CheckOperation(&co, Op::kReplicate), CKR_ACTION_PROHIBITED);
  EXPECT_EQ(CheckOperation(nullptr, Op::kReplicate), CKR_USER_NOT_LOGGED_IN);
  // Replication does not let the appliance user use or move keys itself.
  for (Op op : {Op::kEncrypt, Op::kHmac, Op::kPublicKey, Op::kWrapKey, Op::kUnwrapKey, Op::kShareKey}) {
    EXPECT_EQ(CheckOperation(&au, op), CKR_ACTION_PROHIBITED) << OpName(op);
  }
}

TEST(RulesTest, SharedKeysMayBeUsedOnly) {
  KeyRelation owner{true, false}, shared{false, true}, stranger{false, false};
  for (KeyAction a : {KeyAction::kUse, KeyAction::kDestroy, KeyAction::kShare}) {
    EXPECT_EQ(CheckKeyAction(owner, a), CKR_OK);
    EXPECT_EQ(CheckKeyAction(stranger, a), CKR_KEY_HANDLE_INVALID);
  }
  EXPECT_EQ(CheckKeyAction(shared, KeyAction::kUse), CKR_OK);
  EXPECT_EQ(CheckKeyAction(shared, KeyAction::kDestroy), CKR_ACTION_PROHIBITED);
  EXPECT_EQ(CheckKeyAction(shared, KeyAction::kShare), CKR_ACTION_PROHIBITED);
}

TEST(RulesTest, PasswordsAndNames) {
  EXPECT_EQ(CheckPasswordChange(Role::kOfficer, "admin", "bob"), CKR_OK);
  EXPECT_EQ(CheckPasswordChange(Role::kCryptoUser, "bob", "bob"), CKR_OK);
  EXPECT_EQ(CheckPasswordChange(Role::kCryptoUser, "bob", "alice"), CKR_ACTION_PROHIBITED);
  EXPECT_TRUE(ValidUserName("crypto_user-1.a"));
  EXPECT_FALSE(ValidUserName(""));
  EXPECT_FALSE(ValidUserName("a:b"));
  EXPECT_FALSE(ValidUserName(std::string(33, 'a')));
  EXPECT_TRUE(ValidPassword("12345678"));
  EXPECT_FALSE(ValidPassword("1234567"));
  EXPECT_FALSE(ValidPassword(std::string(129, 'p')));
}

}  // namespace
}  // namespace rampart::hsmnet
