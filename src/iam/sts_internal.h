// What STS's operations share: reading the session a caller asks for
// (session policies, tags, source identity, duration), minting temporary
// credentials and building the assumed-role session of a role. sts.cc
// defines these; sts_web_identity.cc uses them, so every way into a role
// session issues it the same way.
//
// Thread-safety: free functions over their arguments; Issue writes
// through the thread-safe CredentialStore.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "iam/iam_internal.h"
#include "rampart/core/json.h"
#include "rampart/core/secret.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::iam::sts_internal {

inline constexpr int64_t kDefaultDuration = 3600;

// What a caller asks the new session to carry, validated.
struct SessionInputs {
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<std::string> transitive_keys;
  bool has_policies = false;
  std::vector<std::string> policies;
  std::string source_identity;
  size_t packed_size = 0;  // what the policies and tags use of the packed budget
};

// Tags, TransitiveTagKeys, Policy, PolicyArns and SourceIdentity of a
// request: InvalidParameterValue, MalformedPolicyDocument or
// PackedPolicyTooLarge as AWS answers.
Result<SessionInputs> ReadSessionInputs(store::Database& db, const json::Value& in);

// PackedPolicySize: the share of the packed budget used, in percent.
int64_t PackedPercent(const SessionInputs& s);

// DurationSeconds, or fallback when absent; a validation error below 900.
Result<int64_t> ReadDuration(const json::Value& in, int64_t fallback);

struct IssuedCredentials {
  SecretBytes secret;
  std::string token;
  int64_t expires = 0;
  ~IssuedCredentials();
};

// Mints an ASIA key, secret and session token for p and stores them; sets
// p.access_key_id and p.token_issued_at.
Result<std::unique_ptr<IssuedCredentials>> Issue(server::CredentialStore& creds,
                                                 server::Principal& p, int64_t issued,
                                                 int64_t duration);

// The Credentials structure of a response.
json::Value CredentialsJson(const server::Principal& p, const IssuedCredentials& c);

// A session of role named session, carrying inputs (moved from).
server::Principal RoleSession(const internal::RoleRow& role, std::string_view session,
                              SessionInputs& inputs);

// The AssumedRoleUser structure of a response.
json::Value AssumedRoleUserJson(const server::Principal& p);

}  // namespace rampart::iam::sts_internal
