// The service over a real SoftHSM2 token: roles, key ownership and sharing,
// lockout, revocation and the audit log.
#include "hsmnet/service.h"

#include <gtest/gtest.h>

#include "hsmnet/replicator.h"
#include "hsmnet/test_nodes.h"

#include <fstream>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "pkcs11/softhsm_fixture.h"
#include "rampart/crypto/password.h"

namespace rampart::hsmnet {
namespace {

constexpr char kOfficerPassword[] = "officer-password";
constexpr char kPassword[] = "user-password";

class ServiceTest : public pkcs11::testing::SoftHsmTest {
 protected:
  void SetUp() override {
    SoftHsmTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    OpenToken();
    auto db = store::OpenSqlite({.path = ":memory:"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    auto state = HsmState::Open(*db_, {.password_iterations = 1000, .max_failed_logins = 3});
    ASSERT_TRUE(state.ok());
    state_ = std::move(*state);
    ASSERT_TRUE(state_->Bootstrap("admin", kOfficerPassword).ok());
    audit_path_ = dir_ + "/audit.jsonl";
    auto audit = AuditLog::Open(audit_path_, "node-a");
    ASSERT_TRUE(audit.ok());
    audit_ = std::move(*audit);
    service_ = std::make_unique<Service>(*token_, *state_, *audit_, Service::Options{{"127.0.0.1:1"}, "node-a"});
    officer_ = Login("admin", kOfficerPassword, Role::kOfficer);
    ASSERT_TRUE(officer_.user);
    ASSERT_EQ(CreateUser("alice"), CKR_OK);
    ASSERT_EQ(CreateUser("bob"), CKR_OK);
  }

  Response Call(Session& s, Request q) { return service_->Handle(s, q); }

  // peer_node: the client certificate is a peer node's (PeerNames).
  Session Login(const std::string& name, const std::string& password, Role role = Role::kCryptoUser,
                bool peer_node = false) {
    Session s;
    s.peer = "CN=test";
    s.replication_peer = peer_node;
    Request q;
    q.op = Op::kLogin;
    q.role = role;
    q.name = name;
    q.password = password;
    last_login_rv_ = Call(s, q).rv;
    return s;
  }

  uint32_t CreateUser(const std::string& name) {
    Request q;
    q.op = Op::kCreateUser;
    q.role = Role::kCryptoUser;
    q.name = name;
    q.password = kPassword;
    return Call(officer_, q).rv;
  }

  Response Generate(Session& s, uint8_t algorithm) {
    Request q;
    q.op = Op::kGenerateKey;
    q.algorithm = algorithm;
    q.label = "k";
    return Call(s, q);
  }

  Response Sign(Session& s, const std::string& key_id) {
    Request q;
    q.op = Op::kSign;
    q.key_id = key_id;
    q.md_name = "SHA256";
    q.data = std::string(32, 'd');
    return Call(s, q);
  }

  Response KeyCall(Session& s, Op op, const std::string& key_id, const std::string& name = "") {
    Request q;
    q.op = op;
    q.key_id = key_id;
    q.name = name;
    q.flag = 1;
    return Call(s, q);
  }

  std::string AuditText() {
    std::ifstream in(audit_path_);
    std::stringstream buf;
    buf << in.rdbuf();
    return buf.str();
  }

  std::unique_ptr<store::Database> db_;
  std::unique_ptr<HsmState> state_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Service> service_;
  std::string audit_path_;
  Session officer_;
  uint32_t last_login_rv_ = 0;
};

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

TEST_F(ServiceTest, EveryAlgorithmWorksThroughTheService) {
  Session alice = Login("alice", kPassword);
  Response aes = Generate(alice, 0);
  ASSERT_EQ(aes.rv, CKR_OK);
  Request enc;
  enc.op = Op::kEncrypt;
  enc.key_id = aes.keys[0].key_id;
  enc.data = "attack at dawn";
  enc.aad = "ctx";
  Response ct = Call(alice, enc);
  ASSERT_EQ(ct.rv, CKR_OK);
  EXPECT_EQ(ct.iv.size(), 12u);
  Request dec;
  dec.op = Op::kDecrypt;
  dec.key_id = enc.key_id;
  dec.iv = ct.iv;
  dec.data = ct.data;
  dec.aad = "ctx";
  Response pt = Call(alice, dec);
  ASSERT_EQ(pt.rv, CKR_OK);
  EXPECT_EQ(pt.data, "attack at dawn");
  dec.data[0] ^= 1;
  EXPECT_EQ(Call(alice, dec).rv, CKR_ENCRYPTED_DATA_INVALID);
  // The wrong operation for the key type.
  EXPECT_EQ(Sign(alice, enc.key_id).rv, CKR_KEY_TYPE_INCONSISTENT);

  Response hmac_key = Generate(alice, 1);
  ASSERT_EQ(hmac_key.rv, CKR_OK);
  Request mac;
  mac.op = Op::kHmac;
  mac.key_id = hmac_key.keys[0].key_id;
  mac.data = "message";
  Response m = Call(alice, mac);
  ASSERT_EQ(m.rv, CKR_OK);
  Request check;
  check.op = Op::kVerifyHmac;
  check.key_id = mac.key_id;
  check.data = "message";
  check.mac = m.data;
  EXPECT_EQ(Call(alice, check).flag, 1);
  check.data = "massage";
  EXPECT_EQ(Call(alice, check).flag, 0);

  Response rsa = Generate(alice, 4);
  ASSERT_EQ(rsa.rv, CKR_OK);
  Request pss;
  pss.op = Op::kSign;
  pss.key_id = rsa.keys[0].key_id;
  pss.scheme = 2;
  pss.md_name = "SHA256";
  pss.data = std::string(32, 'x');
  Response sig = Call(alice, pss);
  ASSERT_EQ(sig.rv, CKR_OK);
  EXPECT_EQ(sig.data.size(), 256u);
  pss.data = std::string(31, 'x');  // not a SHA-256 digest
  EXPECT_EQ(Call(alice, pss).rv, CKR_ARGUMENTS_BAD);
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

TEST_F(ServiceTest, KeyListsComeInPagesOfTheConfiguredSize) {
  Service small(*token_, *state_, *audit_, Service::Options{{"127.0.0.1:1"}, "node-a", 2});
  Session alice = Login("alice", kPassword);
  std::set<std::string> made;
  for (int i = 0; i < 5; ++i) {
    Response gen = Generate(alice, 0);
    ASSERT_EQ(gen.rv, CKR_OK);
    made.insert(gen.keys[0].key_id);
  }
  Request q;
  q.op = Op::kListKeys;
  std::set<std::string> listed;
  std::vector<uint8_t> flags;
  for (int page = 0; page < 10; ++page) {
    Response r = small.Handle(alice, q);
    ASSERT_EQ(r.rv, CKR_OK);
    ASSERT_LE(r.keys.size(), 2u);
    for (const KeyInfo& k : r.keys) listed.insert(k.key_id);
    flags.push_back(r.flag);
    if (r.flag == 0) break;
    q.key_id = r.keys.back().key_id;
  }
  EXPECT_EQ(listed, made);
  EXPECT_EQ(flags, (std::vector<uint8_t>{1, 1, 0}));
  // The default service answers them all at once.
  q.key_id.clear();
  Response all = Call(alice, q);
  EXPECT_EQ(all.keys.size(), 5u);
  EXPECT_EQ(all.flag, 0);
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

TEST_F(ServiceTest, EveryKeyUseIsAuditedWithoutData) {
  Session alice = Login("alice", kPassword);
  Response aes = Generate(alice, 0);
  ASSERT_EQ(aes.rv, CKR_OK);
  Request enc;
  enc.op = Op::kEncrypt;
  enc.key_id = aes.keys[0].key_id;
  enc.data = "the-secret-plaintext";
  ASSERT_EQ(Call(alice, enc).rv, CKR_OK);
  Session bob = Login("bob", kPassword);
  EXPECT_EQ(Call(bob, enc).rv, CKR_KEY_HANDLE_INVALID);

  std::string log = AuditText();
  EXPECT_NE(log.find(R"("user":"alice","operation":"Encrypt")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("user":"bob","operation":"Encrypt")"), std::string::npos);
  EXPECT_NE(log.find(R"("result":"CKR_KEY_HANDLE_INVALID")"), std::string::npos);
  EXPECT_NE(log.find(R"("operation":"Login")"), std::string::npos);
  EXPECT_NE(log.find(R"("node":"node-a")"), std::string::npos);
  EXPECT_EQ(log.find("the-secret-plaintext"), std::string::npos);
  EXPECT_EQ(log.find(kPassword), std::string::npos);
}

}  // namespace
}  // namespace rampart::hsmnet

namespace rampart::hsmnet {
namespace {

class ReplicationOpsTest : public ServiceTest {
 protected:
  Response GenerateSpec(Session& s, uint8_t algorithm, uint8_t usage, bool extractable,
                        const std::string& id = "") {
    Request q;
    q.op = Op::kGenerateKey;
    q.algorithm = algorithm;
    q.usage = usage;
    q.label = "r";
    q.key_id = id;
    q.flag = extractable ? 1 : 0;
    return Call(s, q);
  }
  Response Wrap(Session& s, const std::string& wrapping, const std::string& key) {
    Request q;
    q.op = Op::kWrapKey;
    q.wrapping_key_id = wrapping;
    q.key_id = key;
    return Call(s, q);
  }
  Response Unwrap(Session& s, const std::string& wrapping, const std::string& blob, uint8_t algorithm,
                  uint8_t usage, const std::string& id, const std::string& public_key = "") {
    Request q;
    q.op = Op::kUnwrapKey;
    q.wrapping_key_id = wrapping;
    q.data = blob;
    q.public_key = public_key;
    q.algorithm = algorithm;
    q.usage = usage;
    q.label = "copy";
    q.key_id = id;
    return Call(s, q);
  }
};

TEST_F(ReplicationOpsTest, OwnerWrapsUnwrapsAndLocksItsKeys) {
  Session alice = Login("alice", kPassword);
  Session bob = Login("bob", kPassword);
  Response wk = GenerateSpec(alice, 0, kUsageWrap, false, "wrapping-key");
  ASSERT_EQ(wk.rv, CKR_OK);
  EXPECT_EQ(wk.keys[0].key_id, "wrapping-key");  // the id asked for
  EXPECT_EQ(wk.keys[0].usage, kUsageWrap);
  Response data_key = GenerateSpec(alice, 0, kUsageEncrypt, true);
  ASSERT_EQ(data_key.rv, CKR_OK);
  const std::string id = data_key.keys[0].key_id;
  Response blob = Wrap(alice, "wrapping-key", id);
  ASSERT_EQ(blob.rv, CKR_OK);
  ASSERT_FALSE(blob.data.empty());

  // Only the owner moves a key: bob, even with the key shared, may not.
  ASSERT_EQ(KeyCall(alice, Op::kShareKey, id, "bob").rv, CKR_OK);
  EXPECT_EQ(Wrap(bob, "wrapping-key", id).rv, CKR_ACTION_PROHIBITED);
  EXPECT_EQ(KeyCall(bob, Op::kSetNonExtractable, id).rv, CKR_ACTION_PROHIBITED);
  EXPECT_EQ(Unwrap(bob, "wrapping-key", blob.data, 0, kUsageEncrypt, "bobs").rv, CKR_KEY_HANDLE_INVALID);
  EXPECT_EQ(KeyCall(officer_, Op::kWrapKey, id).rv, CKR_ACTION_PROHIBITED);

  // The copy decrypts what the original encrypted.
  Response copy = Unwrap(alice, "wrapping-key", blob.data, 0, kUsageEncrypt, "copy-id");
  ASSERT_EQ(copy.rv, CKR_OK);
  EXPECT_EQ(copy.keys[0].key_id, "copy-id");
  EXPECT_EQ(copy.keys[0].owner, "alice");
  Request enc;
  enc.op = Op::kEncrypt;
  enc.key_id = id;
  enc.data = "moved";
  Response ct = Call(alice, enc);
  ASSERT_EQ(ct.rv, CKR_OK);
  Request dec;
  dec.op = Op::kDecrypt;
  dec.key_id = "copy-id";
  dec.iv = ct.iv;
  dec.data = ct.data;
  Response pt = Call(alice, dec);
  ASSERT_EQ(pt.rv, CKR_OK);
  EXPECT_EQ(pt.data, "moved");
  // Garbage does not unwrap, and an id in use is refused.
  EXPECT_EQ(Unwrap(alice, "wrapping-key", "garbage", 0, kUsageEncrypt, "x").rv, CKR_ARGUMENTS_BAD);
  EXPECT_EQ(Unwrap(alice, "wrapping-key", blob.data, 0, kUsageEncrypt, "copy-id").rv, CKR_ARGUMENTS_BAD);

  // Locked, the key cannot be wrapped any more; a never-extractable one neither.
  EXPECT_EQ(KeyCall(alice, Op::kSetNonExtractable, id).rv, CKR_OK);
  EXPECT_EQ(KeyCall(alice, Op::kSetNonExtractable, id).rv, CKR_OK);  // idempotent
  EXPECT_EQ(Wrap(alice, "wrapping-key", id).rv, CKR_KEY_UNEXTRACTABLE);
  EXPECT_EQ(Wrap(alice, "wrapping-key", "copy-id").rv, CKR_KEY_UNEXTRACTABLE);
  EXPECT_NE(AuditText().find("\"operation\":\"UnwrapKey\""), std::string::npos);
}

TEST_F(ReplicationOpsTest, OnlyKeysTheOwnerAskedToBeExtractableCanBeWrapped) {
  Session alice = Login("alice", kPassword);
  ASSERT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "wk").rv, CKR_OK);
  // Extractable in the token (as a key on its way to the peers is), but
  // not asked for by its owner: the service refuses to export it.
  pkcs11::KeySpec spec;
  spec.algorithm = pkcs11::KeyAlgorithm::kAes256;
  spec.id = "in-transit";
  spec.label = "t";
  spec.usage.encrypt = true;
  spec.extractable = true;
  auto ref = token_->GenerateKey(spec);
  ASSERT_TRUE(ref.ok());
  KeyInfo info;
  info.key_id = "in-transit";
  info.kind = static_cast<uint8_t>(pkcs11::KeyKind::kAes);
  info.algorithm = 0;
  info.usage = kUsageEncrypt;
  info.label = "t";
  info.app_id = "in-transit";
  info.owner = "alice";
  ASSERT_TRUE(state_->AddKey(info, false).ok());
  ASSERT_TRUE(token_->WrapKey({"wk", pkcs11::KeyKind::kAes}, *ref).ok());  // the token would
  EXPECT_EQ(Wrap(alice, "wk", "in-transit").rv, CKR_KEY_UNEXTRACTABLE);
  Request pub;
  pub.op = Op::kWrapKeyWithPublicKey;
  pub.key_id = "in-transit";
  pub.public_key = "not even a key";
  EXPECT_EQ(Call(alice, pub).rv, CKR_KEY_UNEXTRACTABLE);
  // Asked for, it wraps.
  Response open = GenerateSpec(alice, 0, kUsageEncrypt, true, "asked");
  ASSERT_EQ(open.rv, CKR_OK);
  EXPECT_EQ(Wrap(alice, "wk", "asked").rv, CKR_OK);
  EXPECT_TRUE(state_->FindKey("asked")->value().extractable);
  EXPECT_NE(AuditText().find(R"("operation":"WrapKey","key":")" + std::string("696e2d7472616e736974") +
                             R"(","result":"CKR_KEY_UNEXTRACTABLE")"),
            std::string::npos);
}

TEST_F(ReplicationOpsTest, ReservedKeyIdsAreRefused) {
  Session alice = Login("alice", kPassword);
  EXPECT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "rampart-hsmnet-cwk").rv, CKR_ATTRIBUTE_VALUE_INVALID);
  EXPECT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "rampart-hsmnet-anything").rv, CKR_ATTRIBUTE_VALUE_INVALID);
  ASSERT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "wk").rv, CKR_OK);
  Response data_key = GenerateSpec(alice, 0, kUsageEncrypt, true);
  ASSERT_EQ(data_key.rv, CKR_OK);
  Response blob = Wrap(alice, "wk", data_key.keys[0].key_id);
  ASSERT_EQ(blob.rv, CKR_OK);
  EXPECT_EQ(Unwrap(alice, "wk", blob.data, 0, kUsageEncrypt, "rampart-hsmnet-cwk").rv, CKR_ATTRIBUTE_VALUE_INVALID);
  EXPECT_FALSE(state_->FindKey("rampart-hsmnet-cwk")->has_value());
  EXPECT_EQ(token_->CheckKey({"rampart-hsmnet-cwk", pkcs11::KeyKind::kAes}).code(), ErrorCode::kNotFound);
  // A near miss is an ordinary id.
  EXPECT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "rampart-hsmnet").rv, CKR_OK);
}

TEST_F(ReplicationOpsTest, KeyPairsTravelWithTheirPublicKey) {
  Session alice = Login("alice", kPassword);
  ASSERT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "wk").rv, CKR_OK);
  Response pair = GenerateSpec(alice, 2, kUsageSign, true);  // EC P-256
  ASSERT_EQ(pair.rv, CKR_OK);
  const std::string id = pair.keys[0].key_id;
  Response pub = KeyCall(alice, Op::kPublicKey, id);
  ASSERT_EQ(pub.rv, CKR_OK);
  Response blob = Wrap(alice, "wk", id);
  ASSERT_EQ(blob.rv, CKR_OK);
  EXPECT_EQ(Unwrap(alice, "wk", blob.data, 2, kUsageSign, "pair-copy").rv, CKR_ARGUMENTS_BAD);  // no public key
  Response copy = Unwrap(alice, "wk", blob.data, 2, kUsageSign, "pair-copy", pub.data);
  ASSERT_EQ(copy.rv, CKR_OK);
  EXPECT_EQ(KeyCall(alice, Op::kPublicKey, "pair-copy").data, pub.data);
  EXPECT_EQ(Sign(alice, "pair-copy").rv, CKR_OK);
}

// The Replicate operation as a peer node's appliance user sends it.
class ReplicaTest : public ReplicationOpsTest {
 protected:
  void SetUp() override {
    ReplicationOpsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(state_->CreateUser("replicator", kPassword, Role::kAppliance).ok());
    pkcs11::KeySpec cwk;
    cwk.algorithm = pkcs11::KeyAlgorithm::kAes256;
    cwk.label = "cluster key";
    cwk.id = std::string(kClusterKeyId);
    cwk.usage.wrap = true;
    ASSERT_TRUE(token_->GenerateKey(cwk).ok());
    // A node that replicates (with no peers reachable here).
    auto replicator = Replicator::Create(*token_, *state_, {});
    ASSERT_TRUE(replicator.ok());
    replicator_ = std::move(*replicator);
    service_->set_replicator(replicator_.get());
    au_ = Login("replicator", kPassword, Role::kAppliance, true);
    ASSERT_TRUE(au_.user);
  }

  Response Replica(Session& s, ReplicaKind kind, Request q) {
    q.op = Op::kReplicate;
    q.scheme = static_cast<uint8_t>(kind);
    return Call(s, q);
  }
  Response KeyReplica(ReplicaKind kind, const std::string& key_id, const std::string& data = "") {
    Request q;
    q.key_id = key_id;
    q.data = data;
    return Replica(au_, kind, q);
  }
  Response UserReplica(ReplicaKind kind, const std::string& name, const std::string& hash = "") {
    Request q;
    q.name = name;
    q.role = Role::kCryptoUser;
    q.data = hash;
    return Replica(au_, kind, q);
  }

  std::unique_ptr<Replicator> replicator_;
  Session au_;
};

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

// A self-signed EC certificate and its key as PEM files under dir, for a
// Replicator's client (which must load them before it dials anyone).
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
  EXPECT_TRUE((*silent)->PushUser("alice"));
  EXPECT_TRUE((*silent)->PushUserDeleted("nobody"));

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
