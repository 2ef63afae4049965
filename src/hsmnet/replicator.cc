#include "hsmnet/replicator.h"

#include <set>

#include "hsmnet/rules.h"
#include "hsmnet/service.h"
#include "pkcs11/p11.h"
#include "rampart/core/log.h"

namespace rampart::hsmnet {
namespace {

using pkcs11::KeyAlgorithm;
using pkcs11::KeyKind;

constexpr std::string_view kClusterKeyLabel = "rampart-hsmnet-cluster-key";
constexpr std::string_view kTransportKeyId = "rampart-hsmnet-transport";

pkcs11::KeySpec ClusterKeySpec() {
  pkcs11::KeySpec spec;
  spec.algorithm = KeyAlgorithm::kAes256;
  spec.label = std::string(kClusterKeyLabel);
  spec.id = std::string(kClusterKeyId);
  spec.usage.wrap = true;
  // Extractable only under a transport key, for a node that joins later.
  spec.extractable = true;
  return spec;
}

bool IsPair(KeyKind kind) { return kind == KeyKind::kEcPrivate || kind == KeyKind::kRsaPrivate; }

pkcs11::KeyRef RefOf(const KeyInfo& key) { return {key.key_id, static_cast<KeyKind>(key.kind)}; }

std::string Describe(const Response& r) { return RvName(r.rv); }

}  // namespace

std::vector<std::string> SplitNames(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    size_t nl = joined.find('\n');
    std::string_view name = joined.substr(0, nl);
    if (!name.empty()) out.emplace_back(name);
    if (nl == std::string_view::npos) break;
    joined.remove_prefix(nl + 1);
  }
  return out;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out.push_back('\n');
    out += n;
  }
  return out;
}

pkcs11::KeyRef ClusterKeyRef() { return {std::string(kClusterKeyId), KeyKind::kAes}; }

Status InstallReplicaKey(pkcs11::Token& token, HsmState& state, const KeyInfo& key,
                         std::string_view wrapped, std::string_view public_key, bool extractable) {
  ASSIGN_OR_RETURN(auto existing, state.FindKey(key.key_id));
  if (existing) {
    // The same key sent again is fine; another key under its id is not
    // (it would leave this node answering for a different key).
    const KeyInfo& have = existing->info;
    if (have.owner == key.owner && have.kind == key.kind && have.algorithm == key.algorithm) {
      return Status::Ok();
    }
    return Status::Validation("a different key with this id exists on this node");
  }
  pkcs11::KeySpec spec;
  spec.algorithm = static_cast<KeyAlgorithm>(key.algorithm);
  spec.label = key.label.empty() ? "rampart-hsmnet" : key.label;
  spec.id = key.key_id;
  KeyKind kind = static_cast<KeyKind>(key.kind);
  spec.usage = UsageFor(kind, key.usage);
  spec.extractable = extractable;
  auto ref = IsPair(kind) ? token.UnwrapKeyPair(ClusterKeyRef(), wrapped, public_key, spec)
                          : token.UnwrapKey(ClusterKeyRef(), wrapped, spec);
  if (!ref.ok()) return ref.status();
  KeyInfo info = key;
  info.usage = UsageBits(spec.usage);
  info.label = spec.label;
  Status st = state.AddKey(info);
  if (!st.ok()) (void)token.DestroyKey(*ref);
  return st;
}

Result<std::unique_ptr<Replicator>> Replicator::Create(pkcs11::Token& token, HsmState& state,
                                                       Options options) {
  std::unique_ptr<Replicator> r(new Replicator(token, state, std::move(options)));
  for (const std::string& node : r->options_.peers) {
    ClientConfig config;
    config.nodes = {node};
    config.cert_file = r->options_.cert_file;
    config.key_file = r->options_.key_file;
    config.ca_file = r->options_.ca_file;
    config.timeout_ms = r->options_.timeout_ms;
    config.connect_timeout_ms = r->options_.connect_timeout_ms;
    config.learn_nodes = false;  // a peer is one node; never fail over to another
    std::string error;
    auto client = Client::Create(std::move(config), &error);
    if (!client) return Status::Validation("peer " + node + ": " + error);
    auto peer = std::make_unique<Peer>();
    peer->node = node;
    peer->client = std::move(client);
    r->peers_.push_back(std::move(peer));
  }
  return r;
}

Response Replicator::Call(Peer& peer, Request q, bool* reached) {
  std::lock_guard<std::mutex> lock(peer.mu);
  Response r = CallLocked(peer, std::move(q));
  // The client answers CKR_DEVICE_ERROR with no connection left when the
  // peer did not answer at all.
  if (reached != nullptr) *reached = r.rv != CKR_DEVICE_ERROR || !peer.client->current_node().empty();
  return r;
}

Response Replicator::CallLocked(Peer& peer, Request q) {
  for (int attempt = 0;; ++attempt) {
    if (!peer.logged_in) {
      Request login;
      login.op = Op::kLogin;
      login.role = Role::kAppliance;
      login.name = options_.user;
      login.password = options_.password;
      Response r = peer.client->Call(login);
      if (r.rv != CKR_OK) {
        log::Warn("hsm-server: cannot log in to a peer", {{"peer", peer.node}, {"result", Describe(r)}});
        return r;
      }
      peer.logged_in = true;
    }
    Response r = peer.client->Call(q);
    // The peer ended our session (its copy of the AU's record changed):
    // log in once more.
    if (r.rv != CKR_USER_NOT_LOGGED_IN || attempt > 0) return r;
    peer.logged_in = false;
  }
}

Response Replicator::Replica(Peer& peer, ReplicaKind kind, Request q, bool* reached) {
  q.op = Op::kReplicate;
  q.scheme = static_cast<uint8_t>(kind);
  Response r = Call(peer, std::move(q), reached);
  if (r.rv != CKR_OK && r.rv != CKR_KEY_HANDLE_INVALID) {
    log::Warn("hsm-server: replication to a peer failed",
              {{"peer", peer.node}, {"kind", std::to_string(static_cast<int>(kind))}, {"result", Describe(r)}});
  }
  return r;
}

Result<std::pair<std::string, std::string>> Replicator::WrapLocal(const KeyInfo& key) {
  pkcs11::KeyRef ref = RefOf(key);
  ASSIGN_OR_RETURN(std::string wrapped, token_.WrapKey(ClusterKeyRef(), ref));
  std::string public_key;
  if (IsPair(ref.kind)) {
    ASSIGN_OR_RETURN(public_key, token_.PublicKeyDer(ref));
  }
  return std::make_pair(std::move(wrapped), std::move(public_key));
}

bool Replicator::SendKey(Peer& peer, const KeyInfo& key, const std::string& wrapped,
                         const std::string& public_key) {
  Request q;
  q.key_id = key.key_id;
  q.name = key.owner;
  q.label = key.label;
  q.app_id = key.app_id;
  q.algorithm = key.algorithm;
  q.usage = key.usage;
  q.data = wrapped;
  q.public_key = public_key;
  return Replica(peer, ReplicaKind::kPutKey, std::move(q)).rv == CKR_OK;
}

size_t Replicator::PushKey(const KeyInfo& key) {
  if (peers_.empty()) return 0;
  auto wrapped = WrapLocal(key);
  if (!wrapped.ok()) {
    log::Warn("hsm-server: cannot wrap a key for the peers", {{"error", wrapped.status().message()}});
    return 0;
  }
  size_t reached = 0;
  for (auto& peer : peers_) reached += SendKey(*peer, key, wrapped->first, wrapped->second) ? 1 : 0;
  return reached;
}

bool Replicator::PushUserTo(Peer& peer, std::string_view name, bool* reached) {
  auto user = state_.FindUser(name);
  auto hash = state_.PasswordHash(name);
  if (!user.ok() || !*user || !hash.ok() || !*hash) return false;
  Request q;
  q.name = std::string(name);
  q.role = (*user)->role;
  q.data = **hash;
  return Replica(peer, ReplicaKind::kPutUser, std::move(q), reached).rv == CKR_OK;
}

bool Replicator::PushUser(std::string_view name) {
  bool applied = true;
  for (auto& peer : peers_) {
    bool reached = false;
    if (!PushUserTo(*peer, name, &reached) && reached) applied = false;
  }
  return applied;
}

bool Replicator::PushUserDeleted(std::string_view name) {
  bool applied = true;
  for (auto& peer : peers_) {
    Request q;
    q.name = std::string(name);
    bool reached = false;
    if (Replica(*peer, ReplicaKind::kDeleteUser, std::move(q), &reached).rv != CKR_OK && reached) applied = false;
  }
  return applied;
}

void Replicator::PushKeyDestroyed(std::string_view key_id) {
  for (auto& peer : peers_) {
    Request q;
    q.key_id = std::string(key_id);
    Replica(*peer, ReplicaKind::kDestroyKey, std::move(q));
  }
}

bool Replicator::PushSharesTo(Peer& peer, std::string_view key_id) {
  auto key = state_.FindKey(key_id);
  if (!key.ok() || !*key) return false;
  Request q;
  q.key_id = std::string(key_id);
  q.data = JoinNames((*key)->shared_with);
  return Replica(peer, ReplicaKind::kSetShares, std::move(q)).rv == CKR_OK;
}

void Replicator::PushShares(std::string_view key_id) {
  for (auto& peer : peers_) PushSharesTo(*peer, key_id);
}

Status Replicator::Start() {
  RETURN_IF_ERROR(FetchClusterKey());
  for (auto& peer : peers_) {
    Status st = CatchUpFrom(*peer);
    if (st.ok()) {
      log::Info("hsm-server: caught up from a peer", {{"peer", peer->node}});
      return Status::Ok();
    }
    log::Warn("hsm-server: cannot catch up from a peer", {{"peer", peer->node}, {"error", st.message()}});
  }
  if (!peers_.empty()) log::Warn("hsm-server: no peer answered; starting without catching up", {});
  return Status::Ok();
}

Status Replicator::FetchClusterKey() {
  if (token_.CheckKey(ClusterKeyRef()).ok()) return Status::Ok();
  std::vector<std::string> silent;  // peers that did not say whether they hold one
  for (auto& peer : peers_) {
    bool none = false;
    Status st = FetchClusterKeyFrom(*peer, &none);
    if (st.ok()) {
      log::Info("hsm-server: received the cluster wrapping key", {{"peer", peer->node}});
      return Status::Ok();
    }
    if (!none) silent.push_back(peer->node + " (" + st.message() + ")");
  }
  // Making a key while a peer that may hold one is silent would split the
  // cluster: its keys could never reach this node nor ours it.
  if (!silent.empty() && !options_.bootstrap) {
    std::string names;
    for (const std::string& s : silent) names += (names.empty() ? "" : ", ") + s;
    return Status::Error(ErrorCode::kUnavailable,
                         "this node has no cluster wrapping key and these peers did not say whether they "
                         "hold one: " + names + "; start a node that holds it first, or set "
                         "bootstrap_cluster on the first node of a new cluster");
  }
  log::Warn("hsm-server: no peer holds a cluster wrapping key; making one",
            {{"silent_peers", std::to_string(silent.size())}});
  return token_.GenerateKey(ClusterKeySpec()).status();
}

Status Replicator::FetchClusterKeyFrom(Peer& peer, bool* none) {
  // A fresh RSA transport pair in our token; the peer wraps the cluster
  // key under its public half, and only our token can unwrap it.
  pkcs11::KeyRef stale{std::string(kTransportKeyId), KeyKind::kRsaPrivate};
  (void)token_.DestroyKey(stale);
  pkcs11::KeySpec transport;
  transport.algorithm = KeyAlgorithm::kRsa3072;
  transport.label = "rampart-hsmnet-transport";
  transport.id = std::string(kTransportKeyId);
  transport.usage.wrap = true;
  ASSIGN_OR_RETURN(pkcs11::KeyRef pair, token_.GenerateKey(transport));
  auto carry = [&]() -> Status {
    Request q;
    ASSIGN_OR_RETURN(q.public_key, token_.PublicKeyDer(pair));
    Response r = Replica(peer, ReplicaKind::kWrapClusterKeyFor, std::move(q));
    // The peer answered, and its token has no cluster key.
    *none = r.rv == CKR_KEY_HANDLE_INVALID;
    if (r.rv != CKR_OK) return Status::Error(ErrorCode::kUnavailable, peer.node + ": " + Describe(r));
    return token_.UnwrapKey(pair, r.data, ClusterKeySpec()).status();
  };
  Status st = carry();
  (void)token_.DestroyKey(pair);  // the pair served one ceremony
  return st;
}

Status Replicator::CatchUpFrom(Peer& peer) {
  std::vector<std::string> gone_users;
  RETURN_IF_ERROR(CatchUpUsers(peer, &gone_users));
  RETURN_IF_ERROR(CatchUpKeys(peer));
  // Users deleted on the peer while we were away; their keys were deleted
  // before them, so CatchUpKeys has removed those already.
  for (const std::string& name : gone_users) RETURN_IF_ERROR(state_.RemoveUser(name));
  return Status::Ok();
}

Status Replicator::CatchUpUsers(Peer& peer, std::vector<std::string>* gone) {
  Request list;
  list.op = Op::kListUsers;
  Response users = Call(peer, list);
  if (users.rv != CKR_OK) return Status::Error(ErrorCode::kUnavailable, "ListUsers: " + Describe(users));
  std::set<std::string> theirs;
  for (const UserInfo& u : users.users) {
    theirs.insert(u.name);
    Request q;
    q.name = u.name;
    Response hash = Replica(peer, ReplicaKind::kGetUser, std::move(q));
    if (hash.rv != CKR_OK || hash.flag == 1) continue;  // deleted meanwhile
    RETURN_IF_ERROR(state_.PutUser(u.name, u.role, hash.data));
  }
  ASSIGN_OR_RETURN(auto ours, state_.ListUsers());
  for (const UserInfo& u : ours) {
    if (theirs.count(u.name)) continue;
    Request q;
    q.name = u.name;
    Response there = Replica(peer, ReplicaKind::kGetUser, std::move(q));
    if (there.rv == CKR_OK && there.flag == 1) {
      gone->push_back(u.name);
    } else if (there.rv == CKR_KEY_HANDLE_INVALID) {
      PushUserTo(peer, u.name);  // made here while the peer was away
    }
  }
  return Status::Ok();
}

Result<std::vector<KeyInfo>> Replicator::PeerKeys(Peer& peer) {
  std::vector<KeyInfo> out;
  Request q;
  q.op = Op::kListKeys;
  while (out.size() < kMaxListed) {
    Response page = Call(peer, q);
    if (page.rv != CKR_OK) return Status::Error(ErrorCode::kUnavailable, "ListKeys: " + Describe(page));
    for (auto& k : page.keys) out.push_back(std::move(k));
    if (page.flag == 0 || page.keys.empty()) break;
    q.key_id = out.back().key_id;
  }
  return out;
}

Status Replicator::CatchUpKeys(Peer& peer) {
  ASSIGN_OR_RETURN(std::vector<KeyInfo> theirs, PeerKeys(peer));
  std::set<std::string> their_ids;
  for (const KeyInfo& key : theirs) {
    their_ids.insert(key.key_id);
    RETURN_IF_ERROR(CatchUpKey(peer, key));
  }
  ASSIGN_OR_RETURN(auto ours, state_.ListKeys("", true));
  for (const KeyInfo& key : ours) {
    if (their_ids.count(key.key_id)) continue;
    Request q;
    q.key_id = key.key_id;
    Response there = Replica(peer, ReplicaKind::kGetKey, std::move(q));
    if (there.rv == CKR_OK && there.flag == 1) {
      // Destroyed on the peer while we were away.
      Status st = token_.DestroyKey(RefOf(key));
      if (!st.ok() && st.code() != ErrorCode::kNotFound) return st;
      RETURN_IF_ERROR(state_.DeleteKey(key.key_id));
    } else if (there.rv == CKR_KEY_HANDLE_INVALID) {
      // Made here while the peer was away (and so still extractable here).
      auto wrapped = WrapLocal(key);
      if (wrapped.ok() && SendKey(peer, key, wrapped->first, wrapped->second)) {
        (void)PushSharesTo(peer, key.key_id);
        (void)token_.MakeNonExtractable(RefOf(key));
      }
    }
  }
  return Status::Ok();
}

// One key the peer holds: copy it here when we lack it, then take its
// share list.
Status Replicator::CatchUpKey(Peer& peer, const KeyInfo& key) {
  ASSIGN_OR_RETURN(auto ours, state_.FindKey(key.key_id));
  if (!ours) {
    // Made while we were away: the peer kept it extractable for us.
    Request wrap;
    wrap.key_id = key.key_id;
    Response w = Replica(peer, ReplicaKind::kWrapKey, std::move(wrap));
    if (w.rv != CKR_OK) {
      log::Warn("hsm-server: a peer's key cannot be copied here", {{"peer", peer.node}});
      return Status::Ok();
    }
    RETURN_IF_ERROR(InstallReplicaKey(token_, state_, key, w.data, w.public_key, false));
    Request lock;
    lock.key_id = key.key_id;
    Replica(peer, ReplicaKind::kLockKey, std::move(lock));
  }
  Request get;
  get.key_id = key.key_id;
  Response shares = Replica(peer, ReplicaKind::kGetKey, std::move(get));
  if (shares.rv != CKR_OK || shares.flag == 1) return Status::Ok();
  return state_.SetShares(key.key_id, SplitNames(shares.data));
}

}  // namespace rampart::hsmnet
