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

}  // namespace rampart::crypto
