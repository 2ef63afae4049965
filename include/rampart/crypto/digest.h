// SHA-256 and HMAC-SHA-256 over OpenSSL 3 (EVP with algorithms fetched once
// per process and digest contexts reused per thread, so the SigV4 hot path
// pays neither a provider fetch nor an allocation per call).
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace rampart::crypto {

inline constexpr size_t kSha256Size = 32;
using Sha256Out = std::span<unsigned char, kSha256Size>;

// Raw 32-byte digest of data.
std::string Sha256(std::string_view data);
// Lowercase hex (64 characters) of Sha256(data).
std::string Sha256Hex(std::string_view data);
// Raw 32-byte HMAC-SHA-256 (RFC 2104) of data under key (any length).
std::string HmacSha256(std::string_view key, std::string_view data);

// Allocation-free variants for hot paths; write exactly 32 bytes to out.
void Sha256Into(std::string_view data, Sha256Out out);
void HmacSha256Into(std::string_view key, std::string_view data, Sha256Out out);

// HMAC-SHA-256 under one fixed key, with the key's inner and outer padded
// blocks hashed once at construction (the precomputation of RFC 2104
// section 4): each Sign then costs two SHA-256 compressions fewer than
// HmacSha256Into. For a key that signs many messages, e.g. a cached SigV4
// signing key.
//
// Holds key-equivalent state: cleansed when destroyed; not copyable and
// never printed. Thread-safety: Sign may be called concurrently.
class HmacSha256Key {
 public:
  explicit HmacSha256Key(std::string_view key);
  ~HmacSha256Key();
  HmacSha256Key(const HmacSha256Key&) = delete;
  HmacSha256Key& operator=(const HmacSha256Key&) = delete;

  // Writes the same 32 bytes as HmacSha256Into(key, data, out).
  void Sign(std::string_view data, Sha256Out out) const;

 private:
  evp_md_ctx_st* inner_;  // after absorbing key ^ ipad; read-only after construction
  evp_md_ctx_st* outer_;  // after absorbing key ^ opad; read-only after construction
};

}  // namespace rampart::crypto
