// hsm::Cluster: replication under the cluster wrapping key, the key
// availability check and member failover (include/rampart/hsm/cluster.h).
#include "rampart/hsm/cluster.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

namespace rampart::hsm {
namespace {

using pkcs11::KeyAlgorithm;
using pkcs11::KeyKind;
using pkcs11::KeyRef;
using pkcs11::KeySpec;
using pkcs11::Token;

constexpr std::string_view kWrappingKeyLabel = "rampart-cluster-wrap";
constexpr std::string_view kTransportLabel = "rampart-transport";

bool FailsOver(const Status& st) {
  return st.code() == ErrorCode::kUnavailable || st.code() == ErrorCode::kNotFound;
}

bool IsSecret(KeyAlgorithm a) { return a == KeyAlgorithm::kAes256 || a == KeyAlgorithm::kHmacSha256; }

// How often operations probe members that are down.
constexpr int64_t kProbeIntervalMs = 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The KeySpec of a replica of a listed key.
KeySpec ReplicaSpec(const pkcs11::KeyListing& k) {
  KeySpec spec;
  spec.algorithm = k.algorithm;
  spec.label = k.label;
  spec.id = k.ref.id;
  spec.usage = k.usage;
  spec.extractable = false;
  return spec;
}

// One key as seen across the members during a resync.
struct Seen {
  pkcs11::KeyListing listing;     // from the first member that lists it
  std::vector<size_t> holders;    // member indexes
};

KeySpec WrappingKeySpec(std::string id) {
  KeySpec spec;
  spec.algorithm = KeyAlgorithm::kAes256;
  spec.label = std::string(kWrappingKeyLabel);
  spec.id = std::move(id);
  spec.usage.wrap = true;
  // Extractable so that a member added later can receive it by the
  // transport ceremony (docs/hsm.md, "Trust model").
  spec.extractable = true;
  return spec;
}

std::string AvailabilityMessage(std::string_view cluster, size_t holders, size_t wanted) {
  return "key availability check failed in " + std::string(cluster) + ": the key exists on " +
         std::to_string(holders) + " member(s), " + std::to_string(wanted) + " required";
}

}  // namespace

Result<std::unique_ptr<Cluster>> Cluster::Create(ClusterOptions options,
                                                 std::vector<Member> members) {
  if (members.empty()) return Status::Validation("a cluster needs at least one member");
  if (options.min_members < 1 || options.min_members > members.size()) {
    return Status::Validation("min_members must be between 1 and the number of members");
  }
  return std::unique_ptr<Cluster>(new Cluster(std::move(options), std::move(members)));
}

Cluster::Cluster(ClusterOptions options, std::vector<Member> members)
    : options_(std::move(options)), size_(members.size()) {
  bool any_absent = false;
  for (Member& m : members) {
    bool absent = m.token == nullptr;
    any_absent = any_absent || absent;
    slots_.push_back(Slot{std::move(m), absent});
  }
  any_down_ = any_absent;
}

std::string Cluster::WrappingKeyId() const { return "rampart-cwk:" + options_.id; }

std::vector<Member> Cluster::Members() const {
  std::lock_guard lock(members_mu_);
  std::vector<Member> out;
  out.reserve(slots_.size());
  for (const Slot& s : slots_) out.push_back(Member{s.member.name, s.member.token, nullptr});
  return out;
}

void Cluster::Observe(size_t i, const Status& st) {
  if (st.code() != ErrorCode::kUnavailable) return;
  std::lock_guard lock(members_mu_);
  if (i < slots_.size()) slots_[i].down = true;
  any_down_ = true;
}

void Cluster::MaybeResync() {
  if (!any_down_.load(std::memory_order_relaxed)) return;
  int64_t now = NowMs();
  int64_t due = next_probe_ms_.load();
  if (now < due) return;
  // One caller per interval probes; the others go on with their operation.
  if (!next_probe_ms_.compare_exchange_strong(due, now + kProbeIntervalMs)) return;
  (void)HealthCheck();
}

template <typename T, typename Op>
Result<T> Cluster::OnAnyMember(std::string_view what, Op op) {
  MaybeResync();
  Status last = Status::Error(ErrorCode::kUnavailable,
                              options_.id + ": no member of the cluster is reachable");
  bool tried = false;
  std::vector<Member> members = Members();
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    if (m.token == nullptr) continue;
    Result<T> r = op(*m.token);
    if (r.ok() || !FailsOver(r.status())) return r;
    Observe(i, r.status());
    // An outage is worth more to the caller than a member lacking the key.
    if (!tried || r.status().code() == ErrorCode::kUnavailable) {
      last = Status::Error(r.status().code(), options_.id + ": " + m.name + ": " +
                                                  std::string(what) + ": " + r.status().message());
    }
    tried = true;
  }
  return last;
}

std::vector<MemberState> Cluster::Inspect(const KeyRef& key) {
  std::vector<MemberState> out;
  std::vector<Member> members = Members();
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    MemberState s{m.name, false, false};
    if (m.token != nullptr) {
      Status st = m.token->CheckKey(key);
      Observe(i, st);
      s.reachable = st.ok() || st.code() == ErrorCode::kNotFound;
      s.holds_key = st.ok();
    }
    out.push_back(std::move(s));
  }
  return out;
}

Status Cluster::CarryWrappingKey(Token& from, Token& to) {
  KeySpec transport;
  transport.algorithm = KeyAlgorithm::kRsa3072;
  transport.label = std::string(kTransportLabel);
  transport.usage.wrap = true;
  ASSIGN_OR_RETURN(KeyRef pair, to.GenerateKey(transport));
  auto carry = [&]() -> Status {
    ASSIGN_OR_RETURN(std::string pub, to.PublicKeyDer(pair));
    KeyRef cwk{WrappingKeyId(), KeyKind::kAes};
    ASSIGN_OR_RETURN(std::string wrapped, from.WrapKeyWithPublicKey(pub, cwk));
    return to.UnwrapKey(pair, wrapped, WrappingKeySpec(WrappingKeyId())).status();
  };
  Status st = carry();
  // The transport pair served one ceremony; it never outlives it.
  Status destroyed = to.DestroyKey(pair);
  if (!st.ok()) return st;
  return destroyed;
}

Status Cluster::EnsureWrappingKey() {
  std::lock_guard lock(mu_);
  return EnsureWrappingKeyLocked();
}

Status Cluster::EnsureWrappingKeyLocked() {
  KeyRef cwk{WrappingKeyId(), KeyKind::kAes};
  std::vector<Token*> holders, missing;
  std::vector<Member> members = Members();
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    if (m.token == nullptr) continue;
    Status st = m.token->CheckKey(cwk);
    Observe(i, st);
    if (st.ok()) holders.push_back(m.token.get());
    if (st.code() == ErrorCode::kNotFound) missing.push_back(m.token.get());
  }
  if (holders.empty() && missing.empty()) {
    return Status::Error(ErrorCode::kUnavailable, options_.id + ": no member is reachable");
  }
  if (holders.empty()) {
    RETURN_IF_ERROR(missing.front()->GenerateKey(WrappingKeySpec(WrappingKeyId())).status());
    holders.push_back(missing.front());
    missing.erase(missing.begin());
  }
  std::string failures;
  for (Token* t : missing) {
    Status st = CarryWrappingKey(*holders.front(), *t);
    if (!st.ok()) failures += (failures.empty() ? "" : "; ") + st.message();
  }
  if (!failures.empty()) {
    return Status::Error(ErrorCode::kUnavailable,
                         options_.id + ": the wrapping key did not reach every member: " + failures);
  }
  return Status::Ok();
}

Status Cluster::CopyKey(Token& from, Token& to, const KeyRef& key, const KeySpec& spec) {
  KeyRef cwk{WrappingKeyId(), KeyKind::kAes};
  ASSIGN_OR_RETURN(std::string wrapped, from.WrapKey(cwk, key));
  if (IsSecret(spec.algorithm)) return to.UnwrapKey(cwk, wrapped, spec).status();
  // A key pair travels as its wrapped private half plus its public key.
  ASSIGN_OR_RETURN(std::string pub, from.PublicKeyDer(key));
  return to.UnwrapKeyPair(cwk, wrapped, pub, spec).status();
}

Result<size_t> Cluster::Replicate(const KeyRef& key, const KeySpec& spec) {
  std::lock_guard lock(mu_);
  std::vector<Token*> sources, lacking;
  std::vector<Member> members = Members();
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    if (m.token == nullptr) continue;
    Status st = m.token->CheckKey(key);
    Observe(i, st);
    if (st.ok()) sources.push_back(m.token.get());
    if (st.code() == ErrorCode::kNotFound) lacking.push_back(m.token.get());
  }
  if (sources.empty()) return Status::Error(ErrorCode::kNotFound, "no member holds the key");
  size_t holders = sources.size();
  KeySpec replica = spec;
  replica.id = key.id;
  replica.extractable = false;
  for (Token* t : lacking) {
    // Any holder whose copy is still extractable can be the source.
    for (Token* from : sources) {
      Status st = CopyKey(*from, *t, key, replica);
      if (st.ok()) ++holders;
      if (st.code() != ErrorCode::kAccessDenied) break;
    }
  }
  if (holders == members.size()) {
    for (Token* t : sources) RETURN_IF_ERROR(t->MakeNonExtractable(key));
  }
  return holders;
}

Result<ResyncReport> Cluster::HealthCheck() {
  KeyRef cwk{WrappingKeyId(), KeyKind::kAes};
  bool came_back = false;
  bool still_down = false;
  std::vector<Slot> slots;
  {
    std::lock_guard lock(members_mu_);
    slots = slots_;
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    Slot& s = slots[i];
    if (!s.down) continue;
    std::shared_ptr<Token> token = s.member.token;
    if (token == nullptr && s.member.open) {
      Result<std::shared_ptr<Token>> opened = s.member.open();
      if (opened.ok()) token = *opened;
    }
    Status st = token == nullptr ? Status::Error(ErrorCode::kUnavailable, "absent")
                                 : token->CheckKey(cwk);
    bool answers = st.ok() || st.code() == ErrorCode::kNotFound;
    if (!answers) {
      still_down = true;
      continue;
    }
    came_back = true;
    std::lock_guard lock(members_mu_);
    slots_[i].member.token = token;
  }
  if (!came_back) {
    if (!still_down) any_down_ = false;
    return ResyncReport{};
  }
  return Resync();
}

Result<ResyncReport> Cluster::Resync() {
  std::lock_guard lock(mu_);
  return ResyncLocked();
}

Result<ResyncReport> Cluster::ResyncLocked() {
  ResyncReport report;
  // A member that cannot receive the wrapping key cannot receive copies
  // either; the copies below report it.
  Status cwk_status = EnsureWrappingKeyLocked();
  if (!cwk_status.ok()) report.errors.push_back(cwk_status.message());
  std::vector<Member> members = Members();
  std::vector<bool> reachable(members.size(), false);  // listed its keys
  std::vector<bool> answered(members.size(), false);   // answered at all
  std::map<std::pair<std::string, int>, Seen> seen;
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    Result<std::vector<pkcs11::KeyListing>> keys =
        m.token == nullptr ? Result<std::vector<pkcs11::KeyListing>>(
                                 Status::Error(ErrorCode::kUnavailable, "absent"))
                           : m.token->ListKeys();
    if (!keys.ok() && keys.status().code() == ErrorCode::kUnavailable) {
      Observe(i, keys.status());
      report.unreachable.push_back(m.name);
      continue;
    }
    answered[i] = true;
    if (!keys.ok()) {
      // Up, but unable to list (a backend without ListKeys): not down, and
      // left out of this resync.
      report.errors.push_back(m.name + ": " + keys.status().message());
      continue;
    }
    reachable[i] = true;
    for (pkcs11::KeyListing& k : *keys) {
      // Cluster machinery is not replicated as data.
      if (k.ref.id == WrappingKeyId() || k.label == kTransportLabel) continue;
      Seen& entry = seen[{k.ref.id, static_cast<int>(k.ref.kind)}];
      if (entry.holders.empty()) entry.listing = std::move(k);
      entry.holders.push_back(i);
    }
  }
  if (report.unreachable.size() == members.size()) {
    return Status::Error(ErrorCode::kUnavailable, options_.id + ": no member is reachable");
  }
  report.keys = seen.size();
  for (auto& entry : seen) {
    Seen& key = entry.second;
    if (key.holders.size() < options_.min_members) {
      ++report.below_min;
      continue;
    }
    const KeyRef& ref = key.listing.ref;
    KeySpec spec = ReplicaSpec(key.listing);
    std::vector<size_t> holders = key.holders;
    for (size_t i = 0; i < members.size(); ++i) {
      bool holds = std::find(key.holders.begin(), key.holders.end(), i) != key.holders.end();
      if (!reachable[i] || holds) continue;
      Status st = Status::Error(ErrorCode::kAccessDenied, "no holder can export the key");
      for (size_t from : key.holders) {
        st = CopyKey(*members[from].token, *members[i].token, ref, spec);
        if (st.code() != ErrorCode::kAccessDenied) break;
      }
      if (st.ok()) {
        ++report.copied;
        holders.push_back(i);
      } else if (st.code() == ErrorCode::kAccessDenied) {
        ++report.stranded;
      } else {
        report.errors.push_back(members[i].name + ": " + st.message());
      }
    }
    // Locked only once every member holds it, as Replicate does: a member
    // that is down now could never get a copy of a locked key.
    if (holders.size() < members.size()) continue;
    bool locked = true;
    for (size_t i : holders) {
      Status st = members[i].token->MakeNonExtractable(ref);
      if (!st.ok()) {
        locked = false;
        report.errors.push_back(members[i].name + ": " + st.message());
      }
    }
    if (locked && key.listing.extractable) ++report.locked;
  }
  {
    std::lock_guard guard(members_mu_);
    bool any = false;
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (answered[i]) slots_[i].down = false;
      any = any || slots_[i].down;
    }
    any_down_ = any;
  }
  return report;
}

Result<KeyRef> Cluster::GenerateKey(const KeySpec& spec) {
  if (size_ > 1) RETURN_IF_ERROR(EnsureWrappingKey());
  KeySpec first = spec;
  first.extractable = size_ > 1;  // only until every replica exists
  ASSIGN_OR_RETURN(KeyRef ref, OnAnyMember<KeyRef>("C_GenerateKey", [&](Token& t) {
                     return t.GenerateKey(first);
                   }));
  if (size_ == 1) return ref;
  Result<size_t> holders = Replicate(ref, spec);
  if (holders.ok() && *holders >= options_.min_members) return ref;
  // Below the availability threshold: a key nobody may use is not kept.
  (void)DestroyKey(ref);
  if (!holders.ok()) return holders.status();
  return Status::Error(ErrorCode::kUnavailable,
                       AvailabilityMessage(options_.id, *holders, options_.min_members));
}

Result<KeyRef> Cluster::FindKeyByLabel(std::string_view label) {
  return OnAnyMember<KeyRef>("find", [&](Token& t) { return t.FindKeyByLabel(label); });
}

Status Cluster::CheckKey(const KeyRef& key) {
  MaybeResync();
  size_t holders = 0;
  bool any_reachable = false;
  std::vector<Member> members = Members();
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    if (m.token == nullptr) continue;
    Status st = m.token->CheckKey(key);
    Observe(i, st);
    if (st.ok()) ++holders;
    if (st.ok() || st.code() == ErrorCode::kNotFound) any_reachable = true;
  }
  if (holders >= options_.min_members) return Status::Ok();
  if (holders == 0 && any_reachable) return Status::Error(ErrorCode::kNotFound, "no such key");
  return Status::Error(ErrorCode::kUnavailable,
                       AvailabilityMessage(options_.id, holders, options_.min_members));
}

Status Cluster::DestroyKey(const KeyRef& key) {
  bool destroyed = false;
  Status failure = Status::Ok();
  std::vector<Member> members = Members();
  for (size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    if (m.token == nullptr) continue;
    Status st = m.token->DestroyKey(key);
    Observe(i, st);
    if (st.ok()) destroyed = true;
    if (!st.ok() && st.code() != ErrorCode::kNotFound && failure.ok()) failure = st;
  }
  if (!failure.ok()) return failure;
  return destroyed ? Status::Ok() : Status::Error(ErrorCode::kNotFound, "no such key");
}

Result<pkcs11::GcmCiphertext> Cluster::EncryptGcm(const KeyRef& key, std::string_view plaintext,
                                                  std::string_view aad) {
  return OnAnyMember<pkcs11::GcmCiphertext>(
      "encrypt", [&](Token& t) { return t.EncryptGcm(key, plaintext, aad); });
}

Result<SecretBytes> Cluster::DecryptGcm(const KeyRef& key, std::string_view iv,
                                        std::string_view ciphertext, std::string_view aad) {
  return OnAnyMember<SecretBytes>(
      "decrypt", [&](Token& t) { return t.DecryptGcm(key, iv, ciphertext, aad); });
}

Result<std::string> Cluster::SignDigest(const KeyRef& key, std::string_view digest,
                                        std::string_view md_name, pkcs11::SignScheme scheme) {
  return OnAnyMember<std::string>(
      "sign", [&](Token& t) { return t.SignDigest(key, digest, md_name, scheme); });
}

Result<std::string> Cluster::PublicKeyDer(const KeyRef& key) {
  return OnAnyMember<std::string>("public key", [&](Token& t) { return t.PublicKeyDer(key); });
}

Result<std::string> Cluster::HmacSha256(const KeyRef& key, std::string_view data) {
  return OnAnyMember<std::string>("HMAC", [&](Token& t) { return t.HmacSha256(key, data); });
}

Result<bool> Cluster::VerifyHmacSha256(const KeyRef& key, std::string_view data,
                                       std::string_view mac) {
  return OnAnyMember<bool>("HMAC verify",
                           [&](Token& t) { return t.VerifyHmacSha256(key, data, mac); });
}

Result<std::string> Cluster::WrapKey(const KeyRef& wrapping_key, const KeyRef& key) {
  return OnAnyMember<std::string>("wrap", [&](Token& t) { return t.WrapKey(wrapping_key, key); });
}

Result<KeyRef> Cluster::UnwrapKey(const KeyRef& wrapping_key, std::string_view wrapped,
                                  const KeySpec& spec) {
  // Every member unwraps its own copy: the wrapping key is one they share.
  KeySpec copy = spec;
  size_t holders = 0;
  Status last = Status::Error(ErrorCode::kUnavailable, options_.id + ": no member is reachable");
  for (const Member& m : Members()) {
    if (m.token == nullptr) continue;
    Result<KeyRef> r = m.token->UnwrapKey(wrapping_key, wrapped, copy);
    if (!r.ok()) {
      if (!FailsOver(r.status())) return r.status();
      last = r.status();
      continue;
    }
    copy.id = r->id;  // the same CKA_ID everywhere
    ++holders;
  }
  if (holders == 0) return last;
  KeyRef ref{copy.id, pkcs11::KeyKind::kAes};
  if (spec.algorithm == KeyAlgorithm::kHmacSha256) ref.kind = pkcs11::KeyKind::kGenericSecret;
  if (holders >= options_.min_members) return ref;
  (void)DestroyKey(ref);
  return Status::Error(ErrorCode::kUnavailable,
                       AvailabilityMessage(options_.id, holders, options_.min_members));
}

Result<std::string> Cluster::GenerateRandom(size_t n) {
  return OnAnyMember<std::string>("random", [&](Token& t) { return t.GenerateRandom(n); });
}

}  // namespace rampart::hsm
