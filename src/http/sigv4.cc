// AWS Signature Version 4: Verify, the client-side signers and the cache of
// derived signing keys, following
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// Parse is in sigv4_parse.cc; canonicalisation in sigv4_canonical.cc.
#include "rampart/http/sigv4.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include "http/sigv4_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/crypto/digest.h"

namespace rampart::http::sigv4 {
namespace {

using crypto::kSha256Size;
using crypto::Sha256Out;
using internal::AllOf;
using internal::BadDateMessage;
using internal::BuildCanonicalRequest;
using internal::BuildStringToSign;
using internal::Incomplete;
using internal::IsHeaderNameChar;
using internal::kHostMustBeSigned;
using internal::kTerminator;
using internal::Sanitize;
using internal::Scratch;
using internal::ThreadScratch;

constexpr std::string_view kMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

// ---- Signing keys

// A derived signing key, prepared for HMAC, with the identity it was derived
// for. Immutable once built, so a reader needs no lock.
struct CachedKey {
  CachedKey(const SecretBytes& secret, const AuthInfo& a)
      : access_key_id(a.access_key_id),
        date(a.date),
        region(a.region),
        service(a.service),
        secret(secret),
        hmac(internal::DeriveSigningKey(secret, a.date, a.region, a.service).reveal()) {}

  // The secret is compared in constant time: a rotated secret must never
  // reuse a stale key, and the comparison must not leak the secret.
  bool Matches(const SecretBytes& s, const AuthInfo& a) const {
    return access_key_id == a.access_key_id && date == a.date && region == a.region &&
           service == a.service && ConstantTimeEquals(secret.reveal(), s.reveal());
  }

  const std::string access_key_id, date, region, service;
  const SecretBytes secret;
  const crypto::HmacSha256Key hmac;
};

// Derived signing keys, keyed by (access key id, date, region, service, secret).
// Keeping a copy of the secret (rather than a hash of it) lets a lookup
// confirm the secret with a constant-time compare instead of a SHA-256.
// Direct-mapped and fixed-size: an entry lives until a colliding scope
// replaces it. Each thread keeps a few recently used entries in front, so a
// worker's hot keys cost neither a lock nor a shared reference count (both
// contended across cores).
//
// Thread-safety: Get may be called concurrently. Each slot's mutex guards its
// entry pointer; entries are immutable and shared.
class SigningKeyCache {
 public:
  // The returned entry stays valid until this thread's next Get.
  const CachedKey& Get(const SecretBytes& secret, const AuthInfo& a) {
    // Word-at-a-time hashing; a byte-wise FNV chain cost more than the lookup.
    std::hash<std::string_view> hash;
    size_t h = hash(a.access_key_id);
    for (std::string_view part :
         {std::string_view(a.date), std::string_view(a.region), std::string_view(a.service)}) {
      h = h * 31 + hash(part);
    }
    thread_local std::array<std::shared_ptr<const CachedKey>, kThreadSlots> front;
    std::shared_ptr<const CachedKey>& mine = front[h % kThreadSlots];
    if (mine && mine->Matches(secret, a)) return *mine;

    Slot& slot = slots_[h % kSlots];
    std::shared_ptr<const CachedKey> shared;
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      shared = slot.key;
    }
    if (!shared || !shared->Matches(secret, a)) {
      shared = std::make_shared<const CachedKey>(secret, a);
      std::lock_guard<std::mutex> lock(slot.mu);
      slot.key = shared;
    }
    mine = std::move(shared);  // outside the lock: may destroy the old entry
    return *mine;
  }

 private:
  static constexpr size_t kSlots = 512;
  static constexpr size_t kThreadSlots = 8;
  struct Slot {
    std::mutex mu;
    std::shared_ptr<const CachedKey> key;  // guarded by mu
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
  unsigned char mac[kSha256Size];
  KeyCache().Get(secret, auth).hmac.Sign(string_to_sign, Sha256Out(mac, kSha256Size));
  internal::HexLower(mac, out);
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

}  // namespace internal

// ---- public API

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
