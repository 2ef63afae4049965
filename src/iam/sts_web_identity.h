// STS AssumeRoleWithWebIdentity: OpenID Connect ID tokens exchanged for a
// role session (how GitHub Actions, GitLab CI and Kubernetes service
// accounts get AWS credentials).
//
// A token is accepted when it is a JWS signed with RS256/384/512 or
// ES256/384 by a key of its issuer's JWKS; its "iss" names an IAM OIDC
// provider of the role's account; its "aud" holds one of the provider's
// client IDs; "exp", "nbf" and "iat" hold within a small clock skew; and the
// role's trust policy allows sts:AssumeRoleWithWebIdentity to the
// provider (Principal {"Federated": <provider ARN>}) with the token's
// claims as condition keys (<provider url>:aud, :oaud, :sub, :amr,
// aws:FederatedProvider).
//
// The JWKS is found through <issuer>/.well-known/openid-configuration and
// fetched over HTTPS only, trusted through the system store or the
// provider's thumbprints (http/https_client.h), and cached per issuer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/crypto/jwt.h"
#include "rampart/http/https_client.h"
#include "rampart/server/context.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::iam {

// One HTTPS GET: http::HttpsGet in the server, a fake in tests.
using HttpsFetcher =
    std::function<Result<http::HttpsResponse>(std::string_view url, const http::HttpsGetOptions&)>;

// The signing keys of OIDC issuers, fetched through discovery and cached.
// Entries are keyed by issuer and the thumbprints that vouched for the
// fetch, so one account's provider settings never decide what another
// account's provider trusts. A refresh (a token names an unknown kid) is
// honoured at most once per min_refetch per entry, and a failed fetch is
// not retried (its error is answered) before min_refetch has passed, so a
// provider that is down costs one blocked request per interval, not one per
// request. The cache holds at most max_issuers entries (the least recently
// fetched goes first).
//
// Thread-safety: thread-safe. Fetches run outside the lock; two requests
// that miss at once may both fetch, and the later result is kept.
class JwksCache {
 public:
  struct Options {
    size_t max_issuers = 64;
    std::chrono::seconds ttl{3600};
    std::chrono::seconds min_refetch{10};
    std::chrono::milliseconds timeout{5000};
    size_t max_document_bytes = 256 * 1024;
    size_t max_keys = 64;
  };
  using Keys = std::vector<std::shared_ptr<const crypto::jwt::PublicKey>>;
  using SteadyTime = std::chrono::steady_clock::time_point;

  explicit JwksCache(HttpsFetcher fetch) : JwksCache(std::move(fetch), Options{}) {}
  JwksCache(HttpsFetcher fetch, Options options) : fetch_(std::move(fetch)), options_(options) {}

  // The keys of issuer (an https URL). refresh asks for a new fetch when
  // the cached keys lack a kid. One request at a time fetches an issuer's
  // keys; the others asking meanwhile wait for its result.
  // kUnavailable when the provider cannot be reached or answers nonsense;
  // kAccessDenied when its certificate is not trusted.
  Result<std::shared_ptr<const Keys>> Get(std::string_view issuer,
                                          const std::vector<std::string>& thumbprints, bool refresh,
                                          SteadyTime now);

 private:
  struct Entry {
    std::shared_ptr<const Keys> keys;  // null until a fetch succeeds
    SteadyTime fetched{};              // the last successful fetch
    SteadyTime last_attempt{};         // the last fetch, successful or not
    Status failure;                    // the last fetch's error, when it failed
    bool in_flight = false;            // a request is fetching; others wait for it
  };
  Result<std::shared_ptr<const Keys>> Fetch(std::string_view issuer,
                                            const std::vector<std::string>& thumbprints) const;

  const HttpsFetcher fetch_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable fetched_;                 // signalled when a fetch ends
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
};

// Checks the claims of a parsed token against the provider and the clock:
// iss, aud, sub, exp, nbf, iat (skew seconds allowed). Returns the
// audiences that are client IDs of the provider. Errors as STS answers
// them: InvalidIdentityToken, ExpiredTokenException.
struct VerifiedClaims {
  std::string issuer;                  // "iss" as sent
  std::string subject;                 // "sub"
  std::vector<std::string> audiences;  // the client IDs among "aud"
  std::vector<std::string> other_audiences;
  std::vector<std::string> amr;
};
Result<VerifiedClaims> CheckClaims(const json::Value& claims,
                                   const std::vector<std::string>& client_ids, int64_t now_s,
                                   int64_t skew_s);

// The AssumeRoleWithWebIdentity handler. REQUIRES: everything outlives it.
class WebIdentityFederation {
 public:
  WebIdentityFederation(store::Database& db, server::CredentialStore& creds, HttpsFetcher fetch)
      : db_(db), creds_(creds), jwks_(std::move(fetch)) {}

  Result<json::Value> AssumeRoleWithWebIdentity(server::RequestContext& ctx, const json::Value& in);

 private:
  // The token's signature, against the issuer's keys (refetched once when
  // no key has the token's kid).
  Status VerifySignature(const crypto::jwt::Token& token, std::string_view issuer,
                         const std::vector<std::string>& thumbprints);

  store::Database& db_;
  server::CredentialStore& creds_;
  JwksCache jwks_;
};

}  // namespace rampart::iam
