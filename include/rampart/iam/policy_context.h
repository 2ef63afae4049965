// The request context the policy engine evaluates (IAM User Guide,
// "Policy evaluation logic: processing the request context"): who asks
// (principal), for what (action), on what (resource) and the condition keys.
//
// Condition key names are case-insensitive (IAM User Guide, "Condition
// element": "Condition key names are not case-sensitive"), so ContextKeys
// stores names lower-cased and lookups take lower-cased names. Values are
// kept as text; operators parse request values as they compare (policy
// values were typed once at compile time).
//
// Thread-safety: value types. A built AuthzRequest is read-only during
// evaluation and may be shared between threads.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/clock.h"

namespace rampart::iam {

// Names the aws:PrincipalType values.
enum class PrincipalType : uint8_t {
  kAnonymous,
  kRoot,           // "Account"
  kUser,           // "User"
  kAssumedRole,    // "AssumedRole": a role session
  kFederatedUser,  // "FederatedUser": a GetFederationToken session
  kService,        // an AWS service principal, e.g. for a trust policy
  kWebIdentity,    // AssumeRoleWithWebIdentity / SAML caller, for trust policies
};
std::string_view PrincipalTypeName(PrincipalType type);

struct PrincipalInfo {
  PrincipalType type = PrincipalType::kAnonymous;
  std::string arn{};        // user ARN, arn:aws:sts::<a>:assumed-role/<r>/<s>, root ARN, ...
  std::string account{};    // twelve digits; empty for services and anonymous
  std::string id{};         // aws:userid: AIDA..., AROA...:session, account id for root
  std::string user_name{};  // aws:username (IAM users only)
  std::string role_arn{};   // kAssumedRole: arn:aws:iam::<a>:role/<path><name>
  std::string service{};    // kService: "ec2.amazonaws.com"
  std::string federated_provider{};  // kWebIdentity: provider name or SAML provider ARN
  std::string canonical_user{};
  std::vector<std::pair<std::string, std::string>> tags{};  // principal + session tags
  std::string org_id{};
  std::vector<std::string> org_paths{};  // "o-a1b2/r-ab12/ou-ab12-11111111/"
};

// Condition key names interned to small integer ids, so that evaluation
// looks keys up by integer instead of comparing strings. Policies intern the
// names they use when compiled (InternKeyName); requests only look names up
// (KeyNameId), so request input (tag keys, ...) never grows the table.
// Id 0 means "not interned": the table is capped (kMaxInternedKeys names of
// at most kMaxInternedKeyLength bytes) and lookups of such names fall back
// to comparing names, so the cap costs speed, never correctness.
// Thread-safety: both functions are thread-safe; ids never change.
inline constexpr uint32_t kNoKeyId = 0;
inline constexpr size_t kMaxInternedKeys = 16384;
inline constexpr size_t kMaxInternedKeyLength = 256;
// The id of a lower-cased key name, interning it if there is room.
uint32_t InternKeyName(std::string_view lower_name);
// The id of a lower-cased key name, or kNoKeyId when it was never interned.
uint32_t KeyNameId(std::string_view lower_name);

// One bit of 64 standing for an action's service prefix (the text before
// the first colon, any case): a cheap filter that lets evaluation skip
// statements whose actions name only other services (CompiledStatement::
// service_mask). Different services may share a bit; a shared bit only
// costs the full action match.
uint64_t ActionServiceBit(std::string_view action);

// A condition key prepared once for many requests (e.g. the keys a KMS key
// brings to every call on it, built when the key is cached): the name
// lower-cased, its interned id (kNoKeyId when it had none) and the values,
// which requests borrow (ContextKeys::SetBorrowed). Read-only once built,
// so one PreparedKey may serve concurrent requests.
struct PreparedKey {
  uint32_t id = kNoKeyId;
  std::string lower_name;
  std::vector<std::string> values;
};
// fixed_name: the name is a constant of the caller, not input, and may be
// interned (InternKeyName); otherwise its id is only looked up.
PreparedKey PrepareKey(std::string_view name, std::vector<std::string> values,
                       bool fixed_name = false);

// Condition keys -> values. Small and flat: a vector sorted by interned id
// (names without an id last, by name) searched by binary search (a request
// has tens of keys).
class ContextKeys {
 public:
  ContextKeys() = default;
  ContextKeys(const ContextKeys&) = default;
  ContextKeys& operator=(const ContextKeys&) = default;
  // A moved-from ContextKeys is empty and usable.
  ContextKeys(ContextKeys&& other) noexcept
      : entries_(std::move(other.entries_)),
        names_(std::move(other.names_)),
        unindexed_(std::exchange(other.unindexed_, 0)) {
    other.entries_.clear();
    other.names_.clear();
  }
  ContextKeys& operator=(ContextKeys&& other) noexcept {
    entries_ = std::move(other.entries_);
    names_ = std::move(other.names_);
    unindexed_ = std::exchange(other.unindexed_, 0);
    other.entries_.clear();
    other.names_.clear();
    return *this;
  }

  // Replaces the values of name (case-insensitive).
  void Set(std::string_view name, std::vector<std::string> values);
  void Set(std::string_view name, std::string_view value);
  // Set with the name already lower-cased and its id known (InternKeyName;
  // kNoKeyId when it has none): the fast path for the platform's keys.
  void SetLower(uint32_t id, std::string_view lower_name, std::string_view value);
  // Room for n keys without reallocating.
  void Reserve(size_t n) { entries_.reserve(n); }
  // How many keys fit in 1 KiB (what glibc serves from its per-thread
  // cache).
  static const size_t kSmallCapacity;
  // Set without copying values: the entry refers to them. REQUIRES: values
  // outlive this ContextKeys and every copy of it (a request built for one
  // evaluation from keys its caller holds).
  void SetBorrowed(std::string_view name, const std::vector<std::string>& values);
  void SetBorrowed(const PreparedKey& key);
  // Appends a value to name's values.
  void Add(std::string_view name, std::string_view value);
  void Erase(std::string_view name);
  // The values of a lower-cased name, or nullptr when the key is absent.
  const std::vector<std::string>* Find(std::string_view lower_name) const;
  // The same with the name's id (InternKeyName) already known: the fast
  // path for compiled policies. id may be kNoKeyId.
  const std::vector<std::string>* Find(uint32_t id, std::string_view lower_name) const;
  // Any-case lookup (lower-cases name first, in a per-thread buffer).
  const std::vector<std::string>* FindAnyCase(std::string_view name) const;
  size_t size() const { return entries_.size(); }

 private:
  // 40 bytes, so that a request's keys fit in the 1 KiB glibc serves from
  // its per-thread cache (kSmallCapacity).
  struct Entry {
    uint32_t id = kNoKeyId;
    // Without an id: the lower-cased name is names_[name]. Entries with an
    // id are found by id alone.
    uint32_t name = 0;
    std::vector<std::string> values;
    // When set, the values are these (SetBorrowed) and values is empty.
    const std::vector<std::string>* borrowed = nullptr;
    const std::vector<std::string>& Values() const { return borrowed ? *borrowed : values; }
    // Makes the entry own its values (before changing them).
    void Own();
  };
  // The entry of a name, or entries_.end(); *insert_at receives where a new
  // entry for (id, lower_name) belongs.
  std::vector<Entry>::const_iterator Locate(uint32_t id, std::string_view lower_name,
                                            size_t* insert_at = nullptr) const;
  Entry& Upsert(std::string_view name);
  Entry& UpsertLower(uint32_t id, std::string_view lower_name);
  std::string_view NameOf(const Entry& e) const { return names_[e.name]; }

  std::vector<Entry> entries_;  // ids ascending, then the id-less entries by name
  // Names of id-less entries (Entry::name); an erased entry's name stays
  // until the ContextKeys goes (requests rarely erase).
  std::vector<std::string> names_;
  size_t unindexed_ = 0;        // entries without an id (at the end)
};

// What the platform knows about the call beyond principal and action.
struct Environment {
  std::string source_ip{};
  bool secure_transport = true;
  TimePoint time{};
  std::string requested_region{};
  bool mfa_present = false;
  bool has_token_issue_time = false;  // temporary credentials only
  TimePoint token_issue_time{};
  std::string source_identity{};
};

// One authorization question.
class AuthzRequest {
 public:
  AuthzRequest() = default;
  // Action "service:Action" (any case); resource an ARN or "*".
  AuthzRequest(PrincipalInfo principal, std::string_view action, std::string_view resource);

  void set_action(std::string_view action);
  void set_resource(std::string_view resource);
  // The account that owns the resource; defaults to the resource ARN's
  // account field, or the principal's account when the ARN has none.
  void set_resource_account(std::string_view account) { resource_account_ = account; }

  // Adds the global keys the platform supplies (aws:PrincipalArn,
  // aws:PrincipalAccount, aws:PrincipalTag/*, aws:userid, aws:username,
  // aws:SourceIp, aws:CurrentTime, ...) from principal() and env.
  void AddPlatformKeys(const Environment& env);

  const PrincipalInfo& principal() const { return principal_; }
  PrincipalInfo& mutable_principal() { return principal_; }
  std::string_view action() const { return action_; }            // as given
  std::string_view action_lower() const { return action_lower_; }
  uint64_t action_service_bit() const { return service_bit_; }  // ActionServiceBit(action())
  std::string_view resource() const { return resource_; }
  // The six colon-separated parts of the resource ARN (the sixth keeps its
  // colons); all empty with is_arn() false when the resource is not an ARN.
  bool resource_is_arn() const { return resource_is_arn_; }
  const std::array<std::string_view, 6>& resource_parts() const { return parts_; }
  std::string_view resource_account() const;
  bool cross_account() const { return resource_account() != principal_.account; }

  ContextKeys& keys() { return keys_; }
  const ContextKeys& keys() const { return keys_; }

  AuthzRequest(const AuthzRequest& other);
  AuthzRequest& operator=(const AuthzRequest& other);
  AuthzRequest(AuthzRequest&&) noexcept;
  AuthzRequest& operator=(AuthzRequest&&) noexcept;
  ~AuthzRequest() = default;

 private:
  void SplitResource();

  PrincipalInfo principal_;
  std::string action_;
  std::string action_lower_;
  uint64_t service_bit_ = ActionServiceBit({});
  std::string resource_;
  std::string resource_account_;
  bool resource_is_arn_ = false;
  std::array<std::string_view, 6> parts_{};  // views into resource_
  ContextKeys keys_;
};

// Splits an ARN into its six parts (the last keeps its colons). False when
// s does not start with "arn:" or has fewer than five colons.
bool SplitArn(std::string_view s, std::array<std::string_view, 6>& parts);

// ASCII lower-casing, the only folding AWS applies to names.
std::string AsciiLower(std::string_view s);

}  // namespace rampart::iam
