#include "iam/sts_web_identity.h"

#include <algorithm>
#include <cctype>

#include "iam/iam_internal.h"
#include "iam/sts_internal.h"
#include "rampart/core/arn.h"
#include "rampart/core/clock.h"
#include "rampart/core/log.h"
#include "rampart/iam/engine.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {
namespace {

namespace jwt = crypto::jwt;

constexpr std::string_view kAction = "sts:AssumeRoleWithWebIdentity";
constexpr int64_t kClockSkewSeconds = 120;
constexpr size_t kMaxSubjectLength = 255;
// IAM User Guide, "Using source identity with AssumeRoleWithWebIdentity":
// the IdP passes the source identity in this claim.
constexpr std::string_view kSourceIdentityClaim = "https://aws.amazon.com/source_identity";

Status InvalidToken(std::string message) {
  return Status::Modeled("InvalidIdentityTokenException", std::move(message));
}

Status NotAuthorized() {
  return Status::Error(ErrorCode::kAccessDenied,
                       "Not authorized to perform " + std::string(kAction));
}

std::string IsoSeconds(int64_t s) {
  // Keep the arithmetic inside TimePoint's range (nanoseconds: up to 2262)
  // whatever a token claims.
  static const int64_t kMax =
      std::chrono::duration_cast<std::chrono::seconds>(TimePoint::max().time_since_epoch())
          .count() -
      1;
  return FormatIso8601(TimePoint(std::chrono::seconds(std::clamp<int64_t>(s, 0, kMax))));
}

std::vector<std::string> StringOrList(const json::Value* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (v->is_string()) out.push_back(v->as_string());
  if (v->is_array()) {
    for (const json::Value& e : v->as_array()) {
      if (e.is_string()) out.push_back(e.as_string());
    }
  }
  return out;
}

Status CheckTimes(const json::Value& claims, int64_t now, int64_t skew) {
  auto exp = jwt::NumericDate(claims, "exp");
  auto nbf = jwt::NumericDate(claims, "nbf");
  auto iat = jwt::NumericDate(claims, "iat");
  if (!exp.ok() || !nbf.ok() || !iat.ok())
    return InvalidToken("The token's time claims are not numbers.");
  if (!exp->has_value()) return InvalidToken("The token has no expiration time (exp).");
  if (**exp < now - skew) {
    return Status::Modeled("ExpiredTokenException",
                           "Token expired: current date/time " + IsoSeconds(now) +
                               " must be before the expiration date/time " + IsoSeconds(**exp));
  }
  if (nbf->has_value() && **nbf > now + skew) {
    return InvalidToken("The token is not valid before " + IsoSeconds(**nbf) + ".");
  }
  if (iat->has_value() && **iat > now + skew) {
    return InvalidToken("The token claims to be issued in the future (iat " + IsoSeconds(**iat) +
                        ").");
  }
  return Status::Ok();
}

// The model's sourceIdentityType: 2 to 64 of [\w+=,.@-].
bool IsValidSourceIdentity(const std::string& s) {
  if (s.size() < 2 || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 ||
           std::string_view("_+=,.@-").find(static_cast<char>(c)) != std::string_view::npos;
  });
}

std::string CacheKey(std::string_view issuer, const std::vector<std::string>& thumbprints) {
  std::vector<std::string> prints;
  for (const std::string& t : thumbprints) prints.push_back(AsciiLower(t));
  std::sort(prints.begin(), prints.end());
  std::string key(issuer);
  for (const std::string& t : prints) key += "|" + t;
  return key;
}

std::string WithoutTrailingSlash(std::string_view s) {
  std::string out(s);
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

Result<VerifiedClaims> CheckClaims(const json::Value& claims,
                                   const std::vector<std::string>& client_ids, int64_t now_s,
                                   int64_t skew_s) {
  VerifiedClaims out;
  out.issuer = std::string(claims.get_string("iss"));
  if (out.issuer.empty()) return InvalidToken("The token has no issuer (iss).");
  for (std::string& aud : jwt::Audiences(claims)) {
    bool known = std::find(client_ids.begin(), client_ids.end(), aud) != client_ids.end();
    (known ? out.audiences : out.other_audiences).push_back(std::move(aud));
  }
  if (out.audiences.empty()) return InvalidToken("Incorrect token audience");
  RETURN_IF_ERROR(CheckTimes(claims, now_s, skew_s));
  const json::Value* sub = claims.find("sub");
  if (sub == nullptr || !sub->is_string() || sub->as_string().empty() ||
      sub->as_string().size() > kMaxSubjectLength) {
    return InvalidToken("The token's subject (sub) is missing or longer than 255 characters.");
  }
  out.subject = sub->as_string();
  out.amr = StringOrList(claims.find("amr"));
  return out;
}

Result<std::shared_ptr<const JwksCache::Keys>> JwksCache::Fetch(
    std::string_view issuer, const std::vector<std::string>& thumbprints) const {
  http::HttpsGetOptions get;
  get.timeout = options_.timeout;
  get.max_body_bytes = options_.max_document_bytes;
  get.thumbprints = thumbprints;
  std::string discovery = WithoutTrailingSlash(issuer) + "/.well-known/openid-configuration";
  ASSIGN_OR_RETURN(http::HttpsResponse config, fetch_(discovery, get));
  if (config.status != 200) {
    return Status::Error(ErrorCode::kUnavailable,
                         "the discovery document answered HTTP " + std::to_string(config.status));
  }
  auto doc = json::Parse(config.body, json::ParseLimits{16, options_.max_document_bytes});
  if (!doc.ok() || !doc->is_object()) {
    return Status::Error(ErrorCode::kUnavailable, "the discovery document is not a JSON object");
  }
  // OpenID Connect Discovery 1.0, section 4.3: the document's issuer must
  // be the one it was fetched for.
  if (WithoutTrailingSlash(doc->get_string("issuer")) != WithoutTrailingSlash(issuer)) {
    return Status::Error(ErrorCode::kUnavailable, "the discovery document names another issuer");
  }
  std::string jwks_uri(doc->get_string("jwks_uri"));
  if (!jwks_uri.starts_with("https://")) {
    return Status::Error(ErrorCode::kUnavailable, "the discovery document's jwks_uri is not https");
  }
  ASSIGN_OR_RETURN(http::HttpsResponse jwks, fetch_(jwks_uri, get));
  if (jwks.status != 200) {
    return Status::Error(ErrorCode::kUnavailable,
                         "the JWKS answered HTTP " + std::to_string(jwks.status));
  }
  auto keys = jwt::ParseKeySet(jwks.body, options_.max_keys);
  if (!keys.ok()) return Status::Error(ErrorCode::kUnavailable, keys.status().message());
  return std::make_shared<const Keys>(std::move(keys).value());
}

Result<std::shared_ptr<const JwksCache::Keys>> JwksCache::Get(
    std::string_view issuer, const std::vector<std::string>& thumbprints, bool refresh,
    SteadyTime now) {
  const std::string key = CacheKey(issuer, thumbprints);
  std::unique_lock lock(mu_);
  for (auto it = entries_.find(key); it != entries_.end(); it = entries_.find(key)) {
    const Entry& e = it->second;
    if (e.in_flight) {  // share the fetch under way instead of starting another
      fetched_.wait(lock);
      continue;
    }
    const bool fresh = e.keys != nullptr && now - e.fetched < options_.ttl;
    const bool recent = now - e.last_attempt < options_.min_refetch;
    if (fresh && (!refresh || recent)) return e.keys;
    // A fetch that failed a moment ago is not repeated: a provider that
    // is down must not hold a worker thread for every request.
    if (recent && !e.failure.ok()) return e.failure;
    break;
  }
  if (entries_.size() >= options_.max_issuers && entries_.find(key) == entries_.end()) {
    // Evict the least recently tried entry that no request is fetching.
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.in_flight) continue;
      if (oldest == entries_.end() || it->second.last_attempt < oldest->second.last_attempt) {
        oldest = it;
      }
    }
    if (oldest != entries_.end()) entries_.erase(oldest);
  }
  entries_[key].in_flight = true;
  lock.unlock();
  auto result = Fetch(issuer, thumbprints);
  lock.lock();
  Entry& e = entries_[key];
  e.in_flight = false;
  e.last_attempt = now;
  if (result.ok()) {
    e.keys = *result;
    e.fetched = now;
    e.failure = Status::Ok();
  } else {
    e.failure = result.status();
  }
  fetched_.notify_all();
  if (!result.ok()) return result.status();
  return e.keys;
}

Status WebIdentityFederation::VerifySignature(const jwt::Token& token, std::string_view issuer,
                                              const std::vector<std::string>& thumbprints) {
  auto matching = [&](const JwksCache::Keys& keys) {
    std::vector<const jwt::PublicKey*> out;
    for (const auto& k : keys) {
      if (k->Suits(token.alg) && (token.kid.empty() || k->kid() == token.kid))
        out.push_back(k.get());
    }
    return out;
  };
  bool refresh = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto keys = jwks_.Get(issuer, thumbprints, refresh, std::chrono::steady_clock::now());
    if (!keys.ok() && keys.status().code() == ErrorCode::kAccessDenied) {
      return InvalidToken(
          "OpenIDConnect provider's HTTPS certificate doesn't match configured "
          "thumbprint");
    }
    if (!keys.ok()) {
      // The details (addresses, HTTP statuses) go to the log, not to an
      // unauthenticated caller, who could otherwise probe the network.
      log::Warn("web identity: cannot fetch the issuer's keys",
                {{"issuer", std::string(issuer)}, {"error", keys.status().message()}});
      return Status::Modeled("IDPCommunicationErrorException",
                             "Couldn't retrieve verification key from your identity provider, "
                             "please reference AssumeRoleWithWebIdentity documentation for "
                             "requirements");
    }
    std::vector<const jwt::PublicKey*> candidates = matching(**keys);
    if (!candidates.empty()) {
      bool valid = std::any_of(candidates.begin(), candidates.end(),
                               [&](const jwt::PublicKey* k) { return k->Verify(token); });
      if (valid) return Status::Ok();
      return InvalidToken("The web identity token's signature could not be verified.");
    }
    refresh = true;  // an unknown kid: the issuer may have rotated its keys
  }
  return InvalidToken(
      "No key of the identity provider's JWKS matches the token's kid and algorithm.");
}

namespace {

// The trust policy's question: may the provider's federated user assume the
// role, with the token's claims as condition keys?
bool TrustAllows(const server::RequestContext& ctx, const internal::RoleRow& role,
                 const internal::OidcProviderInfo& provider, const VerifiedClaims& claims,
                 std::string_view action, const std::vector<server::ConditionKey>& keys) {
  auto trust = CompilePolicy(role.trust_policy, PolicyKind::kTrust, role.Arn());
  if (!trust.ok()) return false;
  PrincipalInfo who;
  who.type = PrincipalType::kWebIdentity;
  who.federated_provider = provider.arn;
  who.account = role.account_id;
  who.id = provider.arn + ":" + claims.audiences.front() + ":" + claims.subject;
  AuthzRequest request(std::move(who), action, role.Arn());
  Environment env;
  env.source_ip = std::string(ctx.source_ip());
  env.secure_transport = ctx.secure_transport();
  env.time = ctx.time();
  env.requested_region = std::string(ctx.region());
  request.AddPlatformKeys(env);
  for (const server::ConditionKey& k : keys) request.keys().Set(k.name, k.values);
  PolicySet set;
  set.resource = trust->get();
  set.resource_policy_required = true;
  return Decide(set, request).allowed;
}

std::vector<server::ConditionKey> TrustKeys(const internal::OidcProviderInfo& provider,
                                            const VerifiedClaims& claims, std::string_view session,
                                            const std::string& source_identity) {
  const std::string& url = provider.url;
  std::vector<server::ConditionKey> keys;
  keys.push_back({url + ":aud", claims.audiences});
  keys.push_back({url + ":sub", {claims.subject}});
  if (!claims.other_audiences.empty()) keys.push_back({url + ":oaud", claims.other_audiences});
  if (!claims.amr.empty()) keys.push_back({url + ":amr", claims.amr});
  keys.push_back({"aws:FederatedProvider", {provider.arn}});
  keys.push_back({"sts:RoleSessionName", {std::string(session)}});
  if (!source_identity.empty()) keys.push_back({"sts:SourceIdentity", {source_identity}});
  return keys;
}

// The source identity an IdP passes in its claim; empty when none.
Result<std::string> SourceIdentityClaim(const json::Value& claims) {
  const json::Value* v = claims.find(kSourceIdentityClaim);
  if (v == nullptr) return std::string();
  if (!v->is_string() || !IsValidSourceIdentity(v->as_string())) {
    return InvalidToken(
        "The token's source identity claim must be 2 to 64 characters of "
        "letters, digits and +=,.@_-.");
  }
  return v->as_string();
}

}  // namespace

Result<json::Value> WebIdentityFederation::AssumeRoleWithWebIdentity(server::RequestContext& ctx,
                                                                     const json::Value& in) {
  std::string role_arn(in.get_string("RoleArn"));
  std::string session(in.get_string("RoleSessionName"));
  if (!in.get_string("ProviderId").empty()) {
    return Status::Error(ErrorCode::kNotImplemented,
                         "AssumeRoleWithWebIdentity with ProviderId (OAuth 2.0 access tokens) is "
                         "not implemented; Rampart accepts OpenID Connect ID tokens.");
  }
  auto arn = Arn::Parse(role_arn);
  if (!arn || arn->account.empty()) return NotAuthorized();
  auto parsed = jwt::Parse(in.get_string("WebIdentityToken"));
  if (!parsed.ok())
    return InvalidToken("The web identity token is malformed: " + parsed.status().message() + ".");
  const jwt::Token& token = *parsed;
  std::string issuer(token.claims.get_string("iss"));
  auto url = internal::OidcProviderUrl(issuer);
  if (!url.ok())
    return InvalidToken("No OpenIDConnect provider found in your account for " + issuer);

  std::optional<internal::OidcProviderInfo> provider;
  std::optional<internal::RoleRow> role;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(provider, internal::FindOidcProvider(tx, arn->account, *url));
    ASSIGN_OR_RETURN(role, internal::FindRoleByArn(tx, role_arn));
    return Status::Ok();
  }));
  if (!provider)
    return InvalidToken("No OpenIDConnect provider found in your account for " + issuer);
  ASSIGN_OR_RETURN(VerifiedClaims claims,
                   CheckClaims(token.claims, provider->client_ids, internal::NowSeconds(ctx),
                               kClockSkewSeconds));
  // The issuer as the provider stores it, so that spellings of one URL
  // ("https://idp/", "HTTPS://idp") share one cache entry and one fetch.
  RETURN_IF_ERROR(VerifySignature(token, "https://" + provider->url, provider->thumbprints));
  if (!role) return NotAuthorized();

  ASSIGN_OR_RETURN(sts_internal::SessionInputs inputs, sts_internal::ReadSessionInputs(db_, in));
  ASSIGN_OR_RETURN(inputs.source_identity, SourceIdentityClaim(token.claims));
  auto keys = TrustKeys(*provider, claims, session, inputs.source_identity);
  if (!TrustAllows(ctx, *role, *provider, claims, kAction, keys)) return NotAuthorized();
  if (!inputs.source_identity.empty() &&
      !TrustAllows(ctx, *role, *provider, claims, "sts:SetSourceIdentity", keys)) {
    return NotAuthorized();
  }

  ASSIGN_OR_RETURN(int64_t duration,
                   sts_internal::ReadDuration(in, sts_internal::kDefaultDuration));
  if (duration > role->max_session_duration) {
    return Status::Validation(
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
  }
  const bool has_policies = inputs.has_policies;
  const int64_t packed = sts_internal::PackedPercent(inputs);
  server::Principal p = sts_internal::RoleSession(*role, session, inputs);
  ASSIGN_OR_RETURN(auto issued,
                   sts_internal::Issue(creds_, p, internal::NowSeconds(ctx), duration));

  json::Value out = json::Value::MakeObject();
  out.set("Credentials", sts_internal::CredentialsJson(p, *issued));
  out.set("SubjectFromWebIdentityToken", claims.subject);
  out.set("AssumedRoleUser", sts_internal::AssumedRoleUserJson(p));
  if (has_policies) out.set("PackedPolicySize", packed);
  out.set("Provider", provider->arn);
  out.set("Audience", claims.audiences.front());
  if (!p.source_identity.empty()) out.set("SourceIdentity", p.source_identity);
  return out;
}

}  // namespace rampart::iam
