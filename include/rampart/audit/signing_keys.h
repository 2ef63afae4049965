// SigningKeys: the RSA-2048 key pairs that sign CloudTrail digest files,
// one current pair per region (CloudTrail signs each region's digests with
// that region's key). A pair is valid for a fixed window (Options::rotation,
// CloudTrail rotates roughly monthly); when the window ends the next
// Current() call makes a new pair. Old pairs stay, so ListPublicKeys can
// return every public key that signed digests in a time range.
//
// Private keys are stored sealed (AES-256-GCM under the server's root key,
// bound to the key's fingerprint); public keys are stored in clear as
// PKCS#1 RSAPublicKey DER, the form ListPublicKeys documents. A key's
// fingerprint is the lowercase hex MD5 of that DER.
//
// Thread-safety: all methods are thread-safe (the database serialises
// writes; two callers racing to rotate keep the first key committed).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/clock.h"
#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::audit {

struct PublicKeyInfo {
  std::string region;
  std::string fingerprint;  // hex MD5 of pkcs1_der
  std::string pkcs1_der;    // RSAPublicKey DER
  int64_t valid_from = 0;   // seconds since the epoch, inclusive
  int64_t valid_to = 0;     // exclusive
};

// What a digest is signed with: the fingerprint and a SHA256withRSA
// (RSASSA-PKCS1-v1_5) signature over the given bytes.
struct DigestSignature {
  std::string fingerprint;
  std::string signature;  // raw bytes
};

class SigningKeys {
 public:
  struct Options {
    std::chrono::seconds rotation{std::chrono::hours(24 * 30)};
    size_t page_size = 50;  // ListPublicKeys page size
  };
  // REQUIRES: db and root_key outlive this; Migrate(db) succeeded.
  SigningKeys(store::Database& db, const SecretBytes& root_key, Options options);

  static Status Migrate(store::Database& db);

  // Signs data with the key of region current at now, creating the key
  // when the region has none valid at now.
  Result<DigestSignature> Sign(std::string_view region, TimePoint now, std::string_view data);

  // The region's current public key (made if due).
  Result<PublicKeyInfo> Current(std::string_view region, TimePoint now);

  // Keys of region whose validity window overlaps [start, end], newest
  // first.
  Result<std::vector<PublicKeyInfo>> List(std::string_view region, int64_t start, int64_t end);

  // Adds cloudtrail:ListPublicKeys. REQUIRES: this outlives the registry.
  void Register(server::Registry& registry);

 private:
  Result<json::Value> ListPublicKeys(server::RequestContext& ctx, const json::Value& in);

  store::Database& db_;
  const SecretBytes& root_key_;
  const Options options_;
};

// Lowercase hex MD5 of a public key's DER: the fingerprint digests carry.
std::string PublicKeyFingerprint(std::string_view pkcs1_der);

// Whether signature is a valid SHA256withRSA signature of data under the
// PKCS#1 RSAPublicKey DER key. Malformed keys or signatures are false.
bool VerifySha256WithRsa(std::string_view pkcs1_der, std::string_view data,
                         std::string_view signature);

}  // namespace rampart::audit
