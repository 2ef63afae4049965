// Outbox: the changes a network-HSM node still owes each of its peers
// (Replicator, docs/hsm.md "Replication between nodes"), kept in a SQLite
// file of the node's data directory so that a change survives a restart
// of the node that made it.
//
// An entry names a change, not its content: (peer, kind, user name or key
// id). The sender reads the node's current state when it delivers the
// entry, so a retried or late entry never carries an older state than the
// node has, and no password hash or wrapped key is written here. Entries
// of one peer are delivered in sequence order; a delivered entry is
// removed. Sequence numbers are never reused (AUTOINCREMENT), so a waiter
// can tell its entry from a later one.
//
// Thread-safety: thread-safe (every method is one Database transaction).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::hsmnet {

class Outbox {
 public:
  // Stored as integers: never renumber.
  enum class Kind : uint8_t {
    kPutUser = 1,     // the user's current hash and role (nothing when gone here)
    kDeleteUser = 2,
    kPutKey = 3,      // the key wrapped under the cluster key (nothing when gone here)
    kDestroyKey = 4,
    kSetShares = 5,   // the key's current share list (nothing when gone here)
  };
  static constexpr uint8_t kMaxKind = 5;

  struct Entry {
    int64_t seq = 0;
    std::string peer;
    Kind kind = Kind::kPutUser;
    std::string name;       // user name or key id (bytes)
    int64_t refusals = 0;   // times the peer answered and refused it
  };

  // Opens (creating) the outbox at path; "" keeps it in memory, for tests
  // (not durable).
  static Result<std::unique_ptr<Outbox>> Open(const std::string& path);

  // Adds one entry for each peer, in one transaction. Returns their
  // sequence numbers in the order of `peers`.
  Result<std::vector<int64_t>> Add(const std::vector<std::string>& peers, Kind kind,
                                   std::string_view name);
  // The peer's oldest entry, or nullopt when it is owed nothing. An entry
  // whose kind is not one of Kind (a damaged row) is removed and skipped.
  Result<std::optional<Entry>> Head(std::string_view peer);
  // Removing an entry that is gone already is OK.
  Status Remove(int64_t seq);
  // Counts one more refusal of the entry; returns the new count.
  Result<int64_t> CountRefusal(int64_t seq);
  // Entries owed to the peer, and the highest sequence number among them
  // (0 when none).
  Result<int64_t> Pending(std::string_view peer);
  Result<int64_t> LastSeq(std::string_view peer);
  // Whether some peer is still owed the key (a kPutKey entry).
  Result<bool> KeyOwed(std::string_view key_id);
  // The peer reported that it holds the key: its kPutKey entries for it
  // are done.
  Status KeyDelivered(std::string_view peer, std::string_view key_id);
  // Drops the entries of peers not in `peers` (removed from the config);
  // returns how many were dropped.
  Result<int64_t> KeepOnly(const std::vector<std::string>& peers);

 private:
  explicit Outbox(std::unique_ptr<store::Database> db) : db_(std::move(db)) {}
  std::unique_ptr<store::Database> db_;
};

}  // namespace rampart::hsmnet
