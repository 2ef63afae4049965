// AWS Signature Version 4: verification of incoming requests (header and
// presigned-query forms) and signing for our own clients (load generator,
// tests, benchmarks).
//
// Canonicalisation follows the AWS rules for services other than S3
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
// the canonical URI is the request path as it travelled (already
// percent-encoded), with dot segments and empty segments removed, then
// URI-encoded once more ("double encoding", what botocore and the other SDKs
// sign); the canonical query decodes each name and value and re-encodes
// them per RFC 3986, sorted by name then value.
//
// Everything read from the request is hostile: inputs are bounded, parsing
// never asserts, and no error message or log line carries the signature or
// any key.
//
// Thread-safety: all functions are safe to call concurrently. Verify keeps
// a bounded, internally locked cache of derived signing keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/http/message.h"

namespace rampart::http::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
// Allowed clock difference for Authorization-header requests, and how far in
// the future a presigned request's X-Amz-Date may lie.
inline constexpr int64_t kMaxSkewSeconds = 15 * 60;
inline constexpr int64_t kMaxPresignExpiresSeconds = 604800;  // 7 days
// Bounds on hostile input; beyond them a request is refused unparsed.
inline constexpr size_t kMaxAuthorizationLength = 16 * 1024;
inline constexpr size_t kMaxSignedHeaders = 64;
inline constexpr size_t kMaxQueryLength = 64 * 1024;
inline constexpr size_t kMaxQueryParams = 1024;

struct AuthInfo {
  std::string access_key_id;
  std::string date;  // YYYYMMDD from the credential scope
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;  // lowercase, in the order given
  std::string signature;                    // hex as given. Never log it.
  std::string amz_date;                     // YYYYMMDDTHHMMSSZ request time
  bool presigned = false;
  int64_t expires_seconds = 0;  // presigned only
  std::string security_token;   // X-Amz-Security-Token, if present
};

// Reads the Authorization header or, failing that, the presigned query
// parameters (X-Amz-Algorithm, X-Amz-Credential, ...). Checks syntax only:
// no clock, no secret. Errors:
//   kMissingAuthentication  neither form present
//   kIncompleteSignature    malformed header/query, missing parts, bad scope,
//                           unsupported algorithm, missing or malformed date,
//                           'host' not signed, both forms at once, two
//                           Authorization headers, X-Amz-Expires not 1..604800
//   kUnrecognizedClient     access key id not of the AWS form ([A-Za-z0-9_]{1,128})
//   kInvalidQueryParameter  presigned query with a malformed %XX escape
// Messages never contain the signature.
Result<AuthInfo> Parse(const Request& req);

// Checks auth (from Parse(req)) against req, the caller-looked-up secret of
// auth.access_key_id, and the current time. Errors:
//   kRequestExpired        outside +-15 min (header form), or presigned
//                          request expired / more than 15 min in the future
//   kInvalidSignature      scope date is not the request's day, a hex
//                          x-amz-content-sha256 does not match the body, or
//                          the signature does not match
//   kValidation            x-amz-content-sha256 neither hex SHA-256 nor
//                          UNSIGNED-PAYLOAD (or given twice)
//   kInvalidQueryParameter malformed %XX escape in the query, or over bounds
//   kIncompleteSignature   auth not produced by Parse (bad date, host unsigned)
Status Verify(const Request& req, const AuthInfo& auth, const SecretBytes& secret_access_key,
              std::chrono::system_clock::time_point now);

// Client side. Sets X-Amz-Date (and X-Amz-Security-Token when a session
// token is given), then adds an Authorization header signing every header
// except authorization, user-agent, expect, connection, transfer-encoding
// and x-amzn-trace-id. The payload hash is x-amz-content-sha256 when the
// request carries it, else the SHA-256 of the body.
// REQUIRES: req has a Host header; its query is well-formed percent-encoding
// (otherwise no Authorization header is added).
void SignRequest(Request& req, std::string_view access_key_id, const SecretBytes& secret,
                 std::string_view region, std::string_view service,
                 std::chrono::system_clock::time_point now, std::string_view session_token = {});

// Returns req.target with the presigned-URL query parameters (X-Amz-Algorithm,
// -Credential, -Date, -Expires, -SignedHeaders=host, [-Security-Token],
// -Signature) added; only method, target, Host header and body of req are
// read. REQUIRES: 1 <= expires_seconds <= 604800, a Host header, and a
// well-formed query (otherwise the target is returned unchanged).
std::string PresignTarget(const Request& req, std::string_view access_key_id,
                          const SecretBytes& secret, std::string_view region,
                          std::string_view service, std::chrono::system_clock::time_point now,
                          int64_t expires_seconds, std::string_view session_token = {});

}  // namespace rampart::http::sigv4
