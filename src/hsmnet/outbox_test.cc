// The outbox: per-peer order, refusal counting, survival across a reopen
// (a restart of the node), the key bookkeeping that decides when a
// replicated key may be locked, and the move of an older version's outbox
// file into the database; HsmState's changes and their entries committing
// or rolling back together; and the Replicator over it with a peer that is
// down: changes are queued durably and requests do not wait.
#include "hsmnet/outbox.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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
    path_ = (dir_ / "hsm.db").string();
    Reopen();
  }
  void TearDown() override {
    box_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Closes and opens the database and its outbox (a restart of the node).
  void Reopen() {
    box_.reset();
    db_.reset();
    auto db = store::OpenSqlite({.path = path_});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    auto box = Outbox::Open(*db_);
    ASSERT_TRUE(box.ok()) << box.status().ToString();
    box_ = std::move(*box);
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
  std::unique_ptr<store::Database> db_;
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
  Reopen();  // the node stops (or is killed: every Add committed)
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
  ASSERT_TRUE(db_->Write([](store::Tx& tx) {
                   return tx.Exec("INSERT INTO hsm_outbox (peer, kind, name) VALUES ('b', 99, 'x'), "
                                  "('b', 0, 'y'), ('b', 1, 'alice');");
                 })
                  .ok());
  Reopen();
  auto head = box_->Head("b");
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->kind, Kind::kPutUser);
  EXPECT_EQ((*head)->name, "alice");
  EXPECT_EQ(*box_->Pending("b"), 1);
}

// An older version's outbox: a SQLite file of its own with the same table.
// Returns the entries' sequence numbers.
std::vector<int64_t> WriteLegacyOutbox(const std::string& path, const std::vector<std::string>& peers) {
  std::vector<int64_t> seqs;
  auto db = store::OpenSqlite({.path = path});
  EXPECT_TRUE(db.ok());
  if (!db.ok()) return seqs;
  auto box = Outbox::Open(**db);
  EXPECT_TRUE(box.ok());
  if (!box.ok()) return seqs;
  for (auto [kind, name] : {std::pair{Kind::kPutUser, "alice"}, std::pair{Kind::kDeleteUser, "bob"},
                            std::pair{Kind::kPutKey, "k1"}}) {
    auto added = (*box)->Add(peers, kind, name);
    EXPECT_TRUE(added.ok());
    if (added.ok()) seqs.insert(seqs.end(), added->begin(), added->end());
  }
  EXPECT_TRUE((*box)->CountRefusal(seqs.front()).ok());
  return seqs;
}

TEST_F(OutboxTest, AnOldOutboxFileIsMovedInWithItsOrderAndNumbers) {
  std::string legacy = (dir_ / "outbox.db").string();
  std::vector<int64_t> seqs = WriteLegacyOutbox(legacy, {"b"});
  ASSERT_EQ(seqs.size(), 3u);
  auto moved = box_->ImportLegacy(legacy);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(*moved, 3);
  EXPECT_FALSE(std::filesystem::exists(legacy));
  auto head = box_->Head("b");
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->seq, seqs[0]);
  EXPECT_EQ((*head)->refusals, 1);  // its refusals came along
  std::vector<std::string> expected = {"1:alice", "2:bob", "3:k1"};
  EXPECT_EQ(DrainAll("b"), expected);
  // Numbers of moved entries are not reused either.
  auto next = box_->Add({"b"}, Kind::kPutUser, "carol");
  ASSERT_TRUE(next.ok());
  EXPECT_GT((*next)[0], seqs.back());
  // Nothing left to move.
  EXPECT_EQ(*box_->ImportLegacy(legacy), 0);
}

TEST_F(OutboxTest, MovingAnOldOutboxAgainAfterACrashAddsNothing) {
  std::string legacy = (dir_ / "outbox.db").string();
  WriteLegacyOutbox(legacy, {"b", "c"});
  // The node dies after the commit but before deleting the file.
  ASSERT_EQ(*box_->MoveLegacyEntries(legacy), 6);
  ASSERT_TRUE(std::filesystem::exists(legacy));
  Reopen();
  ASSERT_EQ(*box_->ImportLegacy(legacy), 0);
  EXPECT_FALSE(std::filesystem::exists(legacy));
  EXPECT_EQ(*box_->Pending("b"), 3);
  EXPECT_EQ(*box_->Pending("c"), 3);
}

TEST_F(OutboxTest, AMovedEntryWhoseNumberIsTakenGetsANewOne) {
  ASSERT_TRUE(box_->Add({"b"}, Kind::kSetShares, "here").ok());  // takes number 1
  std::string legacy = (dir_ / "outbox.db").string();
  std::vector<int64_t> seqs = WriteLegacyOutbox(legacy, {"b"});
  ASSERT_EQ(seqs.front(), 1);
  ASSERT_EQ(*box_->ImportLegacy(legacy), 3);
  // The entry that was here stays first; the file's follow in their order.
  std::vector<std::string> expected = {"5:here", "1:alice", "2:bob", "3:k1"};
  EXPECT_EQ(DrainAll("b"), expected);
}

TEST_F(OutboxTest, RenumberedEntriesAreNotMovedAgainAfterACrash) {
  // hsm.db holds number 1 and the file 1-3: the move numbers them 2-4, so
  // no number of the file matches its entry here any more.
  ASSERT_TRUE(box_->Add({"b"}, Kind::kSetShares, "here").ok());
  std::string legacy = (dir_ / "outbox.db").string();
  ASSERT_EQ(WriteLegacyOutbox(legacy, {"b"}).size(), 3u);
  ASSERT_EQ(*box_->MoveLegacyEntries(legacy), 3);
  ASSERT_EQ(*box_->LastSeq("b"), 4);
  Reopen();  // died before deleting the file
  ASSERT_TRUE(std::filesystem::exists(legacy));
  auto again = box_->ImportLegacy(legacy);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 0);
  EXPECT_FALSE(std::filesystem::exists(legacy));
  std::vector<std::string> expected = {"5:here", "1:alice", "2:bob", "3:k1"};
  EXPECT_EQ(DrainAll("b"), expected);
}

TEST_F(OutboxTest, ALaterFileWithTheSameRowsIsMovedToo) {
  // After a downgrade an older version starts a new outbox file, whose
  // numbers start again at 1; its rows may equal those of the file moved
  // before, but they are new changes.
  std::string legacy = (dir_ / "outbox.db").string();
  WriteLegacyOutbox(legacy, {"b"});
  ASSERT_EQ(*box_->ImportLegacy(legacy), 3);
  WriteLegacyOutbox(legacy, {"b"});
  ASSERT_EQ(*box_->ImportLegacy(legacy), 3);
  EXPECT_FALSE(std::filesystem::exists(legacy));
  // After the entries that were queued before, in their order.
  std::vector<std::string> expected = {"1:alice", "2:bob", "3:k1", "1:alice", "2:bob", "3:k1"};
  EXPECT_EQ(DrainAll("b"), expected);
}

TEST_F(OutboxTest, AFileChangedAfterItsMoveIsMovedAgain) {
  // Moved, not deleted, then an older version queued more in it: the
  // file is moved again whole (a repeated entry only repeats a delivery;
  // skipping the file could lose one).
  std::string legacy = (dir_ / "outbox.db").string();
  WriteLegacyOutbox(legacy, {"b"});
  ASSERT_EQ(*box_->MoveLegacyEntries(legacy), 3);
  {
    auto db = store::OpenSqlite({.path = legacy});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Write([](store::Tx& tx) {
                       return tx.Exec("INSERT INTO hsm_outbox (peer, kind, name) VALUES ('b', 2, 'carol');");
                     })
                    .ok());
  }
  ASSERT_EQ(*box_->ImportLegacy(legacy), 4);
  EXPECT_EQ(*box_->Pending("b"), 7);
  EXPECT_EQ(DrainAll("b").back(), "2:carol");
}

TEST_F(OutboxTest, AMoveThatCannotCommitLeavesTheFileAndNothingElse) {
  std::string legacy = (dir_ / "outbox.db").string();
  WriteLegacyOutbox(legacy, {"b"});
  ASSERT_TRUE(db_->Write([](store::Tx& tx) {
                   return tx.Exec("CREATE TRIGGER refuse_third AFTER INSERT ON hsm_outbox WHEN NEW.kind = 3 "
                                  "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
                 })
                  .ok());
  EXPECT_FALSE(box_->ImportLegacy(legacy).ok());
  EXPECT_TRUE(std::filesystem::exists(legacy));
  EXPECT_EQ(*box_->Pending("b"), 0);  // not the first two either
  ASSERT_TRUE(db_->Write([](store::Tx& tx) { return tx.Exec("DROP TRIGGER refuse_third;"); }).ok());
  EXPECT_EQ(*box_->ImportLegacy(legacy), 3);  // nothing was recorded as moved
  EXPECT_EQ(*box_->Pending("b"), 3);
}

TEST_F(OutboxTest, AnUnreadableOldOutboxFileIsAnErrorAndStays) {
  std::string legacy = (dir_ / "outbox.db").string();
  {
    std::FILE* f = std::fopen(legacy.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::string junk(4096, 'x');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  EXPECT_FALSE(box_->ImportLegacy(legacy).ok());
  EXPECT_TRUE(std::filesystem::exists(legacy));
}

TEST_F(OutboxTest, NoOldOutboxFileIsNothingToMove) {
  auto moved = box_->ImportLegacy((dir_ / "outbox.db").string());
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 0);
}

// HsmState writes a change and its outbox entries in one transaction.
class QueuedChangeTest : public OutboxTest {
 protected:
  void SetUp() override {
    OutboxTest::SetUp();
    OpenState();
  }
  void TearDown() override {
    state_.reset();
    OutboxTest::TearDown();
  }
  void OpenState() {
    auto state = HsmState::Open(*db_, {.password_iterations = 10000, .max_failed_logins = 3});
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    state_ = std::move(*state);
  }
  void Restart() {
    state_.reset();
    Reopen();
    OpenState();
  }
  // Makes every outbox insert fail: the failure comes after the change's
  // own rows were written, inside its transaction.
  void BreakOutbox(bool broken) {
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) {
                     return tx.Exec(broken ? "CREATE TRIGGER refuse_outbox BEFORE INSERT ON hsm_outbox "
                                             "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
                                           : "DROP TRIGGER refuse_outbox;");
                   })
                    .ok());
  }
  static KeyInfo Key(const std::string& id) {
    KeyInfo k;
    k.key_id = id;
    k.kind = 1;
    k.algorithm = 1;
    k.owner = "alice";
    return k;
  }

  std::unique_ptr<HsmState> state_;
};

TEST_F(QueuedChangeTest, AChangeAndItsEntriesAreCommittedTogether) {
  PeerQueue queue{{"b", "c"}, {}};
  ASSERT_TRUE(state_->CreateUser("alice", "password-1", Role::kCryptoUser, &queue).ok());
  ASSERT_EQ(queue.seqs.size(), 2u);
  PeerQueue key_queue{{"b", "c"}, {}};
  ASSERT_TRUE(state_->AddKey(Key("k1"), false, &key_queue).ok());
  Restart();  // both are on disk
  ASSERT_TRUE(*state_->FindUser("alice"));
  ASSERT_TRUE(*state_->FindKey("k1"));
  auto head = box_->Head("c");
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->seq, queue.seqs[1]);
  std::vector<std::string> expected = {"1:alice", "3:k1"};
  EXPECT_EQ(DrainAll("b"), expected);
  EXPECT_EQ(DrainAll("c"), expected);
}

TEST_F(QueuedChangeTest, AChangeWhoseEntriesCannotBeWrittenIsRolledBack) {
  ASSERT_TRUE(state_->CreateUser("alice", "password-1", Role::kCryptoUser).ok());
  ASSERT_TRUE(state_->CreateUser("bob", "password-1", Role::kCryptoUser).ok());
  ASSERT_TRUE(state_->AddKey(Key("k1")).ok());
  BreakOutbox(true);
  PeerQueue queue{{"b"}, {}};
  EXPECT_FALSE(state_->CreateUser("carol", "password-1", Role::kCryptoUser, &queue).ok());
  EXPECT_FALSE(state_->DeleteUser("bob", &queue).ok());
  EXPECT_FALSE(state_->ChangePassword("bob", "password-2", &queue).ok());
  EXPECT_FALSE(state_->AddKey(Key("k2"), false, &queue).ok());
  EXPECT_FALSE(state_->SetShare("k1", "bob", true, &queue).ok());
  EXPECT_FALSE(state_->DeleteKey("k1", &queue).ok());
  EXPECT_TRUE(queue.seqs.empty());
  BreakOutbox(false);
  Restart();
  // Nothing of any change stayed: no entry, and no change without one.
  EXPECT_EQ(*box_->Pending("b"), 0);
  EXPECT_FALSE(*state_->FindUser("carol"));
  EXPECT_TRUE(*state_->FindUser("bob"));
  EXPECT_FALSE(*state_->WasDeleted(false, "bob"));
  UserRecord user;
  EXPECT_EQ(*state_->Login("bob", "password-1", Role::kCryptoUser, &user), LoginOutcome::kOk);
  EXPECT_FALSE(*state_->FindKey("k2"));
  auto k1 = state_->FindKey("k1");
  ASSERT_TRUE(k1.ok() && *k1);
  EXPECT_TRUE((*k1)->shared_with.empty());
  // With the outbox working again the same change commits with its entry.
  ASSERT_TRUE(state_->DeleteUser("bob", &queue).ok());
  EXPECT_EQ(queue.seqs.size(), 1u);
  EXPECT_EQ(DrainAll("b"), std::vector<std::string>{"2:bob"});
}

TEST_F(QueuedChangeTest, AChangeThatFailsQueuesNothing) {
  ASSERT_TRUE(state_->CreateUser("alice", "password-1", Role::kCryptoUser).ok());
  PeerQueue queue{{"b"}, {}};
  EXPECT_FALSE(state_->CreateUser("alice", "password-1", Role::kCryptoUser, &queue).ok());
  EXPECT_EQ(state_->DeleteUser("nobody", &queue).code(), ErrorCode::kNotFound);
  EXPECT_FALSE(state_->SetShare("no-key", "alice", true, &queue).ok());
  EXPECT_TRUE(queue.seqs.empty());
  EXPECT_EQ(*box_->Pending("b"), 0);
  // Without a queue (a change applied from a peer) nothing is queued.
  ASSERT_TRUE(state_->AddKey(Key("k1")).ok());
  ASSERT_TRUE(state_->DeleteKey("k1").ok());
  EXPECT_EQ(*box_->Pending("b"), 0);
}

TEST(OutboxMemoryTest, AnInMemoryDatabaseHoldsAnOutboxToo) {
  auto db = store::OpenSqlite({.path = ":memory:"});
  ASSERT_TRUE(db.ok());
  auto box = Outbox::Open(**db);
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

class ReplicatorOutboxTest : public QueuedChangeTest {
 protected:
  void SetUp() override {
    QueuedChangeTest::SetUp();
    test_nodes::WriteSelfSignedNode(dir_.string());
    options_.peers = {test_nodes::ClosedLoopbackAddress()};
    options_.cert_file = dir_.string() + "/node.pem";
    options_.key_file = dir_.string() + "/node.key";
    options_.ca_file = options_.cert_file;
    options_.user = "replicator";
    options_.password = SecretBytes("replication-secret");
    options_.connect_timeout_ms = 200;
    options_.max_backoff_ms = 200;
  }

  std::unique_ptr<Replicator> Make() {
    auto r = Replicator::Create(token_, *state_, options_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // A client's user deletion and key destruction, as the service makes them.
  bool DeleteUser(Replicator& r, const std::string& name) {
    EXPECT_TRUE(state_->CreateUser(name, "password-1", Role::kCryptoUser).ok());
    PeerQueue queue = r.NewQueue();
    EXPECT_TRUE(state_->DeleteUser(name, &queue).ok());
    return r.Pushed(queue);
  }
  void DestroyKey(Replicator& r, const std::string& key_id) {
    PeerQueue queue = r.NewQueue();
    EXPECT_TRUE(state_->DeleteKey(key_id, &queue).ok());
    (void)r.Pushed(queue);
  }

  ClusterKeyOnlyToken token_;
  Replicator::Options options_;
};

TEST_F(ReplicatorOutboxTest, ChangesForAPeerThatIsDownAreKeptAcrossARestart) {
  auto first = Make();
  ASSERT_NE(first, nullptr);
  // Not started (or its peers all down): queued, not failures.
  EXPECT_TRUE(DeleteUser(*first, "mallory"));
  DestroyKey(*first, "old-key");
  EXPECT_EQ(first->backlog(), 2);
  first.reset();  // the node stops
  Restart();

  auto second = Make();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->backlog(), 2);
  // Start: the peer is owed entries and does not answer, so it is not
  // caught up from; the node starts and its sender keeps retrying.
  ASSERT_TRUE(second->Start().ok());
  auto before = std::chrono::steady_clock::now();
  EXPECT_TRUE(DeleteUser(*second, "eve"));
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

TEST_F(ReplicatorOutboxTest, AnUpgradedNodeKeepsWhatItsOldOutboxFileOwed) {
  std::string legacy = (dir_ / "outbox.db").string();
  WriteLegacyOutbox(legacy, options_.peers);
  options_.legacy_outbox_path = legacy;
  auto first = Make();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->backlog(), 3);
  EXPECT_FALSE(std::filesystem::exists(legacy));
  EXPECT_TRUE(*box_->KeyOwed("k1"));  // the key stays extractable for the peer
  first.reset();
  Restart();
  auto second = Make();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->backlog(), 3);
}

TEST_F(ReplicatorOutboxTest, ANodeWithoutPeersQueuesNothing) {
  options_.peers.clear();
  auto alone = Make();
  ASSERT_NE(alone, nullptr);
  PeerQueue queue = alone->NewQueue();
  EXPECT_TRUE(queue.peers.empty());
  ASSERT_TRUE(state_->CreateUser("alice", "password-1", Role::kCryptoUser, &queue).ok());
  EXPECT_TRUE(alone->Pushed(queue));
  EXPECT_EQ(alone->KeyPushed(queue), 0u);
  EXPECT_EQ(alone->backlog(), 0);
}

}  // namespace
}  // namespace rampart::hsmnet
