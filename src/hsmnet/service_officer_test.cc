// The network HSM service, the crypto officer's side: officers manage users
// but use no keys, lockout and its reset, and a deleted, reset or recreated
// user's sessions ending.
#include "hsmnet/service_test_fixtures.h"

namespace rampart::hsmnet {
namespace {

using namespace service_testing;  // NOLINT(google-build-using-namespace)

TEST_F(ServiceTest, OfficersCannotUseKeysAndUsersCannotManageUsers) {
  EXPECT_EQ(Generate(officer_, 2).rv, CKR_ACTION_PROHIBITED);
  Session alice = Login("alice", kPassword);
  ASSERT_EQ(last_login_rv_, CKR_OK);
  EXPECT_EQ(CreateUser("carol"), CKR_OK);
  Request q;
  q.op = Op::kCreateUser;
  q.name = "mallory";
  q.password = kPassword;
  EXPECT_EQ(Call(alice, q).rv, CKR_ACTION_PROHIBITED);
  q.op = Op::kListUsers;
  EXPECT_EQ(Call(alice, q).rv, CKR_ACTION_PROHIBITED);
  Response users = Call(officer_, q);
  ASSERT_EQ(users.rv, CKR_OK);
  EXPECT_EQ(users.users.size(), 4u);  // admin, alice, bob, carol
  // Duplicate names and bad passwords are refused.
  EXPECT_EQ(CreateUser("alice"), CKR_ARGUMENTS_BAD);
  Session none;
  EXPECT_EQ(Generate(none, 0).rv, CKR_USER_NOT_LOGGED_IN);
}

TEST_F(ServiceTest, FailedLoginsLockTheUserUntilAnOfficerResetsThePassword) {
  Login("bob", "wrong-password");
  EXPECT_EQ(last_login_rv_, CKR_PIN_INCORRECT);
  Login("bob", "wrong-password");
  EXPECT_EQ(last_login_rv_, CKR_PIN_INCORRECT);
  Login("bob", "wrong-password");
  EXPECT_EQ(last_login_rv_, CKR_PIN_LOCKED);
  Login("bob", kPassword);
  EXPECT_EQ(last_login_rv_, CKR_PIN_LOCKED);
  // Unknown users and the wrong role look like a wrong password.
  Login("nobody", kPassword);
  EXPECT_EQ(last_login_rv_, CKR_PIN_INCORRECT);
  Login("alice", kPassword, Role::kOfficer);
  EXPECT_EQ(last_login_rv_, CKR_PIN_INCORRECT);

  Request reset;
  reset.op = Op::kChangePassword;
  reset.name = "bob";
  reset.password = "a-new-password";
  ASSERT_EQ(Call(officer_, reset).rv, CKR_OK);
  Login("bob", "a-new-password");
  EXPECT_EQ(last_login_rv_, CKR_OK);
}

TEST_F(ServiceTest, DeletingOrResettingAUserEndsTheirSessions) {
  Session alice = Login("alice", kPassword);
  Session bob = Login("bob", kPassword);
  Response gen = Generate(alice, 2);
  ASSERT_EQ(gen.rv, CKR_OK);
  ASSERT_EQ(KeyCall(alice, Op::kShareKey, gen.keys[0].key_id, "bob").rv, CKR_OK);
  ASSERT_EQ(Sign(bob, gen.keys[0].key_id).rv, CKR_OK);

  Request del;
  del.op = Op::kDeleteUser;
  del.name = "bob";
  ASSERT_EQ(Call(officer_, del).rv, CKR_OK);
  EXPECT_EQ(Sign(bob, gen.keys[0].key_id).rv, CKR_USER_NOT_LOGGED_IN);
  Login("bob", kPassword);
  EXPECT_EQ(last_login_rv_, CKR_PIN_INCORRECT);

  Request change;
  change.op = Op::kChangePassword;
  change.name = "alice";
  change.password = "changed-by-officer";
  ASSERT_EQ(Call(officer_, change).rv, CKR_OK);
  EXPECT_EQ(Sign(alice, gen.keys[0].key_id).rv, CKR_USER_NOT_LOGGED_IN);
  // Users may change their own password and stay logged in.
  Session again = Login("alice", "changed-by-officer");
  change.password = "changed-by-alice";
  ASSERT_EQ(Call(again, change).rv, CKR_OK);
  EXPECT_EQ(Sign(again, gen.keys[0].key_id).rv, CKR_OK);
  change.name = "admin";
  EXPECT_EQ(Call(again, change).rv, CKR_ACTION_PROHIBITED);
}

// A session of a deleted user must not carry over to a new user created
// under the same name before the old session's next request.
TEST_F(ServiceTest, ASessionDoesNotSurviveItsUserBeingRecreated) {
  Session alice = Login("alice", kPassword);
  Session bob = Login("bob", kPassword);
  Response gen = Generate(alice, 2);
  ASSERT_EQ(gen.rv, CKR_OK);
  ASSERT_EQ(KeyCall(alice, Op::kShareKey, gen.keys[0].key_id, "bob").rv, CKR_OK);
  Request del;
  del.op = Op::kDeleteUser;
  del.name = "bob";
  ASSERT_EQ(Call(officer_, del).rv, CKR_OK);
  ASSERT_EQ(CreateUser("bob"), CKR_OK);
  ASSERT_EQ(KeyCall(alice, Op::kShareKey, gen.keys[0].key_id, "bob").rv, CKR_OK);
  EXPECT_EQ(Sign(bob, gen.keys[0].key_id).rv, CKR_USER_NOT_LOGGED_IN);
}

}  // namespace
}  // namespace rampart::hsmnet
