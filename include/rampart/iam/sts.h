// STS operations (query protocol, signing name "sts").
//
// Thread-safety: StsService is thread-safe; handlers run concurrently on
// every worker thread.
#pragma once

#include <memory>

#include "rampart/iam/engine_authorizer.h"
#include "rampart/server/context.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::iam {

// Adds the STS handlers that need no state (GetCallerIdentity).
void RegisterSts(server::Registry& registry);

class MfaService;
class WebIdentityFederation;

// AssumeRole: evaluates the role's trust policy with the policy engine and
// issues temporary credentials (ASIA... key, secret, session token) stored
// in the CredentialStore, so SigV4 authentication accepts them until they
// expire. The session carries MFA, source identity, session tags and
// session policies to every later request. GetSessionToken issues
// temporary credentials that act as the calling user or root, optionally
// MFA-authenticated. AssumeRoleWithWebIdentity exchanges an OpenID Connect
// ID token for a role session; its callers are not signed in.
class StsService {
 public:
  // REQUIRES: db, creds and authorizer outlive the service; the IAM and
  // identity migrations ran.
  StsService(store::Database& db, server::CredentialStore& creds,
             const EngineAuthorizer& authorizer);
  ~StsService();

  // Enables SerialNumber/TokenCode checks. REQUIRES: mfa outlives this.
  void SetMfa(MfaService* mfa) { mfa_ = mfa; }

  // Adds AssumeRole, AssumeRoleWithWebIdentity, GetSessionToken and
  // GetAccessKeyInfo. REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

  Result<json::Value> AssumeRole(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetSessionToken(server::RequestContext& ctx, const json::Value& in);

 private:
  store::Database& db_;
  server::CredentialStore& creds_;
  const EngineAuthorizer& authorizer_;
  MfaService* mfa_ = nullptr;
  // AssumeRoleWithWebIdentity (sts_web_identity.h): OIDC tokens, JWKS cache.
  std::unique_ptr<WebIdentityFederation> web_identity_;
};

}  // namespace rampart::iam
