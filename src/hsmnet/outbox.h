// Outbox: the changes a network-HSM node still owes each of its peers
// (Replicator, docs/hsm.md "Replication between nodes"), kept in the
// hsm_outbox table of the node's own database (hsm.db, beside HsmState's
// tables), so that a change survives a restart of the node that made it.
// HsmState writes a change's entries in the change's own transaction
// (PeerQueue): the change and its entries commit or roll back together.
//
// An entry names a change, not its content: (peer, kind, user name or key
// id). The sender reads the node's current state when it delivers the
// entry, so a retried or late entry never carries an older state than the
// node has, and no password hash or wrapped key is written here. Entries
// of one peer are delivered in sequence order; a delivered entry is
// removed. Sequence numbers are never reused (AUTOINCREMENT), so a waiter
// can tell its entry from a later one.
//
// Nodes of earlier versions kept the outbox in a file of its own
// (data_dir/outbox.db); ImportLegacy moves its entries into the table,
// once (a restart between the move and the file's deletion does not move
// them again).
//
// Thread-safety: thread-safe (every method is one Database transaction,
// or runs inside the caller's).
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

// The peers a change made through HsmState is owed to. HsmState writes one
// outbox entry per peer in the change's transaction; after a commit, `seqs`
// holds their sequence numbers in the order of `peers` (empty when the
// change failed or there are no peers). Replicator::NewQueue makes one.
struct PeerQueue {
  std::vector<std::string> peers;
  std::vector<int64_t> seqs;
};

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

  // Creates the tables in db when missing (component "hsmnet_outbox").
  // REQUIRES: db outlives the outbox.
  static Result<std::unique_ptr<Outbox>> Open(store::Database& db);

  // Inside the caller's write transaction: adds one entry for each of
  // queue.peers and sets queue.seqs. Nothing when there are no peers.
  Status AddIn(store::Tx& tx, PeerQueue& queue, Kind kind, std::string_view name);
  // AddIn in a transaction of its own. Returns the sequence numbers in the
  // order of `peers`.
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

  // Moves the entries of an outbox file of an earlier version (path) into
  // this outbox in one transaction, keeping their order and refusal
  // counts, then deletes the file. No file is OK. Returns how many entries
  // were added; an error (an unreadable file, a failed commit or
  // deletion) leaves the file in place.
  //
  // Idempotent: before moving anything the file gets a random identity
  // (a table of its own, which older versions ignore), and the transaction
  // that moves the entries records a digest of that identity and the rows
  // (table hsm_outbox_imported). A node that dies after the commit but
  // before the deletion finds the digest at its next start and only
  // deletes the file (returns 0). A file an older version wrote or changed
  // after a downgrade has another digest and is moved. So a crash between
  // commit and deletion followed by a downgrade can move entries the old
  // version kept a second time: extra pushes, which peers apply
  // idempotently, never a lost one.
  //
  // The entries keep their sequence numbers when all of them are above
  // every number this outbox gave so far (an upgrade: the table is new);
  // otherwise (entries queued here before a downgrade) they are all
  // numbered after those, in their order.
  Result<int64_t> ImportLegacy(const std::string& path);
  // ImportLegacy without the deletion: the state of a node that died
  // between the two (tests).
  Result<int64_t> MoveLegacyEntries(const std::string& path);

 private:
  explicit Outbox(store::Database& db) : db_(db) {}
  store::Database& db_;
};

}  // namespace rampart::hsmnet
