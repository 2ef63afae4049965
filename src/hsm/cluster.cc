// hsm::Cluster: replication under the cluster wrapping key, the key
// availability check and member failover (include/rampart/hsm/cluster.h).
#include "rampart/hsm/cluster.h"

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
    : options_(std::move(options)), members_(std::move(members)) {}

std::string Cluster::WrappingKeyId() const { return "rampart-cwk:" + options_.id; }

template <typename T, typename Op>
Result<T> Cluster::OnAnyMember(std::string_view what, Op op) {
  Status last = Status::Error(ErrorCode::kUnavailable,
                              options_.id + ": no member of the cluster is reachable");
  bool tried = false;
  for (const Member& m : members_) {
    if (m.token == nullptr) continue;
    Result<T> r = op(*m.token);
    if (r.ok() || !FailsOver(r.status())) return r;
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
  for (const Member& m : members_) {
    MemberState s{m.name, false, false};
    if (m.token != nullptr) {
      Status st = m.token->CheckKey(key);
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
  KeyRef cwk{WrappingKeyId(), KeyKind::kAes};
  std::vector<Token*> holders, missing;
  for (const Member& m : members_) {
    if (m.token == nullptr) continue;
    Status st = m.token->CheckKey(cwk);
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

Status Cluster::LockEverywhere(const KeyRef& key) {
  for (const Member& m : members_) {
    if (m.token == nullptr) continue;
    RETURN_IF_ERROR(m.token->MakeNonExtractable(key));
  }
  return Status::Ok();
}

Result<size_t> Cluster::Replicate(const KeyRef& key, const KeySpec& spec) {
  KeyRef cwk{WrappingKeyId(), KeyKind::kAes};
  Token* source = nullptr;
  std::vector<Token*> lacking;
  size_t holders = 0;
  for (const Member& m : members_) {
    if (m.token == nullptr) continue;
    Status st = m.token->CheckKey(key);
    if (st.ok()) {
      ++holders;
      if (source == nullptr) source = m.token.get();
    } else if (st.code() == ErrorCode::kNotFound) {
      lacking.push_back(m.token.get());
    }
  }
  if (source == nullptr) return Status::Error(ErrorCode::kNotFound, "no member holds the key");
  KeySpec replica = spec;
  replica.id = key.id;
  replica.extractable = false;
  for (Token* t : lacking) {
    Result<std::string> wrapped = source->WrapKey(cwk, key);
    if (!wrapped.ok()) {
      // A key already locked on its source cannot travel any more.
      if (wrapped.status().code() == ErrorCode::kAccessDenied) break;
      continue;
    }
    if (t->UnwrapKey(cwk, *wrapped, replica).ok()) ++holders;
  }
  if (holders == members_.size()) RETURN_IF_ERROR(LockEverywhere(key));
  return holders;
}

Result<KeyRef> Cluster::GenerateKey(const KeySpec& spec) {
  if (members_.size() > 1 && !IsSecret(spec.algorithm)) {
    return Status::Validation("only AES and HMAC keys can be replicated across a cluster");
  }
  if (members_.size() > 1) RETURN_IF_ERROR(EnsureWrappingKey());
  KeySpec first = spec;
  first.extractable = members_.size() > 1;  // only until every replica exists
  ASSIGN_OR_RETURN(KeyRef ref, OnAnyMember<KeyRef>("C_GenerateKey", [&](Token& t) {
                     return t.GenerateKey(first);
                   }));
  if (members_.size() == 1) return ref;
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
  size_t holders = 0;
  bool any_reachable = false;
  for (const Member& m : members_) {
    if (m.token == nullptr) continue;
    Status st = m.token->CheckKey(key);
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
  for (const Member& m : members_) {
    if (m.token == nullptr) continue;
    Status st = m.token->DestroyKey(key);
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
  for (const Member& m : members_) {
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
