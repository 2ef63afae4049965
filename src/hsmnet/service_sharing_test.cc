// The network HSM service, keys shared between crypto users: the other user
// may use a shared key but not destroy or re-share it, and loses it at once
// when the owner unshares it.
#include "hsmnet/service_test_fixtures.h"

namespace rampart::hsmnet {
namespace {

using namespace service_testing;  // NOLINT(google-build-using-namespace)

TEST_F(ServiceTest, SharedKeysCanBeUsedButNotDestroyedOrReshared) {
  Session alice = Login("alice", kPassword);
  Session bob = Login("bob", kPassword);
  Response gen = Generate(alice, 2);  // EC P-256
  ASSERT_EQ(gen.rv, CKR_OK);
  ASSERT_EQ(gen.keys.size(), 1u);
  const std::string id = gen.keys[0].key_id;
  EXPECT_EQ(Sign(alice, id).rv, CKR_OK);

  // Not shared yet: bob does not see it at all.
  EXPECT_EQ(Sign(bob, id).rv, CKR_KEY_HANDLE_INVALID);
  Request list;
  list.op = Op::kListKeys;
  EXPECT_TRUE(Call(bob, list).keys.empty());

  ASSERT_EQ(KeyCall(alice, Op::kShareKey, id, "bob").rv, CKR_OK);
  Response listed = Call(bob, list);
  ASSERT_EQ(listed.keys.size(), 1u);
  EXPECT_FALSE(listed.keys[0].owned);
  EXPECT_EQ(listed.keys[0].owner, "alice");
  EXPECT_EQ(Sign(bob, id).rv, CKR_OK);
  EXPECT_EQ(KeyCall(bob, Op::kPublicKey, id).rv, CKR_OK);
  EXPECT_EQ(KeyCall(bob, Op::kDestroyKey, id).rv, CKR_ACTION_PROHIBITED);
  ASSERT_EQ(CreateUser("carol"), CKR_OK);
  EXPECT_EQ(KeyCall(bob, Op::kShareKey, id, "carol").rv, CKR_ACTION_PROHIBITED);
  // Sharing with an officer or an unknown user is refused.
  EXPECT_EQ(KeyCall(alice, Op::kShareKey, id, "admin").rv, CKR_ARGUMENTS_BAD);
  EXPECT_EQ(KeyCall(alice, Op::kShareKey, id, "nobody").rv, CKR_USER_TYPE_INVALID);

  // The owner cannot be deleted while owning keys; the owner can destroy.
  Request del;
  del.op = Op::kDeleteUser;
  del.name = "alice";
  EXPECT_EQ(Call(officer_, del).rv, CKR_ARGUMENTS_BAD);
  EXPECT_EQ(KeyCall(alice, Op::kDestroyKey, id).rv, CKR_OK);
  EXPECT_EQ(Sign(bob, id).rv, CKR_KEY_HANDLE_INVALID);
  EXPECT_EQ(Call(officer_, del).rv, CKR_OK);
}

// The key record a use looked up before is cached (state.h): taking the
// share back must still end the other user's use on their next call.
TEST_F(ServiceTest, UnsharingEndsTheOtherUsersUseAtOnce) {
  Session alice = Login("alice", kPassword);
  Session bob = Login("bob", kPassword);
  Response gen = Generate(alice, 2);
  ASSERT_EQ(gen.rv, CKR_OK);
  const std::string id = gen.keys[0].key_id;
  ASSERT_EQ(KeyCall(alice, Op::kShareKey, id, "bob").rv, CKR_OK);
  ASSERT_EQ(Sign(bob, id).rv, CKR_OK);
  Request unshare;
  unshare.op = Op::kShareKey;
  unshare.key_id = id;
  unshare.name = "bob";
  unshare.flag = 0;
  ASSERT_EQ(Call(alice, unshare).rv, CKR_OK);
  EXPECT_EQ(Sign(bob, id).rv, CKR_KEY_HANDLE_INVALID);
  EXPECT_EQ(Sign(alice, id).rv, CKR_OK);
  ASSERT_EQ(KeyCall(alice, Op::kDestroyKey, id).rv, CKR_OK);
  EXPECT_EQ(Sign(alice, id).rv, CKR_KEY_HANDLE_INVALID);
}

}  // namespace
}  // namespace rampart::hsmnet
