// SigV4 building blocks, exposed for unit tests and the fuzz target only.
// Other rooms use include/rampart/http/sigv4.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/http/message.h"
#include "rampart/http/sigv4.h"

namespace rampart::http::sigv4::internal {

// Appends the canonical URI of a raw (still percent-encoded) request path.
void AppendCanonicalUri(std::string_view raw_path, std::string& out);
// Appends the canonical query string of a raw query. Fails with
// kInvalidQueryParameter on a malformed %XX escape or when over the bounds.
Status AppendCanonicalQuery(std::string_view raw_query, bool skip_signature, std::string& out);

// The canonical request and string to sign that Verify would compute.
Result<std::string> CanonicalRequest(const Request& req, const AuthInfo& auth);
Result<std::string> StringToSign(const Request& req, const AuthInfo& auth);
// kSigning of the key derivation chain (raw 32 bytes), uncached.
SecretBytes DeriveSigningKey(const SecretBytes& secret, std::string_view date,
                             std::string_view region, std::string_view service);

// Seconds since the Unix epoch, or nullopt when malformed or not a real
// calendar time. ParseIsoBasic: YYYYMMDDTHHMMSSZ. ParseHttpDate: RFC 1123
// ("Sun, 30 Aug 2015 12:36:00 GMT") or ISO basic. date_only: YYYYMMDD.
std::optional<int64_t> ParseIsoBasic(std::string_view s, bool date_only = false);
std::optional<int64_t> ParseHttpDate(std::string_view s);
std::string FormatIsoBasic(int64_t epoch_seconds);

}  // namespace rampart::http::sigv4::internal
