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
// Pushes are synchronous and best effort: a peer that does not answer is
// skipped (and logged) and catches up at its next start (Start()).
//
// Thread-safety: thread-safe; calls to one peer are serialized.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "hsmnet/state.h"
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
    // A peer that is down costs each push at most two connects of this
    // long (the client tries a stale connection, then a new one), not two
    // full timeouts: calls to one peer are serialized, so every
    // CreateUser or GenerateKey waits for it.
    int connect_timeout_ms = 1000;
    std::string user;      // the appliance user
    std::string password;  // its password (the same on every node)
    uint32_t min_nodes = 1;  // nodes (this one included) that must hold a new key
    // Make a cluster wrapping key even when some peer did not answer
    // (the first start of a new cluster's first node).
    bool bootstrap = false;
  };

  // kValidation when the certificates cannot be loaded.
  static Result<std::unique_ptr<Replicator>> Create(pkcs11::Token& token, HsmState& state,
                                                    Options options);

  // At start: gets the cluster wrapping key from a peer, or makes it when
  // every peer answered that it has none (or, with Options::bootstrap,
  // when no peer gave one); kUnavailable when a peer did not answer and
  // none gave a key. Then catches up from the first peer that
  // answers: its users, keys and shares are copied here, keys it lacks
  // that were never replicated from here are pushed to it, and users and
  // keys it no longer has are removed here.
  Status Start();

  // Copies a new key to every peer; returns how many peers now hold it.
  size_t PushKey(const KeyInfo& key);
  // Copy a user's hash and role, or its deletion, to every peer. false
  // when a peer answered but did not apply it (a peer that does not
  // answer catches up at its next start and does not count).
  bool PushUser(std::string_view name);
  bool PushUserDeleted(std::string_view name);
  void PushKeyDestroyed(std::string_view key_id);
  void PushShares(std::string_view key_id);

  size_t peer_count() const { return peers_.size(); }
  uint32_t min_nodes() const { return options_.min_nodes; }

 private:
  struct Peer {
    std::string node;
    std::unique_ptr<Client> client;
    std::mutex mu;
    bool logged_in = false;  // guarded by mu
  };

  Replicator(pkcs11::Token& token, HsmState& state, Options options)
      : token_(token), state_(state), options_(std::move(options)) {}
  // Sends a Replicate (or other) request as the AU; logs in first when
  // needed. rv CKR_DEVICE_ERROR when the peer does not answer; *reached
  // (when given) tells whether it answered at all.
  Response Call(Peer& peer, Request q, bool* reached = nullptr);
  Response CallLocked(Peer& peer, Request q);  // REQUIRES: peer.mu held
  Response Replica(Peer& peer, ReplicaKind kind, Request q, bool* reached = nullptr);
  Status FetchClusterKey();
  // The transport ceremony with one peer; *none: it answered that it has
  // no cluster key.
  Status FetchClusterKeyFrom(Peer& peer, bool* none);
  Status CatchUpFrom(Peer& peer);
  Status CatchUpUsers(Peer& peer, std::vector<std::string>* gone);
  Status CatchUpKeys(Peer& peer);
  Status CatchUpKey(Peer& peer, const KeyInfo& key);
  bool PushUserTo(Peer& peer, std::string_view name, bool* reached = nullptr);
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
  std::vector<std::unique_ptr<Peer>> peers_;
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
