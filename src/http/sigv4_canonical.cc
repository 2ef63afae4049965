// SigV4 canonicalisation (canonical URI, query, headers and payload hash; the
// string to sign) and the date formats, following
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "http/sigv4_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/crypto/digest.h"
#include "rampart/http/sigv4.h"

namespace rampart::http::sigv4::internal {
namespace {

using crypto::kSha256Size;
using crypto::Sha256Out;

constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr char kHexUpper[] = "0123456789ABCDEF";

// Byte -> its two lowercase hex digits, so hex-encoding a digest is one load
// and one store per byte.
constexpr std::array<std::array<char, 2>, 256> MakeHexPairs() {
  constexpr char kDigits[] = "0123456789abcdef";
  std::array<std::array<char, 2>, 256> t{};
  for (size_t b = 0; b < 256; ++b) t[b] = {kDigits[b >> 4], kDigits[b & 0xF]};
  return t;
}
constexpr auto kHexPairs = MakeHexPairs();

bool IsUnreserved(char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.' || c == '~'; }
int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;  // REQUIRES: IsHex(c)
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

void AppendHexLower(const unsigned char (&digest)[kSha256Size], std::string& out) {
  char hex[2 * kSha256Size];
  HexLower(digest, hex);
  out.append(hex, sizeof(hex));
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

// Whether any of the 8 bytes at p is <= 0x20 (the "hasless(x, n)" test of
// https://graphics.stanford.edu/~seander/bithacks.html#HasLessInWord, exact
// for n <= 128).
bool HasByteAtMostSpace(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, sizeof(x));
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  return ((x - kOnes * 0x21) & ~x & (kOnes * 0x80)) != 0;
}

// Appends a header value trimmed, with inner whitespace runs collapsed to
// one space (AWS "Trimall"). Runs that need no change (the common case: no
// whitespace, or lone spaces) are copied whole.
void AppendTrimmedValue(std::string_view v, std::string& out) {
  v = Trim(v);
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < v.size(); ++i) {
    // Every whitespace byte is <= ' ': skip 8 bytes at a time while none is.
    while (v.size() - i >= 8 && !HasByteAtMostSpace(v.data() + i)) i += 8;
    if (i == v.size()) break;
    if (static_cast<unsigned char>(v[i]) > ' ' || !IsSpace(v[i])) continue;
    // v is trimmed, so whitespace is never its last byte: v[i + 1] exists.
    if (v[i] == ' ' && !IsSpace(v[i + 1])) continue;  // a lone space stays
    out.append(v.data() + run, i - run);
    out += ' ';
    while (IsSpace(v[i + 1])) ++i;
    run = i + 1;
  }
  out.append(v.data() + run, v.size() - run);
}

// ---- Canonical request

// Appends the canonical header block and the signed-headers line.
void AppendCanonicalHeaders(const Request& req, const AuthInfo& auth, std::string& out) {
  for (const std::string& name : auth.signed_headers) {
    out += name;
    out += ':';
    bool first = true;
    for (const Header& h : req.headers) {
      if (!SameHeaderName(h.name, name)) continue;
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
    if (!SameHeaderName(h.name, "x-amz-content-sha256")) continue;
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
  AppendHexLower(digest, out);
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

}  // namespace

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
  AppendHexLower(digest, out);
}

void HexLower(const unsigned char (&digest)[kSha256Size], char (&out)[2 * kSha256Size]) {
  for (size_t i = 0; i < kSha256Size; ++i) std::memcpy(&out[2 * i], kHexPairs[digest[i]].data(), 2);
}

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

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

}  // namespace rampart::http::sigv4::internal
