// The network HSM's replication operations (service.h).
// - WrapKey, WrapKeyWithPublicKey, UnwrapKey, SetNonExtractable: a crypto
//   user moves its own keys between tokens wrapped under a key it also
//   owns, and locks them afterwards. This is what lets a node be a member
//   of an hsm::Cluster (NetToken, docs/hsm.md "A node as a cluster member").
// - Replicate: a peer node's appliance user copies keys (under the cluster
//   wrapping key), users (as hashes), shares and deletions to this node
//   (Replicator, docs/hsm.md "Replication between nodes").
#include <algorithm>
#include <string>
#include <utility>

#include "hsmnet/replicator.h"
#include "hsmnet/rules.h"
#include "hsmnet/service.h"
#include "pkcs11/p11.h"
#include "rampart/core/log.h"

namespace rampart::hsmnet {
namespace {

using pkcs11::KeyAlgorithm;
using pkcs11::KeyKind;

pkcs11::KeyRef RefOf(const KeyRecord& key) {
  return {key.info.key_id, static_cast<KeyKind>(key.info.kind)};
}

bool IsPair(KeyKind kind) { return kind == KeyKind::kEcPrivate || kind == KeyKind::kRsaPrivate; }

// Deletes a new key that did not reach enough nodes and queues its
// destruction for the peers. The destruction is queued even when the key's
// row cannot be deleted here (the database is busy or failing): a peer that
// applied the key must not keep a key whose creation the client was told
// failed. The row left here names a token key that is gone, so every use
// of it fails.
void TakeBackNewKey(HsmState& state, Replicator& replicator, PeerQueue queue, const std::string& key_id) {
  Status deleted = state.DeleteKey(key_id, &queue);
  if (!deleted.ok()) {
    log::Error("hsm-server: cannot delete a new key that did not reach enough nodes; "
               "destroying it on the peers anyway",
               {{"error", deleted.message()}});
    auto seqs = state.outbox().Add(queue.peers, Outbox::Kind::kDestroyKey, key_id);
    if (!seqs.ok()) {
      log::Error("hsm-server: cannot queue the destruction of a new key for the peers",
                 {{"error", seqs.status().message()}});
      return;
    }
    queue.seqs = std::move(*seqs);
  }
  (void)replicator.Pushed(queue);
}

// kGetUser/kGetKey of a name this node does not hold: OK with flag 1 when
// it was deleted here, kNotFound when it never existed here.
Status Gone(HsmState& state, bool key, std::string_view name, Response& r) {
  ASSIGN_OR_RETURN(bool deleted, state.WasDeleted(key, name));
  if (!deleted) return Status::Error(ErrorCode::kNotFound, "not known here");
  r.flag = 1;
  return Status::Ok();
}

}  // namespace

std::optional<KeyRecord> Service::OwnedKey(Session& session, std::string_view key_id, uint32_t* rv) {
  auto found = state_.FindKey(key_id);
  if (!found.ok()) {
    *rv = CKR_DEVICE_ERROR;
    return std::nullopt;
  }
  if (!*found) {
    *rv = CKR_KEY_HANDLE_INVALID;
    return std::nullopt;
  }
  KeyRelation relation;
  relation.owner = (*found)->info.owner == session.user->name;
  for (const auto& s : (*found)->shared_with) relation.shared = relation.shared || s == session.user->name;
  // Moving a key out of the token is the owner's alone, like destroying it.
  *rv = CheckKeyAction(relation, KeyAction::kDestroy);
  if (*rv != CKR_OK) return std::nullopt;
  return std::move(**found);
}

Response Service::Replication(Session& session, const Request& q) {
  if (q.op == Op::kUnwrapKey) return UnwrapKey(session, q);
  uint32_t rv = CKR_OK;
  std::optional<KeyRecord> key = OwnedKey(session, q.key_id, &rv);
  Response r = Reply(q.op, rv);
  if (key && q.op == Op::kSetNonExtractable) {
    // With peers, the token's copy stays extractable (under the cluster
    // key only) until every peer holds it; the record already forbids the
    // owner to wrap it.
    Status st = state_.ClearExtractable(q.key_id);
    if (st.ok()) {
      st = replicator_ != nullptr ? replicator_->LockWhenReplicated(q.key_id)
                                  : token_.MakeNonExtractable(RefOf(*key));
    }
    if (!st.ok()) r = Reply(q.op, StatusToCkr(st, q.op));
  } else if (key) {
    r = WrapOwnedKey(session, q, *key);
  }
  audit_.Record(session.peer, session.user->name, q.op, q.key_id, r.rv);
  return r;
}

// WrapKey and WrapKeyWithPublicKey of a key the session's user owns. The
// token may hold the key extractable only so that it can reach the peers;
// what the owner asked for is the record's flag.
Response Service::WrapOwnedKey(Session& session, const Request& q, const KeyRecord& key) {
  if (!key.extractable) return Reply(q.op, CKR_KEY_UNEXTRACTABLE);
  uint32_t rv = CKR_OK;
  Result<std::string> wrapped = Status::Internal("not wrapped");
  if (q.op == Op::kWrapKey) {
    std::optional<KeyRecord> wrapping = OwnedKey(session, q.wrapping_key_id, &rv);
    if (!wrapping) return Reply(q.op, rv);
    wrapped = token_.WrapKey(RefOf(*wrapping), RefOf(key));
  } else {
    wrapped = token_.WrapKeyWithPublicKey(q.public_key, RefOf(key));
  }
  if (!wrapped.ok()) return Reply(q.op, StatusToCkr(wrapped.status(), q.op));
  Response r = Reply(q.op, CKR_OK);
  r.data = std::move(*wrapped);
  return r;
}

Response Service::UnwrapKey(Session& session, const Request& q) {
  uint32_t rv = CKR_OK;
  std::optional<KeyRecord> wrapping = OwnedKey(session, q.wrapping_key_id, &rv);
  if (wrapping && IsReservedKeyId(q.key_id)) {
    wrapping.reset();
    rv = CKR_ATTRIBUTE_VALUE_INVALID;
  }
  KeyInfo info;
  if (wrapping) {
    pkcs11::KeySpec spec;
    spec.algorithm = static_cast<KeyAlgorithm>(q.algorithm);
    spec.label = q.label.empty() ? "rampart-hsmnet" : q.label;
    spec.id = q.key_id;
    KeyKind kind = pkcs11::KindOfAlgorithm(spec.algorithm);
    spec.usage = UsageFor(kind, q.usage);
    // As GenerateKey: extractable in the token until the peers hold it.
    spec.extractable = q.flag == 1 || replicator_ != nullptr;
    bool pair = kind == KeyKind::kEcPrivate || kind == KeyKind::kRsaPrivate;
    auto ref = pair ? token_.UnwrapKeyPair(RefOf(*wrapping), q.data, q.public_key, spec)
                    : token_.UnwrapKey(RefOf(*wrapping), q.data, spec);
    rv = ref.ok() ? CKR_OK : StatusToCkr(ref.status(), q.op);
    if (ref.ok()) {
      info.key_id = ref->id;
      info.kind = static_cast<uint8_t>(kind);
      info.algorithm = q.algorithm;
      info.usage = UsageBits(spec.usage);
      info.label = spec.label;
      info.app_id = ref->id;
      info.owner = session.user->name;
      info.owned = true;
      PeerQueue queue = NewQueue();
      if (!state_.AddKey(info, q.flag == 1, &queue).ok()) {
        (void)token_.DestroyKey(*ref);
        rv = CKR_DEVICE_ERROR;
      } else if (replicator_ != nullptr) {
        rv = ReplicateNewKey(info, queue, q.flag == 1);
      }
    }
  }
  audit_.Record(session.peer, session.user->name, q.op, info.key_id, rv);
  Response r = Reply(q.op, rv);
  if (rv == CKR_OK) r.keys.push_back(std::move(info));
  return r;
}

Response Service::Replica(Session& session, const Request& q) {
  // Login already refuses the AU elsewhere; checked again so that no path
  // to a logged-in AU session can replicate into a node without peers.
  if (replicator_ == nullptr || !session.replication_peer) {
    audit_.Record(session.peer, session.user->name, q.op, q.key_id, CKR_ACTION_PROHIBITED, q.name);
    return Reply(q.op, CKR_ACTION_PROHIBITED);
  }
  auto kind = static_cast<ReplicaKind>(q.scheme);
  Response r = Reply(q.op, CKR_OK);
  Status st;
  switch (kind) {
    case ReplicaKind::kWrapClusterKeyFor: {
      auto wrapped = token_.WrapKeyWithPublicKey(q.public_key, ClusterKeyRef());
      st = wrapped.status();
      if (wrapped.ok()) r.data = std::move(*wrapped);
      break;
    }
    case ReplicaKind::kPutKey: {
      KeyInfo info;
      info.key_id = q.key_id;
      info.algorithm = q.algorithm;
      info.kind = static_cast<uint8_t>(pkcs11::KindOfAlgorithm(static_cast<KeyAlgorithm>(q.algorithm)));
      info.usage = q.usage;
      info.label = q.label;
      info.app_id = q.app_id.empty() ? q.key_id : q.app_id;
      info.owner = q.name;
      st = q.key_id.empty() || IsReservedKeyId(q.key_id) || !ValidUserName(q.name)
               ? Status::Validation("a replicated key needs a client key id and a valid owner")
               : InstallReplicaKey(token_, state_, info, q.data, q.public_key, false);
      break;
    }
    case ReplicaKind::kPutUser: st = state_.PutUser(q.name, q.role, q.data); break;
    case ReplicaKind::kGetUser: {
      auto hash = state_.PasswordHash(q.name);
      st = hash.status();
      if (hash.ok() && *hash) r.data = std::move(**hash);
      if (hash.ok() && !*hash) st = Gone(state_, false, q.name, r);
      break;
    }
    case ReplicaKind::kDeleteUser: st = state_.RemoveUser(q.name); break;
    default: st = ReplicaKeyOp(q, r); break;
  }
  uint32_t rv = st.ok() ? CKR_OK : StatusToCkr(st, q.op);
  audit_.Record(session.peer, session.user->name, q.op, q.key_id, rv, q.name);
  if (rv != CKR_OK) return Reply(q.op, rv);
  return r;
}

// The Replicate kinds that act on an existing key of this node.
Status Service::ReplicaKeyOp(const Request& q, Response& r) {
  auto kind = static_cast<ReplicaKind>(q.scheme);
  ASSIGN_OR_RETURN(std::optional<KeyRecord> found, state_.FindKey(q.key_id));
  if (!found) {
    // Destroying a key that is already gone is what the peer wanted.
    if (kind == ReplicaKind::kDestroyKey) return Status::Ok();
    if (kind == ReplicaKind::kGetKey) return Gone(state_, true, q.key_id, r);
    return Status::Error(ErrorCode::kNotFound, "no such key");
  }
  pkcs11::KeyRef ref = RefOf(*found);
  switch (kind) {
    case ReplicaKind::kWrapKey: {
      ASSIGN_OR_RETURN(r.data, token_.WrapKey(ClusterKeyRef(), ref));
      if (IsPair(ref.kind)) {
        ASSIGN_OR_RETURN(r.public_key, token_.PublicKeyDer(ref));
      }
      return Status::Ok();
    }
    case ReplicaKind::kLockKey:
      // data: the calling node's name (it now holds the key). The key is
      // locked only once no other peer is still owed it.
      if (q.data.size() > kMaxNodeName) return Status::Validation("node name too long");
      return replicator_->PeerHoldsKey(q.data, q.key_id);
    case ReplicaKind::kDestroyKey: {
      Status st = token_.DestroyKey(ref);
      if (!st.ok() && st.code() != ErrorCode::kNotFound) return st;
      return state_.DeleteKey(q.key_id);
    }
    case ReplicaKind::kSetShares: return state_.SetShares(q.key_id, SplitNames(q.data));
    case ReplicaKind::kGetKey:
      r.data = JoinNames(found->shared_with);
      return Status::Ok();
    default: return Status::Validation("not a key replication request");
  }
}

// The key is queued for every peer (durably) and the request waits a
// bounded time for them (Replicator::Options::wait_ms): the user gets it
// once min_nodes nodes hold it, as CloudHSM's key availability check.
uint32_t Service::ReplicateNewKey(const KeyInfo& info, const PeerQueue& queue, bool keep_extractable) {
  size_t holders = 1 + replicator_->KeyPushed(queue);
  pkcs11::KeyRef ref{info.key_id, static_cast<KeyKind>(info.kind)};
  if (holders < replicator_->min_nodes()) {
    // Not available as configured: take it back everywhere. Queued copies
    // not yet sent find the key gone and send nothing.
    (void)token_.DestroyKey(ref);
    TakeBackNewKey(state_, *replicator_, NewQueue(), info.key_id);
    return CKR_DEVICE_ERROR;
  }
  // Until every peer holds it the key stays extractable, so that the
  // outbox can still wrap it for a peer that is behind; the sender locks
  // it after the last delivery.
  if (!keep_extractable) {
    Status st = replicator_->LockWhenReplicated(info.key_id);
    if (!st.ok()) log::Warn("hsm-server: cannot lock a replicated key", {{"error", st.message()}});
  }
  return CKR_OK;
}

}  // namespace rampart::hsmnet
