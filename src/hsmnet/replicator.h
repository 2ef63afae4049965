// Replicator: copies a network-HSM node's applications' keys, users and
// sharing to its peers (the `peers` of the node config), so that nodes need
// no shared token directory or database (docs/hsm.md, "Replication between
// nodes").
//
// Each peer is reached over the ordinary protocol (mutual TLS) and logged
// in as the appliance user (AU), the same name and password on every node.
// Keys travel wrapped under the cluster wrapping key, an AES key that
// exists only inside the nodes' tokens; a node without it fetches it from
// a peer by the transport ceremony (a fresh RSA pair in its own token, the
// peer wraps the cluster key under its public half). Users travel as their
// PBKDF2 hash, never as a password.
//
// Pushes are durable: every change is written to the Outbox (one entry
// per peer) in the change's own HsmState transaction (NewQueue) and then
// delivered, in order, by one sender thread per peer that retries with
// backoff until the peer applies it. The request
// that made the change waits a bounded time (Options::wait_ms) for the
// peers to apply it, and never for a peer whose last delivery failed, so a
// peer that is down or blackholed costs a request nothing once it is known
// to be behind. A node that starts delivers what it still owes before it
// catches up from a peer (Start()).
//
// Thread-safety: thread-safe. Calls to one peer are serialized; the sender
// threads run from Start() until destruction.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hsmnet/outbox.h"
#include "hsmnet/state.h"
#include "rampart/core/secret.h"
#include "rampart/hsmnet/client.h"
#include "rampart/pkcs11/token.h"

namespace rampart::hsmnet {

// The cluster wrapping key's CKA_ID in every node's token. It has no row in
// HsmState, and clients may not choose ids with its prefix
// (kReservedKeyIdPrefix), so no user can name it.
inline constexpr std::string_view kClusterKeyId = "rampart-hsmnet-cwk";
pkcs11::KeyRef ClusterKeyRef();

class Replicator {
 public:
  struct Options {
    std::vector<std::string> peers;  // host:port of the other nodes
    std::string cert_file, key_file, ca_file;  // our client certificate; the CA of the peers' certificates
    int timeout_ms = 5000;  // each read and write
    // The TCP connect to a peer alone (a peer that is down refuses or
    // drops the connect; the sender then backs off).
    int connect_timeout_ms = 1000;
    // How long a request that changed something waits for the peers to
    // apply it. A peer that has not answered by then is marked stalled:
    // later requests do not wait for it until it applies a change again.
    int wait_ms = 3000;
    // A peer that failed is retried after 100 ms, doubling up to this.
    int max_backoff_ms = 5000;
    // An entry the peer answered and refused this many times is dropped
    // (the peer takes the change when it next catches up, at its start).
    int max_refusals = 8;
    std::string user;      // the appliance user
    SecretBytes password;  // its password (the same on every node)
    uint32_t min_nodes = 1;  // nodes (this one included) that must hold a new key
    // Make a cluster wrapping key even when some peer did not answer
    // (the first start of a new cluster's first node).
    bool bootstrap = false;
    // This node's name (Hello's), sent to a peer with kLockKey so that the
    // peer knows which of its peers holds the key.
    std::string node_name;
    // The outbox file of versions that kept it apart from hsm.db
    // (data_dir/outbox.db): Create moves its entries into the state's
    // outbox and deletes it. "": none.
    std::string legacy_outbox_path;
  };

  // kValidation when the certificates cannot be loaded; the outbox's
  // error when the legacy outbox cannot be moved (the file stays).
  static Result<std::unique_ptr<Replicator>> Create(pkcs11::Token& token, HsmState& state,
                                                    Options options);
  // Stops the sender threads (a delivery in progress finishes first).
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // At start: gets the cluster wrapping key from a peer, or makes it when
  // every peer answered that it has none (or, with Options::bootstrap,
  // when no peer gave one); kUnavailable when a peer did not answer and
  // none gave a key. Then delivers what the outbox still owes each peer
  // that answers, and catches up from the first peer that answers and is
  // owed nothing: its users, keys and shares are copied here, keys it
  // lacks that were never replicated from here are pushed to it, and
  // users and keys it no longer has are removed here. Finally starts the
  // sender threads.
  Status Start();

  // A change is pushed in two steps: the HsmState method that makes it
  // gets NewQueue() and writes its outbox entries in its own transaction;
  // once it committed, KeyPushed or Pushed wakes the senders and waits
  // (wait_ms) for the peers.
  PeerQueue NewQueue() const;
  // For a new key: how many peers applied it meanwhile. The others get it
  // when they answer again.
  size_t KeyPushed(const PeerQueue& queue);
  // For any change: false when a peer answered but did not apply it; a
  // peer that does not answer does not count (the change waits in the
  // outbox, and a peer that restarts catches up before it serves).
  bool Pushed(const PeerQueue& queue);

  // kLockKey from a peer: the peer named `node_name` (its Hello name)
  // holds the key. Its queued copy of the key is done, and the key is
  // locked here if no other peer is still owed it. kNotFound for a key
  // this node does not hold.
  Status PeerHoldsKey(std::string_view node_name, std::string_view key_id);
  // Makes the key non-extractable in the token unless its owner asked for
  // an extractable key or some peer is still owed it (it is wrapped for
  // that peer when delivered). A key that is gone is OK.
  Status LockWhenReplicated(std::string_view key_id);

  size_t peer_count() const { return peers_.size(); }
  uint32_t min_nodes() const { return options_.min_nodes; }
  // Entries the outbox still holds for all peers (for tests and logs).
  int64_t backlog();

 private:
  struct Peer {
    std::string node;
    std::unique_ptr<Client> client;
    std::mutex mu;
    bool logged_in = false;  // guarded by mu
    // --- Delivery state, guarded by Replicator::mu_.
    int64_t enqueued = 0;  // the highest sequence number added for it
    int64_t done = 0;      // the highest one delivered or dropped
    std::set<int64_t> refused;  // entries it answered and refused (recent ones)
    bool failing = false;  // the last delivery failed: requests do not wait for it
    bool stalled = false;  // a request gave up waiting: later ones do not wait either
    std::string name;      // its Hello node name, once learned
    std::thread sender;
    // Set while its deliveries fail, so that the retries of a peer that is
    // down do not log the same failure every few seconds.
    std::atomic<bool> quiet{false};
  };

  // How one attempt to deliver an entry ended.
  enum class Sent : uint8_t {
    kNothing,       // the peer is owed nothing
    kApplied,       // the peer applied it (or nothing was left to send)
    kUnreachable,   // no answer, or this node could not read its own state
    kPeerRefused,   // the peer answered but the AU could not log in
    kEntryRefused,  // the peer answered and refused this entry
  };
  struct Attempt {
    int64_t seq = 0;
    Sent sent = Sent::kNothing;
    bool dropped = false;  // refused too often: removed
  };
  // What a request learns about its entry on one peer.
  enum class Outcome : uint8_t { kApplied, kRefused, kQueued };

  Replicator(pkcs11::Token& token, HsmState& state, Options options)
      : token_(token), state_(state), options_(std::move(options)), outbox_(state.outbox()) {}
  // Sends a Replicate (or other) request as the AU; logs in first when
  // needed. rv CKR_DEVICE_ERROR when the peer does not answer; *reached
  // (when given) tells whether it answered at all, *logged_in whether the
  // AU is logged in there after the call.
  Response Call(Peer& peer, Request q, bool* reached = nullptr, bool* logged_in = nullptr);
  Response CallLocked(Peer& peer, Request q);  // REQUIRES: peer.mu held
  Response Replica(Peer& peer, ReplicaKind kind, Request q, bool* reached = nullptr,
                   bool* logged_in = nullptr);

  // --- The outbox and its senders (replicator.cc).
  // Wakes the senders for a committed change's entries and waits for them.
  std::vector<Outcome> Announce(const PeerQueue& queue);
  std::vector<Outcome> Await(const std::vector<int64_t>& seqs);
  Outcome OutcomeFor(const Peer& peer, int64_t seq) const;  // REQUIRES: mu_ held
  void SendLoop(Peer& peer);
  // One attempt at the peer's oldest entry; updates the outbox.
  Attempt SendHead(Peer& peer);
  Sent Deliver(Peer& peer, const Outbox::Entry& entry);
  Sent DeliverKey(Peer& peer, const std::string& key_id);
  Sent Classify(Peer& peer, ReplicaKind kind, Request q);
  void Record(Peer& peer, const Attempt& a);  // REQUIRES: mu_ held
  // Delivers until the peer is owed nothing or an attempt fails.
  bool Drain(Peer& peer);
  void LearnName(Peer& peer);
  Status FetchClusterKey();
  // The transport ceremony with one peer; *none: it answered that it has
  // no cluster key.
  Status FetchClusterKeyFrom(Peer& peer, bool* none);
  Status CatchUpFrom(Peer& peer);
  Status CatchUpUsers(Peer& peer, std::vector<std::string>* gone);
  Status CatchUpKeys(Peer& peer);
  Status CatchUpKey(Peer& peer, const KeyInfo& key);
  bool PushUserTo(Peer& peer, std::string_view name);
  bool PushSharesTo(Peer& peer, std::string_view key_id);
  Result<std::vector<KeyInfo>> PeerKeys(Peer& peer);
  // Wraps a local key under the cluster key and sends it to one peer.
  bool SendKey(Peer& peer, const KeyInfo& key, const std::string& wrapped, const std::string& public_key);
  Result<std::pair<std::string, std::string>> WrapLocal(const KeyInfo& key);
  // Installs a key wrapped under the cluster key into the local token.
  Status InstallKey(const KeyInfo& key, std::string_view wrapped, std::string_view public_key,
                    bool extractable);

  pkcs11::Token& token_;
  HsmState& state_;
  const Options options_;
  Outbox& outbox_;  // the state's
  std::vector<std::unique_ptr<Peer>> peers_;  // the vector is constant after Create

  std::mutex mu_;
  std::condition_variable cv_;  // any change of a Peer's delivery state, or stopping_
  bool running_ = false;        // guarded by mu_: the senders run
  bool stopping_ = false;       // guarded by mu_
};

// A share list on the wire: user names joined by '\n'.
std::vector<std::string> SplitNames(std::string_view joined);
std::string JoinNames(const std::vector<std::string>& names);

// Applies a kPutKey request to a node: unwraps the key under the cluster
// key (non-extractable unless `extractable`) and records it with its owner.
// The same key (id, owner, kind, algorithm) already recorded is OK; another
// key under the id is kValidation.
Status InstallReplicaKey(pkcs11::Token& token, HsmState& state, const KeyInfo& key,
                         std::string_view wrapped, std::string_view public_key, bool extractable);

}  // namespace rampart::hsmnet
