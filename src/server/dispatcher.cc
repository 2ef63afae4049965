#include "rampart/server/dispatcher.h"

#include <chrono>

#include "rampart/core/arn.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"
#include "rampart/core/log.h"
#include "rampart/core/metrics.h"
#include "rampart/crypto/jwt.h"
#include "rampart/http/sigv4.h"
#include "rampart/protocol/protocol.h"

namespace rampart::server {
namespace {

void PlainText(http::Response& resp, int status, std::string body) {
  resp.status = status;
  resp.set_header("Content-Type", "text/plain; charset=utf-8");
  resp.body = std::move(body);
}

std::string_view HeaderOr(const http::Request& req, std::string_view name) {
  const std::string* v = req.header(name);
  return v ? std::string_view(*v) : std::string_view();
}

// Everything the dispatcher learns about one request, for the response,
// the audit record and the metrics.
struct Exchange {
  Exchange(const http::Request& r, http::Response& w) : req(r), resp(w) {}
  const http::Request& req;
  http::Response& resp;
  std::string request_id = ids::RequestId();
  TimePoint time{};
  const protocol::ServiceModel* service = nullptr;
  std::string_view operation;
  http::sigv4::AuthInfo auth;
  std::shared_ptr<const Credential> credential;
  Principal dev_principal;
  const Principal* principal = nullptr;
  json::Value input;
  bool decoded = false;
  bool unsigned_call = false;  // an STS call AWS serves unsigned (see AcceptUnsigned)
  std::vector<std::string> resource_accounts;  // from the handler's RequestContext
};

// SigV4 signs the path after removing '.', '..' and empty segments, so a
// request for /x/../b carries a valid signature for /b. Routing sees the
// raw path; refuse such paths instead of letting the two views disagree.
bool HasNonCanonicalSegments(std::string_view path) {
  if (path.empty() || path.front() != '/') return true;
  if (path == "/") return false;
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if ((seg.empty() && !last) || seg == "." || seg == "..") return true;
    if (last) return false;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace

void Dispatcher::Handle(const http::Request& req, http::Response& resp) {
  if (HandleOperational(req, resp)) return;
  HandleApi(req, resp);
}

bool Dispatcher::HandleOperational(const http::Request& req, http::Response& resp) {
  std::string_view path = req.path();
  bool has_auth = req.header("Authorization") != nullptr || req.query().find("X-Amz-") != std::string_view::npos;
  if (has_auth) return false;
  if (req.method == "GET" && path == "/health") {
    PlainText(resp, 200, "ok\n");
    return true;
  }
  if (req.method == "GET" && path == "/ready") {
    Status st = d_.db->Read([](store::Tx& tx) { return tx.Exec("SELECT 1;"); });
    bool ready = st.ok() && !draining_.load();
    PlainText(resp, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
    return true;
  }
  if (req.method == "GET" && path == "/metrics") {
    PlainText(resp, 200, metrics::RenderPrometheus());
    resp.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return true;
  }
  if (req.method == "POST" && path == "/_rampart/reset" && d_.config->dev) {
    Status st = d_.reset ? d_.reset() : Status::Internal("no reset hook");
    PlainText(resp, st.ok() ? 200 : 500, st.ok() ? "reset\n" : "reset failed\n");
    return true;
  }
  return false;
}

namespace {

void Fail(Exchange& ex, const Status& st) {
  protocol::Protocol fallback = ex.service ? protocol::ServiceProtocol(*ex.service)
                                           : protocol::GuessProtocol(ex.req);
  if (st.code() == ErrorCode::kInternal) {
    log::Error("request failed", {{"request_id", ex.request_id}, {"error", st.ToString()}});
  }
  protocol::EncodeError(ex.service, fallback, st, ex.request_id, ex.resp);
}

// AWS serves AssumeRoleWithWebIdentity without a signature: the token in
// the request is the credential, so boto3 and the aws CLI send it unsigned.
// The query protocol's Action and Version (form body or query string, as
// the decoder merges them) name the service. The caller is a web identity
// user of the role's account (AdmitUnsigned, once the input is decoded).
constexpr std::string_view kUnsignedStsAction = "AssumeRoleWithWebIdentity";

bool AcceptUnsigned(Exchange& ex, const Config& cfg) {
  std::string_view action;
  std::string_view version;
  auto query = ParseParams(ex.req.query(), true);
  auto body = ParseParams(ex.req.body, true);
  if (!query || !body) return false;
  for (const Params* params : {&*query, &*body}) {
    for (const auto& kv : *params) {
      if (kv.first == "Action") action = kv.second;
      if (kv.first == "Version") version = kv.second;
    }
  }
  if (action != kUnsignedStsAction || version != "2011-06-15") return false;
  ex.service = protocol::FindService("sts");
  if (ex.service == nullptr) return false;
  ex.auth.service = "sts";
  ex.auth.region = cfg.regions.empty() ? std::string("us-east-1") : cfg.regions.front();
  ex.dev_principal = Principal{};
  ex.dev_principal.type = "WebIdentityUser";
  ex.principal = &ex.dev_principal;
  ex.unsigned_call = true;
  return true;
}

// An unsigned request reaches only the operation that may be unsigned; its
// caller belongs to the account of the role it asks for. As CloudTrail
// does, the audit names the identity the token claims (checked or not):
// arn holds the identity provider's ARN, user_name the subject and
// principal_id "<provider>:<audience>:<subject>".
Status AdmitUnsigned(Exchange& ex) {
  if (ex.operation != kUnsignedStsAction) {
    ex.principal = nullptr;
    return Status::Error(ErrorCode::kMissingAuthentication, "Request is missing Authentication Token");
  }
  auto role = Arn::Parse(ex.input.get_string("RoleArn"));
  if (!role) return Status::Ok();
  Principal& who = ex.dev_principal;
  who.account_id = role->account;
  auto token = crypto::jwt::Parse(ex.input.get_string("WebIdentityToken"));
  if (!token.ok()) return Status::Ok();
  std::string provider(token->claims.get_string("iss"));
  if (provider.starts_with("https://")) provider.erase(0, 8);
  while (!provider.empty() && provider.back() == '/') provider.pop_back();
  // Unverified claims: bounded as the handler bounds them (sub 255, the
  // provider URL 255), so that a forged token cannot bloat the record.
  constexpr size_t kMaxClaim = 255;
  if (provider.size() > kMaxClaim) provider.resize(kMaxClaim);
  auto audiences = crypto::jwt::Audiences(token->claims);
  if (!audiences.empty() && audiences.front().size() > kMaxClaim) {
    audiences.front().resize(kMaxClaim);
  }
  who.arn = "arn:aws:iam::" + role->account + ":oidc-provider/" + provider;
  who.user_name = std::string(token->claims.get_string("sub").substr(0, kMaxClaim));
  who.principal_id = who.arn + ":" + (audiences.empty() ? std::string() : audiences.front()) + ":" +
                     who.user_name;
  return Status::Ok();
}

Status Authenticate(Exchange& ex, const Config& cfg, CredentialStore& creds, const Clock& clock) {
  auto parsed = http::sigv4::Parse(ex.req);
  if (!parsed.ok() && parsed.status().code() == ErrorCode::kMissingAuthentication &&
      AcceptUnsigned(ex, cfg)) {
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(ex.auth, std::move(parsed));
  ex.service = protocol::FindService(ex.auth.service);
  if (ex.service == nullptr) {
    return Status::Error(ErrorCode::kUnknownService,
                         "Credential should be scoped to correct service: '" + ex.auth.service + "'.");
  }
  if (!cfg.ServesRegion(ex.auth.region)) {
    return Status::Error(ErrorCode::kIncompleteSignature,
                         "Credential should be scoped to a valid region.");
  }
  auto cred = creds.Find(ex.auth.access_key_id);
  if (!cred.ok()) {
    if (!cfg.dev || cred.status().code() != ErrorCode::kUnrecognizedClient) return cred.status();
    // Development mode only: any unknown key is the dev account's root,
    // unauthenticated, as popular local emulators do. Never in production.
    ex.dev_principal = {std::string(kDevAccountId), RootArn(kDevAccountId), "Root",
                        std::string(kDevAccountId), "", ex.auth.access_key_id, ""};
    ex.principal = &ex.dev_principal;
    return Status::Ok();
  }
  ex.credential = std::move(cred).value();
  RETURN_IF_ERROR(http::sigv4::Verify(ex.req, ex.auth, ex.credential->secret, clock.Now()));
  // Long-term keys take no session token; temporary credentials (STS
  // sessions) need theirs, unexpired.
  RETURN_IF_ERROR(CheckSessionToken(*ex.credential, ex.auth.security_token, clock.Now()));
  ex.principal = &ex.credential->principal;
  return Status::Ok();
}

}  // namespace

void Dispatcher::HandleApi(const http::Request& req, http::Response& resp) {
  auto started = std::chrono::steady_clock::now();
  Exchange ex(req, resp);
  ex.time = d_.clock->Now();
  json::Value output;
  Status st;
  if (req.body_too_large) {
    resp.close = true;
    st = Status::Error(ErrorCode::kRequestTooLarge,
                       "Request body exceeds the limit of " + std::to_string(d_.config->body_limit) +
                           " bytes.");
  } else if (HasNonCanonicalSegments(req.path())) {
    st = Status::Error(ErrorCode::kValidation,
                       "The request path must not contain empty, '.' or '..' segments.");
  } else {
    st = Authenticate(ex, *d_.config, *d_.credentials, *d_.clock);
  }
  if (st.ok()) {
    auto decoded = protocol::Decode(*ex.service, req);
    if (decoded.ok()) {
      ex.operation = protocol::OperationName(*decoded->op);
      ex.input = std::move(decoded->input);
      ex.decoded = true;
      const OperationHandler* handler = d_.registry->Find(ex.auth.service, ex.operation);
      if (ex.unsigned_call) st = AdmitUnsigned(ex);
      if (!st.ok()) {
        // An unsigned request for an operation that needs a signature.
      } else if (handler == nullptr) {
        st = Status::Error(ErrorCode::kNotImplemented,
                           "Rampart does not implement " + std::string(ex.auth.service) + ":" +
                               std::string(ex.operation) + " yet.");
      } else {
        RequestContext ctx({ex.principal, ex.auth.service, ex.operation, ex.auth.region,
                            ex.request_id, req.remote_ip, HeaderOr(req, "User-Agent"), req.tls,
                            ex.time, d_.config, d_.db, d_.authorizer, d_.clock});
        d_.audit->Begin({ex.time, ex.request_id, ex.auth.service, ex.operation, ex.auth.region,
                         ex.principal, ex.auth.access_key_id, req.remote_ip,
                         HeaderOr(req, "User-Agent"), req.tls, &ex.input, nullptr, nullptr, 0,
                         nullptr, HeaderOr(req, "Host")});
        auto result = (*handler)(ctx, ex.input);
        if (result.ok()) {
          output = std::move(result).value();
        } else {
          st = result.status();
        }
        ex.resource_accounts = ctx.resource_accounts();
      }
      if (st.ok()) protocol::EncodeOutput(*ex.service, *decoded->op, output, ex.request_id, resp);
    } else {
      st = decoded.status();
    }
  }
  if (!st.ok()) Fail(ex, st);
  if (!st.ok() && ex.principal == nullptr && ex.service != nullptr && ex.operation.empty()) {
    // Authentication failed: name the operation in the audit record anyway.
    auto routed = protocol::Decode(*ex.service, req);
    if (routed.ok()) ex.operation = protocol::OperationName(*routed->op);
  }

  AuditRecord rec{ex.time, ex.request_id, ex.auth.service, ex.operation, ex.auth.region,
                  ex.principal, ex.auth.access_key_id, req.remote_ip, HeaderOr(req, "User-Agent"),
                  req.tls, ex.decoded ? &ex.input : nullptr, st.ok() ? &output : nullptr,
                  st.ok() ? nullptr : &st, resp.status,
                  ex.principal == nullptr && ex.credential ? &ex.credential->principal : nullptr,
                  HeaderOr(req, "Host"), ex.resource_accounts, req.tls_version, req.tls_cipher};
  d_.audit->Record(rec);
  metrics::RecordRequest(ex.service ? ex.auth.service : std::string_view("unknown"),
                         ex.operation.empty() ? std::string_view("unknown") : ex.operation,
                         resp.status, std::chrono::steady_clock::now() - started);
}

}  // namespace rampart::server
