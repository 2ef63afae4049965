// An HSM cluster: N member backends, each a pkcs11::Token (a local PKCS#11
// token today, a network HSM client later), that hold the same keys.
//
// Replication (docs/hsm.md, "Clusters"): a new secret key is generated on
// one member as extractable, wrapped under the cluster wrapping key
// (CKM_AES_KEY_WRAP_PAD), unwrapped onto every other reachable member with
// the same CKA_ID, and then made non-extractable everywhere once every
// member holds it. The cluster wrapping key itself is brought into a member
// by a ceremony: the member generates an RSA transport key pair, a member
// that holds the wrapping key wraps it under the transport public key
// (RSA-OAEP), the new member unwraps it and destroys the transport pair.
//
// Availability: a key is usable once min_members members hold it, as
// CloudHSM's key availability check; CheckKey answers kUnavailable below
// that. Operations run on the first member that holds the key and fail over
// to the next one when a member answers kUnavailable (CKR_DEVICE_REMOVED,
// lost sessions, a module that stopped answering) or does not hold the key.
//
// Cluster implements pkcs11::Token, so callers (KMS custom key stores)
// treat a cluster like one token.
//
// Re-sync: a member that answered kUnavailable is marked down. While any
// member is down, operations probe the down members at most once a second
// (HealthCheck); when one answers again, Resync copies the keys it lacks
// onto it and locks every key that every member now holds (a key stays
// extractable while any member lacks it, so that the member can still get
// a copy when it returns).
//
// Thread-safety: thread-safe; members are thread-safe Tokens; the member
// table is guarded by members_mu_, and wrapping-key, replication and
// resync work is serialised by mu_.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/pkcs11/token.h"

namespace rampart::hsm {

// Opens a member's backend (again): used for a member that could not be
// opened when the cluster was built, so that it can join once it is back.
using MemberOpener = std::function<Result<std::shared_ptr<pkcs11::Token>>()>;

struct Member {
  std::string name;                      // the backend's name, for errors and logs
  std::shared_ptr<pkcs11::Token> token;  // nullptr: the backend could not be opened
  MemberOpener open;                     // optional: how to open it later
};

struct ClusterOptions {
  std::string id;        // cluster-...
  size_t min_members = 2;
};

// What a member holds of one key, for `rampart hsm keys` and tests.
struct MemberState {
  std::string name;
  bool reachable = false;
  bool holds_key = false;
};

// What one re-synchronisation did (Cluster::Resync).
struct ResyncReport {
  size_t keys = 0;        // distinct keys seen on the reachable members
  size_t copied = 0;      // copies made onto members that lacked a key
  size_t locked = 0;      // keys made non-extractable (only once every member holds them)
  size_t stranded = 0;    // keys a member lacks that no holder can export any more
  size_t below_min = 0;   // keys on fewer than min_members members (left alone)
  std::vector<std::string> unreachable;  // members that did not answer
  std::vector<std::string> errors;       // copy or lock failures, by member
};

class Cluster final : public pkcs11::Token {
 public:
  // REQUIRES: members non-empty; 1 <= min_members <= members.size().
  static Result<std::unique_ptr<Cluster>> Create(ClusterOptions options,
                                                 std::vector<Member> members);

  const std::string& id() const { return options_.id; }
  size_t min_members() const { return options_.min_members; }
  size_t size() const { return size_; }

  // The cluster wrapping key (AES-256, wrap/unwrap only, CKA_ID
  // "rampart-cwk:<id>"): generated on the first reachable member when no
  // member holds it, then carried to every reachable member that lacks it
  // by the RSA transport ceremony. Idempotent; call at start and after a
  // member comes back. Errors: kUnavailable when no member is reachable, or
  // when the ceremony failed for some member (the others still received
  // the key; the message names the failures). Members that are absent are
  // skipped.
  Status EnsureWrappingKey();

  // Copies key onto every reachable member that lacks it (after a member
  // was down when the key was made); then, if every member holds it, makes
  // every copy non-extractable. Returns how many members hold the key.
  Result<size_t> Replicate(const pkcs11::KeyRef& key, const pkcs11::KeySpec& spec);

  // Re-synchronises the members (docs/hsm.md, "Re-sync"): brings the
  // wrapping key to every reachable member, copies each key held by at
  // least min_members members onto the reachable members that lack it, and
  // then makes every key that min_members members hold non-extractable on
  // all of them. Keys below min_members are left alone (a key destroyed
  // while a member was down must not come back from that member).
  // kUnavailable when no member answers.
  Result<ResyncReport> Resync();

  // Probes members that were seen down (and opens absent ones that have an
  // opener); when one of them answers again, runs Resync. Returns the
  // report of that resync, or an empty report when nobody came back.
  // Operations call this by themselves at most once a second while some
  // member is down.
  Result<ResyncReport> HealthCheck();

  // Which members hold key.
  std::vector<MemberState> Inspect(const pkcs11::KeyRef& key);

  // --- pkcs11::Token. GenerateKey replicates (AES, HMAC, EC and RSA keys)
  // and answers kUnavailable ("key availability") when fewer than
  // min_members hold the new key; the key is then destroyed everywhere.
  Result<pkcs11::KeyRef> GenerateKey(const pkcs11::KeySpec& spec) override;
  Result<pkcs11::KeyRef> FindKeyByLabel(std::string_view label) override;
  // OK when at least min_members members hold the key; kNotFound when no
  // reachable member does; kUnavailable otherwise.
  Status CheckKey(const pkcs11::KeyRef& key) override;
  // Destroys the key on every reachable member.
  Status DestroyKey(const pkcs11::KeyRef& key) override;
  Result<pkcs11::GcmCiphertext> EncryptGcm(const pkcs11::KeyRef& key, std::string_view plaintext,
                                           std::string_view aad) override;
  Result<SecretBytes> DecryptGcm(const pkcs11::KeyRef& key, std::string_view iv,
                                 std::string_view ciphertext, std::string_view aad) override;
  Result<std::string> SignDigest(const pkcs11::KeyRef& key, std::string_view digest,
                                 std::string_view md_name, pkcs11::SignScheme scheme) override;
  Result<std::string> PublicKeyDer(const pkcs11::KeyRef& key) override;
  Result<std::string> HmacSha256(const pkcs11::KeyRef& key, std::string_view data) override;
  Result<bool> VerifyHmacSha256(const pkcs11::KeyRef& key, std::string_view data,
                                std::string_view mac) override;
  Result<std::string> WrapKey(const pkcs11::KeyRef& wrapping_key,
                              const pkcs11::KeyRef& key) override;
  Result<pkcs11::KeyRef> UnwrapKey(const pkcs11::KeyRef& wrapping_key, std::string_view wrapped,
                                   const pkcs11::KeySpec& spec) override;
  Result<std::string> GenerateRandom(size_t n) override;

  // The CKA_ID of this cluster's wrapping key.
  std::string WrappingKeyId() const;

 private:
  struct Slot {
    Member member;
    bool down = false;  // seen kUnavailable (or absent) since the last resync
  };

  Cluster(ClusterOptions options, std::vector<Member> members);

  // A copy of the members (tokens shared), in configuration order.
  std::vector<Member> Members() const;
  // Records that member i answered st (kUnavailable marks it down).
  void Observe(size_t i, const Status& st);
  // HealthCheck, at most once per probe interval, while a member is down.
  void MaybeResync();
  Result<ResyncReport> ResyncLocked();

  // Runs op on each present member in turn until one answers with
  // something other than kUnavailable/kNotFound (a member that is down or
  // lacks the key).
  template <typename T, typename Op>
  Result<T> OnAnyMember(std::string_view what, Op op);
  // Brings the wrapping key from member `from` into member `to`.
  Status CarryWrappingKey(pkcs11::Token& from, pkcs11::Token& to);
  Status EnsureWrappingKeyLocked();
  // Copies key from `from` (which must still have it extractable) onto `to`
  // as a non-extractable replica described by spec.
  Status CopyKey(pkcs11::Token& from, pkcs11::Token& to, const pkcs11::KeyRef& key,
                 const pkcs11::KeySpec& spec);

  const ClusterOptions options_;
  const size_t size_;
  mutable std::mutex members_mu_;
  std::vector<Slot> slots_;              // guarded by members_mu_
  std::atomic<bool> any_down_{false};    // some slot is down
  std::atomic<int64_t> next_probe_ms_{0};
  std::recursive_mutex mu_;  // serialises EnsureWrappingKey, Replicate and Resync
};

}  // namespace rampart::hsm
