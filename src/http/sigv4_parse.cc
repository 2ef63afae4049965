// SigV4 Parse: reads the Authorization header or the presigned query
// parameters into an AuthInfo, checking syntax only. Error texts follow
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html
#include <algorithm>
#include <array>
#include <charconv>
#include <string>

#include "http/sigv4_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/http/sigv4.h"

namespace rampart::http::sigv4 {

namespace internal {

std::string Sanitize(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max) out += "...";
  return out;
}

Status Incomplete(std::string message) {
  return Status::Error(ErrorCode::kIncompleteSignature, std::move(message));
}

std::string BadDateMessage(std::string_view value) {
  return "Date must be in ISO-8601 'basic format'. Got '" + Sanitize(value, 64) +
         "'. See http://en.wikipedia.org/wiki/ISO_8601";
}

namespace {
// A table: this runs per byte of every SignedHeaders list.
constexpr std::array<bool, 256> MakeHeaderNameTable() {
  std::array<bool, 256> t{};
  for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = true;
  for (char c = 'a'; c <= 'z'; ++c) t[static_cast<unsigned char>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kHeaderNameTable = MakeHeaderNameTable();
}  // namespace

bool IsHeaderNameChar(char c) { return kHeaderNameTable[static_cast<unsigned char>(c)]; }

}  // namespace internal

namespace {

using internal::AllOf;
using internal::BadDateMessage;
using internal::FindHeader;
using internal::Incomplete;
using internal::IsAlnum;
using internal::IsDigit;
using internal::IsHeaderNameChar;
using internal::kHostMustBeSigned;
using internal::kTerminator;
using internal::SameHeaderName;
using internal::Sanitize;
using internal::Trim;

constexpr size_t kMaxEchoLength = 512;
constexpr std::string_view kPresignRequiredMessage =
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

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
  // One pass: split at the slashes, which must number exactly 4.
  std::array<std::string_view, 5> parts;
  size_t slashes = 0, start = 0;
  for (size_t i = 0; i < credential.size() && slashes <= 4; ++i) {
    if (credential[i] != '/') continue;
    if (slashes < 4) parts[slashes] = credential.substr(start, i - start);
    ++slashes;
    start = i + 1;
  }
  if (slashes != 4) {
    return Incomplete(
        "Credential must have exactly 5 slash-delimited elements, e.g. "
        "keyid/date/region/service/term, got '" +
        Sanitize(credential) + "'");
  }
  parts[4] = credential.substr(start);
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

Status ParseSignedHeaders(std::string_view list, std::vector<std::string>& out) {
  out.clear();
  out.reserve(8);
  bool has_host = false;
  while (true) {
    size_t semi = list.find(';');
    std::string_view name = list.substr(0, semi);
    if (name.empty() || !AllOf(name, IsHeaderNameChar) || out.size() >= kMaxSignedHeaders) {
      return Incomplete("SignedHeaders must be a ';'-separated list of at most " +
                        std::to_string(kMaxSignedHeaders) + " lowercase header names.");
    }
    has_host |= name == "host";
    out.emplace_back(name);
    if (semi == std::string_view::npos) break;
    list = list.substr(semi + 1);
  }
  if (!has_host) return Incomplete(std::string(kHostMustBeSigned));
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
  const std::string* amz_date = FindHeader(req, "x-amz-date");
  const std::string* http_date = amz_date ? nullptr : FindHeader(req, "date");
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
  if (amz_date) {
    // A valid ISO basic time is already its own canonical form (fixed
    // width, range-checked), so it is kept rather than re-formatted.
    std::string_view value = Trim(*amz_date);
    if (!internal::ParseIsoBasic(value)) return Incomplete(BadDateMessage(*amz_date));
    auth.amz_date = value;
  } else {
    std::optional<int64_t> when = internal::ParseHttpDate(Trim(*http_date));
    if (!when) return Incomplete(BadDateMessage(*http_date));
    auth.amz_date = internal::FormatIsoBasic(*when);
  }
  if (const std::string* token = FindHeader(req, "x-amz-security-token")) {
    auth.security_token = *token;
  }
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

}  // namespace

// ---- public API

Result<AuthInfo> Parse(const Request& req) {
  const std::string* header = nullptr;
  for (const Header& h : req.headers) {
    if (!SameHeaderName(h.name, "authorization")) continue;
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

}  // namespace rampart::http::sigv4
