// The network HSM service, the appliance user's side: the Replicate
// operation a peer node sends (users as hashes, keys under the cluster key,
// shares, deletions and their tombstones), who may send it, and a node that
// reaches no peer.
#include "hsmnet/service_test_fixtures.h"

#include <string>
#include <utility>
#include <vector>

#include "hsmnet/test_nodes.h"
#include "rampart/crypto/password.h"

namespace rampart::hsmnet {
namespace {

using namespace service_testing;  // NOLINT(google-build-using-namespace)

TEST_F(ReplicaTest, OnlyTheApplianceUserMayReplicate) {
  Session alice = Login("alice", kPassword);
  Request q;
  q.name = "mallory";
  q.data = "pbkdf2-sha256$1000$AAAA$AAAA";
  EXPECT_EQ(Replica(alice, ReplicaKind::kPutUser, q).rv, CKR_ACTION_PROHIBITED);
  EXPECT_EQ(Replica(officer_, ReplicaKind::kPutUser, q).rv, CKR_ACTION_PROHIBITED);
  EXPECT_FALSE(state_->FindUser("mallory")->has_value());
  // And the appliance user still cannot use keys.
  Response key = Generate(alice, 2);
  ASSERT_EQ(key.rv, CKR_OK);
  EXPECT_EQ(Sign(au_, key.keys[0].key_id).rv, CKR_ACTION_PROHIBITED);
}

TEST_F(ReplicaTest, OnlyPeerCertificatesMayLogInAsTheApplianceUserAndFailuresDoNotLockIt) {
  // The wrong certificate is refused before the password is looked at:
  // neither the right password nor many wrong ones (max_failed_logins is
  // 3 here) change anything for the real peer.
  for (int i = 0; i < 5; ++i) {
    Session app = Login("replicator", i == 0 ? kPassword : "wrong-password", Role::kAppliance, false);
    EXPECT_EQ(last_login_rv_, CKR_ACTION_PROHIBITED);
    EXPECT_FALSE(app.user);
  }
  EXPECT_EQ(state_->FindUser("replicator")->value().failed_logins, 0);
  Session peer = Login("replicator", kPassword, Role::kAppliance, true);
  EXPECT_EQ(last_login_rv_, CKR_OK);
  EXPECT_TRUE(peer.user);
  // A session of the wrong certificate that is somehow logged in as the
  // AU still cannot replicate.
  Session forged = au_;
  forged.replication_peer = false;
  EXPECT_EQ(UserReplica(ReplicaKind::kGetUser, "alice").rv, CKR_OK);
  Request q;
  q.name = "alice";
  EXPECT_EQ(Replica(forged, ReplicaKind::kGetUser, q).rv, CKR_ACTION_PROHIBITED);
  EXPECT_NE(AuditText().find(R"("user":"replicator","operation":"Login","result":"CKR_ACTION_PROHIBITED")"),
            std::string::npos);
}

TEST_F(ReplicaTest, ANodeWithoutReplicationRefusesTheApplianceUser) {
  service_->set_replicator(nullptr);
  // Even the right certificate and password: this node has no peers.
  Login("replicator", kPassword, Role::kAppliance, true);
  EXPECT_EQ(last_login_rv_, CKR_ACTION_PROHIBITED);
  // A session from before is refused as well.
  Request put;
  put.name = "alice";
  put.role = Role::kOfficer;
  put.data = state_->PasswordHash("bob")->value();
  EXPECT_EQ(Replica(au_, ReplicaKind::kPutUser, put).rv, CKR_ACTION_PROHIBITED);
  EXPECT_EQ(UserReplica(ReplicaKind::kGetUser, "alice").rv, CKR_ACTION_PROHIBITED);
  EXPECT_EQ(state_->FindUser("alice")->value().role, Role::kCryptoUser);
  service_->set_replicator(replicator_.get());
}

TEST_F(ReplicaTest, HashesWeakerThanTheNodesIterationsAreRefused) {
  // This node hashes with 1,000 iterations (the fixture).
  auto weak = crypto::HashPassword("a-chosen-password", 999);
  ASSERT_TRUE(weak.ok());
  EXPECT_EQ(UserReplica(ReplicaKind::kPutUser, "alice", *weak).rv, CKR_ARGUMENTS_BAD);
  EXPECT_FALSE(Login("alice", "a-chosen-password").user);
  EXPECT_EQ(UserReplica(ReplicaKind::kPutUser, "alice", "pbkdf2-sha256$$AAAA$AAAA").rv, CKR_ARGUMENTS_BAD);
  EXPECT_EQ(UserReplica(ReplicaKind::kPutUser, "alice", "pbkdf2-sha256$99999999999$AAAA$AAAA").rv,
            CKR_ARGUMENTS_BAD);
  auto strong = crypto::HashPassword("a-chosen-password", 1000);
  ASSERT_TRUE(strong.ok());
  EXPECT_EQ(UserReplica(ReplicaKind::kPutUser, "alice", *strong).rv, CKR_OK);
  EXPECT_TRUE(Login("alice", "a-chosen-password").user);
}

TEST_F(ReplicaTest, AReplicatedKeyCannotTakeAnotherKeysId) {
  Session alice = Login("alice", kPassword);
  Response pair = GenerateSpec(alice, 2, kUsageSign, true);
  ASSERT_EQ(pair.rv, CKR_OK);
  Response wrapped = KeyReplica(ReplicaKind::kWrapKey, pair.keys[0].key_id);
  ASSERT_EQ(wrapped.rv, CKR_OK);
  Request put;
  put.key_id = pair.keys[0].key_id;  // alice's key's id, for bob
  put.name = "bob";
  put.algorithm = 2;
  put.usage = kUsageSign;
  put.data = wrapped.data;
  put.public_key = wrapped.public_key;
  EXPECT_EQ(Replica(au_, ReplicaKind::kPutKey, put).rv, CKR_ARGUMENTS_BAD);
  put.name = "alice";
  put.algorithm = 3;  // P-384 under a P-256 key's id
  EXPECT_EQ(Replica(au_, ReplicaKind::kPutKey, put).rv, CKR_ARGUMENTS_BAD);
  put.algorithm = 2;
  EXPECT_EQ(Replica(au_, ReplicaKind::kPutKey, put).rv, CKR_OK);  // the same key again
  EXPECT_EQ(state_->FindKey(pair.keys[0].key_id)->value().info.owner, "alice");
  put.key_id = std::string(kClusterKeyId);
  EXPECT_EQ(Replica(au_, ReplicaKind::kPutKey, put).rv, CKR_ARGUMENTS_BAD);
}

TEST_F(ReplicaTest, UnwrappedKeysAreReplicatedLikeGeneratedOnes) {
  Session alice = Login("alice", kPassword);
  ASSERT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "wk").rv, CKR_OK);
  Response data_key = GenerateSpec(alice, 0, kUsageEncrypt, true);
  ASSERT_EQ(data_key.rv, CKR_OK);
  Response blob = Wrap(alice, "wk", data_key.keys[0].key_id);
  ASSERT_EQ(blob.rv, CKR_OK);
  // Replicated to every (no) peer: locked in the token like a generated key.
  ASSERT_EQ(Unwrap(alice, "wk", blob.data, 0, kUsageEncrypt, "unwrapped").rv, CKR_OK);
  EXPECT_EQ(KeyReplica(ReplicaKind::kWrapKey, "unwrapped").rv, CKR_KEY_FUNCTION_NOT_PERMITTED);
  // A node that needs two holders and reaches none takes it back.
  Replicator::Options two;
  two.min_nodes = 2;
  auto strict = Replicator::Create(*token_, *state_, two);
  ASSERT_TRUE(strict.ok());
  service_->set_replicator(strict->get());
  EXPECT_EQ(Unwrap(alice, "wk", blob.data, 0, kUsageEncrypt, "unavailable").rv, CKR_DEVICE_ERROR);
  EXPECT_FALSE(state_->FindKey("unavailable")->has_value());
  EXPECT_EQ(token_->CheckKey({"unavailable", pkcs11::KeyKind::kAes}).code(), ErrorCode::kNotFound);
  service_->set_replicator(replicator_.get());
}

TEST_F(ReplicaTest, ANewKeyTakenBackIsDestroyedOnThePeersEvenWhenItsRowCannotBeDeleted) {
  // A node that needs two holders and whose one peer does not answer (its
  // senders are not started: the entries stay in the outbox).
  test_nodes::WriteSelfSignedNode(dir_);
  Replicator::Options o;
  o.peers = {test_nodes::ClosedLoopbackAddress()};
  o.cert_file = dir_ + "/node.pem";
  o.key_file = dir_ + "/node.key";
  o.ca_file = dir_ + "/node.pem";
  o.user = "replicator";
  o.password = SecretBytes(kPassword);
  o.min_nodes = 2;
  auto strict = Replicator::Create(*token_, *state_, o);
  ASSERT_TRUE(strict.ok()) << strict.status().ToString();
  service_->set_replicator(strict->get());
  // The key's row cannot be deleted here (as when the database is busy).
  ASSERT_TRUE(db_->Write([](store::Tx& tx) {
                   return tx.Exec("CREATE TRIGGER keep_keys BEFORE DELETE ON hsm_keys "
                                  "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
                 })
                  .ok());
  Session alice = Login("alice", kPassword);
  EXPECT_EQ(GenerateSpec(alice, 0, kUsageEncrypt, false, "unavailable").rv, CKR_DEVICE_ERROR);
  EXPECT_EQ(token_->CheckKey({"unavailable", pkcs11::KeyKind::kAes}).code(), ErrorCode::kNotFound);
  // The peer is owed the key and then its destruction, in that order.
  std::vector<std::pair<Outbox::Kind, std::string>> owed;
  while (true) {
    auto head = state_->outbox().Head(o.peers[0]);
    ASSERT_TRUE(head.ok());
    if (!*head) break;
    owed.emplace_back((*head)->kind, (*head)->name);
    ASSERT_TRUE(state_->outbox().Remove((*head)->seq).ok());
  }
  std::vector<std::pair<Outbox::Kind, std::string>> expected = {{Outbox::Kind::kPutKey, "unavailable"},
                                                                {Outbox::Kind::kDestroyKey, "unavailable"}};
  EXPECT_EQ(owed, expected);
  ASSERT_TRUE(db_->Write([](store::Tx& tx) { return tx.Exec("DROP TRIGGER keep_keys;"); }).ok());
  service_->set_replicator(replicator_.get());
}

TEST_F(ReplicaTest, UsersTravelAsHashesAndDeletionsLeaveTombstones) {
  Response hash = UserReplica(ReplicaKind::kGetUser, "alice");
  ASSERT_EQ(hash.rv, CKR_OK);
  EXPECT_EQ(hash.data.rfind("pbkdf2-sha256$", 0), 0u);
  EXPECT_EQ(hash.data.find(kPassword), std::string::npos);
  // A user made from the hash logs in with the same password.
  ASSERT_EQ(UserReplica(ReplicaKind::kPutUser, "zed", hash.data).rv, CKR_OK);
  Session zed = Login("zed", kPassword);
  ASSERT_TRUE(zed.user);
  // The same hash again changes nothing; a new hash ends zed's sessions.
  ASSERT_EQ(UserReplica(ReplicaKind::kPutUser, "zed", hash.data).rv, CKR_OK);
  EXPECT_EQ(Generate(zed, 0).rv, CKR_OK);
  Response bob_hash = UserReplica(ReplicaKind::kGetUser, "bob");
  ASSERT_EQ(UserReplica(ReplicaKind::kPutUser, "zed", bob_hash.data).rv, CKR_OK);
  EXPECT_EQ(Generate(zed, 0).rv, CKR_USER_NOT_LOGGED_IN);
  EXPECT_EQ(UserReplica(ReplicaKind::kPutUser, "zed", "plain-password").rv, CKR_ARGUMENTS_BAD);
  EXPECT_EQ(UserReplica(ReplicaKind::kPutUser, "bad name!", hash.data).rv, CKR_ARGUMENTS_BAD);

  // A deleted user is remembered as deleted; one never seen is unknown.
  ASSERT_EQ(UserReplica(ReplicaKind::kDeleteUser, "bob").rv, CKR_OK);
  EXPECT_EQ(Login("bob", kPassword).user, std::nullopt);
  Response gone = UserReplica(ReplicaKind::kGetUser, "bob");
  EXPECT_EQ(gone.rv, CKR_OK);
  EXPECT_EQ(gone.flag, 1);
  EXPECT_TRUE(gone.data.empty());
  EXPECT_EQ(UserReplica(ReplicaKind::kGetUser, "never").rv, CKR_KEY_HANDLE_INVALID);
  // Made again, bob is no longer a tombstone.
  ASSERT_EQ(UserReplica(ReplicaKind::kPutUser, "bob", bob_hash.data).rv, CKR_OK);
  EXPECT_FALSE(*state_->WasDeleted(false, "bob"));
  EXPECT_NE(AuditText().find("\"operation\":\"Replicate\""), std::string::npos);
}

TEST_F(ReplicaTest, KeysTravelUnderTheClusterKeyWithOwnerAndShares) {
  Session alice = Login("alice", kPassword);
  Session bob = Login("bob", kPassword);
  Response pair = GenerateSpec(alice, 2, kUsageSign, true);  // extractable until replicated
  ASSERT_EQ(pair.rv, CKR_OK);
  const std::string id = pair.keys[0].key_id;
  Response wrapped = KeyReplica(ReplicaKind::kWrapKey, id);
  ASSERT_EQ(wrapped.rv, CKR_OK);
  ASSERT_FALSE(wrapped.public_key.empty());

  // Installed as a copy owned by bob (as a peer would install alice's key).
  Request put;
  put.key_id = "copy";
  put.name = "bob";
  put.label = "copied";
  put.algorithm = 2;
  put.usage = kUsageSign;
  put.data = wrapped.data;
  put.public_key = wrapped.public_key;
  ASSERT_EQ(Replica(au_, ReplicaKind::kPutKey, put).rv, CKR_OK);
  EXPECT_EQ(Replica(au_, ReplicaKind::kPutKey, put).rv, CKR_OK);  // already there
  EXPECT_EQ(Sign(bob, "copy").rv, CKR_OK);
  EXPECT_EQ(KeyCall(bob, Op::kPublicKey, "copy").data, KeyCall(alice, Op::kPublicKey, id).data);
  EXPECT_EQ(Sign(alice, "copy").rv, CKR_KEY_HANDLE_INVALID);
  // Copies are never extractable.
  EXPECT_EQ(KeyReplica(ReplicaKind::kWrapKey, "copy").rv, CKR_KEY_FUNCTION_NOT_PERMITTED);
  put.data = "garbage";
  put.key_id = "copy2";
  EXPECT_EQ(Replica(au_, ReplicaKind::kPutKey, put).rv, CKR_ARGUMENTS_BAD);

  // Share lists are set whole; names that are not crypto users are skipped.
  ASSERT_EQ(KeyReplica(ReplicaKind::kSetShares, "copy", "alice\nadmin\nnobody").rv, CKR_OK);
  EXPECT_EQ(Sign(alice, "copy").rv, CKR_OK);
  EXPECT_EQ(KeyReplica(ReplicaKind::kGetKey, "copy").data, "alice");
  ASSERT_EQ(KeyReplica(ReplicaKind::kSetShares, "copy", "").rv, CKR_OK);
  EXPECT_EQ(Sign(alice, "copy").rv, CKR_KEY_HANDLE_INVALID);

  // Locking the original ends its wrapping; destroying the copy leaves a tombstone.
  ASSERT_EQ(KeyReplica(ReplicaKind::kLockKey, id).rv, CKR_OK);
  EXPECT_EQ(KeyReplica(ReplicaKind::kWrapKey, id).rv, CKR_KEY_FUNCTION_NOT_PERMITTED);
  ASSERT_EQ(KeyReplica(ReplicaKind::kDestroyKey, "copy").rv, CKR_OK);
  EXPECT_EQ(Sign(bob, "copy").rv, CKR_KEY_HANDLE_INVALID);
  EXPECT_EQ(KeyReplica(ReplicaKind::kDestroyKey, "copy").rv, CKR_OK);  // already gone
  Response gone = KeyReplica(ReplicaKind::kGetKey, "copy");
  EXPECT_EQ(gone.rv, CKR_OK);
  EXPECT_EQ(gone.flag, 1);
  EXPECT_EQ(KeyReplica(ReplicaKind::kGetKey, "never").rv, CKR_KEY_HANDLE_INVALID);
}

TEST_F(ReplicaTest, ANewKeyThatReachedEveryNodeIsLocked) {
  ASSERT_TRUE(replicator_->Start().ok());  // no peers: keeps the cluster key it has
  Session alice = Login("alice", kPassword);
  Response key = Generate(alice, 0);
  ASSERT_EQ(key.rv, CKR_OK);
  EXPECT_EQ(KeyReplica(ReplicaKind::kWrapKey, key.keys[0].key_id).rv, CKR_KEY_FUNCTION_NOT_PERMITTED);
  // One the owner asked to be extractable stays so.
  Response open = GenerateSpec(alice, 0, kUsageEncrypt, true);
  ASSERT_EQ(open.rv, CKR_OK);
  EXPECT_EQ(KeyReplica(ReplicaKind::kWrapKey, open.keys[0].key_id).rv, CKR_OK);
}

// A node whose one peer does not answer (test_nodes.h: a certificate for
// its client, and a loopback port nothing listens on).
TEST_F(ReplicaTest, ANodeThatReachesNoPeerMakesNoClusterKeyUnlessBootstrapping) {
  test_nodes::WriteSelfSignedNode(dir_);
  ASSERT_TRUE(token_->DestroyKey(ClusterKeyRef()).ok());
  Replicator::Options o;
  o.peers = {test_nodes::ClosedLoopbackAddress()};
  o.cert_file = dir_ + "/node.pem";
  o.key_file = dir_ + "/node.key";
  o.ca_file = dir_ + "/node.pem";
  o.user = "replicator";
  o.password = SecretBytes(kPassword);
  auto silent = Replicator::Create(*token_, *state_, o);
  ASSERT_TRUE(silent.ok()) << silent.status().ToString();
  Status st = (*silent)->Start();
  EXPECT_EQ(st.code(), ErrorCode::kUnavailable);
  EXPECT_NE(st.message().find("did not say whether they hold one"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(o.peers[0]), std::string::npos);
  EXPECT_EQ(token_->CheckKey(ClusterKeyRef()).code(), ErrorCode::kNotFound);
  // A user change that reaches no peer is not a failure: the peer catches
  // up at its start.
  PeerQueue queue = (*silent)->NewQueue();
  ASSERT_TRUE(state_->ChangePassword("alice", "another-password", &queue).ok());
  EXPECT_TRUE((*silent)->Pushed(queue));
  ASSERT_TRUE(state_->CreateUser("nobody", kPassword, Role::kCryptoUser).ok());
  ASSERT_TRUE(state_->DeleteUser("nobody", &queue).ok());
  EXPECT_TRUE((*silent)->Pushed(queue));

  o.bootstrap = true;
  auto first = Replicator::Create(*token_, *state_, o);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE((*first)->Start().ok());
  EXPECT_TRUE(token_->CheckKey(ClusterKeyRef()).ok());
}

TEST(ShareListTest, SplitAndJoin) {
  EXPECT_EQ(JoinNames({"a", "b"}), "a\nb");
  EXPECT_EQ(SplitNames("a\n\nb\n"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(SplitNames("").empty());
}

}  // namespace
}  // namespace rampart::hsmnet
