// HsmState: the network HSM's own records in SQLite (component "hsmnet"):
// users with their PBKDF2 password hashes, failed-login counters and
// password versions, and the keys the service created in its token with
// their owner and the users they are shared with, and tombstones of
// deleted users and keys (for replication between nodes). Key material never
// enters this database: a key row holds the key's CKA_ID and metadata.
//
// Every request of a logged-in session looks up its user, and every key
// operation its key, so FindUser and FindKey answer from an in-memory copy
// of the records they read before (the database stays the truth). Every
// method that writes forgets the records it may have changed, after its
// transaction committed (a lookup that read the old row meanwhile does not
// put it back: see RecordCache in state.cc). Changes made by another
// process sharing the database cannot be seen that way: with a
// DataDirLock, the copies are used only while no other process uses the
// data directory, and dropped whenever one does or did.
//
// The node's replication outbox (outbox.h) lives in the same database: a
// method that takes a PeerQueue writes the change's outbox entries in the
// change's own transaction, so that a crash cannot keep the change and
// lose its push (or the reverse). Changes applied from a peer, and
// catch-up, pass none: a node pushes only the changes its clients made.
//
// Thread-safety: thread-safe (every method is one Database transaction,
// the cache has its own mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hsmnet/outbox.h"
#include "rampart/core/status.h"
#include "rampart/hsmnet/wire.h"
#include "rampart/store/store.h"

namespace rampart::hsmnet {

struct UserRecord {
  std::string name;
  Role role = Role::kCryptoUser;
  int64_t failed_logins = 0;
  int64_t password_version = 0;  // bumped by every password change
};

// A key row; `info.owned` is not meaningful here.
struct KeyRecord {
  KeyInfo info;
  std::vector<std::string> shared_with;
  bool extractable = false;  // the owner asked for it (may WrapKey it)
};

enum class LoginOutcome : uint8_t { kOk, kBadPassword, kLocked };

// DataDirLock: tells a node whether another process uses its data
// directory now, or did since it last asked, which is when HsmState may
// not trust its cached records (docs/hsm.md: two nodes may share one
// data_dir). Each node holds a shared lock on the first byte of a lock
// file in the directory for its lifetime (an open file description lock:
// the kernel drops it when the process dies) and adds one to the arrival
// counter the file holds when it opens it.
//
// Thread-safety: Alone() must not run concurrently with itself (HsmState
// calls it under its cache mutex); the rest is constant after Open.
class DataDirLock {
 public:
  // Creates path (0600) when missing, takes the shared lock and counts
  // this arrival.
  static Result<std::unique_ptr<DataDirLock>> Open(const std::string& path);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  // True when no other holder of the lock exists and none arrived since
  // the last call; false (also on any error) otherwise.
  bool Alone();

 private:
  DataDirLock(int fd, uint64_t arrivals) : fd_(fd), seen_arrivals_(arrivals) {}
  const int fd_;
  uint64_t seen_arrivals_;  // the counter at the last look
};

class HsmState {
 public:
  struct Options {
    uint32_t password_iterations = 600000;
    int64_t max_failed_logins = 5;  // lockout after this many failures in a row
    // When set, cached records are used only while it says Alone().
    // Without it the database must be this process's alone (tests, or a
    // node whose data_dir nobody shares). REQUIRES: outlives the state.
    DataDirLock* data_dir_lock = nullptr;
  };

  // Applies the migrations (the outbox's too). REQUIRES: db outlives the
  // state.
  static Result<std::unique_ptr<HsmState>> Open(store::Database& db, Options options);
  ~HsmState();

  // The outbox in this state's database.
  Outbox& outbox() { return *outbox_; }

  // Creates the first crypto officer when there are no users at all.
  Status Bootstrap(std::string_view name, std::string_view password);

  // The methods that take a PeerQueue (null: nothing queued) queue their
  // change for its peers in the change's transaction: CreateUser and
  // ChangePassword a kPutUser entry, DeleteUser kDeleteUser, AddKey
  // kPutKey, DeleteKey kDestroyKey and SetShare kSetShares.

  // kValidation for a bad name or password; "already exists" kValidation.
  Status CreateUser(std::string_view name, std::string_view password, Role role, PeerQueue* queue = nullptr);
  // kNotFound; kValidation when the user owns keys or is the last officer.
  Status DeleteUser(std::string_view name, PeerQueue* queue = nullptr);
  // Sets a new hash, clears the lockout and bumps the password version (which
  // ends the user's sessions).
  Status ChangePassword(std::string_view name, std::string_view password, PeerQueue* queue = nullptr);
  Result<std::vector<UserInfo>> ListUsers();
  Result<std::optional<UserRecord>> FindUser(std::string_view name);

  // Checks a password, counting failures; unknown users are kBadPassword.
  // On kOk, *user is filled in.
  Result<LoginOutcome> Login(std::string_view name, std::string_view password, Role role,
                             UserRecord* user);

  // extractable: the owner asked for an extractable key (KeyRecord).
  Status AddKey(const KeyInfo& key, bool extractable = false, PeerQueue* queue = nullptr);
  Result<std::optional<KeyRecord>> FindKey(std::string_view key_id);
  // Keys the user owns or that are shared with them (all keys: all_keys).
  Result<std::vector<KeyInfo>> ListKeys(std::string_view user, bool all_keys);
  Status DeleteKey(std::string_view key_id, PeerQueue* queue = nullptr);
  // Records that the owner locked the key (SetNonExtractable).
  Status ClearExtractable(std::string_view key_id);
  // Adds (share) or removes the user from the key's share list. kNotFound
  // when the user does not exist; kValidation when not a CU or the owner.
  Status SetShare(std::string_view key_id, std::string_view user, bool share, PeerQueue* queue = nullptr);

  // --- Replication between nodes (replicator.h, service_replication.cc).

  // The user's PBKDF2 hash (nullopt: no such user).
  Result<std::optional<std::string>> PasswordHash(std::string_view name);
  // Creates the user with this hash, or sets the role and hash of an
  // existing one. A change of hash or role clears the lockout and bumps
  // the password version (ending the user's sessions); the same hash and
  // role change nothing. kValidation for a bad name or hash, or a hash
  // with fewer PBKDF2 iterations than Options::password_iterations (a
  // peer may not weaken a password).
  Status PutUser(std::string_view name, Role role, std::string_view hash);
  // Removes the user and their shares; an unknown user is OK. Unlike
  // DeleteUser it does not check ownership: a peer already did.
  Status RemoveUser(std::string_view name);
  // Whether a user (key false) or key (key true) of this name was deleted
  // here and not made again since (a tombstone; catch-up asks peers).
  Result<bool> WasDeleted(bool key, std::string_view name);
  // Makes the key's share list exactly `users`, skipping names that are
  // not crypto users here or are the owner. kNotFound for an unknown key.
  Status SetShares(std::string_view key_id, const std::vector<std::string>& users);

 private:
  class RecordCache;  // state.cc
  HsmState(store::Database& db, Options options, std::unique_ptr<Outbox> outbox);
  Result<LoginOutcome> CheckLogin(std::string_view name, std::string_view password, Role role,
                                  UserRecord* user);
  Result<std::optional<UserRecord>> LoadUser(std::string_view name);  // from the database
  Result<std::optional<KeyRecord>> LoadKey(std::string_view key_id);     // from the database
  // A write transaction, then the cached records it may have changed are
  // forgotten: the user's (and every key's when drops_shares, since shares
  // granted to the user went), or the key's.
  // With a queue, fn's change is followed in its transaction by the
  // queue's outbox entries (`kind`, named `name` or `key_id`).
  Status WriteUser(std::string_view name, bool drops_shares,
                   const std::function<Status(store::Tx&)>& fn, PeerQueue* queue = nullptr,
                   Outbox::Kind kind = Outbox::Kind::kPutUser);
  Status WriteKey(std::string_view key_id, const std::function<Status(store::Tx&)>& fn,
                  PeerQueue* queue = nullptr, Outbox::Kind kind = Outbox::Kind::kPutKey);
  // Runs fn, then queues its change (when a queue is given) in the same
  // transaction; clears queue->seqs when it does not commit.
  Status WriteQueued(const std::function<Status(store::Tx&)>& fn, PeerQueue* queue, Outbox::Kind kind,
                     std::string_view name);

  store::Database& db_;
  const Options options_;
  const std::unique_ptr<RecordCache> cache_;
  const std::unique_ptr<Outbox> outbox_;
};

}  // namespace rampart::hsmnet
