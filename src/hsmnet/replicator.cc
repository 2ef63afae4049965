#include "hsmnet/replicator.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <set>

#include "hsmnet/rules.h"
#include "hsmnet/service.h"
#include "pkcs11/p11.h"
#include "rampart/core/log.h"
#include "rampart/core/thread_name.h"

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

const char* KindName(Outbox::Kind kind) {
  switch (kind) {
    case Outbox::Kind::kPutUser: return "PutUser";
    case Outbox::Kind::kDeleteUser: return "DeleteUser";
    case Outbox::Kind::kPutKey: return "PutKey";
    case Outbox::Kind::kDestroyKey: return "DestroyKey";
    case Outbox::Kind::kSetShares: return "SetShares";
  }
  return "unknown";
}

// The refused entries a peer remembers for waiters; older ones are forgotten.
constexpr size_t kRememberedRefusals = 1024;

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
  if (!r->options_.legacy_outbox_path.empty()) {
    ASSIGN_OR_RETURN(int64_t moved, r->outbox_.ImportLegacy(r->options_.legacy_outbox_path));
    if (moved > 0) {
      log::Info("hsm-server: moved the queued changes of the old outbox file into the database",
                {{"entries", std::to_string(moved)}});
    }
  }
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
  // Entries for peers no longer configured would never be delivered.
  ASSIGN_OR_RETURN(int64_t dropped, r->outbox_.KeepOnly(r->options_.peers));
  if (dropped > 0) {
    log::Warn("hsm-server: dropped queued changes for nodes that are no longer peers",
              {{"entries", std::to_string(dropped)}});
  }
  for (auto& peer : r->peers_) {
    ASSIGN_OR_RETURN(peer->enqueued, r->outbox_.LastSeq(peer->node));
  }
  return r;
}

Replicator::~Replicator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& peer : peers_) {
    if (peer->sender.joinable()) peer->sender.join();
  }
}

Response Replicator::Call(Peer& peer, Request q, bool* reached, bool* logged_in) {
  std::lock_guard<std::mutex> lock(peer.mu);
  Response r = CallLocked(peer, std::move(q));
  // The client answers CKR_DEVICE_ERROR with no connection left when the
  // peer did not answer at all.
  if (reached != nullptr) *reached = r.rv != CKR_DEVICE_ERROR || !peer.client->current_node().empty();
  if (logged_in != nullptr) *logged_in = peer.logged_in;
  return r;
}

Response Replicator::CallLocked(Peer& peer, Request q) {
  for (int attempt = 0;; ++attempt) {
    if (!peer.logged_in) {
      Request login;
      login.op = Op::kLogin;
      login.role = Role::kAppliance;
      login.name = options_.user;
      login.password.assign(options_.password.reveal());
      Response r = peer.client->Call(login);
      OPENSSL_cleanse(login.password.data(), login.password.size());
      if (r.rv != CKR_OK) {
        if (!peer.quiet) {
          log::Warn("hsm-server: cannot log in to a peer", {{"peer", peer.node}, {"result", Describe(r)}});
        }
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

Response Replicator::Replica(Peer& peer, ReplicaKind kind, Request q, bool* reached, bool* logged_in) {
  q.op = Op::kReplicate;
  q.scheme = static_cast<uint8_t>(kind);
  Response r = Call(peer, std::move(q), reached, logged_in);
  if (r.rv != CKR_OK && r.rv != CKR_KEY_HANDLE_INVALID && !peer.quiet) {
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

PeerQueue Replicator::NewQueue() const {
  PeerQueue queue;
  for (const auto& peer : peers_) queue.peers.push_back(peer->node);
  return queue;
}

size_t Replicator::KeyPushed(const PeerQueue& queue) {
  size_t applied = 0;
  for (Outcome o : Announce(queue)) applied += o == Outcome::kApplied ? 1 : 0;
  return applied;
}

bool Replicator::Pushed(const PeerQueue& queue) {
  auto outcomes = Announce(queue);
  return std::count(outcomes.begin(), outcomes.end(), Outcome::kRefused) == 0;
}

bool Replicator::PushUserTo(Peer& peer, std::string_view name) {
  auto user = state_.FindUser(name);
  auto hash = state_.PasswordHash(name);
  if (!user.ok() || !*user || !hash.ok() || !*hash) return false;
  Request q;
  q.name = std::string(name);
  q.role = (*user)->role;
  q.data = **hash;
  return Replica(peer, ReplicaKind::kPutUser, std::move(q)).rv == CKR_OK;
}


bool Replicator::PushSharesTo(Peer& peer, std::string_view key_id) {
  auto key = state_.FindKey(key_id);
  if (!key.ok() || !*key) return false;
  Request q;
  q.key_id = std::string(key_id);
  q.data = JoinNames((*key)->shared_with);
  return Replica(peer, ReplicaKind::kSetShares, std::move(q)).rv == CKR_OK;
}


int64_t Replicator::backlog() {
  int64_t total = 0;
  for (auto& peer : peers_) {
    auto n = outbox_.Pending(peer->node);
    total += n.ok() ? *n : 0;
  }
  return total;
}

Status Replicator::LockWhenReplicated(std::string_view key_id) {
  ASSIGN_OR_RETURN(auto key, state_.FindKey(key_id));
  if (!key || key->extractable) return Status::Ok();
  ASSIGN_OR_RETURN(bool owed, outbox_.KeyOwed(key_id));
  if (owed) return Status::Ok();
  return token_.MakeNonExtractable(RefOf(key->info));
}

Status Replicator::PeerHoldsKey(std::string_view node_name, std::string_view key_id) {
  std::string node;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& peer : peers_) {
      if (!node_name.empty() && peer->name == node_name) node = peer->node;
    }
  }
  if (!node.empty()) RETURN_IF_ERROR(outbox_.KeyDelivered(node, key_id));
  ASSIGN_OR_RETURN(auto key, state_.FindKey(key_id));
  if (!key) return Status::Error(ErrorCode::kNotFound, "no such key");
  ASSIGN_OR_RETURN(bool owed, outbox_.KeyOwed(key_id));
  if (owed) return Status::Ok();
  // As before durable pushes: kLockKey locks even a key its owner asked
  // to be extractable (docs/hsm.md, "Not done yet (replication)").
  return token_.MakeNonExtractable(RefOf(key->info));
}

Status Replicator::Start() {
  RETURN_IF_ERROR(FetchClusterKey());
  // What this node still owes its peers goes first: catching up from a
  // peer that lacks this node's last changes would undo them here (a key
  // destroyed here would come back from the peer).
  std::vector<bool> owed;
  for (auto& peer : peers_) owed.push_back(!Drain(*peer));
  bool caught_up = false;
  for (size_t i = 0; i < peers_.size() && !caught_up; ++i) {
    Peer& peer = *peers_[i];
    if (owed[i]) continue;
    Status st = CatchUpFrom(peer);
    caught_up = st.ok();
    if (caught_up) {
      log::Info("hsm-server: caught up from a peer", {{"peer", peer.node}});
    } else {
      log::Warn("hsm-server: cannot catch up from a peer", {{"peer", peer.node}, {"error", st.message()}});
    }
  }
  if (!caught_up && !peers_.empty()) log::Warn("hsm-server: no peer answered; starting without catching up", {});
  std::lock_guard<std::mutex> lock(mu_);
  running_ = true;
  for (auto& peer : peers_) {
    Peer* p = peer.get();
    p->sender = std::thread([this, p] {
      SetCurrentThreadName("hsm-replicate");
      SendLoop(*p);
    });
  }
  return Status::Ok();
}

// --- The outbox and its senders.

std::vector<Replicator::Outcome> Replicator::Announce(const PeerQueue& queue) {
  // No entries (no peers, or a queue this replicator did not make): there
  // is nothing to wait for.
  if (peers_.empty() || queue.seqs.size() != peers_.size()) return {};
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < peers_.size(); ++i) {
      peers_[i]->enqueued = std::max(peers_[i]->enqueued, queue.seqs[i]);
    }
  }
  cv_.notify_all();
  return Await(queue.seqs);
}

Replicator::Outcome Replicator::OutcomeFor(const Peer& peer, int64_t seq) const {
  if (peer.refused.count(seq)) return Outcome::kRefused;
  if (peer.done >= seq) return Outcome::kApplied;
  return Outcome::kQueued;
}

std::vector<Replicator::Outcome> Replicator::Await(const std::vector<int64_t>& seqs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.wait_ms);
  std::unique_lock<std::mutex> lock(mu_);
  // Settled: applied or refused, or a peer not worth waiting for.
  auto settled = [&](size_t i) {
    const Peer& peer = *peers_[i];
    return OutcomeFor(peer, seqs[i]) != Outcome::kQueued || !running_ || stopping_ || peer.failing ||
           peer.stalled;
  };
  auto all_settled = [&] {
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (!settled(i)) return false;
    }
    return true;
  };
  cv_.wait_until(lock, deadline, all_settled);
  std::vector<Outcome> out;
  for (size_t i = 0; i < seqs.size(); ++i) {
    Peer& peer = *peers_[i];
    if (!settled(i)) {
      // The peer accepted a connection but has not answered: requests stop
      // waiting for it until it applies something again.
      peer.stalled = true;
      log::Warn("hsm-server: a peer is slow to apply changes; they stay queued", {{"peer", peer.node}});
    }
    out.push_back(OutcomeFor(peer, seqs[i]));
  }
  return out;
}

void Replicator::SendLoop(Peer& peer) {
  const auto first_backoff = std::chrono::milliseconds(100);
  const auto max_backoff = std::chrono::milliseconds(std::max(100, options_.max_backoff_ms));
  auto backoff = first_backoff;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (peer.enqueued <= peer.done) {
      cv_.wait(lock, [&] { return stopping_ || peer.enqueued > peer.done; });
      continue;
    }
    int64_t enqueued = peer.enqueued;
    lock.unlock();
    Attempt a = SendHead(peer);
    if (a.sent == Sent::kNothing) a.seq = enqueued;  // entries removed by KeyDelivered
    lock.lock();
    Record(peer, a);
    cv_.notify_all();
    bool failed = a.sent != Sent::kApplied && a.sent != Sent::kNothing && !a.dropped;
    if (!failed) {
      backoff = first_backoff;
      continue;
    }
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, max_backoff);
  }
}

void Replicator::Record(Peer& peer, const Attempt& a) {
  bool delivered = a.sent == Sent::kApplied || a.sent == Sent::kNothing || a.dropped;
  if (a.sent == Sent::kEntryRefused || a.sent == Sent::kPeerRefused) {
    peer.refused.insert(a.seq);
    while (peer.refused.size() > kRememberedRefusals) peer.refused.erase(peer.refused.begin());
  }
  if (delivered) {
    peer.done = std::max(peer.done, a.seq);
    if (a.sent != Sent::kNothing) {
      if (peer.failing) log::Info("hsm-server: a peer applies changes again", {{"peer", peer.node}});
      peer.failing = false;
      peer.stalled = false;
      peer.quiet = false;
    }
  } else {
    if (!peer.failing) {
      log::Warn("hsm-server: a peer is behind; its changes stay queued and are retried",
                {{"peer", peer.node}});
    }
    peer.failing = true;
    peer.quiet = true;
  }
}

bool Replicator::Drain(Peer& peer) {
  while (true) {
    Attempt a = SendHead(peer);
    std::lock_guard<std::mutex> lock(mu_);
    if (a.sent == Sent::kNothing) {
      peer.done = peer.enqueued;
      return true;
    }
    Record(peer, a);
    if (a.sent != Sent::kApplied && !a.dropped) return false;
  }
}

Replicator::Attempt Replicator::SendHead(Peer& peer) {
  Attempt a;
  auto head = outbox_.Head(peer.node);
  if (!head.ok()) {
    log::Error("hsm-server: cannot read the outbox", {{"error", head.status().message()}});
    a.sent = Sent::kUnreachable;
    return a;
  }
  if (!*head) return a;
  const Outbox::Entry& entry = **head;
  a.seq = entry.seq;
  a.sent = Deliver(peer, entry);
  if (a.sent == Sent::kApplied) {
    LearnName(peer);
    Status removed = outbox_.Remove(entry.seq);
    if (!removed.ok()) {
      // Delivered again later: every apply is idempotent.
      log::Warn("hsm-server: cannot remove a delivered outbox entry", {{"error", removed.message()}});
    }
    if (entry.kind == Outbox::Kind::kPutKey) {
      Status locked = LockWhenReplicated(entry.name);
      if (!locked.ok()) log::Warn("hsm-server: cannot lock a replicated key", {{"error", locked.message()}});
    }
  } else if (a.sent == Sent::kEntryRefused) {
    auto refusals = outbox_.CountRefusal(entry.seq);
    if (refusals.ok() && *refusals >= options_.max_refusals) {
      log::Error("hsm-server: a peer keeps refusing a change; dropped (it takes it when it next catches up)",
                 {{"peer", peer.node}, {"kind", KindName(entry.kind)}});
      a.dropped = outbox_.Remove(entry.seq).ok();
    }
  }
  return a;
}

// Sends the node's current state for the entry (see outbox.h).
Replicator::Sent Replicator::Deliver(Peer& peer, const Outbox::Entry& entry) {
  Request q;
  switch (entry.kind) {
    case Outbox::Kind::kPutUser: {
      auto user = state_.FindUser(entry.name);
      auto hash = state_.PasswordHash(entry.name);
      if (!user.ok() || !hash.ok()) return Sent::kUnreachable;
      if (!*user || !*hash) return Sent::kApplied;  // deleted since: a kDeleteUser entry follows
      q.name = entry.name;
      q.role = (*user)->role;
      q.data = **hash;
      return Classify(peer, ReplicaKind::kPutUser, std::move(q));
    }
    case Outbox::Kind::kDeleteUser:
      q.name = entry.name;
      return Classify(peer, ReplicaKind::kDeleteUser, std::move(q));
    case Outbox::Kind::kPutKey: return DeliverKey(peer, entry.name);
    case Outbox::Kind::kDestroyKey:
      q.key_id = entry.name;
      return Classify(peer, ReplicaKind::kDestroyKey, std::move(q));
    case Outbox::Kind::kSetShares: {
      auto key = state_.FindKey(entry.name);
      if (!key.ok()) return Sent::kUnreachable;
      if (!*key) return Sent::kApplied;  // destroyed since: a kDestroyKey entry follows
      q.key_id = entry.name;
      q.data = JoinNames((*key)->shared_with);
      return Classify(peer, ReplicaKind::kSetShares, std::move(q));
    }
  }
  return Sent::kApplied;
}

Replicator::Sent Replicator::DeliverKey(Peer& peer, const std::string& key_id) {
  auto key = state_.FindKey(key_id);
  if (!key.ok()) return Sent::kUnreachable;
  if (!*key) return Sent::kApplied;  // destroyed since: a kDestroyKey entry follows
  auto wrapped = WrapLocal((*key)->info);
  if (wrapped.ok()) {
    Request q;
    const KeyInfo& info = (*key)->info;
    q.key_id = info.key_id;
    q.name = info.owner;
    q.label = info.label;
    q.app_id = info.app_id;
    q.algorithm = info.algorithm;
    q.usage = info.usage;
    q.data = std::move(wrapped->first);
    q.public_key = std::move(wrapped->second);
    return Classify(peer, ReplicaKind::kPutKey, std::move(q));
  }
  // Locked here already (e.g. by an older node's kLockKey): done if the
  // peer holds it, else it can no longer be sent from here.
  Request get;
  get.key_id = key_id;
  bool reached = false;
  Response there = Replica(peer, ReplicaKind::kGetKey, std::move(get), &reached);
  if (!reached) return Sent::kUnreachable;
  if (there.rv == CKR_OK && there.flag == 0) return Sent::kApplied;
  log::Warn("hsm-server: a queued key cannot be wrapped for a peer",
            {{"peer", peer.node}, {"error", wrapped.status().message()}});
  return Sent::kEntryRefused;
}

Replicator::Sent Replicator::Classify(Peer& peer, ReplicaKind kind, Request q) {
  bool reached = false;
  bool logged_in = false;
  Response r = Replica(peer, kind, std::move(q), &reached, &logged_in);
  if (!reached) return Sent::kUnreachable;
  if (!logged_in) return Sent::kPeerRefused;
  return r.rv == CKR_OK ? Sent::kApplied : Sent::kEntryRefused;
}

// The peer's Hello name, which it sends with kLockKey (PeerHoldsKey).
void Replicator::LearnName(Peer& peer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!peer.name.empty()) return;
  }
  Request hello;
  hello.op = Op::kHello;
  Response r = Call(peer, hello);
  if (r.rv != CKR_OK || r.node_name.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  peer.name = r.node_name;
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
        RETURN_IF_ERROR(outbox_.KeyDelivered(peer.node, key.key_id));
        Status locked = LockWhenReplicated(key.key_id);
        if (!locked.ok()) log::Warn("hsm-server: cannot lock a replicated key", {{"error", locked.message()}});
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
    // The peer kept the key extractable for the nodes it still owes it;
    // our name tells it that we are no longer one of them.
    Request lock;
    lock.key_id = key.key_id;
    lock.data = options_.node_name;
    Replica(peer, ReplicaKind::kLockKey, std::move(lock));
  }
  Request get;
  get.key_id = key.key_id;
  Response shares = Replica(peer, ReplicaKind::kGetKey, std::move(get));
  if (shares.rv != CKR_OK || shares.flag == 1) return Status::Ok();
  return state_.SetShares(key.key_id, SplitNames(shares.data));
}

}  // namespace rampart::hsmnet
