// HsmState's record cache: every write forgets what it changed, and with a
// DataDirLock the cache is trusted only while no other process uses the
// data directory (two "processes" here are two states, each with its own
// lock on the same file: open file description locks conflict between
// descriptors as they do between processes).
#include "hsmnet/state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace rampart::hsmnet {
namespace {

constexpr char kPassword[] = "user-password";

KeyInfo Key(const std::string& id, const std::string& owner) {
  KeyInfo k;
  k.key_id = id;
  k.kind = 1;
  k.algorithm = 1;
  k.usage = 1;
  k.label = "label-" + id;
  k.app_id = id;
  k.owner = owner;
  return k;
}

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hsmnet-state-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<store::Database> OpenDb() {
    auto db = store::OpenSqlite({.path = (dir_ / "hsm.db").string(), .full_sync = false});
    EXPECT_TRUE(db.ok()) << db.status().message();
    return db.ok() ? std::move(*db) : nullptr;
  }
  std::unique_ptr<DataDirLock> Lock() {
    auto lock = DataDirLock::Open((dir_ / "hsm.nodes.lock").string());
    EXPECT_TRUE(lock.ok()) << lock.status().message();
    return lock.ok() ? std::move(*lock) : nullptr;
  }
  std::unique_ptr<HsmState> State(store::Database& db, DataDirLock* lock) {
    auto state = HsmState::Open(db, {.password_iterations = 1000, .max_failed_logins = 3, .data_dir_lock = lock});
    EXPECT_TRUE(state.ok()) << state.status().message();
    return state.ok() ? std::move(*state) : nullptr;
  }
  // Changes a row behind the state's back, as another process would.
  static void Behind(store::Database& db, const std::string& sql) {
    ASSERT_TRUE(db.Write([&](store::Tx& tx) { return tx.Exec(sql); }).ok()) << sql;
  }
  static int64_t Version(HsmState& state, const std::string& name) {
    auto user = state.FindUser(name);
    EXPECT_TRUE(user.ok());
    return user.ok() && *user ? (*user)->password_version : -1;
  }

  std::filesystem::path dir_;
};

TEST_F(StateTest, LookupsAreServedFromTheCacheUntilAWriteForgetsThem) {
  auto db = OpenDb();
  auto state = State(*db, nullptr);
  ASSERT_TRUE(state->CreateUser("alice", kPassword, Role::kCryptoUser).ok());
  int64_t v1 = Version(*state, "alice");
  ASSERT_GT(v1, 0);
  // A change the state did not make is not seen: the answer is cached.
  Behind(*db, "UPDATE hsm_users SET password_version = password_version + 100 WHERE name = 'alice'");
  EXPECT_EQ(Version(*state, "alice"), v1);
  // Its own change is: the write forgot the user.
  ASSERT_TRUE(state->ChangePassword("alice", "another-password").ok());
  EXPECT_EQ(Version(*state, "alice"), v1 + 101);
}

TEST_F(StateTest, EveryUserWriteIsSeenByTheNextLookup) {
  auto db = OpenDb();
  auto state = State(*db, nullptr);
  ASSERT_TRUE(state->CreateUser("alice", kPassword, Role::kCryptoUser).ok());
  ASSERT_TRUE(state->CreateUser("admin", kPassword, Role::kOfficer).ok());
  int64_t v = Version(*state, "alice");

  // A failed login counts in failed_logins; a good one clears it.
  UserRecord user;
  ASSERT_EQ(*state->Login("alice", "wrong-password", Role::kCryptoUser, &user), LoginOutcome::kBadPassword);
  EXPECT_EQ((*state->FindUser("alice"))->failed_logins, 1);
  ASSERT_EQ(*state->Login("alice", kPassword, Role::kCryptoUser, &user), LoginOutcome::kOk);
  EXPECT_EQ((*state->FindUser("alice"))->failed_logins, 0);

  // A peer's new hash (PutUser) ends the sessions: the version moves.
  auto hash = state->PasswordHash("admin");
  ASSERT_TRUE(hash.ok() && *hash);
  ASSERT_TRUE(state->PutUser("alice", Role::kCryptoUser, **hash).ok());
  EXPECT_EQ(Version(*state, "alice"), v + 1);
  ASSERT_TRUE(state->PutUser("alice", Role::kOfficer, **hash).ok());
  EXPECT_EQ((*state->FindUser("alice"))->role, Role::kOfficer);

  ASSERT_TRUE(state->DeleteUser("alice").ok());
  EXPECT_FALSE(*state->FindUser("alice"));
  ASSERT_TRUE(state->CreateUser("alice", kPassword, Role::kCryptoUser).ok());
  ASSERT_TRUE(*state->FindUser("alice"));
  ASSERT_TRUE(state->RemoveUser("alice").ok());
  EXPECT_FALSE(*state->FindUser("alice"));
}

TEST_F(StateTest, EveryKeyWriteIsSeenByTheNextLookup) {
  auto db = OpenDb();
  auto state = State(*db, nullptr);
  for (const char* name : {"alice", "bob", "carol"}) {
    ASSERT_TRUE(state->CreateUser(name, kPassword, Role::kCryptoUser).ok());
  }
  ASSERT_TRUE(state->AddKey(Key("k1", "alice"), true).ok());
  auto found = state->FindKey("k1");
  ASSERT_TRUE(found.ok() && *found);
  EXPECT_TRUE((*found)->extractable);
  EXPECT_TRUE((*found)->shared_with.empty());

  ASSERT_TRUE(state->ClearExtractable("k1").ok());
  EXPECT_FALSE((*state->FindKey("k1"))->extractable);
  ASSERT_TRUE(state->SetShare("k1", "bob", true).ok());
  EXPECT_EQ((*state->FindKey("k1"))->shared_with, (std::vector<std::string>{"bob"}));
  ASSERT_TRUE(state->SetShares("k1", {"bob", "carol"}).ok());
  EXPECT_EQ((*state->FindKey("k1"))->shared_with, (std::vector<std::string>{"bob", "carol"}));
  ASSERT_TRUE(state->SetShare("k1", "carol", false).ok());
  EXPECT_EQ((*state->FindKey("k1"))->shared_with, (std::vector<std::string>{"bob"}));

  // Deleting a user takes them off every key's share list.
  ASSERT_TRUE(state->DeleteUser("bob").ok());
  EXPECT_TRUE((*state->FindKey("k1"))->shared_with.empty());
  ASSERT_TRUE(state->SetShare("k1", "carol", true).ok());
  ASSERT_EQ((*state->FindKey("k1"))->shared_with.size(), 1u);
  ASSERT_TRUE(state->RemoveUser("carol").ok());
  EXPECT_TRUE((*state->FindKey("k1"))->shared_with.empty());

  ASSERT_TRUE(state->DeleteKey("k1").ok());
  EXPECT_FALSE(*state->FindKey("k1"));
  // A key made again under the same id is found again.
  ASSERT_TRUE(state->AddKey(Key("k1", "alice")).ok());
  ASSERT_TRUE(*state->FindKey("k1"));
  EXPECT_FALSE((*state->FindKey("k1"))->extractable);
}

TEST_F(StateTest, TheCacheIsBypassedWhileAnotherProcessSharesTheDataDirectory) {
  auto db = OpenDb();
  auto lock = Lock();
  auto state = State(*db, lock.get());
  ASSERT_TRUE(state->CreateUser("alice", kPassword, Role::kCryptoUser).ok());
  ASSERT_TRUE(state->AddKey(Key("k1", "alice")).ok());
  int64_t v = Version(*state, "alice");
  ASSERT_TRUE(*state->FindKey("k1"));
  // Alone: cached.
  Behind(*db, "UPDATE hsm_users SET password_version = password_version + 1 WHERE name = 'alice'");
  EXPECT_EQ(Version(*state, "alice"), v);

  {
    // A second node opens the same directory: its changes are seen at once.
    auto other_db = OpenDb();
    auto other_lock = Lock();
    auto other = State(*other_db, other_lock.get());
    EXPECT_EQ(Version(*state, "alice"), v + 1);
    ASSERT_TRUE(other->ChangePassword("alice", "another-password").ok());
    EXPECT_EQ(Version(*state, "alice"), v + 2);
    ASSERT_TRUE(other->DeleteKey("k1").ok());
    EXPECT_FALSE(*state->FindKey("k1"));
    ASSERT_TRUE(other->DeleteUser("alice").ok());
    EXPECT_FALSE(*state->FindUser("alice"));
  }
  // Alone again: cached again (after one more look that sees the
  // arrival counter moved and drops the cache).
  ASSERT_TRUE(state->CreateUser("bob", kPassword, Role::kCryptoUser).ok());
  Version(*state, "bob");
  int64_t bob = Version(*state, "bob");
  Behind(*db, "UPDATE hsm_users SET password_version = password_version + 1 WHERE name = 'bob'");
  EXPECT_EQ(Version(*state, "bob"), bob);
}

TEST_F(StateTest, ANodeThatCameAndWentWhileWeWereIdleIsNoticed) {
  auto db = OpenDb();
  auto lock = Lock();
  auto state = State(*db, lock.get());
  ASSERT_TRUE(state->CreateUser("alice", kPassword, Role::kCryptoUser).ok());
  int64_t v = Version(*state, "alice");
  {
    auto other_db = OpenDb();
    auto other_lock = Lock();
    auto other = State(*other_db, other_lock.get());
    ASSERT_TRUE(other->ChangePassword("alice", "another-password").ok());
  }
  // Nobody is there now, but someone was: the cache was dropped.
  EXPECT_EQ(Version(*state, "alice"), v + 1);
}

TEST_F(StateTest, TheLockFileIsPrivateAndADamagedCounterStartsAgain) {
  {
    auto lock = Lock();
    ASSERT_TRUE(lock);
    EXPECT_TRUE(lock->Alone());
    auto perms = std::filesystem::status(dir_ / "hsm.nodes.lock").permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none);
  }
  std::filesystem::resize_file(dir_ / "hsm.nodes.lock", 3);
  auto lock = Lock();
  ASSERT_TRUE(lock);
  EXPECT_TRUE(lock->Alone());
  EXPECT_FALSE(DataDirLock::Open((dir_ / "missing" / "x.lock").string()).ok());
}

}  // namespace
}  // namespace rampart::hsmnet
