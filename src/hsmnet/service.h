// Service: the network HSM's request handler, independent of transport.
// One Session per client connection holds who is logged in; Handle()
// checks the role and key rules (rules.h), runs the operation on the
// backend Token, writes an audit record for every login, user change and
// key use, and answers a Response whose rv is a CKR_* value.
//
// Thread-safety: Handle may be called concurrently for different sessions;
// one Session belongs to one connection thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hsmnet/state.h"
#include "rampart/hsmnet/wire.h"
#include "rampart/pkcs11/token.h"

namespace rampart::hsmnet {

// Appends one JSON object per line: time, node, peer (client certificate
// subject), user, operation, key id (hex), result (CKR name). Never key
// material, passwords or data. Thread-safe.
class AuditLog {
 public:
  // An empty path disables the log.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path, std::string node);
  ~AuditLog();
  void Record(std::string_view peer, std::string_view user, Op op, std::string_view key_id,
              uint32_t rv, std::string_view target = {});

 private:
  AuditLog(std::FILE* f, std::string node) : file_(f), node_(std::move(node)) {}
  std::mutex mu_;
  std::FILE* file_;  // guarded by mu_; nullptr: disabled
  const std::string node_;
};

struct Session {
  std::string peer;                // the client certificate's subject (for the audit log)
  std::optional<UserRecord> user;  // set while logged in
  // Set by the transport when the client certificate's subject is one of
  // the configured peer_subjects (PeerNames). Only such a session may log
  // in as the appliance user.
  bool replication_peer = false;
};

// Key ids starting with this are the service's own (the cluster wrapping
// key, the transport pair): clients may not choose them.
inline constexpr std::string_view kReservedKeyIdPrefix = "rampart-hsmnet-";
bool IsReservedKeyId(std::string_view key_id);

class Replicator;

class Service {
 public:
  struct Options {
    std::vector<std::string> nodes;  // Hello's node list
    std::string node_name;
    size_t keys_per_page = kMaxKeysPerPage;  // ListKeys page size, 1 to kMaxKeysPerPage
  };
  // REQUIRES: token, state and audit outlive the service.
  Service(pkcs11::Token& token, HsmState& state, AuditLog& audit, Options options)
      : token_(token), state_(state), audit_(audit), options_(std::move(options)) {}

  Response Handle(Session& session, const Request& request);

  // Pushes every change to the node's peers from now on (nullptr: none).
  // Without a replicator the node takes no Replicate requests and no
  // appliance-user logins (CKR_ACTION_PROHIBITED).
  // REQUIRES: called before serving; the replicator outlives the service.
  void set_replicator(Replicator* replicator) { replicator_ = replicator; }

 private:
  Response Dispatch(Session& session, const Request& q);
  Response Login(Session& session, const Request& q);
  Response UserAdmin(Session& session, const Request& q);
  Response ListUsers();
  Response GenerateKey(Session& session, const Request& q);
  Response ListKeys(Session& session);
  Response KeyOperation(Session& session, const Request& q);
  Response RunKeyOp(const Request& q, const KeyInfo& key);
  Response ShareKey(const Request& q);
  Response DestroyKey(const KeyInfo& key);
  // WrapKey, WrapKeyWithPublicKey, UnwrapKey and SetNonExtractable
  // (service_replication.cc): owner only, never for shared users.
  Response Replication(Session& session, const Request& q);
  Response UnwrapKey(Session& session, const Request& q);
  Response WrapOwnedKey(Session& session, const Request& q, const KeyRecord& key);
  // Replicate, for the appliance user of a peer node (ReplicaKind).
  Response Replica(Session& session, const Request& q);
  Status ReplicaKeyOp(const Request& q, Response& r);
  // After a key of ours reached the peers: lock it, or undo it when fewer
  // than min_nodes hold it. Returns the CKR_* answer for the user.
  // queue: the one AddKey wrote the key's outbox entries with.
  uint32_t ReplicateNewKey(const KeyInfo& info, const PeerQueue& queue, bool keep_extractable);
  // The peers a change is queued for (none without a replicator).
  PeerQueue NewQueue() const;
  // The key's record when the session's user owns it; *rv says why not.
  std::optional<KeyRecord> OwnedKey(Session& session, std::string_view key_id, uint32_t* rv);
  // Ends the session's login when the user was deleted or their password
  // changed since (revocation takes effect on the next call).
  void Revalidate(Session& session);

  pkcs11::Token& token_;
  HsmState& state_;
  AuditLog& audit_;
  const Options options_;
  Replicator* replicator_ = nullptr;
};

// A response to op carrying only rv.
Response Reply(Op op, uint32_t rv);
// The CKR_* value for a failed Token or state call.
uint32_t StatusToCkr(const Status& status, Op op);
// "CKR_OK", "CKR_PIN_INCORRECT", ...
std::string RvName(uint32_t rv);

}  // namespace rampart::hsmnet
