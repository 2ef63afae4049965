// The service over a real SoftHSM2 token: roles, key ownership and sharing,
// lockout, revocation and the audit log.
#include "hsmnet/service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "pkcs11/softhsm_fixture.h"

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

  Session Login(const std::string& name, const std::string& password, Role role = Role::kCryptoUser) {
    Session s;
    s.peer = "CN=test";
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
