// The outbox: per-peer order, refusal counting, survival across a reopen
// (a restart of the node), and the key bookkeeping that decides when a
// replicated key may be locked; and the Replicator over it with a peer
// that is down: changes are queued durably and requests do not wait.
#include "hsmnet/outbox.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "hsmnet/replicator.h"
#include "hsmnet/test_nodes.h"

namespace rampart::hsmnet {
namespace {

using Kind = Outbox::Kind;

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("outbox-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "outbox.db").string();
    auto box = Outbox::Open(path_);
    ASSERT_TRUE(box.ok()) << box.status().ToString();
    box_ = std::move(*box);
  }
  void TearDown() override {
    box_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The peer's entries, oldest first, as "kind:name", removing each.
  std::vector<std::string> DrainAll(const std::string& peer) {
    std::vector<std::string> out;
    while (true) {
      auto head = box_->Head(peer);
      EXPECT_TRUE(head.ok());
      if (!head.ok() || !*head) break;
      out.push_back(std::to_string(static_cast<int>((*head)->kind)) + ":" + (*head)->name);
      EXPECT_TRUE(box_->Remove((*head)->seq).ok());
    }
    return out;
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Outbox> box_;
};

TEST_F(OutboxTest, EachPeerGetsEveryEntryInOrder) {
  ASSERT_TRUE(box_->Add({"b", "c"}, Kind::kPutUser, "alice").ok());
  auto seqs = box_->Add({"b", "c"}, Kind::kDeleteUser, "alice");
  ASSERT_TRUE(seqs.ok());
  ASSERT_EQ(seqs->size(), 2u);
  EXPECT_LT((*seqs)[0], (*seqs)[1]);
  ASSERT_TRUE(box_->Add({"b", "c"}, Kind::kPutUser, "alice").ok());
  EXPECT_EQ(*box_->Pending("b"), 3);
  EXPECT_EQ(*box_->LastSeq("c"), (*seqs)[1] + 2);
  // Delivering to b does not touch c's entries.
  std::vector<std::string> expected = {"1:alice", "2:alice", "1:alice"};
  EXPECT_EQ(DrainAll("b"), expected);
  EXPECT_EQ(*box_->Pending("b"), 0);
  EXPECT_EQ(*box_->LastSeq("b"), 0);
  EXPECT_EQ(*box_->Pending("c"), 3);
  EXPECT_EQ(DrainAll("c"), expected);
  EXPECT_EQ(*box_->Head("nobody"), std::nullopt);
}

TEST_F(OutboxTest, ARefusedEntryStaysAtTheHeadAndCountsItsRefusals) {
  auto first = box_->Add({"b"}, Kind::kPutUser, "weak");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(box_->Add({"b"}, Kind::kPutUser, "later").ok());
  EXPECT_EQ(*box_->CountRefusal((*first)[0]), 1);
  EXPECT_EQ(*box_->CountRefusal((*first)[0]), 2);
  auto head = box_->Head("b");
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->seq, (*first)[0]);
  EXPECT_EQ((*head)->refusals, 2);
  // Removed (delivered or dropped), the next entry is the head.
  ASSERT_TRUE(box_->Remove((*first)[0]).ok());
  ASSERT_TRUE(box_->Remove((*first)[0]).ok());  // already gone: OK
  EXPECT_EQ((*box_->Head("b"))->name, "later");
  EXPECT_EQ(*box_->CountRefusal((*first)[0]), 0);
}

TEST_F(OutboxTest, EntriesSurviveAReopenAndSequenceNumbersAreNotReused) {
  auto seqs = box_->Add({"b", "c"}, Kind::kPutKey, std::string("\x01\x00\xff", 3));
  ASSERT_TRUE(seqs.ok());
  ASSERT_TRUE(box_->Add({"b"}, Kind::kSetShares, std::string("\x01\x00\xff", 3)).ok());
  auto last = box_->LastSeq("b");
  ASSERT_TRUE(last.ok());
  // Deliver the newest entry of b: its number must not come back.
  ASSERT_TRUE(box_->Remove(*last).ok());
  box_.reset();  // the node stops (or is killed: every Add committed)

  auto reopened = Outbox::Open(path_);
  ASSERT_TRUE(reopened.ok());
  box_ = std::move(*reopened);
  EXPECT_EQ(*box_->Pending("b"), 1);
  EXPECT_EQ(*box_->Pending("c"), 1);
  auto head = box_->Head("b");
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->kind, Kind::kPutKey);
  EXPECT_EQ((*head)->name, std::string("\x01\x00\xff", 3));  // binary key ids intact
  auto next = box_->Add({"b"}, Kind::kDestroyKey, "k");
  ASSERT_TRUE(next.ok());
  EXPECT_GT((*next)[0], *last);
}

TEST_F(OutboxTest, AKeyIsOwedUntilEveryPeerHasIt) {
  ASSERT_TRUE(box_->Add({"b", "c"}, Kind::kPutKey, "k1").ok());
  ASSERT_TRUE(box_->Add({"b", "c"}, Kind::kSetShares, "k2").ok());
  EXPECT_TRUE(*box_->KeyOwed("k1"));
  EXPECT_FALSE(*box_->KeyOwed("k2"));  // only kPutKey entries owe a key
  ASSERT_TRUE(box_->KeyDelivered("b", "k1").ok());
  EXPECT_TRUE(*box_->KeyOwed("k1"));
  EXPECT_EQ(*box_->Pending("b"), 1);  // its share entry stays
  ASSERT_TRUE(box_->KeyDelivered("c", "k1").ok());
  EXPECT_FALSE(*box_->KeyOwed("k1"));
}

TEST_F(OutboxTest, EntriesOfPeersNoLongerConfiguredAreDropped) {
  ASSERT_TRUE(box_->Add({"b", "old"}, Kind::kPutUser, "alice").ok());
  ASSERT_TRUE(box_->Add({"old"}, Kind::kDeleteUser, "bob").ok());
  EXPECT_EQ(*box_->KeepOnly({"b", "c"}), 2);
  EXPECT_EQ(*box_->Pending("old"), 0);
  EXPECT_EQ(*box_->Pending("b"), 1);
  EXPECT_EQ(*box_->KeepOnly({"b"}), 0);
}

TEST_F(OutboxTest, AnEntryOfAnUnknownKindIsSkipped) {
  // A damaged row (or one from a newer version) must not stop the peer's
  // queue: it is removed and the next entry is the head.
  box_.reset();
  {
    auto db = store::OpenSqlite({.path = path_});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Write([](store::Tx& tx) {
                       return tx.Exec("INSERT INTO hsm_outbox (peer, kind, name) VALUES ('b', 99, 'x'), "
                                      "('b', 0, 'y'), ('b', 1, 'alice');");
                     })
                    .ok());
  }
  auto reopened = Outbox::Open(path_);
  ASSERT_TRUE(reopened.ok());
  box_ = std::move(*reopened);
  auto head = box_->Head("b");
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->kind, Kind::kPutUser);
  EXPECT_EQ((*head)->name, "alice");
  EXPECT_EQ(*box_->Pending("b"), 1);
}

TEST(OutboxMemoryTest, AnEmptyPathKeepsTheOutboxInMemory) {
  auto box = Outbox::Open("");
  ASSERT_TRUE(box.ok());
  ASSERT_TRUE((*box)->Add({"b"}, Kind::kPutUser, "alice").ok());
  EXPECT_EQ(*(*box)->Pending("b"), 1);
}

// A token that holds only a cluster key: enough for a Replicator whose
// peers never answer (nothing is ever wrapped or unwrapped).
class ClusterKeyOnlyToken final : public pkcs11::Token {
 public:
  Result<pkcs11::KeyRef> GenerateKey(const pkcs11::KeySpec&) override { return No(); }
  Result<pkcs11::KeyRef> FindKeyByLabel(std::string_view) override { return No(); }
  Status CheckKey(const pkcs11::KeyRef& key) override {
    return key.id == kClusterKeyId ? Status::Ok() : No();
  }
  Status DestroyKey(const pkcs11::KeyRef&) override { return No(); }
  Result<pkcs11::GcmCiphertext> EncryptGcm(const pkcs11::KeyRef&, std::string_view, std::string_view) override {
    return No();
  }
  Result<SecretBytes> DecryptGcm(const pkcs11::KeyRef&, std::string_view, std::string_view,
                                 std::string_view) override {
    return No();
  }
  Result<std::string> SignDigest(const pkcs11::KeyRef&, std::string_view, std::string_view,
                                 pkcs11::SignScheme) override {
    return No();
  }
  Result<std::string> PublicKeyDer(const pkcs11::KeyRef&) override { return No(); }
  Result<std::string> HmacSha256(const pkcs11::KeyRef&, std::string_view) override { return No(); }
  Result<bool> VerifyHmacSha256(const pkcs11::KeyRef&, std::string_view, std::string_view) override { return No(); }
  Result<std::string> WrapKey(const pkcs11::KeyRef&, const pkcs11::KeyRef&) override { return No(); }
  Result<pkcs11::KeyRef> UnwrapKey(const pkcs11::KeyRef&, std::string_view, const pkcs11::KeySpec&) override {
    return No();
  }
  Result<std::string> GenerateRandom(size_t) override { return No(); }

 private:
  static Status No() { return Status::Error(ErrorCode::kNotFound, "not in this token"); }
};

class ReplicatorOutboxTest : public OutboxTest {
 protected:
  void SetUp() override {
    OutboxTest::SetUp();
    box_.reset();  // the replicator opens the file itself
    test_nodes::WriteSelfSignedNode(dir_.string());
    auto db = store::OpenSqlite({.path = ":memory:"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    auto state = HsmState::Open(*db_, {.password_iterations = 10000, .max_failed_logins = 3});
    ASSERT_TRUE(state.ok());
    state_ = std::move(*state);
    options_.peers = {test_nodes::ClosedLoopbackAddress()};
    options_.cert_file = dir_.string() + "/node.pem";
    options_.key_file = dir_.string() + "/node.key";
    options_.ca_file = options_.cert_file;
    options_.user = "replicator";
    options_.password = SecretBytes("replication-secret");
    options_.connect_timeout_ms = 200;
    options_.max_backoff_ms = 200;
    options_.outbox_path = path_;
  }

  std::unique_ptr<Replicator> Make() {
    auto r = Replicator::Create(token_, *state_, options_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }

  ClusterKeyOnlyToken token_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<HsmState> state_;
  Replicator::Options options_;
};

TEST_F(ReplicatorOutboxTest, ChangesForAPeerThatIsDownAreKeptAcrossARestart) {
  auto first = Make();
  ASSERT_NE(first, nullptr);
  // Not started (or its peers all down): queued, not failures.
  EXPECT_TRUE(first->PushUserDeleted("mallory"));
  first->PushKeyDestroyed("old-key");
  EXPECT_EQ(first->backlog(), 2);
  first.reset();  // the node stops

  auto second = Make();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->backlog(), 2);
  // Start: the peer is owed entries and does not answer, so it is not
  // caught up from; the node starts and its sender keeps retrying.
  ASSERT_TRUE(second->Start().ok());
  auto before = std::chrono::steady_clock::now();
  EXPECT_TRUE(second->PushUserDeleted("eve"));
  auto waited = std::chrono::steady_clock::now() - before;
  // The peer is known to be failing: the request does not wait for it.
  EXPECT_LT(waited, std::chrono::milliseconds(options_.wait_ms));
  EXPECT_EQ(second->backlog(), 3);
  second.reset();  // stops the sender

  // Dropping the peer from the config drops what was owed to it.
  options_.peers = {"127.0.0.1:1"};
  auto third = Make();
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->backlog(), 0);
}

TEST_F(ReplicatorOutboxTest, ANodeWithoutPeersQueuesNothing) {
  options_.peers.clear();
  auto alone = Make();
  ASSERT_NE(alone, nullptr);
  EXPECT_TRUE(alone->PushUser("alice"));
  EXPECT_EQ(alone->PushKey(KeyInfo{}), 0u);
  EXPECT_EQ(alone->backlog(), 0);
}

}  // namespace
}  // namespace rampart::hsmnet
