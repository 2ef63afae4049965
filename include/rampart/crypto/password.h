// Password hashing for IAM login profiles: PBKDF2-HMAC-SHA256 with a random
// 16-byte salt, stored as "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>"
// so that the cost can rise later without breaking stored hashes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/core/status.h"

namespace rampart::crypto {

// OWASP's 2023 floor for PBKDF2-HMAC-SHA256.
inline constexpr uint32_t kPasswordIterations = 600000;

Result<std::string> HashPassword(std::string_view password,
                                 uint32_t iterations = kPasswordIterations);

// Whether password matches a stored hash; false for a malformed hash.
// Compares in constant time.
bool VerifyPassword(std::string_view password, std::string_view stored);

}  // namespace rampart::crypto
