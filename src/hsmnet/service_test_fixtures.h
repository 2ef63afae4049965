// Fixtures shared by the network HSM service's unit tests (service_*_test.cc,
// one file per role): a Service over a real SoftHSM2 token with an officer
// and two crypto users, the owner's wrapping operations, and the Replicate
// operation as a peer node's appliance user sends it.
//
// The fixtures live in a named namespace, not an anonymous one: gtest
// requires every test of a suite to use the same fixture type, and the
// suites' tests are spread over several files.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "hsmnet/replicator.h"
#include "hsmnet/service.h"
#include "pkcs11/softhsm_fixture.h"

namespace rampart::hsmnet::service_testing {

inline constexpr char kOfficerPassword[] = "officer-password";
inline constexpr char kPassword[] = "user-password";

// The service with an officer ("admin") logged in and the crypto users
// alice and bob created.
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

// The owner's WrapKey, UnwrapKey and SetNonExtractable.
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

}  // namespace rampart::hsmnet::service_testing
