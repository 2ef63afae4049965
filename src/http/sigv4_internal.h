// SigV4 building blocks, shared by the sigv4*.cc files and exposed for unit
// tests and the fuzz target. Other rooms use include/rampart/http/sigv4.h.
//
// The implementation is three rooms:
//   sigv4_parse.cc      Parse: the Authorization header and presigned query
//   sigv4_canonical.cc  canonical request, string to sign, dates
//   sigv4.cc            Verify, signing, the signing-key cache
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/crypto/digest.h"
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

// ---- Shared between the sigv4*.cc files

inline constexpr std::string_view kTerminator = "aws4_request";
inline constexpr std::string_view kHostMustBeSigned =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";

inline bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
inline bool IsAlnum(char c) { return IsDigit(c) || IsLower(c) || (c >= 'A' && c <= 'Z'); }
inline bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
// RFC 9110 token characters, lowercase only: what a SignedHeaders entry may
// hold.
bool IsHeaderNameChar(char c);

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

template <typename Pred>
bool AllOf(std::string_view s, Pred pred) {
  return std::all_of(s.begin(), s.end(), pred);
}

// EqualsIgnoreCase (ASCII letters only), inline and without a branch per
// byte: the canonical headers compare every signed name this way.
inline bool SameHeaderName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; };
  char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<char>(lower(a[i]) ^ lower(b[i]));
  return diff == 0;
}

// Request::header, with SameHeaderName.
inline const std::string* FindHeader(const Request& req, std::string_view name) {
  for (const Header& h : req.headers) {
    if (SameHeaderName(h.name, name)) return &h.value;
  }
  return nullptr;
}

// Lowercase hex of a SHA-256 digest or MAC.
void HexLower(const unsigned char (&digest)[crypto::kSha256Size],
              char (&out)[2 * crypto::kSha256Size]);

// Printable ASCII only and bounded, for echoing client input in messages.
std::string Sanitize(std::string_view s, size_t max = 128);
Status Incomplete(std::string message);  // kIncompleteSignature
std::string BadDateMessage(std::string_view value);

// Canonical request (check_payload: verify a hex x-amz-content-sha256
// against the body, as Verify does; the signer trusts its own) and string to
// sign, into reused buffers.
Status BuildCanonicalRequest(const Request& req, const AuthInfo& auth, bool check_payload,
                             std::string& out);
void BuildStringToSign(const AuthInfo& auth, std::string_view canonical_request, std::string& out);

// Per-thread scratch, so a verification allocates (almost) nothing once warm.
struct Scratch {
  std::string canonical;
  std::string to_sign;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::string_view> segments;

  // Big one-off requests must not pin memory in every worker forever.
  void Shrink() {
    constexpr size_t kKeep = 64 * 1024;
    if (canonical.capacity() > kKeep) std::string().swap(canonical);
    if (query.size() > 64) decltype(query)().swap(query);
  }
};
Scratch& ThreadScratch();

}  // namespace rampart::http::sigv4::internal
