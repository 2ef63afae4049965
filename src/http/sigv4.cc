// AWS Signature Version 4, following
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html
// for the error texts.
#include "rampart/http/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>

#include "http/sigv4_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/crypto/digest.h"

namespace rampart::http::sigv4 {
namespace {

using crypto::kSha256Size;
using crypto::Sha256Out;

constexpr std::string_view kTerminator = "aws4_request";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kHexLower[] = "0123456789abcdef";
constexpr size_t kMaxEchoLength = 512;

constexpr std::string_view kMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr std::string_view kPresignRequiredMessage =
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";
constexpr std::string_view kHostMustBeSigned =
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";

Status Incomplete(std::string message) {
  return Status::Error(ErrorCode::kIncompleteSignature, std::move(message));
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlnum(char c) { return IsDigit(c) || IsLower(c) || (c >= 'A' && c <= 'Z'); }
bool IsUnreserved(char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.' || c == '~'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;  // REQUIRES: IsHex(c)
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

template <typename Pred>
bool AllOf(std::string_view s, Pred pred) {
  return std::all_of(s.begin(), s.end(), pred);
}

// Printable ASCII only and bounded, for echoing client input in messages.
std::string Sanitize(std::string_view s, size_t max = 128) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max) out += "...";
  return out;
}

void AppendEncodedByte(unsigned char b, std::string& out) {
  if (IsUnreserved(static_cast<char>(b))) {
    out += static_cast<char>(b);
  } else {
    out += '%';
    out += kHexUpper[b >> 4];
    out += kHexUpper[b & 0xF];
  }
}

// Decodes %XX escapes of in and re-encodes the bytes per RFC 3986 into out.
bool AppendReencoded(std::string_view in, std::string& out) {
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(in[i]);
    if (in[i] == '%') {
      if (in.size() - i < 3 || !IsHex(in[i + 1]) || !IsHex(in[i + 2])) return false;
      b = static_cast<unsigned char>((HexValue(in[i + 1]) << 4) | HexValue(in[i + 2]));
      i += 2;
    }
    AppendEncodedByte(b, out);
  }
  return true;
}

void AppendHexLower(const unsigned char* p, size_t n, std::string& out) {
  char buf[2 * kSha256Size];
  while (n > 0) {
    size_t chunk = std::min(n, kSha256Size);
    for (size_t i = 0; i < chunk; ++i) {
      buf[2 * i] = kHexLower[p[i] >> 4];
      buf[2 * i + 1] = kHexLower[p[i] & 0xF];
    }
    out.append(buf, 2 * chunk);
    p += chunk;
    n -= chunk;
  }
}

// Appends s URI-encoded byte by byte, copying unreserved runs whole.
void AppendEncoded(std::string_view s, std::string& out) {
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (IsUnreserved(s[i])) continue;
    out.append(s.data() + run, i - run);
    AppendEncodedByte(static_cast<unsigned char>(s[i]), out);
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

// Appends a header value trimmed, with inner whitespace runs collapsed to
// one space (AWS "Trimall").
void AppendTrimmedValue(std::string_view v, std::string& out) {
  v = Trim(v);
  while (!v.empty()) {
    size_t i = 0;
    while (i < v.size() && !IsSpace(v[i])) ++i;
    out.append(v.data(), i);
    v.remove_prefix(i);
    if (v.empty()) break;
    out += ' ';
    while (!v.empty() && IsSpace(v.front())) v.remove_prefix(1);
  }
}

// ---- Authorization echo (AWS appends "Authorization=<header>" to some
// errors; we do too, with the signature value withheld).

std::string EchoAuthorizationValue(std::string_view header) {
  header = Trim(header.substr(0, kMaxAuthorizationLength));
  size_t sp = header.find(' ');
  std::string out = Sanitize(header.substr(0, sp), 64);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : header.substr(sp);
  bool first = true;
  while (!rest.empty() && out.size() < kMaxEchoLength) {
    size_t comma = rest.find(',');
    std::string_view part = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (part.empty()) continue;
    out += first ? " " : ", ";
    first = false;
    std::string_view key = Trim(part.substr(0, part.find('=')));
    if (key.size() >= 9 && EqualsIgnoreCase(key.substr(key.size() - 9), "signature")) {
      out += "Signature=<redacted>";
    } else {
      out += Sanitize(part, 256);
    }
  }
  return out;
}

std::string EchoAuthorization(std::string_view header) {
  return "Authorization=" + EchoAuthorizationValue(header);
}

// ---- Scope and signed headers

struct Scope {
  std::string_view access_key_id, date, region, service;
};

bool IsScopeDate(std::string_view d) {
  return d.size() == 8 && internal::ParseIsoBasic(d, /*date_only=*/true).has_value();
}

Result<Scope> ParseCredential(std::string_view credential) {
  std::array<std::string_view, 5> parts;
  if (std::count(credential.begin(), credential.end(), '/') != 4) {
    return Incomplete(
        "Credential must have exactly 5 slash-delimited elements, e.g. "
        "keyid/date/region/service/term, got '" +
        Sanitize(credential) + "'");
  }
  std::string_view rest = credential;
  for (auto& part : parts) {
    size_t slash = rest.find('/');
    part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  Scope s{parts[0], parts[1], parts[2], parts[3]};
  auto is_word = [](char c) { return IsAlnum(c) || c == '_'; };
  if (s.access_key_id.empty() || s.access_key_id.size() > 128 || !AllOf(s.access_key_id, is_word)) {
    return Status::Error(ErrorCode::kUnrecognizedClient,
                         "The security token included in the request is invalid.");
  }
  if (!IsScopeDate(s.date)) {
    return Incomplete("Credential should be scoped to a valid date in yyyyMMdd format, not '" +
                      Sanitize(s.date, 32) + "'.");
  }
  auto is_name = [](char c) { return IsAlnum(c) || c == '-' || c == '_'; };
  if (s.region.empty() || s.region.size() > 64 || !AllOf(s.region, is_name)) {
    return Incomplete("Credential should be scoped to a valid region.");
  }
  if (s.service.empty() || s.service.size() > 64 || !AllOf(s.service, is_name)) {
    return Incomplete("Credential should be scoped to a valid service.");
  }
  if (parts[4] != kTerminator) {
    return Incomplete("Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                      Sanitize(parts[4], 32) + "'.");
  }
  return s;
}

// RFC 9110 token characters, lowercase only (a table: this runs per byte of
// every SignedHeaders list).
constexpr std::array<bool, 256> MakeHeaderNameTable() {
  std::array<bool, 256> t{};
  for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = true;
  for (char c = 'a'; c <= 'z'; ++c) t[static_cast<unsigned char>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kHeaderNameTable = MakeHeaderNameTable();
bool IsHeaderNameChar(char c) { return kHeaderNameTable[static_cast<unsigned char>(c)]; }

Status ParseSignedHeaders(std::string_view list, std::vector<std::string>& out) {
  out.clear();
  out.reserve(8);
  while (true) {
    size_t semi = list.find(';');
    std::string_view name = list.substr(0, semi);
    if (name.empty() || !AllOf(name, IsHeaderNameChar) || out.size() >= kMaxSignedHeaders) {
      return Incomplete("SignedHeaders must be a ';'-separated list of at most " +
                        std::to_string(kMaxSignedHeaders) + " lowercase header names.");
    }
    out.emplace_back(name);
    if (semi == std::string_view::npos) break;
    list = list.substr(semi + 1);
  }
  if (std::find(out.begin(), out.end(), "host") == out.end())
    return Incomplete(std::string(kHostMustBeSigned));
  return Status::Ok();
}

Status FillScope(std::string_view credential, AuthInfo& auth) {
  ASSIGN_OR_RETURN(Scope s, ParseCredential(credential));
  auth.access_key_id = s.access_key_id;
  auth.date = s.date;
  auth.region = s.region;
  auth.service = s.service;
  return Status::Ok();
}

std::string BadDateMessage(std::string_view value) {
  return "Date must be in ISO-8601 'basic format'. Got '" + Sanitize(value, 64) +
         "'. See http://en.wikipedia.org/wiki/ISO_8601";
}

// ---- Authorization header form

Result<AuthInfo> ParseHeaderForm(const Request& req, std::string_view header) {
  if (header.size() > kMaxAuthorizationLength)
    return Incomplete("Authorization header is too long.");
  std::string_view h = Trim(header);
  size_t sp = h.find(' ');
  std::string_view algorithm = h.substr(0, sp);
  if (algorithm != kAlgorithm) {
    return Incomplete("Unsupported AWS 'algorithm': '" + Sanitize(algorithm, 64) + "'");
  }
  std::string_view credential, signed_headers, signature;
  bool has_credential = false, has_signed = false, has_signature = false;
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : h.substr(sp + 1);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view part = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return Incomplete(
          "'" + Sanitize(part, 64) +
          "' not a valid key=value pair (missing equal-sign) in Authorization header: '" +
          EchoAuthorizationValue(header) + "'.");
    }
    std::string_view key = Trim(part.substr(0, eq));
    std::string_view value = Trim(part.substr(eq + 1));
    std::string_view* slot = nullptr;
    bool* seen = nullptr;
    if (key == "Credential") {
      slot = &credential;
      seen = &has_credential;
    } else if (key == "SignedHeaders") {
      slot = &signed_headers;
      seen = &has_signed;
    } else if (key == "Signature") {
      slot = &signature;
      seen = &has_signature;
    } else {
      continue;  // unknown parameters are ignored
    }
    if (*seen) {
      return Incomplete("Authorization header has a duplicate '" + std::string(key) +
                        "' parameter.");
    }
    *seen = true;
    *slot = value;
  }
  const std::string* amz_date = req.header("x-amz-date");
  const std::string* http_date = amz_date ? nullptr : req.header("date");
  std::string missing;
  if (!has_credential) missing += "Authorization header requires 'Credential' parameter. ";
  if (!has_signature) missing += "Authorization header requires 'Signature' parameter. ";
  if (!has_signed) missing += "Authorization header requires 'SignedHeaders' parameter. ";
  if (!amz_date && !http_date) {
    missing +=
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ";
  }
  if (!missing.empty()) return Incomplete(missing + EchoAuthorization(header));

  AuthInfo auth;
  RETURN_IF_ERROR(FillScope(credential, auth));
  RETURN_IF_ERROR(ParseSignedHeaders(signed_headers, auth.signed_headers));
  if (signature.empty())
    return Incomplete("Authorization header requires 'Signature' parameter. " +
                      EchoAuthorization(header));
  auth.signature = signature;
  std::optional<int64_t> when = amz_date ? internal::ParseIsoBasic(Trim(*amz_date))
                                         : internal::ParseHttpDate(Trim(*http_date));
  if (!when) return Incomplete(BadDateMessage(amz_date ? *amz_date : *http_date));
  auth.amz_date = internal::FormatIsoBasic(*when);
  if (const std::string* token = req.header("x-amz-security-token")) auth.security_token = *token;
  return auth;
}

// ---- Presigned query form

bool IsPresignName(std::string_view decoded) {
  return decoded == "X-Amz-Algorithm" || decoded == "X-Amz-Credential" ||
         decoded == "X-Amz-Signature";
}

// Cheap scan: does the query carry presigned-URL parameters?
bool QueryHasPresignParams(std::string_view q) {
  if (q.find("X-Amz-") == std::string_view::npos && q.find('%') == std::string_view::npos)
    return false;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    std::string_view name = pair.substr(0, pair.find('='));
    if (name.size() > 64) continue;
    if (name.find('%') == std::string_view::npos) {
      if (IsPresignName(name)) return true;
    } else if (auto decoded = UriDecode(name); decoded && IsPresignName(*decoded)) {
      return true;
    }
  }
  return false;
}

Result<AuthInfo> ParsePresigned(std::string_view query) {
  if (query.size() > kMaxQueryLength) return Incomplete("Query string is too long.");
  auto params = ParseParams(query, /*plus_is_space=*/false);
  if (!params)
    return Status::Error(ErrorCode::kInvalidQueryParameter,
                         "Malformed percent-encoding in query string.");
  if (params->size() > kMaxQueryParams) return Incomplete("Too many query parameters.");
  constexpr std::array<std::string_view, 7> kNames = {
      "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",          "X-Amz-Expires",
      "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token"};
  std::array<const std::string*, kNames.size()> found{};
  for (const auto& [name, value] : *params) {
    for (size_t i = 0; i < kNames.size(); ++i) {
      if (name != kNames[i]) continue;
      if (found[i])
        return Incomplete("Query string has a duplicate '" + std::string(kNames[i]) +
                          "' parameter.");
      found[i] = &value;
    }
  }
  for (size_t i = 0; i < 6; ++i) {
    if (!found[i] || found[i]->empty()) return Incomplete(std::string(kPresignRequiredMessage));
  }
  if (*found[0] != kAlgorithm) {
    return Incomplete("Unsupported AWS 'algorithm': '" + Sanitize(*found[0], 64) + "'");
  }
  AuthInfo auth;
  auth.presigned = true;
  RETURN_IF_ERROR(FillScope(*found[1], auth));
  std::optional<int64_t> when = internal::ParseIsoBasic(*found[2]);
  if (!when) return Incomplete(BadDateMessage(*found[2]));
  auth.amz_date = internal::FormatIsoBasic(*when);
  const std::string& expires = *found[3];
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(expires.data(), expires.data() + expires.size(), seconds);
  if (!AllOf(expires, IsDigit) || (ec != std::errc() && ec != std::errc::result_out_of_range) ||
      end != expires.data() + expires.size()) {
    return Incomplete("X-Amz-Expires should be a number of seconds between 1 and 604800.");
  }
  if (ec == std::errc::result_out_of_range || seconds > kMaxPresignExpiresSeconds) {
    return Incomplete("X-Amz-Expires must be less than a week (in seconds) that is 604800");
  }
  if (seconds < 1) return Incomplete("X-Amz-Expires must be at least 1 second.");
  auth.expires_seconds = seconds;
  RETURN_IF_ERROR(ParseSignedHeaders(*found[4], auth.signed_headers));
  auth.signature = *found[5];
  if (found[6]) auth.security_token = *found[6];
  return auth;
}

// ---- Canonical request

// Appends the canonical header block and the signed-headers line.
void AppendCanonicalHeaders(const Request& req, const AuthInfo& auth, std::string& out) {
  for (const std::string& name : auth.signed_headers) {
    out += name;
    out += ':';
    bool first = true;
    for (const Header& h : req.headers) {
      if (!EqualsIgnoreCase(h.name, name)) continue;
      if (!first) out += ',';
      first = false;
      AppendTrimmedValue(h.value, out);
    }
    out += '\n';
  }
  out += '\n';
  for (size_t i = 0; i < auth.signed_headers.size(); ++i) {
    if (i > 0) out += ';';
    out += auth.signed_headers[i];
  }
  out += '\n';
}

// The payload line: x-amz-content-sha256 when present (checked against the
// body unless UNSIGNED-PAYLOAD), else the hex SHA-256 of the body.
Status AppendPayloadHash(const Request& req, bool check, std::string& out) {
  const std::string* declared = nullptr;
  for (const Header& h : req.headers) {
    if (!EqualsIgnoreCase(h.name, "x-amz-content-sha256")) continue;
    if (declared && check) return Status::Validation("Multiple x-amz-content-sha256 headers.");
    if (!declared) declared = &h.value;
  }
  if (declared && (*declared == kUnsignedPayload || !check)) {
    out += *declared;
    return Status::Ok();
  }
  if (declared && (declared->size() != 2 * kSha256Size || !AllOf(*declared, IsHex))) {
    return Status::Validation(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, or a valid sha256 value.");
  }
  unsigned char digest[kSha256Size];
  crypto::Sha256Into(req.body, Sha256Out(digest, kSha256Size));
  size_t start = out.size();
  AppendHexLower(digest, kSha256Size, out);
  if (!declared) return Status::Ok();
  bool same = true;
  for (size_t i = 0; i < 2 * kSha256Size; ++i) {
    char c = (*declared)[i];
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    same &= c == out[start + i];
  }
  if (!same) {
    return Status::Error(
        ErrorCode::kInvalidSignature,
        "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  out.replace(start, std::string::npos, *declared);
  return Status::Ok();
}

Status BuildCanonicalRequest(const Request& req, const AuthInfo& auth, bool check_payload,
                             std::string& out) {
  out.clear();
  out += req.method;
  out += '\n';
  internal::AppendCanonicalUri(req.path(), out);
  out += '\n';
  RETURN_IF_ERROR(internal::AppendCanonicalQuery(req.query(), auth.presigned, out));
  out += '\n';
  AppendCanonicalHeaders(req, auth, out);
  return AppendPayloadHash(req, check_payload, out);
}

void BuildStringToSign(const AuthInfo& auth, std::string_view canonical_request, std::string& out) {
  unsigned char digest[kSha256Size];
  crypto::Sha256Into(canonical_request, Sha256Out(digest, kSha256Size));
  out.clear();
  out += kAlgorithm;
  out += '\n';
  out += auth.amz_date;
  out += '\n';
  out += auth.date;
  out += '/';
  out += auth.region;
  out += '/';
  out += auth.service;
  out += '/';
  out += kTerminator;
  out += '\n';
  AppendHexLower(digest, kSha256Size, out);
}

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

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

// ---- Signing keys

// Derived signing keys, keyed by (access key id, date, region, service) and a
// SHA-256 fingerprint of the secret, so a rotated secret never reuses a stale
// key. Direct-mapped and fixed-size: an entry lives until a colliding scope
// replaces it. Thread-safe: each slot has its own mutex, which guards all of
// the slot's fields.
class SigningKeyCache {
 public:
  void Get(const SecretBytes& secret, const AuthInfo& a, unsigned char (&out)[kSha256Size]) {
    unsigned char fp[kSha256Size];
    crypto::Sha256Into(secret.reveal(), Sha256Out(fp, kSha256Size));
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    auto mix = [&h](std::string_view s) {
      for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
      h = (h ^ 0xff) * 1099511628211ull;
    };
    mix(a.access_key_id);
    mix(a.date);
    mix(a.region);
    mix(a.service);
    mix(std::string_view(reinterpret_cast<const char*>(fp), 8));
    Slot& slot = slots_[h % kSlots];
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      if (slot.used && slot.access_key_id == a.access_key_id && slot.date == a.date &&
          slot.region == a.region && slot.service == a.service &&
          CRYPTO_memcmp(slot.fingerprint, fp, kSha256Size) == 0) {
        std::memcpy(out, slot.key.reveal().data(), kSha256Size);
        return;
      }
    }
    SecretBytes key = internal::DeriveSigningKey(secret, a.date, a.region, a.service);
    std::memcpy(out, key.reveal().data(), kSha256Size);
    std::lock_guard<std::mutex> lock(slot.mu);
    slot.used = true;
    slot.access_key_id = a.access_key_id;
    slot.date = a.date;
    slot.region = a.region;
    slot.service = a.service;
    std::memcpy(slot.fingerprint, fp, kSha256Size);
    slot.key = std::move(key);
  }

 private:
  static constexpr size_t kSlots = 512;
  struct Slot {
    std::mutex mu;
    bool used = false;
    std::string access_key_id, date, region, service;
    unsigned char fingerprint[kSha256Size] = {};
    SecretBytes key;
  };
  std::array<Slot, kSlots> slots_;
};

SigningKeyCache& KeyCache() {
  static SigningKeyCache* const cache = new SigningKeyCache();  // never destroyed: used at exit
  return *cache;
}

// Hex signature of string_to_sign; 64 lowercase characters into out.
void ComputeSignature(const SecretBytes& secret, const AuthInfo& auth,
                      std::string_view string_to_sign, char (&out)[2 * kSha256Size]) {
  unsigned char key[kSha256Size];
  unsigned char mac[kSha256Size];
  KeyCache().Get(secret, auth, key);
  crypto::HmacSha256Into(std::string_view(reinterpret_cast<const char*>(key), kSha256Size),
                         string_to_sign, Sha256Out(mac, kSha256Size));
  for (size_t i = 0; i < kSha256Size; ++i) {
    out[2 * i] = kHexLower[mac[i] >> 4];
    out[2 * i + 1] = kHexLower[mac[i] & 0xF];
  }
  OPENSSL_cleanse(key, sizeof(key));
}

int64_t EpochSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

Status CheckTime(const AuthInfo& auth, int64_t request_time, int64_t now) {
  using internal::FormatIsoBasic;
  if (auth.presigned) {
    if (now > request_time + auth.expires_seconds) {
      return Status::Error(ErrorCode::kRequestExpired, "Request has expired");
    }
  } else if (request_time < now - kMaxSkewSeconds) {
    return Status::Error(ErrorCode::kRequestExpired,
                         "Signature expired: " + auth.amz_date + " is now earlier than " +
                             FormatIsoBasic(now - kMaxSkewSeconds) + " (" + FormatIsoBasic(now) +
                             " - 15 min.)");
  }
  if (request_time > now + kMaxSkewSeconds) {
    return Status::Error(ErrorCode::kRequestExpired,
                         "Signature not yet current: " + auth.amz_date + " is still later than " +
                             FormatIsoBasic(now + kMaxSkewSeconds) + " (" + FormatIsoBasic(now) +
                             " + 15 min.)");
  }
  return Status::Ok();
}

// The headers a client signs: all but hop-by-hop and proxy-rewritten ones.
bool SkipWhenSigning(std::string_view name) {
  for (std::string_view skip : {"authorization", "user-agent", "expect", "connection",
                                "transfer-encoding", "x-amzn-trace-id"}) {
    if (EqualsIgnoreCase(name, skip)) return true;
  }
  return false;
}

void RemoveHeader(Request& req, std::string_view name) {
  std::erase_if(req.headers, [name](const Header& h) { return EqualsIgnoreCase(h.name, name); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Client-side: canonical request, string to sign and hex signature.
bool SignInto(const Request& req, const AuthInfo& auth, const SecretBytes& secret,
              char (&signature)[2 * kSha256Size]) {
  Scratch& s = ThreadScratch();
  if (!BuildCanonicalRequest(req, auth, /*check_payload=*/false, s.canonical).ok()) return false;
  BuildStringToSign(auth, s.canonical, s.to_sign);
  ComputeSignature(secret, auth, s.to_sign, signature);
  s.Shrink();
  return true;
}

AuthInfo ClientAuth(std::string_view access_key_id, std::string_view region,
                    std::string_view service, std::chrono::system_clock::time_point now) {
  AuthInfo a;
  a.access_key_id = access_key_id;
  a.amz_date = internal::FormatIsoBasic(EpochSeconds(now));
  a.date = a.amz_date.substr(0, 8);
  a.region = region;
  a.service = service;
  return a;
}

}  // namespace

// ---- internal

namespace internal {

void AppendCanonicalUri(std::string_view path, std::string& out) {
  if (path.empty()) {
    out += '/';
    return;
  }
  // Remove "." and ".." segments and empty segments (RFC 3986 5.2.4, plus
  // AWS's collapsing of duplicate slashes), on the path as it travelled.
  std::vector<std::string_view>& segs = ThreadScratch().segments;
  segs.clear();
  std::string_view rest = path;
  while (true) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (seg == "..") {
      if (!segs.empty()) segs.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segs.push_back(seg);
    }
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  if (path.front() == '/') out += '/';
  for (size_t i = 0; i < segs.size(); ++i) {
    if (i > 0) out += '/';
    // The segment is already percent-encoded on the wire; encoding it again
    // is the "double encoding" AWS specifies for every service but S3.
    AppendEncoded(segs[i], out);
  }
  if (path.back() == '/' && !segs.empty()) out += '/';
}

Status AppendCanonicalQuery(std::string_view query, bool skip_signature, std::string& out) {
  if (query.empty()) return Status::Ok();
  if (query.size() > kMaxQueryLength) {
    return Status::Error(ErrorCode::kInvalidQueryParameter, "Query string is too long.");
  }
  auto& pairs = ThreadScratch().query;
  size_t n = 0;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (n >= kMaxQueryParams) {
      return Status::Error(ErrorCode::kInvalidQueryParameter, "Too many query parameters.");
    }
    if (pairs.size() <= n) pairs.emplace_back();
    auto& [cname, cvalue] = pairs[n];
    cname.clear();
    cvalue.clear();
    if (!AppendReencoded(name, cname) || !AppendReencoded(value, cvalue)) {
      return Status::Error(ErrorCode::kInvalidQueryParameter,
                           "Malformed percent-encoding in query string.");
    }
    if (skip_signature && cname == "X-Amz-Signature") continue;
    ++n;
  }
  std::sort(pairs.begin(), pairs.begin() + static_cast<std::ptrdiff_t>(n));
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += '&';
    out += pairs[i].first;
    out += '=';
    out += pairs[i].second;
  }
  return Status::Ok();
}

Result<std::string> CanonicalRequest(const Request& req, const AuthInfo& auth) {
  std::string out;
  RETURN_IF_ERROR(BuildCanonicalRequest(req, auth, true, out));
  return out;
}

Result<std::string> StringToSign(const Request& req, const AuthInfo& auth) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalRequest(req, auth));
  std::string out;
  BuildStringToSign(auth, canonical, out);
  return out;
}

SecretBytes DeriveSigningKey(const SecretBytes& secret, std::string_view date,
                             std::string_view region, std::string_view service) {
  SecretBytes k_secret(4 + secret.size());
  std::memcpy(k_secret.mutable_data(), "AWS4", 4);
  if (!secret.empty())
    std::memcpy(k_secret.mutable_data() + 4, secret.reveal().data(), secret.size());
  SecretBytes a(kSha256Size);
  SecretBytes b(kSha256Size);
  auto out = [](SecretBytes& s) {
    return Sha256Out(reinterpret_cast<unsigned char*>(s.mutable_data()), kSha256Size);
  };
  crypto::HmacSha256Into(k_secret.reveal(), date, out(a));
  crypto::HmacSha256Into(a.reveal(), region, out(b));
  crypto::HmacSha256Into(b.reveal(), service, out(a));
  crypto::HmacSha256Into(a.reveal(), kTerminator, out(b));
  return b;
}

namespace {
bool ReadInt(std::string_view s, size_t pos, size_t len, int& out) {
  out = 0;
  for (size_t i = pos; i < pos + len; ++i) {
    if (i >= s.size() || !IsDigit(s[i])) return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::optional<int64_t> ToEpoch(int y, int mo, int d, int h, int mi, int sec) {
  using namespace std::chrono;
  if (y < 1970 || h > 23 || mi > 59 || sec > 59) return std::nullopt;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  int64_t days = sys_days(ymd).time_since_epoch().count();
  return days * 86400 + h * 3600 + mi * 60 + sec;
}
}  // namespace

std::optional<int64_t> ParseIsoBasic(std::string_view s, bool date_only) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (s.size() != (date_only ? 8u : 16u)) return std::nullopt;
  if (!ReadInt(s, 0, 4, y) || !ReadInt(s, 4, 2, mo) || !ReadInt(s, 6, 2, d)) return std::nullopt;
  if (!date_only && (s[8] != 'T' || s[15] != 'Z' || !ReadInt(s, 9, 2, h) ||
                     !ReadInt(s, 11, 2, mi) || !ReadInt(s, 13, 2, sec))) {
    return std::nullopt;
  }
  return ToEpoch(y, mo, d, h, mi, sec);
}

std::optional<int64_t> ParseHttpDate(std::string_view s) {
  if (s.size() == 16) return ParseIsoBasic(s);
  // RFC 7231 IMF-fixdate (RFC 1123): "Sun, 30 Aug 2015 12:36:00 GMT".
  static constexpr std::string_view kDays = "MonTueWedThuFriSatSun";
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  size_t day_name = kDays.find(s.substr(0, 3));
  size_t mon = kMonths.find(s.substr(8, 3));
  if (day_name == std::string_view::npos || day_name % 3 != 0 || mon == std::string_view::npos ||
      mon % 3 != 0) {
    return std::nullopt;
  }
  int y, d, h, mi, sec;
  if (!ReadInt(s, 5, 2, d) || !ReadInt(s, 12, 4, y) || !ReadInt(s, 17, 2, h) ||
      !ReadInt(s, 20, 2, mi) || !ReadInt(s, 23, 2, sec)) {
    return std::nullopt;
  }
  return ToEpoch(y, static_cast<int>(mon / 3) + 1, d, h, mi, sec);
}

std::string FormatIsoBasic(int64_t t) {
  using namespace std::chrono;
  sys_seconds tp{seconds{t}};
  sys_days dp = floor<days>(tp);
  year_month_day ymd{dp};
  hh_mm_ss hms{tp - dp};
  auto put = [](char* p, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
  };
  std::string out = "00000000T000000Z";
  put(&out[0], static_cast<unsigned>(static_cast<int>(ymd.year())) % 10000, 4);
  put(&out[4], static_cast<unsigned>(ymd.month()), 2);
  put(&out[6], static_cast<unsigned>(ymd.day()), 2);
  put(&out[9], static_cast<unsigned>(hms.hours().count()), 2);
  put(&out[11], static_cast<unsigned>(hms.minutes().count()), 2);
  put(&out[13], static_cast<unsigned>(hms.seconds().count()), 2);
  return out;
}

}  // namespace internal

// ---- public API

Result<AuthInfo> Parse(const Request& req) {
  const std::string* header = nullptr;
  for (const Header& h : req.headers) {
    if (!EqualsIgnoreCase(h.name, "authorization")) continue;
    if (header) return Incomplete("Only one Authorization header may be specified.");
    header = &h.value;
  }
  bool query_auth = QueryHasPresignParams(req.query());
  if (header && query_auth) {
    return Incomplete(
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
        "Signature query string parameter or the Authorization header should be "
        "specified");
  }
  if (header) return ParseHeaderForm(req, *header);
  if (query_auth) return ParsePresigned(req.query());
  return Status::Error(ErrorCode::kMissingAuthentication,
                       "Request is missing Authentication Token");
}

Status Verify(const Request& req, const AuthInfo& auth, const SecretBytes& secret_access_key,
              std::chrono::system_clock::time_point now) {
  std::optional<int64_t> request_time = internal::ParseIsoBasic(auth.amz_date);
  if (!request_time) return Incomplete(BadDateMessage(auth.amz_date));
  if (std::find(auth.signed_headers.begin(), auth.signed_headers.end(), "host") ==
      auth.signed_headers.end()) {
    return Incomplete(std::string(kHostMustBeSigned));
  }
  if (auth.date != std::string_view(auth.amz_date).substr(0, 8)) {
    return Status::Error(
        ErrorCode::kInvalidSignature,
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
        "date from HTTP: '" +
            Sanitize(auth.date, 32) + "' != '" + auth.amz_date.substr(0, 8) + "', from '" +
            auth.amz_date + "'.");
  }
  RETURN_IF_ERROR(CheckTime(auth, *request_time, EpochSeconds(now)));

  Scratch& s = ThreadScratch();
  Status built = BuildCanonicalRequest(req, auth, /*check_payload=*/true, s.canonical);
  if (!built.ok()) {
    s.Shrink();
    return built;
  }
  BuildStringToSign(auth, s.canonical, s.to_sign);
  char expected[2 * kSha256Size];
  ComputeSignature(secret_access_key, auth, s.to_sign, expected);
  s.Shrink();
  if (!ConstantTimeEquals(std::string_view(expected, sizeof(expected)), auth.signature)) {
    return Status::Error(ErrorCode::kInvalidSignature, std::string(kMismatchMessage));
  }
  return Status::Ok();
}

void SignRequest(Request& req, std::string_view access_key_id, const SecretBytes& secret,
                 std::string_view region, std::string_view service,
                 std::chrono::system_clock::time_point now, std::string_view session_token) {
  AuthInfo auth = ClientAuth(access_key_id, region, service, now);
  RemoveHeader(req, "authorization");
  RemoveHeader(req, "x-amz-date");
  req.headers.push_back({"X-Amz-Date", auth.amz_date});
  if (!session_token.empty()) {
    RemoveHeader(req, "x-amz-security-token");
    req.headers.push_back({"X-Amz-Security-Token", std::string(session_token)});
  }
  for (const Header& h : req.headers) {
    std::string name = Lower(h.name);
    // A name a verifier could not read back (e.g. holding ';') stays unsigned.
    if (SkipWhenSigning(name) || name.empty() || !AllOf(name, IsHeaderNameChar)) continue;
    auth.signed_headers.push_back(std::move(name));
  }
  std::sort(auth.signed_headers.begin(), auth.signed_headers.end());
  auth.signed_headers.erase(std::unique(auth.signed_headers.begin(), auth.signed_headers.end()),
                            auth.signed_headers.end());
  if (auth.signed_headers.size() > kMaxSignedHeaders) {  // keep host; sign the first others
    std::erase(auth.signed_headers, "host");
    auth.signed_headers.resize(kMaxSignedHeaders - 1);
    auth.signed_headers.push_back("host");
    std::sort(auth.signed_headers.begin(), auth.signed_headers.end());
  }
  char signature[2 * kSha256Size];
  if (!SignInto(req, auth, secret, signature)) return;
  std::string value = std::string(kAlgorithm) + " Credential=" + auth.access_key_id + "/" +
                      auth.date + "/" + auth.region + "/" + auth.service + "/" +
                      std::string(kTerminator) + ", SignedHeaders=";
  for (size_t i = 0; i < auth.signed_headers.size(); ++i) {
    if (i > 0) value += ';';
    value += auth.signed_headers[i];
  }
  value += ", Signature=";
  value.append(signature, sizeof(signature));
  req.headers.push_back({"Authorization", std::move(value)});
}

std::string PresignTarget(const Request& req, std::string_view access_key_id,
                          const SecretBytes& secret, std::string_view region,
                          std::string_view service, std::chrono::system_clock::time_point now,
                          int64_t expires_seconds, std::string_view session_token) {
  AuthInfo auth = ClientAuth(access_key_id, region, service, now);
  auth.presigned = true;
  auth.expires_seconds = expires_seconds;
  auth.signed_headers = {"host"};
  Request r;
  r.method = req.method;
  r.body = req.body;
  if (const std::string* host = req.header("host")) r.headers.push_back({"Host", *host});
  std::string query(req.query());
  auto add = [&query](std::string_view name, std::string_view value) {
    if (!query.empty()) query += '&';
    query += name;
    query += '=';
    query += UriEncode(value);
  };
  add("X-Amz-Algorithm", kAlgorithm);
  add("X-Amz-Credential", auth.access_key_id + "/" + auth.date + "/" + auth.region + "/" +
                              auth.service + "/" + std::string(kTerminator));
  add("X-Amz-Date", auth.amz_date);
  add("X-Amz-Expires", std::to_string(expires_seconds));
  add("X-Amz-SignedHeaders", "host");
  if (!session_token.empty()) add("X-Amz-Security-Token", session_token);
  r.target = std::string(req.path()) + "?" + query;
  char signature[2 * kSha256Size];
  if (!SignInto(r, auth, secret, signature)) return req.target;
  r.target += "&X-Amz-Signature=";
  r.target.append(signature, sizeof(signature));
  return r.target;
}

}  // namespace rampart::http::sigv4
