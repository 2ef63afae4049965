// Who is calling: accounts, principals and the access keys that
// authenticate them. Secret access keys are stored sealed under the root
// key (AES-256-GCM, the access key id as associated data) and cached
// unsealed in memory so that authentication never reads the database on
// the hot path.
//
// Thread-safety: CredentialStore is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rampart/core/clock.h"
#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::server {

struct Principal {
  std::string account_id;
  std::string arn;           // arn:aws:iam::<acct>:root, ...:user/x, ...:assumed-role/r/s
  std::string type;          // CloudTrail userIdentity.type: Root, IAMUser, AssumedRole
  std::string principal_id;  // GetCallerIdentity UserId
  std::string user_name;     // IAM user name, empty for root and roles
  std::string access_key_id;
  std::string role_arn;      // AssumedRole: arn:aws:iam::<acct>:role<path><name>

  // Temporary (STS session) credentials only.
  int64_t token_issued_at = 0;  // seconds since the epoch (aws:TokenIssueTime)
  bool mfa_present = false;     // aws:MultiFactorAuthPresent
  std::string source_identity{};  // aws:SourceIdentity
  // Session tags (AssumeRole Tags plus inherited transitive ones); they
  // override the role's tags of the same key as aws:PrincipalTag values.
  std::vector<std::pair<std::string, std::string>> session_tags{};
  std::vector<std::string> transitive_tag_keys{};
  // Session policies (the Policy document and the PolicyArns' default
  // versions at issue time); has_session_policies even when the list is
  // empty would mean "passed but grants nothing".
  bool has_session_policies = false;
  std::vector<std::string> session_policies{};
};

struct Credential {
  Principal principal;
  SecretBytes secret;
  // Temporary (STS session) credentials only: SHA-256 of the session token
  // (32 raw bytes) and when the session ends. Empty hash for long-term keys.
  std::string session_token_hash;
  TimePoint expires_at{};
};

// Checks the session token a request carried against cred: long-term keys
// take no token; temporary credentials need the right one (compared in
// constant time, kInvalidToken otherwise) and must not have expired
// (kExpiredToken when now is past expires_at).
Status CheckSessionToken(const Credential& cred, std::string_view token, TimePoint now);

class CredentialStore {
 public:
  // REQUIRES: db and root_key outlive the store.
  // max_cached bounds the in-memory credential cache.
  CredentialStore(store::Database& db, const SecretBytes& root_key,
                  size_t max_cached = kDefaultMaxCached)
      : db_(db), root_key_(root_key), max_cached_(max_cached) {}

  // Bounds the memory that many short sessions (or many keys) can take.
  static constexpr size_t kDefaultMaxCached = 100000;

  static Status Migrate(store::Database& db);

  // The credential for an access key id, or kUnrecognizedClient.
  Result<std::shared_ptr<const Credential>> Find(std::string_view access_key_id);

  // Creates an account (no-op when it exists).
  Status CreateAccount(std::string_view account_id, std::string_view name, bool management);
  // The same inside the caller's write transaction.
  static Status InsertAccount(store::Tx& tx, std::string_view account_id, std::string_view name,
                              bool management);
  // Closes an account inside the caller's write transaction: from then on
  // none of its access keys or sessions authenticates. Call InvalidateCache
  // after the commit.
  static Status MarkAccountClosed(store::Tx& tx, std::string_view account_id, int64_t closed_at);
  // Stores a new access key for principal and returns it.
  Status AddAccessKey(const Principal& principal, const SecretBytes& secret);
  // The same inside the caller's write transaction, so that a quota check
  // and the insert commit together.
  Status InsertAccessKey(store::Tx& tx, const Principal& principal, const SecretBytes& secret);
  // Stores temporary credentials (an STS session) for principal, whose
  // access_key_id is the ASIA... id; token_hash is SHA-256 of the session
  // token. Times are seconds since the epoch.
  Status AddSessionKey(const Principal& principal, const SecretBytes& secret,
                       std::string_view token_hash, int64_t issued_at, int64_t expires_at);
  // The management account's id, or empty before bootstrap.
  Result<std::string> ManagementAccount();
  // Forgets cached entries (after a reset or key deletion).
  void InvalidateCache();
  size_t cached_count();

 private:
  Result<std::shared_ptr<const Credential>> Load(std::string_view access_key_id);
  // Makes room in a full cache. REQUIRES: mu_ held exclusively.
  void EvictLocked();

  store::Database& db_;
  const SecretBytes& root_key_;
  const size_t max_cached_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Credential>> cache_;  // guarded by mu_
  // Bumped by InvalidateCache; a load that raced an invalidation is not
  // cached, so a deactivated key cannot come back from a stale read.
  uint64_t generation_ = 0;  // guarded by mu_
};

// Loads <data_dir>/root.key (32 bytes, mode 0600), creating it on first
// start. Refuses a key file readable by group or others.
Result<SecretBytes> LoadOrCreateRootKey(const std::string& data_dir);

struct BootstrapResult {
  std::string account_id;
  std::string access_key_id;
  bool created = false;          // false when the data dir was already set up
  std::string credentials_file;  // where the root credentials were written
};

// First start: creates the management account and its root access key, and
// writes them to <data_dir>/credentials (AWS shared-credentials format, mode
// 0600). In dev mode the account is 123456789012 and the key is test/test.
Result<BootstrapResult> Bootstrap(CredentialStore& creds, const std::string& data_dir, bool dev);

inline constexpr std::string_view kDevAccountId = "123456789012";
inline constexpr std::string_view kDevAccessKeyId = "test";
inline constexpr std::string_view kDevSecretKey = "test";

}  // namespace rampart::server
